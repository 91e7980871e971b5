"""The operator commands' parsers (`ripen lead show|export|forget`, ...): `register(commands)` adds them
to the `ripen` command line. Each works on the stack `target.resolve` finds (`--stack`, the functions'
environment variables, or the running `ripen dev`), through the functions' own composition root.

A failure an operator can act on (`OperatorError`, or an AWS error naming what is missing) is one line
on stderr, `ripen: <message>`, and exit status 1."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ripen_dev.arguments import day, subcommand
from ripen_dev.operate.target import OperatorError, add_arguments, resolve

if TYPE_CHECKING:
    from ripen.app import App

Run = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lead = subcommand(
        commands,
        "lead",
        "one person on a stack: their story, everything held about them, their erasure",
        "Look up one person by email address on a stack (--stack NAME, the functions' environment, or ripen dev).",
        """
        ripen lead show ana@example.com
        ripen lead export ana@example.com --stack ripen-prod > ana.json
        ripen lead forget ana@example.com --stack ripen-prod
        """,
    )
    actions = lead.add_subparsers(dest="lead_command", metavar="ACTION", required=True)
    p = subcommand(
        actions,
        "show",
        "consent, enrollments and the timeline of decisions and emails (why she did or didn't get an email)",
        "The person's consent records, every enrollment (state, score, stage, next timer) and the timeline:\n"
        "each decision with its reasons, each email with its subject and SES events, score changes.",
        """
        ripen lead show ana@example.com
        ripen lead show ana@example.com --stack ripen-prod --json | jq '.timeline[]'
        """,
    )
    p.add_argument("email")
    add_arguments(p)
    p.set_defaults(run=_guarded(lead_show))
    p = subcommand(
        actions,
        "export",
        "everything held about the person, as JSON (a GDPR access request)",
        "Everything the stack holds about the person, as stored: lead, consent log, enrollments, messages\n"
        "with their SES events, history. Always JSON.",
        """
        ripen lead export ana@example.com --stack ripen-prod > ana.json
        """,
    )
    p.add_argument("email")
    add_arguments(p)
    p.set_defaults(run=_guarded(lead_export))
    p = subcommand(
        actions,
        "forget",
        "erase the person (an opt-out or suppression stays, as a keyed hash of the address only)",
        "Erase the person: lead, enrollments, messages, history and signup-limit counters. If they had\n"
        "unsubscribed, complained or hard-bounced, only a keyed hash of the address stays, so no later signup\n"
        "or import emails them again. Safe to run again; exit 0 also when nothing was held.",
        """
        ripen lead forget ana@example.com --stack ripen-prod
        """,
    )
    p.add_argument("email")
    add_arguments(p)
    p.set_defaults(run=_guarded(lead_forget))

    p = subcommand(
        commands,
        "import",
        "import leads from a CSV file or an Amazon Pinpoint endpoint export into a sequence",
        "Import leads into a sequence through the signup service: a CSV (UTF-8; columns mapped with --map) or\n"
        "the JSON lines of a Pinpoint endpoint export (OptOut ALL imported as an unsubscribe). With a consent\n"
        "column, rows that say yes are enrolled with their consent proven; without one, every row gets the\n"
        "double opt-in confirmation. Bad rows are listed (line and reason), good rows imported; suppressed,\n"
        "unsubscribed and erased addresses skipped; running it again is safe.",
        """
        ripen import examples/import/leads.csv --sequence trial-nurture --dry-run
        ripen import crm.csv --sequence trial-nurture --map email=E-Mail --map consent="Opt-in" --stack ripen-prod
        ripen import pinpoint-export.jsonl --sequence trial-nurture --map consent=User.UserAttributes.Consent
        """,
    )
    p.add_argument("file", help="a CSV file or a Pinpoint endpoint export (JSON lines)")
    p.add_argument("--sequence", required=True, help="the sequence to enroll the leads in")
    p.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="which column (CSV) or dotted path (Pinpoint) holds email, name, timezone, consent or consented_at",
    )
    p.add_argument("--rate", type=float, default=50.0, help="rows a second at most (default 50)")
    p.add_argument("--workers", type=int, default=4, help="rows imported at once (default 4)")
    add_arguments(p)
    p.set_defaults(run=_guarded(import_leads))

    p = subcommand(
        commands,
        "report",
        "what happened: per sequence, version and email step, from the Stats table; hand-offs; cost",
        "Per sequence, version and email step: sent, delivered, opened by people and by machines, clicked (per\n"
        "named link), bounced, complained, unsubscribed, goals, sales-ready; conversion and median days to\n"
        "sales-ready and to the goal; the hand-offs of the period; an estimated cost per 1,000 emails.",
        """
        ripen report
        ripen report --sequence trial-nurture --since 2026-03-01 --html report.html --stack ripen-prod
        ripen report --json | jq '.sequences[].conversion'
        ripen report --lift --sequence trial-nurture   # nurtured against the holdout
        ripen report --variants --sequence trial-nurture   # each A/B test and what its rule decides
        """,
    )
    p.add_argument("--sequence", help="one sequence (default: every sequence in templates/)")
    p.add_argument("--since", type=day, help="emails sent (and enrollments ended) on or after this day, YYYY-MM-DD")
    p.add_argument("--html", metavar="FILE", help="also write the report as HTML, with the simulation report's charts")
    p.add_argument(
        "--lift",
        action="store_true",
        help="the sequence's nurturing lift instead: goal and sales-ready rates, nurtured against its holdout",
    )
    p.add_argument("--confidence", type=float, default=0.95, help="of the lift's intervals (default 0.95)")
    p.add_argument(
        "--variants",
        action="store_true",
        help="the sequence's A/B tests instead: each variant's opens, clicks, goals and sales-ready, and the decision",
    )
    add_arguments(p)
    p.set_defaults(run=_guarded(report))

    p = subcommand(
        commands,
        "export-history",
        "write real leads' runs of a sequence in the format `ripen simulate --replay` reads",
        "Write each enrollment's run of a sequence (emails sent, SES events, confirmation, unsubscribe,\n"
        "outcome; lead ids, never addresses) as the JSON Lines history export `ripen simulate --replay` reads.",
        """
        ripen export-history --sequence trial-nurture --since 2026-03-01 --out history.jsonl --stack ripen-prod
        ripen simulate --replay history.jsonl --version 2
        """,
    )
    p.add_argument("--sequence", required=True, help="the sequence whose runs to export")
    p.add_argument("--since", type=day, help="runs that began on or after this day, YYYY-MM-DD")
    p.add_argument("--out", metavar="FILE", help="write here (default: standard output)")
    add_arguments(p)
    p.set_defaults(run=_guarded(export_history))


# -- lead -----------------------------------------------------------------------------------------------


def lead_show(args: argparse.Namespace) -> int:
    from ripen_dev.operate.lead import held, story, story_text

    app = _app(args)
    s = story(app, held(app, args.email))
    print(json.dumps(s, indent=2, ensure_ascii=False) if args.json else story_text(s))
    return 0


def lead_export(args: argparse.Namespace) -> int:
    from ripen_dev.operate.lead import export, held

    app = _app(args)
    print(json.dumps(export(held(app, args.email)), indent=2, ensure_ascii=False))
    return 0


def lead_forget(args: argparse.Namespace) -> int:
    from ripen_dev.operate.lead import forget, forget_text

    report = forget(_app(args), args.email)
    print(json.dumps(report, indent=2) if args.json else forget_text(report))
    return 0


# -- import ---------------------------------------------------------------------------------------------


def import_leads(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ripen_dev.operate import importing
    from ripen_dev.operate.progress import Progress

    mapping = {}
    for item in args.map:
        name, sep, column = item.partition("=")
        if not sep or not column:
            raise OperatorError(f"--map {item}: say FIELD=COLUMN, e.g. --map email=Email")
        mapping[name.strip()] = column.strip()
    parsed = importing.read(Path(args.file), mapping)
    app = _app(args)
    with Progress("importing", len(parsed.rows)) as progress:
        report = importing.run(
            app,
            parsed,
            args.sequence,
            file=args.file,
            dry_run=args.dry_run,
            rate=args.rate,
            workers=args.workers,
            progress=progress,
        )
    print(json.dumps(report.as_json(), indent=2) if args.json else report.text())
    return 0


# -- report ---------------------------------------------------------------------------------------------


def report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ripen_dev.operate import report as reporting
    from ripen_dev.operate.progress import Progress

    target = resolve(args.stack, profile=args.profile, region=args.region)
    target.use_credentials()
    app = target.app()
    if args.sequence and args.sequence not in app.catalog.names():
        raise OperatorError(f"no sequence {args.sequence!r}: choose one of {', '.join(app.catalog.names())}")
    if args.variants:
        from ripen_dev.operate import variants

        if not args.sequence:
            raise OperatorError("--variants reads the A/B tests of one sequence: give --sequence NAME")
        with Progress("reading stats and enrollments"):
            tests = variants.for_sequence(app, args.sequence, args.since)
        as_json = {"sequence": args.sequence, "tests": [t.as_json() for t in tests]}
        print(json.dumps(as_json, indent=2) if args.json else variants.render(args.sequence, tests))
        return 0
    if args.lift:
        from ripen_dev.operate import lift

        if not args.sequence:
            raise OperatorError("--lift compares the groups of one sequence: give --sequence NAME")
        if not 0 < args.confidence < 1:
            raise OperatorError("--confidence is between 0 and 1, e.g. 0.95")
        with Progress("reading enrollments"):
            found = lift.for_sequence(app, args.sequence, args.confidence)
        print(json.dumps(found.as_json(), indent=2) if args.json else lift.render(found))
        return 0
    with Progress("reading stats and enrollments") as progress:
        built = reporting.build(app, args.sequence, args.since, target.source, progress)
    if args.html:
        reporting.write_html(built, Path(args.html))
    print(json.dumps(reporting.as_json(built), indent=2) if args.json else reporting.text(built))
    return 0


def export_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ripen_dev.operate import history_export
    from ripen_dev.operate.progress import Progress

    app = _app(args)
    with Progress("exporting") as progress:
        if args.out:
            with Path(args.out).open("w", encoding="utf-8") as out:
                count = history_export.export(app, args.sequence, out, args.since, progress)
        else:
            count = history_export.export(app, args.sequence, sys.stdout, args.since, progress)
    if args.out:
        done = {"file": args.out, "sequence": args.sequence, "leads": count}
        print(json.dumps(done) if args.json else f"{args.out}: {count} leads' runs of {args.sequence}")
    return 0


# -- shared ---------------------------------------------------------------------------------------------


def _app(args: argparse.Namespace) -> App:
    target = resolve(args.stack, profile=args.profile, region=args.region)
    target.use_credentials()
    return target.app()


def _guarded(run: Run) -> Run:
    """One line on stderr and exit 1 for what an operator can act on (the one place errors are caught)."""

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except OperatorError as exc:
            print(f"ripen: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            message = aws_problem(exc)
            if message is None:
                raise
            print(f"ripen: {message}", file=sys.stderr)
            return 1

    return guarded


def aws_problem(exc: BaseException) -> str | None:
    """One line for an AWS failure an operator can fix (a missing permission is named), else None."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen: BaseException | None = exc
    while seen is not None:  # pynamodb wraps botocore's errors
        if isinstance(seen, ClientError):
            error: Mapping[str, Any] = seen.response.get("Error", {})
            code, text = error.get("Code", ""), error.get("Message", str(seen))
            if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
                return f"not allowed: {text} (see the IAM permissions in docs/operator-guide.md)"
            if code == "ResourceNotFoundException":
                return f"a table of the stack is missing: {text}"
            return f"AWS said {code}: {text}"
        if isinstance(seen, BotoCoreError):
            return f"cannot reach AWS: {seen}"
        seen = seen.__cause__ or seen.__context__
    return None
