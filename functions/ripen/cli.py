"""The `ripen` command: marketer and developer tools (lint, demo, ...)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Command = Callable[[argparse.Namespace], int]


def lint(args: argparse.Namespace) -> int:
    from ripen.core.validator import load_catalog

    root = Path(args.path)
    if not root.is_dir():
        print(f"{root}: not a folder of sequences", file=sys.stderr)
        return 2
    catalog = load_catalog(root)
    for problem in catalog.problems:
        print(
            f"{root / problem.file}:{problem.line}: {problem.message}"
            + (f" (fix: {problem.fix})" if problem.fix else "")
        )
    if catalog.problems:
        print(f"{len(catalog.problems)} problem(s)", file=sys.stderr)
        return 1
    names = ", ".join(catalog.names()) or "none"
    print(f"ok: {len(catalog.names())} sequence(s) valid ({names})")
    return 0


def demo(args: argparse.Namespace) -> int:
    from ripen.demo import run_demo

    return run_demo(Path(args.templates), args.sequence, args.timezone, args.click, args.days, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ripen", description="Lead nurturing on AWS: tools for sequences and emails.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("lint", help="check every sequence (and its emails) under PATH")
    p.add_argument("path", nargs="?", default="templates")
    p.set_defaults(run=lint)

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
