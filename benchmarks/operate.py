"""Benchmark: the operator commands on DynamoDB Local.

- `ripen import`: rows a second through the signup service (each row the signup's conditional writes),
  a CSV of consented leads into the ebook nurture, 8 workers, no throttle.
- `ripen report`: seconds to build the report over 100,000 leads: their emails' Stats rows (90 days of
  signups, every email step) and their 100,000 enrollments (one scan).

    uv run --frozen python -m benchmarks.operate [--import-rows 1000 --leads 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure, print_figures

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
IMPORT_TARGET = 20.0  # rows a second, at least, on DynamoDB Local
REPORT_TARGET = 60.0  # seconds, at most, over 100,000 leads


def main(argv: list[str] | None = None) -> int:
    return print_figures(measure(argv))


def measure(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import-rows", type=int, default=1_000)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    import boto3

    from ripen_dev.local.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal(REPO / ".cache") as endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        rate = import_rate(app_on(make_tables(client, endpoint)), args.import_rows)
        print(f"import: {args.import_rows:,} rows at {rate:,.0f} rows/s", flush=True)
        settings = make_tables(client, endpoint)
        seeded = time.perf_counter()
        seed_report(client, settings, args.leads)
        print(f"seeded {args.leads:,} leads' stats and enrollments in {time.perf_counter() - seeded:.1f} s", flush=True)
        seconds = report_time(app_on(settings))
        print(f"report over {args.leads:,} leads: {seconds:.2f} s", flush=True)
    return [
        Figure(
            "ripen import rows per second (DynamoDB Local)",
            f"{rate:,.0f}",
            f">= {IMPORT_TARGET:g}",
            rate >= IMPORT_TARGET,
        ),
        Figure(
            f"ripen report seconds over {args.leads:,} leads (DynamoDB Local)",
            f"{seconds:.1f}",
            f"<= {REPORT_TARGET:g}",
            seconds <= REPORT_TARGET,
        ),
    ]


def make_tables(client: Any, endpoint: str) -> Any:
    from ripen.config import Settings
    from ripen_dev.local import cfn, resources

    template = REPO / "template.yaml"
    names = resources.create_tables(client, cfn.load_template(template), prefix=f"op{uuid.uuid4().hex[:6]}-")
    env = resources.local_environment(template, names)
    env.update(
        DYNAMODB_ENDPOINT=endpoint,
        AWS_REGION="us-east-1",
        TEMPLATES_DIR=str(REPO / "templates"),
        LEAD_ID_SECRET="benchmark-lead-id-key-not-a-secret-000000",  # noqa: S106 - a benchmark's key
    )
    return Settings.from_env(env)


def app_on(settings: Any) -> Any:
    from ripen.app import App
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.queue import MemorySendQueue

    return App(settings, queue=MemorySendQueue(), clock=ManualClock(NOW))


def import_rate(app: Any, rows: int) -> float:
    from ripen_dev.operate import importing

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leads.csv"
        lines = ["email,name,consent"] + [f"lead{i}@example.com,Ana,yes" for i in range(rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        parsed = importing.read(path)
        started = time.perf_counter()
        report = importing.run(app, parsed, "ebook-nurture", file="leads.csv", rate=0, workers=8)
        seconds = time.perf_counter() - started
    assert report.outcomes == {"enrolled": rows}, report.outcomes
    return rows / seconds


def seed_report(client: Any, settings: Any, leads: int) -> None:
    """`leads` leads who signed up over 90 days: every email step's counters per send day, as the
    engagement function adds them, and one enrollment each (a tenth sales-ready)."""
    from ripen.adapters.dynamodb import DynamoStore
    from ripen.adapters.stats import DynamoStats
    from ripen.adapters.templates import load_catalog
    from ripen.core.engagement import Bucket
    from ripen.core.records import Lead
    from ripen.core.state import Status
    from ripen.services.nurture import Nurture
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.queue import MemorySendQueue
    from ripen_dev.fakes.store import InMemoryStore
    from ripen_dev.local import bulk

    catalog = load_catalog(REPO / "templates")
    sequence = catalog.current("trial-nurture")
    steps = [s for s in sequence.step_ids if s in {"welcome", "first-dashboard", "case-study", "trial-ending"}]
    days = 90
    counts: dict[Bucket, dict[str, int]] = {}
    for day in range(days):
        sent = leads // days
        for step in steps:
            bucket = Bucket(sequence.name, sequence.version, step, (NOW - timedelta(days=day)).date().isoformat())
            counts[bucket] = {
                "sent": sent,
                "delivered": sent * 98 // 100,
                "opened": sent * 40 // 100,
                "machine_opens": sent * 20 // 100,
                "clicked": sent * 8 // 100,
                "link:pricing": sent * 3 // 100,
                "bounced": sent // 100,
                "sales_ready": sent // 40,
            }
    DynamoStats(settings.stats_table, settings.region, settings.dynamodb_endpoint).add(counts)
    world = InMemoryStore()
    Nurture(world, catalog, MemorySendQueue(), ManualClock(NOW - timedelta(days=30))).enroll(
        Lead("tpl_active", "a@example.com", NOW), sequence.name
    )
    record = world.enrollments[("tpl_active", sequence.name)]
    ready = replace(
        record.enrollment, lead_id="tpl_ready", status=Status.SALES_READY, ended_at=NOW - timedelta(days=20)
    )
    world.enrollments[("tpl_ready", sequence.name)] = replace(record, enrollment=ready)
    store = DynamoStore(settings)
    active, _ = bulk.replicate(store, world, "tpl_active", (f"ld_a{i:07d}" for i in range(leads - leads // 10)))
    sales_ready, _ = bulk.replicate(store, world, "tpl_ready", (f"ld_r{i:07d}" for i in range(leads // 10)))
    bulk.put_items(client, settings.enrollments_table, active + sales_ready, threads=8)


def report_time(app: Any) -> float:
    from ripen_dev.operate import report

    started = time.perf_counter()
    built = report.build(app, source="bench")
    seconds = time.perf_counter() - started
    trial = next(s for s in built.sequences if s.name == "trial-nurture")
    assert trial.entered > 0
    assert trial.total("sent") > 0
    return seconds


if __name__ == "__main__":
    sys.exit(main())
