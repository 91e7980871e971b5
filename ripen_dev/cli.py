"""The `ripen` command: marketer and developer tools (lint, preview, simulate, preview-lead, graph, dev, ...)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from collections.abc import Sequence as Args
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ripen_dev.arguments import day, subcommand

if TYPE_CHECKING:
    from ripen.core.sequence import Sequence
    from ripen.core.validator import Catalog

Command = Callable[[argparse.Namespace], int]

# What a command needs beyond the runtime dependencies: (module to import, what pip installs it as).
# They come with `pip install 'ripen[dev]'` (and with `uv sync` in a checkout).
OPTIONAL = {
    "dev": [("boto3", "boto3"), ("moto.server", "moto[server]")],
    "preview --screenshots": [("playwright.sync_api", "playwright")],
}


def missing_dependency(command: str) -> str | None:
    """One line saying what to install when an optional dependency of `command` does not import."""
    for module, package in OPTIONAL[command]:
        try:
            importlib.import_module(module)
        except ImportError:
            return f"ripen {command} needs {package}: pip install 'ripen[dev]'"
    return None


def _json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _github(text: str, *, property_value: bool = False) -> str:
    """Escape for a GitHub Actions workflow command (its toolkit's escapeData / escapeProperty)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def lint(args: argparse.Namespace) -> int:
    from ripen.adapters.templates import load_catalog
    from ripen_dev.mail.lint import identity_from_samconfig, lint_bulk_sender, lint_emails

    root = Path(args.path)
    if not root.is_dir():
        print(f"{root}: not a folder of sequences", file=sys.stderr)
        return 2
    catalog = load_catalog(root)
    problems = [*catalog.problems, *lint_emails(root, catalog)]
    if not catalog.problems:  # the Gmail/Yahoo bulk-sender rules: alignment fails, placement warns
        bulk = lint_bulk_sender(root, catalog, args.identity or identity_from_samconfig(), max_links=args.max_links)
        problems += bulk.errors
        for warning in bulk.warnings:
            text = warning.message.removeprefix("warning: ") + (f" (fix: {warning.fix})" if warning.fix else "")
            if args.format == "github":
                where = f"file={_github(str(root / warning.file), property_value=True)},line={warning.line}"
                print(f"::warning {where}::{_github(text)}")
            else:
                print(f"{root / warning.file}:{warning.line}: warning: {text}", file=sys.stderr)
    if args.format == "json":
        _json([{"file": str(root / p.file), "line": p.line, "message": p.message, "fix": p.fix} for p in problems])
    for problem in problems if args.format != "json" else []:
        text = problem.message + (f" (fix: {problem.fix})" if problem.fix else "")
        if args.format == "github":
            where = f"file={_github(str(root / problem.file), property_value=True)},line={problem.line}"
            print(f"::error {where}::{_github(text)}")
        else:
            print(f"{root / problem.file}:{problem.line}: {text}")
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    names = ", ".join(catalog.names()) or "none"
    print(
        f"ok: {len(catalog.names())} sequence(s) valid ({names}), emails and layouts checked",
        file=sys.stderr if args.format == "json" else sys.stdout,
    )
    return 0


def preview(args: argparse.Namespace) -> int:
    from ripen_dev.mail.preview import write_previews
    from ripen_dev.mail.samples import load_lead, sender_details

    root, out = Path(args.path), Path(args.out)
    if not root.is_dir():
        print(f"{root}: not a folder of sequences", file=sys.stderr)
        return 2
    if args.screenshots and (missing := missing_dependency("preview --screenshots")):
        print(missing, file=sys.stderr)
        return 1
    lead = load_lead(Path(args.lead)) if args.lead else None
    sender = sender_details(os.environ)
    try:
        result = write_previews(root, out, lead, sender, screenshots=args.screenshots, chromium=args.chromium)
    except RuntimeError as exc:  # no Chromium for --screenshots
        print(exc, file=sys.stderr)
        return 1
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
        if args.json:
            from ripen_dev import as_json

            _json(as_json.replay(replayed))
        else:
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
    from ripen_dev.simulation.planning import plans

    tally = result.tally
    converted = tally.outcomes["sales-ready"] + tally.outcomes["goal-reached"]
    experiments = plans(found, tally.confirmed, converted, args.days, args.detect_lift)
    if args.json:
        from ripen_dev import as_json

        figures = as_json.simulation(result, report, args.export_history or None)
        _json({**figures, "experiments": [p.as_json() for p in experiments]})
    else:
        write_summary(result, sys.stdout, report)
        if experiments:
            print("\nExperiments (sample size and duration to detect the lift):")
            print("\n".join(p.line() for p in experiments))
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
    if getattr(args, "json", False):
        from ripen_dev import as_json

        _json(as_json.lead_preview(preview))
    else:
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


def schema(args: argparse.Namespace) -> int:
    from ripen_dev.schema import schema_text

    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(schema_text(), encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(schema_text())
    return 0


def graph(args: argparse.Namespace) -> int:
    from ripen.adapters.templates import load_catalog
    from ripen_dev.graph import mermaid

    templates = Path(args.templates)
    if not templates.is_dir():
        print(f"{templates}: not a folder of sequences", file=sys.stderr)
        return 2
    found = _sequence(load_catalog(templates), args.sequence, args.version)
    if isinstance(found, str):
        print(found, file=sys.stderr)
        return 2
    sys.stdout.write(mermaid(found))
    return 0


def serve(args: argparse.Namespace) -> int:
    from ripen_dev.local.devserver import serve_forever

    return serve_forever(Path(args.templates), Path(args.page), args.port, args.sequence, sys.stdout)


def dev(args: argparse.Namespace) -> int:
    if missing := missing_dependency("dev"):
        print(missing, file=sys.stderr)
        return 1
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


def _share(value: str) -> float:
    try:
        number = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a percentage like 20%") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("the lift to detect must be above 0, e.g. 20%")
    return number


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ripen")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="ripen",
        description="Lead nurturing on AWS: tools for sequences and emails.",
        epilog="examples:\n  ripen lint\n  ripen preview-lead --script 'clicks pricing on day 3'\n"
        "  ripen simulate --leads 1000\n  ripen graph trial-nurture\n\n"
        "`ripen COMMAND --help` tells more about each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"ripen {_version()}")
    commands = root.add_subparsers(dest="command", metavar="COMMAND")

    p = subcommand(
        commands,
        "lint",
        "check every sequence, email and layout under PATH",
        "Validate every sequence.yaml (and versions/*.yaml), email and layout under PATH: each problem with its\n"
        "file, line and a fix. Exits 1 when there is a problem, 2 when PATH is not a folder.",
        """
        ripen lint
        ripen lint templates --json                 # a list of {file, line, message, fix}
        ripen lint --format github                  # annotations on a pull request, in GitHub Actions
        """,
    )
    p.add_argument("path", nargs="?", default="templates")
    p.add_argument(
        "--format", choices=("text", "json", "github"), default="text", help="text (default), json or github"
    )
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument(
        "--identity",
        metavar="DOMAIN",
        help="the SES identity the From addresses must align with (default: SesIdentity in samconfig.toml)",
    )
    p.add_argument("--max-links", type=int, default=15, metavar="N", help="warn on emails with more links (15)")
    p.set_defaults(run=lint)

    p = subcommand(
        commands,
        "preview",
        "render every email of every sequence to HTML, text and .eml files",
        "Render every email of every sequence for a sample lead, with an index page to browse them.",
        """
        ripen preview --out preview && open preview/index.html
        ripen preview --lead lead.yaml --screenshots  # also phone-sized PNGs (Chromium, Playwright)
        """,
    )
    p.add_argument("path", nargs="?", default="templates")
    p.add_argument("--out", default="preview", help="folder to write into (replaced each time)")
    p.add_argument("--lead", metavar="FILE", help="a sample lead (YAML or JSON: email, name, timezone, attributes)")
    p.add_argument("--screenshots", action="store_true", help="also a phone-sized PNG of each email (Chromium)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary for --screenshots")
    p.set_defaults(run=preview)

    p = subcommand(
        commands,
        "simulate",
        "play a sequence against a synthetic population with the engine, or replay real history on it",
        "Play a sequence with the real engine against synthetic leads who behave as an engagement model says,\n"
        "and print the funnel per email step (and write an HTML report); or replay a history export on a\n"
        "new version to see which emails would change. Exits 1 when the funnel does not add up.",
        """
        ripen simulate --leads 1000 --days 30
        ripen simulate --model engagement.yaml --report ''   # your own model, no HTML report
        ripen simulate --json > funnel.json
        ripen simulate --export-history history.jsonl && ripen simulate --replay history.jsonl --version 2
        """,
    )
    p.add_argument("--templates", default="templates")
    p.add_argument("--sequence", help="the sequence (default: trial-nurture, or the one named in --replay's export)")
    p.add_argument("--version", type=int, help="a frozen version from versions/ instead of the current one")
    p.add_argument("--leads", type=int, default=10_000, help="synthetic leads (default 10,000)")
    p.add_argument("--days", type=int, default=90, help="how long to play, from --start (default 90)")
    p.add_argument("--model", metavar="FILE", help="engagement model (YAML or JSON); default: the built-in one")
    p.add_argument("--seed", type=int, default=1, help="the same seed gives the same funnel (default 1)")
    p.add_argument("--start", type=day, default=date(2026, 3, 2), help="first signup day, UTC (default 2026-03-02)")
    p.add_argument("--workers", type=int, default=0, help="processes to play shards on (default: every core)")
    p.add_argument("--report", default="simulation-report.html", help="the HTML report to write ('' for none)")
    p.add_argument("--export-history", metavar="FILE", help="also write what happened as a history export (JSONL)")
    p.add_argument("--replay", metavar="FILE", help="replay this history export (JSONL) on the sequence instead")
    p.add_argument("--show", type=int, default=10, help="replay: how many changed leads to list (default 10)")
    p.add_argument(
        "--detect-lift",
        type=_share,
        default=0.2,
        metavar="PERCENT",
        help="the relative lift an experiment (holdout, variants) should detect, for its sample size (default 20%%)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    p.set_defaults(run=simulate)

    p = subcommand(
        commands,
        "preview-lead",
        "the exact emails and moments one lead gets for a behaviour script, with every decision",
        "Follow one lead through a sequence on a moved clock: the emails they get, when (in their own time\n"
        "zone), and the engine's reason for every decision. The script says what the lead does.",
        """
        ripen preview-lead
        ripen preview-lead --script 'opens everything; clicks pricing on day 3' --timezone Europe/Berlin
        ripen preview-lead --sequence ebook-nurture --signup '2026-03-06 17:30' --days 21
        ripen preview-lead --json | jq '.emails[].step'
        """,
    )
    p.add_argument("--templates", default="templates")
    p.add_argument("--sequence", default="trial-nurture")
    p.add_argument(
        "--script",
        default="does nothing",
        help="what the lead does, e.g. 'opens everything; clicks pricing on day 3' (see the marketer guide)",
    )
    p.add_argument("--timezone", type=_timezone, default="America/New_York", help="the lead's IANA time zone")
    p.add_argument("--signup", type=_moment, help="signup time, in the lead's zone (default 2026-03-02 10:00)")
    p.add_argument("--days", type=int, default=30, help="how long to follow the lead (default 30)")
    p.add_argument("--lead", metavar="FILE", help="a sample lead (YAML or JSON: email, name, timezone, attributes)")
    p.add_argument("--json", action="store_true", help="print the emails and decisions as JSON")
    p.set_defaults(run=preview_lead)

    p = subcommand(
        commands,
        "demo",
        "preview-lead for a lead who clicks the links given (kept for make dev)",
        "preview-lead for a lead who clicks each named link the first time an email carries it.",
        """
        ripen demo --click pricing
        ripen demo --sequence ebook-nurture --click download --click webinar
        """,
    )
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

    p = subcommand(
        commands,
        "graph",
        "print a sequence as a Mermaid flowchart",
        "Print a sequence as a Mermaid `flowchart TD`: every step, the then/else of each wait_for and the\n"
        "conditions of each branch on their edges. GitHub renders it in Markdown (```mermaid).",
        """
        ripen graph trial-nurture
        ripen graph ebook-nurture --templates templates > ebook.mmd
        """,
    )
    p.add_argument("sequence", help="the sequence's name, e.g. trial-nurture")
    p.add_argument("--templates", default="templates")
    p.add_argument("--version", type=int, help="a frozen version from versions/ instead of the current one")
    p.set_defaults(run=graph)

    p = subcommand(
        commands,
        "schema",
        "print the JSON Schema of sequence.yaml (for editors)",
        "Print the JSON Schema of sequence.yaml, generated from the sequence model. Editors with the YAML\n"
        "language server complete keys and underline mistakes in a file that starts with\n"
        "  # yaml-language-server: $schema=../../schema/sequence.schema.json",
        """
        ripen schema --out schema/sequence.schema.json
        """,
    )
    p.add_argument("--out", metavar="FILE", help="write it to this file instead")
    p.set_defaults(run=schema)

    p = subcommand(
        commands,
        "openapi",
        "print the OpenAPI description of the HTTP API (generated by Powertools)",
        "Print the OpenAPI description of the HTTP API (signup, confirm, unsubscribe, preferences).",
        """
        ripen openapi -o openapi.json
        """,
    )
    p.add_argument("--output", "-o", help="write it to this file instead")
    p.set_defaults(run=openapi)

    p = subcommand(
        commands,
        "serve",
        "serve the API and the example landing page locally (in memory)",
        "Serve the API and the example landing page on this machine, with an in-memory store (no AWS).",
        """
        ripen serve --port 3000
        """,
    )
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--templates", default="templates")
    p.add_argument("--page", default="examples/landing-page/index.html", help="the page served at /")
    p.add_argument("--sequence", default="trial-nurture", help="the default sequence (DEFAULT_SEQUENCE)")
    p.set_defaults(run=serve)

    p = subcommand(
        commands,
        "dev",
        "run the whole stack locally: DynamoDB Local, moto (SES, SQS, EventBridge), the functions, an outbox",
        "Run the whole stack on this machine: DynamoDB Local, moto (SES, SQS, EventBridge), the deployed\n"
        "functions' code and an outbox to read what was sent. Needs Java and `pip install 'ripen[dev]'`.",
        """
        ripen dev
        ripen dev --persist --port 3001          # keep leads and emails between runs
        ripen dev --manual-delivery              # deliver (or bounce) each email from the outbox
        """,
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
    importlib.import_module("ripen_dev.operate.commands").register(commands)  # report, lead, import, export-history
    importlib.import_module("ripen_dev.operate.sending_commands").register(commands)  # sending, status (issue 18)
    return root


def main(argv: Args[str] | None = None) -> int:
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.command is None:  # plain `ripen`: what it can do
        command_line.print_help()
        return 0
    run: Command = args.run
    try:
        return run(args)
    except BrokenPipeError:  # `ripen ... | head`: the reader has had enough, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
