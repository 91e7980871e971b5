"""`make bench`: every benchmark in one run, then their figures side by side with their targets.

uv run --frozen python -m benchmarks [--quick]
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import event_storm, requests_per_email, send_rate, sweep_idle
from benchmarks.figures import Figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a try (figures less steady)")
    args = parser.parse_args(argv)
    small = ["--idle", "10000", "--small", "100", "--runs", "3"] if args.quick else []
    figures: list[Figure] = []
    figures += sweep_idle.measure(small)
    figures += requests_per_email.measure(["--leads", "60"] if args.quick else [])
    figures += send_rate.measure(["--emails", "300"] if args.quick else [])
    figures += event_storm.measure(["--leads", "100", "--events", "1000"] if args.quick else [])
    print()
    print("=" * 100)
    print("make bench: every figure with its target")
    for figure in figures:
        print(figure.line())
    missed = [f for f in figures if not f.met]
    if missed:
        print(f"{len(missed)} figure(s) missed their target: docs/architecture.md (costs) says why")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
