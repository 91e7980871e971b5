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
import textwrap
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ripen_dev.operate.target import OperatorError, add_arguments, resolve

if TYPE_CHECKING:
    from ripen.app import App

Run = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lead = _command(
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
    p = _command(
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
    p = _command(
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
    p = _command(
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


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, about: str, examples: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=about,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in textwrap.dedent(examples).strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
