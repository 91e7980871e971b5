"""Benchmark: DynamoDB requests per email, leads going through the whole trial-nurture sequence.

Leads sign up through the signup service (trial-nurture confirms by email first: the confirmation
email, then the click), the sweep fires their timers, the real sender sends every email through a
fake SES, and the engagement function gets the SES events such emails bring: Send and Delivery for
every email (one batch, as the queue's 5-second window gathers them), opens by privacy proxies on
arrival, opens by people hours later, clicks (some on pricing, which branches at once). Events
reach the engagement function in batches of up to 100, by the minute they happen. Every DynamoDB
request is counted through botocore's `before-parameter-build` hook, by phase, on a moved clock.

The sweep's reads of its due indexes (two queries per shard per run) are a fixed cost per minute,
whatever the load; they are shown on their own line, not per email.

    uv run --frozen python -m benchmarks.requests_per_email [--leads 400]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday morning
SEQUENCE = "trial-nurture"
MAX_WRITES, MAX_READS = 5.0, 2.0
ZONES = ("America/New_York", "Europe/Berlin", "Europe/London", "America/Los_Angeles", "Asia/Kolkata")
# What nurture email really brings back (per email): privacy-proxy opens on arrival (Apple Mail),
# opens by people, clicks by people; pricing clicks on the case study (the branch).
MACHINE_OPEN, HUMAN_OPEN, CLICK, PRICING_CLICK = 0.25, 0.30, 0.05, 0.12
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
PHASES = ("signup", "decisions", "sweep index", "sender", "engagement")
WINDOW = timedelta(seconds=5)  # the engagement queue's MaximumBatchingWindowInSeconds


@dataclass
class Requests:
    """DynamoDB requests by phase, seen by botocore on every client created while counting."""

    phase: str = "signup"
    reads: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)  # items written (a transaction writes several)

    def handle(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        phase = self.phase
        if phase == "decisions" and model.name == "Query" and params.get("IndexName") == "due":
            phase = "sweep index"
        if model.name in READS:
            self.reads[phase] += 1
        elif model.name in WRITES:
            self.writes[phase] += 1
            self.items[phase] += len(params.get("TransactItems", [])) or 1


@contextmanager
def counted(requests: Requests) -> Iterator[None]:
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register("before-parameter-build.dynamodb", requests.handle)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


@dataclass
class Tally:
    emails: Counter[str] = field(default_factory=Counter)  # by step
    events: Counter[str] = field(default_factory=Counter)
    sweeps: int = 0
    batches: int = 0


class Recorder:
    """A fake SES keeping what it accepted (with the tags the sender set)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.accepted: list[tuple[str, datetime, dict[str, str]]] = []

    def send(self, email: Any) -> Any:
        from ripen.ports.mailer import SentEmail

        ses_id = f"0100019{len(self.accepted):09d}-bench"
        self.accepted.append((ses_id, self.clock.now(), dict(email.tags)))
        return SentEmail(ses_id)


# The code as it was when issue 13 was filed: its figures are measured again in the same run, on the
# same machine and the same simulated traffic, so the two columns compare like with like.
BASELINE = "2c5ea12af3487da63859e93ed3d435fe05388e53"


def main(argv: list[str] | None = None) -> int:
    return 0 if all(f.met for f in measure(argv)) else 1


def measure(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", default=BASELINE, help="a git commit to measure side by side ('' for none)")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    import boto3

    from ripen_dev.local.dynamodb_local import DynamoDBLocal

    with DynamoDBLocal(REPO / ".cache") as endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")  # not counted
        settings = make_tables(client, endpoint)
        requests = Requests()
        started = time.perf_counter()
        with counted(requests):
            tally = simulate(client, settings, requests, args.leads, random.Random(args.seed))  # noqa: S311 - a reproducible mix, not a secret
        seconds = time.perf_counter() - started
    figures = report(requests, tally, args.leads, seconds)
    if args.baseline:
        side_by_side(figures, measure_baseline(args.baseline, args.leads, args.seed))
    return figures


def measure_baseline(commit: str, leads: int, seed: int) -> dict[str, str] | None:
    """The same benchmark on `commit`'s code (exported from git into a scratch folder, run there with
    this environment's packages), or None when git or the commit is not at hand (a source archive)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ripen-baseline-") as scratch:
        folder = Path(scratch)
        try:
            archive = subprocess.run(  # noqa: S603 - our own repository and a commit id
                ["git", "-C", str(REPO), "archive", "--format=tar", commit],  # noqa: S607 - git from PATH
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)  # noqa: S603, S607
        except (OSError, subprocess.CalledProcessError):
            print(f"baseline {commit[:7]}: not measured (no git history here)")
            return None
        (folder / ".cache").symlink_to(REPO / ".cache")  # the same DynamoDB Local
        env = {**os.environ, "PYTHONPATH": f"{folder / 'functions'}{os.pathsep}{folder}"}
        run = subprocess.run(  # noqa: S603 - this Python, the benchmark module
            [sys.executable, "-m", "benchmarks.requests_per_email", "--leads", str(leads), "--seed", str(seed)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
    figures: dict[str, str] = {}
    for line in run.stdout.splitlines():
        words = line.split()
        if line.startswith("total per email") and len(words) >= 7:
            figures["writes"], figures["reads"] = words[-2], words[-1]
        elif line.startswith("items written") and words:
            figures["items"] = words[-1]
    if "writes" not in figures:
        print(f"baseline {commit[:7]}: not measured ({(run.stderr or run.stdout).strip().splitlines()[-1:]})")
        return None
    return figures


def side_by_side(figures: list[Figure], baseline: dict[str, str] | None) -> None:
    if baseline is None:
        return
    now = {"writes": figures[0].value, "reads": figures[1].value, "items": figures[2].value}
    print(f"Side by side, one run, the same traffic ({BASELINE[:7]} = the code when issue 13 was filed):")
    print(f"{'per email':34}{BASELINE[:7]:>10}{'now':>10}")
    for name, label in (("writes", "writes"), ("reads", "reads"), ("items", "items written")):
        print(f"{label:34}{baseline.get(name, '?'):>10}{now[name]:>10}")
    print()


def make_tables(client: Any, endpoint: str) -> Any:
    import uuid

    from ripen.config import Settings
    from ripen_dev.local import cfn, resources

    template = REPO / "template.yaml"
    # TTL off: DynamoDB Local would delete unconfirmed leads by the real clock, not the simulated one
    names = resources.create_tables(
        client, cfn.load_template(template), prefix=f"rpe{uuid.uuid4().hex[:6]}-", expire_items=False
    )
    env = resources.local_environment(template, names)
    env.update(DYNAMODB_ENDPOINT=endpoint, AWS_REGION="us-east-1", TEMPLATES_DIR=str(REPO / "templates"))
    return Settings.from_env(env)


def simulate(client: Any, settings: Any, requests: Requests, leads: int, rng: random.Random) -> Tally:
    from ripen.adapters.dynamodb import DynamoStore
    from ripen.adapters.stats import DynamoStats
    from ripen.app import App
    from ripen.config import Settings
    from ripen.core.emails import link_names
    from ripen.models.signup import SignupForm
    from ripen.ports.errors import RetryLaterError
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.metrics import MemoryMetrics
    from ripen_dev.fakes.queue import MemorySendQueue

    clock = ManualClock(START)
    env = {**settings.model_dump(by_alias=True, exclude_none=True)}
    env.update(
        TOKEN_SECRET="b" * 48,
        LEAD_ID_SECRET="i" * 48,
        PUBLIC_BASE_URL="https://go.acme.example",
        SENDER_COMPANY="Acme Insights",
        SENDER_POSTAL_ADDRESS="Acme Insights Inc., 100 Example Street, Springfield, IL 62701, USA",
        SES_CONFIGURATION_SET="ripen-nurture",
        DEFAULT_SEQUENCE=SEQUENCE,
    )
    env = {k: str(v) for k, v in env.items()}
    store = DynamoStore(Settings.from_env(env))
    ses = Recorder(clock)
    queue = MemorySendQueue()
    stats = DynamoStats(settings.stats_table, settings.region, settings.dynamodb_endpoint)
    app = App(Settings.from_env(env), store=store, queue=queue, clock=clock, mailer=ses, metrics=MemoryMetrics())
    app.__dict__["stats"] = stats
    links = {path.stem: sorted(link_names(path.read_text())) for path in (REPO / "templates" / SEQUENCE).glob("*.md")}
    tally = Tally()
    order = itertools.count()
    agenda: list[tuple[datetime, int, str, Any]] = []  # when, order, what, payload
    for i in range(leads):  # sign-ups over the first two hours
        at = START + timedelta(seconds=int(i * 7200 / leads))
        heapq.heappush(agenda, (at, next(order), "signup", (f"lead{i:05d}@example.com", ZONES[i % len(ZONES)])))
    handled = 0

    def phase(name: str) -> None:
        requests.phase = name

    def send_queued() -> None:
        nonlocal handled
        phase("sender")
        for job in queue.drain():
            try:
                app.sender.send(job)
            except RetryLaterError as exc:
                heapq.heappush(agenda, (clock.now() + exc.delay, next(order), "job", job))
        for ses_id, at, tags in ses.accepted[handled:]:
            plan_events(ses_id, at, tags)
        handled = len(ses.accepted)

    def plan_events(ses_id: str, at: datetime, tags: dict[str, str]) -> None:
        step, kind = tags["step"], tags["kind"]
        tally.emails[step] += 1
        message = bare_message(tags, ses_id, at)
        arrival = [("send", at, {}), ("delivery", at + timedelta(seconds=2), {})]
        if rng.random() < MACHINE_OPEN:
            arrival.append(("open-machine", at + timedelta(seconds=4), {}))
        heapq.heappush(agenda, (at + timedelta(seconds=5), next(order), "events", (message, arrival)))
        if kind == "confirmation":
            heapq.heappush(agenda, (at + timedelta(minutes=rng.randint(2, 40)), next(order), "confirm", tags))
            return
        if rng.random() < HUMAN_OPEN:
            opened = at + timedelta(seconds=rng.randint(5 * 60, 8 * 3600))
            later = [("open", opened, {})]
            wanted = PRICING_CLICK if step == "case-study" else CLICK / HUMAN_OPEN
            if rng.random() < wanted and links.get(tags["step"]):
                link = "pricing" if step == "case-study" else rng.choice(links[step])
                clicked = opened + timedelta(seconds=rng.randint(20, 600))
                later.append(("click", clicked, {"linkTags": {"link": [link]}}))
            for name, when, fields in later:
                heapq.heappush(agenda, (when, next(order), "events", (message, [(name, when, fields)])))

    def apply_events(due: list[tuple[Any, list[tuple[str, datetime, dict[str, Any]]]]]) -> None:
        from ripen.models.ses import received_events
        from tests.support.ses_events import event_about, sqs_batch

        phase("engagement")
        events = []
        for message, items in due:
            for name, when, fields in items:
                tally.events[name] += 1
                events.append(event_about(message, name, at=when, **fields))
        for start in range(0, len(events), 100):
            tally.batches += 1
            _, received = received_events(sqs_batch(*events[start : start + 100]))
            app.engagement.process(received)

    while True:
        next_sweep = next_due(client, settings)
        moments = [m for m in (next_sweep, agenda[0][0] if agenda else None) if m is not None]
        if not moments:
            break
        clock.set(max(clock.now(), min(moments)))
        now = clock.now()
        due_events = []
        # the engagement queue's batching window: events of the next 5 seconds come in one batch
        while agenda and (agenda[0][0] <= now or (agenda[0][2] == "events" and agenda[0][0] <= now + WINDOW)):
            _, _, what, payload = heapq.heappop(agenda)
            if what == "signup":
                email, zone = payload
                phase("signup")
                form = SignupForm.model_validate({"email": email, "consent": True, "tz": zone, "sequence": SEQUENCE})
                app.signup.capture(form)
            elif what == "confirm":
                phase("signup")
                app.signup.confirm(payload["lead"], payload["sequence"])
            elif what == "job":
                queue.enqueue([payload])
            else:
                due_events.append(payload)
        send_queued()
        if next_sweep is not None and next_sweep <= now:
            phase("decisions")
            tally.sweeps += 1
            app.sweep.run()
            send_queued()
        if due_events:
            apply_events(due_events)
            send_queued()  # a click on pricing decides the follow-up at once
        if next_sweep is not None and next_sweep <= now and next_due(client, settings) == next_sweep:
            clock.advance(minutes=1)  # what is still due (a window not open yet) waits for the next run
    return tally


def bare_message(tags: dict[str, str], ses_id: str, at: datetime) -> Any:
    """The message as SES's events describe it (its tags), without reading it from the store."""
    from ripen.core import tags as tag_names
    from ripen.core.records import Message, MessageClaim, MessageStatus

    key = tag_names.message_key_from_tag(tags["message"])
    lead_id, sequence, run, step = key.split("#")
    claim = MessageClaim(key, lead_id, sequence, 1, int(run), step, step, tags["kind"], at)  # type: ignore[arg-type]
    return Message(claim, MessageStatus.SENT, ses_message_id=ses_id, sent_at=at)


def next_due(client: Any, settings: Any) -> datetime | None:
    """The earliest due time in the sweep's indexes (read with an uncounted client), to the minute."""
    earliest: float | None = None
    for table in (settings.enrollments_table, settings.messages_table):
        for shard in range(settings.due_shards):
            answer = client.query(
                TableName=table,
                IndexName="due",
                KeyConditionExpression="due_shard = :s",
                ExpressionAttributeValues={":s": {"S": f"{shard:02d}"}},
                Limit=1,
            )
            for item in answer.get("Items", []):
                due = float(item["due_at"]["N"])
                earliest = due if earliest is None else min(earliest, due)
    if earliest is None:
        return None
    moment = datetime.fromtimestamp(earliest, tz=UTC)
    return moment.replace(second=0, microsecond=0) + (
        timedelta(minutes=1) if moment.second or moment.microsecond else timedelta()
    )


def report(requests: Requests, tally: Tally, leads: int, seconds: float) -> list[Figure]:
    emails = sum(tally.emails.values())
    per: Callable[[float], str] = lambda n: f"{n / emails:.2f}"  # noqa: E731
    print()
    print(f"DynamoDB requests per email: {leads} leads through {SEQUENCE} end to end, on DynamoDB Local")
    steps = ", ".join(f"{step} {n}" for step, n in tally.emails.most_common())
    print(f"{emails:,} emails ({steps})")
    events = ", ".join(f"{name} {n}" for name, n in sorted(tally.events.items()))
    print(f"SES events applied: {events}; in {tally.batches} engagement batches; {tally.sweeps} sweep runs")
    print()
    print(f"{'':34}{'writes':>8}{'reads':>8}{'writes/email':>14}{'reads/email':>13}")
    for name, label in (
        ("signup", "signup and confirmation (API)"),
        ("decisions", "timers fired by the sweep"),
        ("sender", "sender"),
        ("engagement", "engagement (SES events, stats)"),
    ):
        w, r = requests.writes[name], requests.reads[name]
        print(f"{label:34}{w:>8}{r:>8}{per(w):>14}{per(r):>13}")
    writes = sum(requests.writes[p] for p in PHASES if p != "sweep index")
    reads = sum(requests.reads[p] for p in PHASES if p != "sweep index")
    w_ok, r_ok = writes / emails <= MAX_WRITES, reads / emails <= MAX_READS
    print(f"{'total per email':34}{writes:>8}{reads:>8}{per(writes):>14}{per(reads):>13}")
    print(f"{'target':34}{'':16}{'<= ' + str(MAX_WRITES):>14}{'<= ' + str(MAX_READS):>13}")
    once_w, once_r = writes - requests.writes["signup"], reads - requests.reads["signup"]
    print(f"{'  without the one-time signup':34}{once_w:>8}{once_r:>8}{per(once_w):>14}{per(once_r):>13}")
    index = requests.reads["sweep index"]
    print(
        f"{'the sweep reading its due indexes':34}{'':8}{index:>8}"
        f"   fixed: 2 queries per shard per run ({tally.sweeps} runs), not per email"
    )
    items = sum(requests.items.values())
    print(f"{'items written (transactions count each)':42}{items:>8}{per(items):>14}")
    print(f"simulated in {seconds:.0f} s")
    print()
    print(f"writes per email: {'PASS' if w_ok else 'FAIL'}; reads per email: {'PASS' if r_ok else 'FAIL'}")
    what = f"{SEQUENCE} end to end: DynamoDB"
    return [
        Figure(f"{what} writes per email", per(writes), f"<= {MAX_WRITES:g}", w_ok),
        Figure(f"{what} reads per email", per(reads), f"<= {MAX_READS:g}", r_ok),
        Figure(f"{what} items written per email", per(items), "(none)", True),
    ]


if __name__ == "__main__":
    sys.exit(main())
