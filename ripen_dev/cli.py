"""The `ripen` command: marketer and developer tools (lint, preview, simulate, preview-lead, dev, ...)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from collections.abc import Sequence as Args
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ripen.core.sequence import Sequence
    from ripen.core.validator import Catalog

Command = Callable[[argparse.Namespace], int]


def lint(args: argparse.Namespace) -> int:
    from ripen.adapters.templates import load_catalog
    from ripen_dev.mail.lint import lint_emails

    root = Path(args.path)
    if not root.is_dir():
        print(f"{root}: not a folder of sequences", file=sys.stderr)
        return 2
    catalog = load_catalog(root)
    problems = [*catalog.problems, *lint_emails(root, catalog)]
    for problem in problems:
        print(
            f"{root / problem.file}:{problem.line}: {problem.message}"
            + (f" (fix: {problem.fix})" if problem.fix else "")
        )
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    names = ", ".join(catalog.names()) or "none"
    print(f"ok: {len(catalog.names())} sequence(s) valid ({names}), emails and layouts checked")
    return 0


def preview(args: argparse.Namespace) -> int:
    from ripen_dev.mail.preview import write_previews
    from ripen_dev.mail.samples import load_lead, sender_details

    root, out = Path(args.path), Path(args.out)
    if not root.is_dir():
        print(f"{root}: not a folder of sequences", file=sys.stderr)
        return 2
    lead = load_lead(Path(args.lead)) if args.lead else None
    sender = sender_details(os.environ)
    result = write_previews(root, out, lead, sender, screenshots=args.screenshots, chromium=args.chromium)
    for page in result.errors:
        print(f"{page.sequence}/{page.step}: does not render: {page.error}", file=sys.stderr)
    print(f"{len(result.pages) - len(result.errors)} email(s) rendered; open {result.index}")
    return 1 if result.errors else 0


def _sequence(catalog: Catalog, name: str, version: int | None) -> Sequence | str:
    """The sequence asked for, or why not."""
    if catalog.problems:
        return "\n".join(str(p) for p in catalog.problems) + "\nfix these first (ripen lint)"
    if name not in catalog.versions:
        return f"no sequence '{name}'; choose one of: {', '.join(catalog.names()) or 'none'}"
    if version is None:
        return catalog.current(name)
    found = catalog.get(name, version)
    if found is None:
        known = ", ".join(str(v) for v in sorted(catalog.versions[name]))
        return f"{name} has no version {version}; it has: {known}"
    return found


def simulate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ripen.adapters.templates import load_catalog
    from ripen_dev.simulation.history import ExportError, read_export, replay
    from ripen_dev.simulation.model import ModelError, check_model, email_links, load_model
    from ripen_dev.simulation.progress import ProgressBar
    from ripen_dev.simulation.report import write_report
    from ripen_dev.simulation.simulate import Plan, default_workers, model_label
    from ripen_dev.simulation.simulate import simulate as run_simulation
    from ripen_dev.simulation.summary import write_replay, write_summary

    templates = Path(args.templates)
    catalog = load_catalog(templates)
    if args.replay:
        try:
            export = read_export(Path(args.replay))
        except (ExportError, OSError) as exc:
            print(exc, file=sys.stderr)
            return 2
        for problem in export.problems:
            print(f"{problem} (skipped)", file=sys.stderr)
        found = _sequence(catalog, args.sequence or export.header.sequence, args.version)
        if isinstance(found, str):
            print(found, file=sys.stderr)
            return 2
        replayed = replay(export, found, email_links(templates, found))
        write_replay(replayed, sys.stdout, show=args.show)
        return 1 if export.problems else 0
    found = _sequence(catalog, args.sequence or "trial-nurture", args.version)
    if isinstance(found, str):
        print(found, file=sys.stderr)
        return 2
    model_path = Path(args.model) if args.model else None
    links = email_links(templates, found)
    try:
        model = load_model(model_path)
    except ModelError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = check_model(model, found, links, model_label(model_path))
    if problems:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    if args.leads < 1 or args.days < 1:
        print("--leads and --days must be at least 1", file=sys.stderr)
        return 2
    start = datetime.combine(args.start, datetime.min.time(), tzinfo=UTC)
    plan = Plan(found, model, links, args.leads, args.days, args.seed, start, model_label(model_path))
    workers = args.workers or default_workers()
    progress = ProgressBar(sys.stderr, "simulating")
    result = run_simulation(plan, workers, progress, keep_traces=bool(args.export_history))
    report = None
    if args.report:
        report = str(write_report(result, Path(args.report)))
    if args.export_history:
        from ripen_dev.simulation.history import export_lines

        with Path(args.export_history).open("w", encoding="utf-8") as out:
            for line in export_lines(plan, result.traces):
                out.write(line + "\n")
    write_summary(result, sys.stdout, report)
    if args.export_history:
        print(f"History: {args.export_history}")
    return 1 if result.tally.identities() else 0


def preview_lead(args: argparse.Namespace) -> int:
    from ripen.adapters.templates import load_catalog
    from ripen_dev.mail.samples import load_lead
    from ripen_dev.simulation.lead_preview import preview_lead as play
    from ripen_dev.simulation.lead_preview import sample_lead, write_preview
    from ripen_dev.simulation.script import ScriptError

    templates = Path(args.templates)
    catalog = load_catalog(templates)
    found = _sequence(catalog, args.sequence, None)
    if isinstance(found, str):
        print(found, file=sys.stderr)
        return 2
    try:
        lead = sample_lead(args.timezone, args.signup, load_lead(Path(args.lead)) if args.lead else None)
    except (ValueError, OSError) as exc:
        print(f"cannot use that lead: {exc}", file=sys.stderr)
        return 2
    try:
        preview = play(templates, catalog, found, args.script, lead, args.days)
    except ScriptError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    write_preview(preview, sys.stdout)
    return 0


def demo(args: argparse.Namespace) -> int:
    """`ripen demo --click LINK`: preview-lead with a script of clicks (kept for `make dev`)."""
    args.script = "; ".join(f"clicks {link}" for link in args.click) or "does nothing"
    args.signup, args.lead = None, None
    return preview_lead(args)


def openapi(args: argparse.Namespace) -> int:
    from ripen_dev.local.openapi import openapi_description

    text = json.dumps(openapi_description(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def serve(args: argparse.Namespace) -> int:
    from ripen_dev.local.devserver import serve_forever

    return serve_forever(Path(args.templates), Path(args.page), args.port, args.sequence, sys.stdout)


def dev(args: argparse.Namespace) -> int:
    from ripen_dev.local.devstack.cli import run_dev

    return run_dev(args, sys.stdout)


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"'{value}' is not an IANA time zone, e.g. Europe/Berlin") from None
    return value


def _moment(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date and time like '2026-03-02 10:00'") from None


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date like 2026-03-02") from None


def main(argv: Args[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ripen", description="Lead nurturing on AWS: tools for sequences and emails.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("lint", help="check every sequence, email and layout under PATH")
    p.add_argument("path", nargs="?", default="templates")
    p.set_defaults(run=lint)

    p = commands.add_parser("preview", help="render every email of every sequence to HTML, text and .eml files")
    p.add_argument("path", nargs="?", default="templates")
    p.add_argument("--out", default="preview", help="folder to write into (replaced each time)")
    p.add_argument("--lead", metavar="FILE", help="a sample lead (YAML or JSON: email, name, timezone, attributes)")
    p.add_argument("--screenshots", action="store_true", help="also a phone-sized PNG of each email (Chromium)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary for --screenshots")
    p.set_defaults(run=preview)

    p = commands.add_parser(
        "simulate",
        help="play a sequence against a synthetic population with the engine, or replay real history on it",
    )
    p.add_argument("--templates", default="templates")
    p.add_argument("--sequence", help="the sequence (default: trial-nurture, or the one named in --replay's export)")
    p.add_argument("--version", type=int, help="a frozen version from versions/ instead of the current one")
    p.add_argument("--leads", type=int, default=10_000, help="synthetic leads (default 10,000)")
    p.add_argument("--days", type=int, default=90, help="how long to play, from --start (default 90)")
    p.add_argument("--model", metavar="FILE", help="engagement model (YAML or JSON); default: the built-in one")
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same funnel (default 1)")
    p.add_argument("--start", type=_day, default=date(2026, 3, 2), help="first signup day, UTC (default 2026-03-02)")
    p.add_argument("--workers", type=int, default=0, help="processes to play shards on (default: every core)")
    p.add_argument("--report", default="simulation-report.html", help="the HTML report to write ('' for none)")
    p.add_argument("--export-history", metavar="FILE", help="also write what happened as a history export (JSONL)")
    p.add_argument("--replay", metavar="FILE", help="replay this history export (JSONL) on the sequence instead")
    p.add_argument("--show", type=int, default=10, help="replay: how many changed leads to list (default 10)")
    p.set_defaults(run=simulate)

    p = commands.add_parser(
        "preview-lead", help="the exact emails and moments one lead gets for a behaviour script, with every decision"
    )
    p.add_argument("--templates", default="templates")
    p.add_argument("--sequence", default="trial-nurture")
    p.add_argument(
        "--script",
        default="does nothing",
        help="what the lead does, e.g. 'opens everything; clicks pricing on day 3' (README: the script language)",
    )
    p.add_argument("--timezone", type=_timezone, default="America/New_York", help="the lead's IANA time zone")
    p.add_argument("--signup", type=_moment, help="signup time, in the lead's zone (default 2026-03-02 10:00)")
    p.add_argument("--days", type=int, default=30, help="how long to follow the lead (default 30)")
    p.add_argument("--lead", metavar="FILE", help="a sample lead (YAML or JSON: email, name, timezone, attributes)")
    p.set_defaults(run=preview_lead)

    p = commands.add_parser("demo", help="preview-lead for a lead who clicks the links given (kept for make dev)")
    p.add_argument("--templates", default="templates")
    p.add_argument("--sequence", default="trial-nurture")
    p.add_argument("--timezone", type=_timezone, default="America/New_York", help="the lead's IANA time zone")
    p.add_argument(
        "--click",
        action="append",
        default=[],
        metavar="LINK",
        help="the lead clicks this named link the first time an email carries it (repeatable)",
    )
    p.add_argument("--days", type=int, default=30, help="stop after this many days")
    p.set_defaults(run=demo)

    p = commands.add_parser("openapi", help="print the OpenAPI description of the HTTP API (generated by Powertools)")
    p.add_argument("--output", "-o", help="write it to this file instead")
    p.set_defaults(run=openapi)

    p = commands.add_parser("serve", help="serve the API and the example landing page locally (in memory)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--templates", default="templates")
    p.add_argument("--page", default="examples/landing-page/index.html", help="the page served at /")
    p.add_argument("--sequence", default="trial-nurture", help="the default sequence (DEFAULT_SEQUENCE)")
    p.set_defaults(run=serve)

    p = commands.add_parser(
        "dev",
        help="run the whole stack locally: DynamoDB Local, moto (SES, SQS, EventBridge), the functions, an outbox",
    )
    p.add_argument("--port", type=int, default=3000, help="serve the landing page, the API and the outbox here")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument(
        "--persist",
        nargs="?",
        const=".cache/dev-data",
        metavar="DIR",
        help="keep leads, emails and the clock between runs, in DIR (default .cache/dev-data)",
    )
    p.add_argument("--sweep-every", type=float, default=2.0, metavar="SECONDS", help="seconds between sweeps")
    p.add_argument(
        "--manual-delivery",
        action="store_true",
        help="SES reports no Delivery by itself: the outbox's Delivered button does (to try a bounce first)",
    )
    p.add_argument("--templates", default="templates")
    p.add_argument("--page", default="examples/landing-page/index.html", help="the page served at /")
    p.add_argument("--verbose", action="store_true", help="show the functions' own (JSON) logs too")
    p.set_defaults(run=dev)

    args = parser.parse_args(argv)
    run: Command = args.run
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
