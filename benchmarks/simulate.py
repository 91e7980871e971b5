"""Benchmark: `ripen simulate` of 100,000 leads x 90 days on the SaaS example, within 60 s and 1 GiB.

Runs what `ripen simulate --sequence trial-nurture --model examples/simulation/trial-nurture.yaml
--leads 100000 --days 90` runs (every core, the HTML report written), in this process, and reports
wall time, CPU time, peak memory and lead-steps per second (a lead-step is one engine decision:
one lead moved by one trigger: a timer, an open, a click, a confirmation...).

    uv run --frozen python -m benchmarks.simulate [--leads 100000 --days 90 --workers N]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "examples" / "simulation" / "trial-nurture.yaml"
TARGET_SECONDS = 60.0
TARGET_BYTES = 1024**3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workers", type=int, default=0, help="default: every core")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from ripen.adapters.templates import load_catalog
    from ripen_dev.simulation.model import check_model, email_links, load_model
    from ripen_dev.simulation.report import write_report
    from ripen_dev.simulation.simulate import Plan, default_workers, simulate
    from ripen_dev.simulation.summary import write_summary

    load_before = os.getloadavg()
    wall_started, cpu_started = time.perf_counter(), _cpu_seconds()
    templates = REPO / "templates"
    sequence = load_catalog(templates).current("trial-nurture")
    links = email_links(templates, sequence)
    model = load_model(MODEL)
    if check_model(model, sequence, links, str(MODEL)):
        raise SystemExit(f"{MODEL} does not fit trial-nurture")
    start = datetime(2026, 3, 2, tzinfo=UTC)
    plan = Plan(sequence, model, links, args.leads, args.days, args.seed, start, str(MODEL.relative_to(REPO)))
    workers = args.workers or default_workers()
    result = simulate(plan, workers)
    with tempfile.TemporaryDirectory() as folder:
        report = write_report(result, Path(folder) / "report.html")
        report_bytes = report.stat().st_size
    wall = time.perf_counter() - wall_started
    cpu = _cpu_seconds() - cpu_started
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    peak = parent + (child * result.workers if result.workers > 1 else 0)

    summary = io.StringIO()
    write_summary(result, summary)
    print(summary.getvalue())
    tally = result.tally
    print(f"Simulation benchmark: trial-nurture, {args.leads:,} leads x {args.days} days, model {plan.model_file}")
    busy = cpu / (wall * (os.cpu_count() or 1))
    print(f"machine: {os.cpu_count()} CPU(s), {result.workers} worker process(es); this run had {busy:.0%} of the CPUs")
    print(
        f"(load average {load_before[0]:.2f} before it; other processes on the machine stretch the wall time, "
        "not the CPU time)"
    )
    print()
    row = "{:44}{:>16}{:>14}"
    print(row.format("", "measured", "target"))
    print(row.format("wall time, whole run (s)", f"{wall:.1f}", f"< {TARGET_SECONDS:.0f}"))
    print(row.format("  of which playing the leads (s)", f"{result.seconds:.1f}", ""))
    print(row.format("CPU time, all processes (s)", f"{cpu:.1f}", ""))
    print(row.format("peak memory, all processes (MiB)", f"{peak / 2**20:.0f}", f"< {TARGET_BYTES / 2**20:.0f}"))
    print(row.format("  main process / largest worker (MiB)", f"{parent / 2**20:.0f} / {child / 2**20:.0f}", ""))
    print(row.format("lead-steps (engine decisions)", f"{tally.decisions:,}", ""))
    print(row.format("lead-steps per second (wall)", f"{tally.decisions / result.seconds:,.0f}", ""))
    print(row.format("lead-steps per CPU second", f"{tally.decisions / cpu:,.0f}", ""))
    print(row.format("leads per second (wall)", f"{args.leads / result.seconds:,.0f}", ""))
    print(row.format("emails decided", f"{tally.emails:,}", ""))
    print(row.format("HTML report (KiB)", f"{report_bytes / 1024:.0f}", ""))
    print(row.format("funnel identities broken", f"{len(tally.identities())}", "0"))
    ok = wall < TARGET_SECONDS and peak < TARGET_BYTES and not tally.identities()
    print()
    print("PASS: within time and memory" if ok else "FAIL: over a target (see above)")
    return 0 if ok else 1


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    sys.exit(main())
