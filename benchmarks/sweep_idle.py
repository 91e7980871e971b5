"""Benchmark: the sweep's cost does not grow with idle leads.

Two table sets on one DynamoDB Local: one with 100,000 idle leads, one with 1,000, both with
the same due work (200 enrollments whose timer is due, in every run). Idle means not due: half
wait for a timer later on, 40% finished their sequence, 10% signed up minutes ago (their first
email claimed, not yet sent). The sweep runs on each set in turn, several times, and each run's
DynamoDB requests are counted through botocore's `before-call` hooks on the store's clients.

    uv run --frozen python -m benchmarks.sweep_idle [--idle 100000 --small 1000 --due 200 --runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # a Tuesday, inside trial-nurture's window
TARGET = 1.1


@dataclass
class TableSet:
    label: str
    idle: int
    settings: Any
    seconds_to_seed: float = 0.0
    requests: list[Counter[str]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    return 0 if all(f.met for f in measure(argv)) else 1


def measure(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # a line per decision would bury the figures
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    import boto3

    from ripen_dev.local.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal(REPO / ".cache") as endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        sets = [
            TableSet(f"{args.small:,} idle", args.small, make_tables(client, endpoint)),
            TableSet(f"{args.idle:,} idle", args.idle, make_tables(client, endpoint)),
        ]
        for table_set in sets:
            started = time.perf_counter()
            seed_idle(client, table_set)
            table_set.seconds_to_seed = time.perf_counter() - started
            print(f"seeded {table_set.label} leads in {table_set.seconds_to_seed:.1f} s", flush=True)
        for run in range(args.runs + 1):  # each set's first run warms up and is not counted
            for table_set in sets if run % 2 == 0 else reversed(sets):  # alternate which goes first
                seed_due(client, table_set, run, args.due)
                sweep_once(table_set, args.due, counted=run > 0)
    return report(sets, args)


def make_tables(client: Any, endpoint: str) -> Any:
    from ripen.config import Settings
    from ripen_dev.local import cfn, resources

    template = REPO / "template.yaml"
    names = resources.create_tables(client, cfn.load_template(template), prefix=f"bench{uuid.uuid4().hex[:6]}-")
    env = resources.local_environment(template, names)
    env.update(DYNAMODB_ENDPOINT=endpoint, AWS_REGION="us-east-1", TEMPLATES_DIR=str(REPO / "templates"))
    return Settings.from_env(env)


def world_of(lead_states: dict[str, str]) -> Any:
    """One lead per state, built with the real service in memory (see ripen_dev.local.bulk)."""
    from ripen.adapters.templates import load_catalog
    from ripen.core.records import Consent, Lead
    from ripen.core.state import ExitRequested
    from ripen.services.nurture import Nurture
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.queue import MemorySendQueue
    from ripen_dev.fakes.store import InMemoryStore
    from ripen_dev.local import bulk

    world = InMemoryStore()
    catalog = load_catalog(REPO / "templates")
    for lead_id, state in lead_states.items():
        signed_up = {
            "waiting": NOW - timedelta(hours=1),  # first-dashboard due tomorrow
            "finished": NOW - timedelta(days=20),
            "new": NOW - timedelta(minutes=5),  # welcome claimed, not sent yet
            "due": NOW - timedelta(days=1, minutes=5),  # first-dashboard due five minutes ago
        }[state]
        clock = ManualClock(signed_up)
        lead = Lead(
            lead_id,
            f"{lead_id}@example.com",
            signed_up,
            timezone="UTC",
            consents=(Consent(signed_up, confirmed_at=signed_up),),
        )
        nurture = Nurture(world, catalog, MemorySendQueue(), clock)
        nurture.enroll(lead, "trial-nurture")
        if state == "finished":
            clock.advance(days=15)
            nurture.apply(lead_id, "trial-nurture", ExitRequested("trial-over"), "timer")
        if state != "new":
            bulk.mark_sent(world, clock.now())
    return world


def seed_idle(client: Any, table_set: TableSet) -> None:
    from ripen.adapters.dynamodb import DynamoStore
    from ripen_dev.local import bulk

    store = DynamoStore(table_set.settings)
    world = world_of({"tpl_waiting": "waiting", "tpl_finished": "finished", "tpl_new": "new"})
    waiting, finished = table_set.idle // 2, table_set.idle * 4 // 10
    counts = {"tpl_waiting": waiting, "tpl_finished": finished, "tpl_new": table_set.idle - waiting - finished}
    enrollments, messages = [], []
    for template, count in counts.items():
        e, m = bulk.replicate(store, world, template, (f"ld_idle_{template[4:]}_{i:06d}" for i in range(count)))
        enrollments += e
        messages += m
    bulk.put_items(client, table_set.settings.enrollments_table, enrollments, threads=8)
    bulk.put_items(client, table_set.settings.messages_table, messages, threads=8)


def seed_due(client: Any, table_set: TableSet, run: int, due: int) -> None:
    from ripen.adapters.dynamodb import DynamoStore
    from ripen_dev.local import bulk

    store = DynamoStore(table_set.settings)
    world = world_of({"tpl_due": "due"})
    enrollments, messages = bulk.replicate(store, world, "tpl_due", (f"ld_due_{run}_{i:04d}" for i in range(due)))
    bulk.put_items(client, table_set.settings.enrollments_table, enrollments)
    bulk.put_items(client, table_set.settings.messages_table, messages)


def sweep_once(table_set: TableSet, due: int, counted: bool = True) -> None:
    from ripen.adapters import tables
    from ripen.adapters.dynamodb import DynamoStore
    from ripen.adapters.templates import load_catalog
    from ripen.services.sweep import Sweep
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.queue import MemorySendQueue

    store = DynamoStore(table_set.settings)  # binds the models to this set's tables
    requests: Counter[str] = Counter()
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            requests[model.name] += 1

    clients = {id(c): c for c in [m._get_connection().connection.client for m in tables.MODELS.values()]}
    clients[id(store._connection.client)] = store._connection.client
    for client in clients.values():
        client.meta.events.register("before-call.dynamodb", count)
    sweep = Sweep(store, load_catalog(REPO / "templates"), MemorySendQueue(), ManualClock(NOW))
    started = time.perf_counter()
    result = sweep.run()
    if counted:
        table_set.times.append(time.perf_counter() - started)
        table_set.requests.append(requests)
    if result.claimed != due or result.failed or result.lost_jobs_requeued:
        raise SystemExit(f"unexpected sweep on {table_set.label}: {result.as_dict()}")


def report(sets: list[TableSet], args: argparse.Namespace) -> list[Figure]:
    small, large = sets
    small_requests = statistics.median(sum(r.values()) for r in small.requests)
    large_requests = statistics.median(sum(r.values()) for r in large.requests)
    small_time, large_time = statistics.median(small.times), statistics.median(large.times)
    request_ratio, time_ratio = large_requests / small_requests, large_time / small_time
    print()
    print(f"Sweep cost with idle leads: DynamoDB Local, {args.due} due enrollments per run, {args.runs} runs per set")
    print("after a warm-up, the sets alternating; medians. Idle = 50% waiting for a later timer, 40% finished,")
    print("10% just signed up (first email claimed, not sent yet).")
    print()
    print(f"{'':34}{small.label:>16}{large.label:>18}{'ratio':>8}{'target':>10}")
    target = f"<= {TARGET}"
    row = "{:34}{:>16}{:>18}{:>8.2f}{:>10}"
    print(
        row.format(
            "DynamoDB requests per sweep", f"{small_requests:.0f}", f"{large_requests:.0f}", request_ratio, target
        )
    )
    print(row.format("sweep time, seconds", f"{small_time:.2f}", f"{large_time:.2f}", time_ratio, target))
    for label, table_set in (("  requests by operation", small), ("", large)):
        ops = ", ".join(f"{op} {n}" for op, n in sorted(table_set.requests[-1].items()))
        print(f"{label:34}{table_set.label}: {ops}")
    print(f"{'  every run, seconds':34}{small.label}: {' '.join(f'{t:.2f}' for t in small.times)}")
    print(f"{'':34}{large.label}: {' '.join(f'{t:.2f}' for t in large.times)}")
    print(f"{'seeding, seconds':34}{small.seconds_to_seed:>16.1f}{large.seconds_to_seed:>18.1f}")
    ok = request_ratio <= TARGET and time_ratio <= TARGET
    print()
    print("PASS: the sweep's cost follows due work only" if ok else "FAIL: the sweep's cost grew with idle leads")
    what = f"sweep, {large.idle:,} vs {small.idle:,} idle leads:"
    return [
        Figure(f"{what} requests ratio", f"{request_ratio:.2f}", f"<= {TARGET}", request_ratio <= TARGET),
        Figure(f"{what} time ratio", f"{time_ratio:.2f}", f"<= {TARGET}", time_ratio <= TARGET),
    ]


if __name__ == "__main__":
    sys.exit(main())
