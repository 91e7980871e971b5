"""The `ripen` command: marketer and developer tools (lint, demo, ...)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Command = Callable[[argparse.Namespace], int]


def lint(args: argparse.Namespace) -> int:
    from ripen.core.validator import load_catalog
    from ripen.mail.lint import lint_emails

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
    from ripen.mail.preview import write_previews
    from ripen.mail.samples import load_lead, sender_details

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


def demo(args: argparse.Namespace) -> int:
    from ripen.demo import run_demo

    return run_demo(Path(args.templates), args.sequence, args.timezone, args.click, args.days, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
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

    p = commands.add_parser("demo", help="walk one lead through a sequence with a moved clock, printing each step")
    p.add_argument("--templates", default="templates")
    p.add_argument("--sequence", default="trial-nurture")
    p.add_argument("--timezone", default="America/New_York", help="the lead's IANA time zone")
    p.add_argument(
        "--click",
        action="append",
        default=[],
        metavar="LINK",
        help="the lead clicks this named link the first time an email carries it (repeatable)",
    )
    p.add_argument("--days", type=int, default=30, help="stop after this many days")
    p.set_defaults(run=demo)

    args = parser.parse_args(argv)
    run: Command = args.run
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
