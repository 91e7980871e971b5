"""What every `ripen` subcommand's parser shares: its help layout and the types of its options."""

from __future__ import annotations

import argparse
import textwrap
from datetime import date


def subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, about: str, examples: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it is for and shows how it is used."""
    return commands.add_parser(
        name,
        help=summary,
        description=about,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in textwrap.dedent(examples).strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date like 2026-03-02") from None
