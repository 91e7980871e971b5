"""Benchmark: an event storm. 10,000 product events (`Lead Event`) for 1,000 trial leads, through the
events function as the events queue delivers them (SQS batches of 100, EventBridge envelopes), on
DynamoDB Local with the tables of template.yaml.

The mix: pricing page views (scored), booked demos (a `wait_for` signal, scored), conversions (the
goal), events no sequence uses (counted, changing nothing) and 5% deliveries of an event already sent
(the same id: applied once). Events happen over three days, in order of `occurred_at`, on a moved clock.

Reported: events per second through one events function (one container, serially, against
DynamoDB Local on this machine: a floor, not Lambda's figure), DynamoDB requests per event (every
request counted through botocore's `before-parameter-build` hook), and events applied twice (an id
applied more than once: must be 0).

    uv run --frozen python -m benchmarks.event_storm [--leads 1000 --events 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure, print_figures
from ripen_dev.local.botocore_hooks import on_dynamodb_calls

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEQUENCE = "trial-nurture"
BATCH = 100  # the events queue mapping's BatchSize (template.yaml)
MIX = (("pricing_page_viewed", 0.55), ("demo_booked", 0.15), ("trial_converted", 0.05), ("logged_in", 0.25))
REPLAYS = 0.05
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
TARGET_REQUESTS = 6.0  # DynamoDB requests per event, at most
TARGET_RATE = 20.0  # events per second through one container, at least (DynamoDB Local, this machine)


@dataclass
class Requests:
    phase: str = "setup"
    calls: Counter[str] = field(default_factory=Counter)

    def handle(self, model: Any, **_: Any) -> None:
        if self.phase == "storm":
            self.calls[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def counted(requests: Requests) -> AbstractContextManager[None]:
    return on_dynamodb_calls(("before-parameter-build.dynamodb", requests.handle))


def main(argv: list[str] | None = None) -> int:
    return print_figures(measure(argv))


def measure(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    import boto3

    from ripen_dev.local.dynamodb_local import DynamoDBLocal

    requests = Requests()
    with DynamoDBLocal(REPO / ".cache") as endpoint, counted(requests):
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        result = storm(client, endpoint, requests, args.leads, args.events, random.Random(args.seed))  # noqa: S311
    return report(result, requests)


@dataclass
class Storm:
    events: int
    seconds: float
    outcomes: Counter[str]
    applied_twice: int


def storm(client: Any, endpoint: str, requests: Requests, leads: int, events: int, rng: random.Random) -> Storm:
    from ripen.adapters.dynamodb import DynamoStore
    from ripen.adapters.event_ids import DynamoEventIds
    from ripen.adapters.stats import DynamoStats
    from ripen.adapters.templates import load_catalog
    from ripen.app import App, use
    from ripen.config import Settings
    from ripen.core.leads import lead_id_for
    from ripen.core.records import Consent, Lead
    from ripen.handlers import events as events_handler
    from ripen_dev.fakes.bus import MemoryEventBus
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.metrics import MemoryMetrics
    from ripen_dev.fakes.queue import MemorySendQueue
    from ripen_dev.local import cfn, resources
    from ripen_dev.local.http import LambdaContext

    template = REPO / "template.yaml"
    names = resources.create_tables(
        client, cfn.load_template(template), prefix=f"storm{uuid.uuid4().hex[:6]}-", expire_items=False
    )
    env = resources.local_environment(template, names, "EventsFunction")
    env.update(
        DYNAMODB_ENDPOINT=endpoint,
        AWS_REGION="us-east-1",
        TEMPLATES_DIR=str(REPO / "templates"),
        TOKEN_SECRET="b" * 48,
        LEAD_ID_SECRET="i" * 48,
    )
    settings = Settings.from_env(env)
    clock = ManualClock(START)
    metrics = MemoryMetrics()
    app = App(
        settings,
        store=DynamoStore(settings),
        queue=MemorySendQueue(),
        clock=clock,
        catalog=load_catalog(REPO / "templates"),
        metrics=metrics,
        bus=MemoryEventBus(),
        stats=DynamoStats(settings.stats_table, settings.region, settings.dynamodb_endpoint),
        event_ids=DynamoEventIds(settings.event_ids_table or "", settings.region, settings.dynamodb_endpoint),
    )
    use(app)
    try:
        key = app.lead_id_key
        ids = []
        for i in range(leads):  # confirmed trial leads, each in trial-nurture (not counted)
            email = f"lead{i:05d}@example.com"
            lead = Lead(
                lead_id_for(email, key),
                email,
                START,
                timezone="UTC",
                consents=(Consent(given_at=START, confirmed_at=START),),
            )
            app.store.create_lead(lead)
            app.nurture.enroll(lead, SEQUENCE)
            ids.append(lead.lead_id)
        bodies = planned(ids, events, rng)
        requests.phase = "storm"
        started = time.perf_counter()
        for first in range(0, len(bodies), BATCH):
            batch = bodies[first : first + BATCH]
            clock.set(max(clock.now(), max(at for at, _ in batch) + timedelta(seconds=1)))
            records = [sqs_record(i + first, body) for i, (_, body) in enumerate(batch)]
            answer = events_handler.handler({"Records": records}, LambdaContext())
            assert not answer["batchItemFailures"], answer
        seconds = time.perf_counter() - started
        requests.phase = "done"
    finally:
        use(None)
    outcomes = Counter(
        {
            "applied": metrics.counts["ProductEventsApplied"],
            "duplicate": metrics.counts["ProductEventsDuplicate"],
            "unknown name": metrics.counts["ProductEventsUnknownName"],
            "converted": metrics.counts["LeadsConverted"],
        }
    )
    distinct = len({json.loads(body)["detail"]["id"] for _, body in bodies})
    return Storm(len(bodies), seconds, outcomes, max(0, outcomes["applied"] - distinct))


def planned(lead_ids: list[str], count: int, rng: random.Random) -> list[tuple[datetime, str]]:
    """`count` queue bodies: EventBridge events of detail-type Lead Event, in the order they happened."""
    names, weights = zip(*MIX, strict=True)
    bodies: list[tuple[datetime, str]] = []
    span = timedelta(days=3).total_seconds()
    fresh = int(count / (1 + REPLAYS))
    for n in range(fresh):
        at = START + timedelta(minutes=10, seconds=span * n / fresh)
        detail = {
            "lead_id": rng.choice(lead_ids),
            "event": rng.choices(names, weights)[0],
            "id": f"evt-{n:06d}",
            "occurred_at": at.isoformat(),
            "properties": {"source": "storm"},
        }
        bodies.append((at, envelope(detail, at)))
    while len(bodies) < count:  # deliveries of an event already sent, a little later
        at, body = bodies[rng.randrange(fresh)]
        bodies.append((at + timedelta(minutes=rng.randint(1, 30)), body))
    bodies.sort(key=lambda pair: pair[0])
    return bodies


def envelope(detail: dict[str, Any], at: datetime) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Lead Event",
            "source": "acme.product",
            "account": "123456789012",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": detail,
        }
    )


def sqs_record(n: int, body: str) -> dict[str, Any]:
    return {
        "messageId": f"storm-{n:06d}",
        "receiptHandle": f"storm-{n:06d}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1772442000000"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - what SQS computes
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ripen-EventsQueue",
        "awsRegion": "us-east-1",
    }


def report(result: Storm, requests: Requests) -> list[Figure]:
    rate = result.events / result.seconds if result.seconds else 0.0
    per_event = requests.total / result.events if result.events else 0.0
    reads = sum(n for name, n in requests.calls.items() if name in READS) / max(result.events, 1)
    writes = sum(n for name, n in requests.calls.items() if name in WRITES) / max(result.events, 1)
    print(f"event storm: {result.events} events in {result.seconds:.1f} s; outcomes {dict(result.outcomes)}")
    print(f"  DynamoDB requests: {dict(requests.calls)}; per event {reads:.2f} reads + {writes:.2f} writes")
    return [
        Figure(
            "event storm: events per second, one events function",
            f"{rate:.0f}",
            f">= {TARGET_RATE:g}",
            rate >= TARGET_RATE,
        ),
        Figure(
            "event storm: DynamoDB requests per event",
            f"{per_event:.2f}",
            f"<= {TARGET_REQUESTS:g}",
            per_event <= TARGET_REQUESTS,
        ),
        Figure("event storm: events applied twice", str(result.applied_twice), "0", result.applied_twice == 0),
    ]


if __name__ == "__main__":
    sys.exit(main())
