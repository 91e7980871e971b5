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

Two regimes, measured side by side in one run (`--regime both`, the default):
- busy: events arrive in full batches (the queue's 5-second window gathers up to 100); 400 leads.
- trickle: a small sender; every email gets Send, Delivery and Open, each arriving on its own (one
  event per engagement batch), and every lead clicks pricing once; 50 leads.
Every DynamoDB call asks for `ReturnConsumedCapacity=TOTAL`, so the billed read and write request
units (transactions and index writes included) are what DynamoDB Local says each call consumed.
Lambda invocations are counted per function and timed in this process (a stand-in for their billed
duration), SQS requests and custom EventBridge events are counted, and all of it is priced with
`ripen_dev.prices` into infrastructure dollars per 1,000 emails, beside the floor no change of code
goes below (`Cost.floor`): the run's queue, bus and Lambda requests and the least exactly once writes.

    uv run --frozen python -m benchmarks.requests_per_email [--leads 400] [--regime busy|trickle|both]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import itertools
import logging
import math
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.figures import Figure
from ripen_dev import prices
from ripen_dev.local.botocore_hooks import on_dynamodb_calls
from ripen_dev.local.item_size import item_size, kilobytes

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday morning
SEQUENCE = "trial-nurture"
MAX_WRITES, MAX_READS = 5.0, 2.0
ZONES = ("America/New_York", "Europe/Berlin", "Europe/London", "America/Los_Angeles", "Asia/Kolkata")
# What a landing page's form posts besides the address (examples/landing-page): a name, two fields
# of its own and the campaign's UTM fields. The extra fields and the UTM fields are the lead's
# attributes, which every enrollment copies for the engine: they weigh on every enrollment write.
FORM = {
    "name": "Ana Lopez",
    "company": "Fernhill Analytics",
    "role": "Head of Data",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "trial-launch-2026",
}
# What nurture email really brings back (per email): privacy-proxy opens on arrival (Apple Mail),
# opens by people, clicks by people; pricing clicks on the case study (the branch).
MACHINE_OPEN, HUMAN_OPEN, CLICK, PRICING_CLICK = 0.25, 0.30, 0.05, 0.12
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
PHASES = ("signup", "decisions", "sweep index", "sender", "engagement")
WINDOW = timedelta(seconds=5)  # the engagement queue's MaximumBatchingWindowInSeconds
REGIMES = {"busy": 400, "trickle": 50}  # leads by default
ENGAGEMENT_BATCH = {"busy": 100, "trickle": 1}  # events per engagement invocation
SENDER_BATCH = 10  # the send queue's BatchSize
SENDER_WINDOW = timedelta(seconds=1)  # the send queue's MaximumBatchingWindowInSeconds
# Lambda keeps an idle container for some minutes (not documented; commonly 5 to 15): one idle
# longer than this is gone, and the next invocation that finds no other starts one (INIT billed).
KEPT_WARM = timedelta(minutes=10)
XRAY_FIXED_RATE = 0.05  # Lambda's X-Ray sampling beyond the first invocation of each second
SQS_BATCH = 10  # jobs per SendMessageBatch
# Lambda's own lines per invocation in its text log format (START, END, REPORT; "Init Duration" on a
# cold start), as AWS writes them for a Python function, with a request id of 36 characters.
PLATFORM_LINES = (
    "START RequestId: 8f507cfc-1c4b-4697-b07a-ac58fc914c95 Version: $LATEST",
    "END RequestId: 8f507cfc-1c4b-4697-b07a-ac58fc914c95",
    "REPORT RequestId: 8f507cfc-1c4b-4697-b07a-ac58fc914c95\tDuration: 23.74 ms\tBilled Duration: 24 ms\t"
    "Memory Size: 256 MB\tMax Memory Used: 70 MB\t",
)
COLD_REPORT = "Init Duration: 312.40 ms\t"
# What Powertools adds to every line inside a handler (`inject_lambda_context`), for a deployed stack.
LAMBDA_CONTEXT = {
    "cold_start": False,
    "function_name": "ripen-prod-NurtureFunction-1a2B3c4D5e6F",
    "function_memory_size": 256,
    "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:ripen-prod-NurtureFunction-1a2B3c4D5e6F",
    "function_request_id": "8f507cfc-1c4b-4697-b07a-ac58fc914c95",
}
# The fewest write units sending an email exactly once takes with this design's parts (a decision
# that claims it, a sender that sends it): the claim (one conditional write), a lease taken before
# SES is called and the send recorded after it (two: a sender that died in between must be told
# from one that never called SES). Its events' marks, the stats, the decision log and every index
# come on top.
EXACTLY_ONCE_WRU = 3
# Calls that accept ReturnConsumedCapacity (Scan too; the product never scans).
CAPACITY = READS | WRITES


class LogVolume:
    """What the functions write to CloudWatch Logs, counted as it is billed: every line's bytes plus
    the per-event overhead. A text stream: logging handlers and `print` write to it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.events = 0
        self.platform_bytes = 0  # Lambda's own lines (`platform`), in `bytes` too

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.events += 1
                self.bytes += len(line.encode()) + prices.LOG_EVENT_OVERHEAD
        return len(text)

    def flush(self) -> None: ...

    def platform(self, invocations: int, cold: int) -> None:
        """Lambda's START, END and REPORT lines of `invocations`, `cold` of them cold starts."""
        before = self.bytes
        for _ in range(invocations):
            for line in PLATFORM_LINES:
                self.write(line)
        self.bytes += cold * len(COLD_REPORT)
        self.platform_bytes += self.bytes - before


@dataclass
class Requests:
    """DynamoDB requests by phase, seen by botocore on every client created while counting."""

    phase: str = "signup"
    reads: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)  # items written (a transaction writes several)
    read_units: Counter[str] = field(default_factory=Counter)  # billed RRU, as DynamoDB reports them
    write_units: Counter[str] = field(default_factory=Counter)  # billed WRU, indexes and transactions in
    estimated: Counter[str] = field(default_factory=Counter)  # calls whose units are estimated, by name
    by_call: Counter[str] = field(default_factory=Counter)  # billed units (read or write) by phase and call
    write_by_call: Counter[str] = field(default_factory=Counter)  # billed WRU by phase and call
    read_by_call: Counter[str] = field(default_factory=Counter)  # billed RRU by phase and call
    reader: Any = None  # an uncounted client: what a transaction's items were before and after it
    tables: dict[str, Any] = field(default_factory=dict)  # their key schemas and indexes, read once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        phase = self.phase
        if phase == "decisions" and model.name == "Query" and params.get("IndexName") == "due_keys":
            phase = "sweep index"
        if model.name in READS:
            self.reads[phase] += 1
        elif model.name in WRITES:
            self.writes[phase] += 1
            self.items[phase] += len(params.get("TransactItems", [])) or 1
        if model.name in CAPACITY:
            params["ReturnConsumedCapacity"] = "TOTAL"
            context["bench"] = (phase, len(params.get("TransactItems", [])) or 1)
            if model.name == "Query":
                context["bench_minimum"] = 1.0 if params.get("ConsistentRead") else 0.5
            if model.name == "TransactWriteItems" and self.reader is not None:
                context["bench_before"] = [self.item(action) for action in params["TransactItems"]]
                context["bench_actions"] = params["TransactItems"]

    def consumed(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """Add what a call consumed, as DynamoDB Local reports it, except where it is known to
        differ from DynamoDB: it reports four units per table for any transaction (DynamoDB bills two
        per item and KB, and the index writes the change causes), and nothing for a query that finds
        nothing (DynamoDB bills its minimum). A call that reports nothing (a failed condition or a
        cancelled transaction: both still billed) is estimated: a unit per item, two in a
        transaction, half a unit per item read."""
        if "bench" not in context:
            return
        phase = context["bench"][0]
        reads, writes = self.units(parsed, model, context)
        with self.lock:  # the sweep and the sender work in threads
            self.read_units[phase] += reads
            self.write_units[phase] += writes
            self.by_call[f"{phase}: {model.name}"] += reads + writes
            self.write_by_call[f"{phase}: {model.name}"] += writes
            self.read_by_call[f"{phase}: {model.name}"] += reads

    def units(self, parsed: dict[str, Any], model: Any, context: dict[str, Any]) -> tuple[float, float]:
        """The read and write units one call is billed."""
        items = context["bench"][1]
        consumed = parsed.get("ConsumedCapacity")
        if consumed and "bench_before" in context:
            after = [self.item(action) for action in context["bench_actions"]]
            self.estimated[model.name] += 1
            actions = zip(context["bench_actions"], context["bench_before"], after, strict=True)
            return 0.0, sum(self.transaction_units(action, old, new) for action, old, new in actions)
        if consumed and "bench_minimum" in context and not float(consumed.get("CapacityUnits", 0)):
            self.estimated["Query (found nothing)"] += 1
            return context["bench_minimum"], 0.0
        if not consumed:
            self.estimated[model.name] += 1
            transaction = 2 if model.name.startswith("Transact") else 1
            if model.name in WRITES:
                return 0.0, float(items * transaction)
            return items * transaction * 0.5, 0.0
        reads = writes = 0.0
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
            if read is None and write is None:
                total = float(entry.get("CapacityUnits", 0))
                read, write = (0.0, total) if model.name in WRITES else (total, 0.0)
            reads += float(read or 0)
            writes += float(write or 0)
        return reads, writes

    def schema(self, table: str) -> Any:
        if table not in self.tables:
            self.tables[table] = self.reader.describe_table(TableName=table)["Table"]
        return self.tables[table]

    def item(self, action: dict[str, Any]) -> dict[str, Any] | None:
        """The item a transaction's action is about, as it is now (read consistently, uncounted)."""
        (verb, detail), *_ = action.items()
        table = detail["TableName"]
        keys = [k["AttributeName"] for k in self.schema(table)["KeySchema"]]
        key = detail["Key"] if verb != "Put" else {k: detail["Item"][k] for k in keys}
        found: dict[str, Any] | None = self.reader.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return found

    def transaction_units(self, action: dict[str, Any], old: Any, new: Any) -> float:
        """DynamoDB's bill for one action of a transaction: two write units per KB of the item (a
        condition check too), and one per KB for each index entry the change deletes or writes
        (indexes are updated after the transaction, as ordinary writes)."""
        (verb, detail), *_ = action.items()
        table = self.schema(detail["TableName"])
        units = 2.0 * kilobytes(max(item_size(old or {}), item_size(new or {})))
        if verb == "ConditionCheck":
            return units
        table_keys = [k["AttributeName"] for k in table["KeySchema"]]
        for index in table.get("GlobalSecondaryIndexes", []):
            index_keys = [k["AttributeName"] for k in index["KeySchema"]]
            before, after = (projected(i, index, table_keys, index_keys) for i in (old, new))
            same = normalized(before) == normalized(after)
            if before is not None and after is not None and not same:
                moved = any(normalized(before)[k] != normalized(after)[k] for k in index_keys)
                units += kilobytes(item_size(after)) + (kilobytes(item_size(before)) if moved else 0)
            elif not same:  # entered or left the index
                units += kilobytes(item_size(before or after or {}))
        return units


def projected(item: Any, index: dict[str, Any], table_keys: list[str], index_keys: list[str]) -> Any:
    """The index entry an item makes (None: not in the index, an index key attribute missing)."""
    if item is None or any(k not in item for k in index_keys):
        return None
    projection = index["Projection"]
    if projection["ProjectionType"] == "ALL":
        return item
    names = {*table_keys, *index_keys, *projection.get("NonKeyAttributes", [])}
    return {k: v for k, v in item.items() if k in names}


def normalized(entry: Any) -> Any:
    """An index entry with its numbers as numbers: DynamoDB compares 1772439600 and 1772439600.0 as
    one value (DynamoDB Local keeps the text it was given)."""
    if entry is None:
        return None
    return {k: {"N": Decimal(v["N"])} if "N" in v else v for k, v in entry.items()}


def counted(requests: Requests) -> AbstractContextManager[None]:
    return on_dynamodb_calls(
        ("before-parameter-build.dynamodb", requests.handle), ("after-call.dynamodb", requests.consumed)
    )


@dataclass
class Tally:
    emails: Counter[str] = field(default_factory=Counter)  # by step
    events: Counter[str] = field(default_factory=Counter)
    sweeps: int = 0
    batches: int = 0
    invocations: Counter[str] = field(default_factory=Counter)  # Lambda invocations by function
    seconds: Counter[str] = field(default_factory=Counter)  # their wall time in this process
    cpu: Counter[str] = field(default_factory=Counter)  # their CPU time in this process (the handlers' own work)
    # Every invocation: its start (simulated time, in seconds), its wall time here and its part (`cold_starts`)
    started: list[tuple[float, float, str]] = field(default_factory=list)
    ended: dict[str, float] = field(default_factory=dict)  # when each part's latest invocation ended
    cold: dict[bool, Counter[str]] = field(default_factory=dict)  # `cold_starts`, once the run is over
    # The simulated seconds in which each function was invoked: X-Ray's sampling (see `traces`)
    busy_seconds: dict[str, set[int]] = field(default_factory=dict)
    # SQS requests billed, by queue ("send", "engagement"): sends, visibility changes, and the event
    # source mappings' receives and deletes (their idle long polls are a fixed cost: `pollers`)
    sqs: Counter[str] = field(default_factory=Counter)
    bus_events: int = 0  # custom events put on the sales bus
    span: timedelta = timedelta()  # simulated time, first signup to last event
    logs: LogVolume = field(default_factory=LogVolume)  # application, metric (EMF) and Lambda's lines
    metrics: Any = None  # flushed after every invocation, as the handlers do: EMF lines into `logs`

    def traces(self, function: str) -> float:
        """The traces X-Ray would record for `function` with `Tracing: Active`: Lambda samples the
        first invocation of each second and 5 % of the others, and that cannot be configured
        (docs.aws.amazon.com/lambda/latest/dg/services-xray.html). The sweep runs alone every minute:
        each run is a trace, a fixed cost (`idle_sweep_dollars`), not one per email."""
        if function == "sweep":
            return 0.0
        seconds = len(self.busy_seconds.get(function, ()))
        return seconds + XRAY_FIXED_RATE * max(0, self.invocations[function] - seconds)

    @contextmanager
    def invoking(
        self, function: str, invocations: int = 1, at: datetime | None = None, one_at_a_time: bool = False
    ) -> Iterator[None]:
        """Count what the invocations inside do. `at`: when they start (simulated); `one_at_a_time`:
        no sooner than the part's previous one ended (one poller, a batch at a time)."""
        started, cpu = time.perf_counter(), time.process_time()
        yield
        self.invocations[function] += invocations
        self.seconds[function] += time.perf_counter() - started
        self.cpu[function] += time.process_time() - cpu
        if at is not None and invocations:
            # more invocations than the part may run at once start as earlier ones finish
            each = (time.perf_counter() - started) / invocations
            width = 1 if one_at_a_time else concurrency(function) or invocations
            first = max(at.timestamp(), self.ended.get(function, -math.inf)) if one_at_a_time else at.timestamp()
            self.started += [(first + i // width * each, each, function) for i in range(invocations)]
            self.ended[function] = first + math.ceil(invocations / width) * each
            if function != "sweep":
                self.busy_seconds.setdefault(function, set()).add(int(at.timestamp()))
        if self.metrics is not None:
            with contextlib.redirect_stdout(self.logs):  # type: ignore[type-var]
                self.metrics.flush()
        self.logs.platform(invocations, 0)  # INIT's line: added once the cold starts are known (`simulate`)

    def cold_starts(self, apart: bool) -> Counter[str]:
        """The invocations that start a new container, by part: as deployed (the nurture function
        runs the sweep, the sender and engagement) or, `apart`, each part a function of its own.
        Lambda runs an invocation in an idle container of its function, or starts one: invocations
        that overlap (each lasting its wall time here) run side by side, and a container idle for
        more than KEPT_WARM is gone. The sweep's one is never gone: it runs every minute, work or not."""
        if apart in self.cold:
            return self.cold[apart]
        kept = KEPT_WARM.total_seconds()
        containers: dict[str, list[float]] = {}  # each function's: when each is idle again
        cold: Counter[str] = Counter()
        for start, seconds, part in sorted(self.started):
            function = part if apart else function_of(part)
            swept = function in ("sweep", function_of("sweep"))  # the first container: the sweep's
            pool = containers.setdefault(function, [-math.inf] if swept else [])
            idle = [i for i, t in enumerate(pool) if t <= start and (start - t <= kept or (swept and i == 0))]
            if not idle:
                cold[part] += 1
                pool.append(-math.inf)
                idle = [len(pool) - 1]
            pool[max(idle, key=lambda i: pool[i])] = start + seconds  # the one that ran last: still warm
        self.cold[apart] = cold
        return cold


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


# The code as it was when issue 15's work began (main): its figures are measured again in the same
# run, on the same machine and the same simulated traffic, so the columns compare like with like.
BASELINE = "9fbc48e"
# The baseline runs its own copy of this benchmark, older than FORM: its leads sign up with the
# address alone, so their enrollments are smaller; with the form's fields it could only cost more.
SAME_TRAFFIC = "the same leads and events, its signups without the form's fields"
# The parts of the work measured here, and the deployed function (template.yaml) that runs each: the
# nurture function runs the sweep, the sender and engagement (ripen/handlers/nurture.py), so the
# sweep's run every minute keeps their container warm. The design before (each part a function of
# its own, `Cost.apart`) is priced beside it.
DEPLOYED = {"api": ("api",), "nurture": ("sweep", "sender", "engagement")}
FUNCTIONS = tuple(part for parts in DEPLOYED.values() for part in parts)


def function_of(part: str) -> str:
    return next(function for function, parts in DEPLOYED.items() if part in parts)


def main(argv: list[str] | None = None) -> int:
    return 0 if all(f.met for f in measure(argv)) else 1


def measure(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, help="leads per regime (default: busy 400, trickle 50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--regime", choices=[*REGIMES, "both"], default="both")
    parser.add_argument("--baseline", default=BASELINE, help="a git commit to measure side by side ('' for none)")
    args = parser.parse_args(argv)
    regimes = list(REGIMES) if args.regime == "both" else [args.regime]
    # The functions log at the template's LogLevel; their lines are counted (`capture_logs`), not shown.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", template_default("LogLevel") or "INFO")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ripen")  # template.yaml's Globals: the nurture function's
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    import boto3

    from ripen_dev.local.dynamodb_local import DynamoDBLocal

    runs: list[Run] = []
    with DynamoDBLocal(REPO / ".cache") as endpoint:
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")  # not counted
        for regime in regimes:
            leads = args.leads or REGIMES[regime]
            settings = make_tables(client, endpoint)
            requests = Requests(reader=client)
            started = time.perf_counter()
            with counted(requests):
                rng = random.Random(args.seed)  # noqa: S311 - a reproducible mix, not a secret
                tally = simulate(client, settings, requests, leads, rng, regime)
            runs.append(
                Run(regime, leads, requests, tally, time.perf_counter() - started, item_sizes(client, settings))
            )
    baseline = measure_baseline(args.baseline, runs[0].leads, args.seed) if args.baseline and runs else None
    figures: list[Figure] = []
    for run in runs:
        figures += report(run)
        if run.regime == "busy":
            side_by_side(figures[-3:], baseline)
    figures += costs(runs, baseline)
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
        env["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # its copy does not count log lines: they would fill its output
        run = subprocess.run(  # noqa: S603 - this Python, the benchmark module
            [
                *(sys.executable, "-m", "benchmarks.requests_per_email"),
                *("--leads", str(leads), "--seed", str(seed), "--baseline", ""),
            ],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
    figures: dict[str, str] = {}
    for line in run.stdout.splitlines():
        words = line.split()
        if line.startswith("total per email") and len(words) >= 7 and "writes" not in figures:  # busy comes first
            figures["writes"], figures["reads"] = words[-2], words[-1]
        elif line.startswith("items written") and words and "items" not in figures:
            figures["items"] = words[-1]
        elif line.startswith("  billed write request units (WRU)") and len(words) == 7:
            figures["busy WRU"], figures["trickle WRU"] = words[-2], words[-1]
        elif line.startswith("  billed read request units (RRU)") and len(words) == 7:  # the sweep's index apart
            figures["busy RRU"], figures["trickle RRU"] = words[-2], words[-1]
        elif line.startswith("DynamoDB requests ") and len(words) == 4:
            figures["busy requests"], figures["trickle requests"] = words[-2], words[-1]
        elif line.startswith("  DynamoDB ") and len(words) == 3:
            figures["busy DynamoDB $"], figures["trickle DynamoDB $"] = words[-2], words[-1]
    if "writes" not in figures:
        print(f"baseline {commit[:7]}: not measured ({(run.stderr or run.stdout).strip().splitlines()[-1:]})")
        return None
    return figures


def side_by_side(figures: list[Figure], baseline: dict[str, str] | None) -> None:
    if baseline is None:
        return
    now = {"writes": figures[0].value, "reads": figures[1].value, "items": figures[2].value}
    print(f"Side by side, one run ({BASELINE[:7]} = the code when issue 15's work began; {SAME_TRAFFIC}):")
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


class CountedQueue:
    """The send queue in memory, counting the SQS requests the real one would make."""

    def __init__(self, tally: Tally) -> None:
        from ripen_dev.fakes.queue import MemorySendQueue

        self.tally = tally
        self.memory = MemorySendQueue()

    def enqueue(self, jobs: Any) -> list[Any]:
        self.tally.sqs["send"] += math.ceil(len(jobs) / SQS_BATCH)
        return self.memory.enqueue(jobs)

    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        self.tally.sqs["send"] += 1
        self.memory.defer(receipt_handle, delay)


class CountedBus:
    """The sales bus in memory, counting the custom events put on it."""

    def __init__(self, tally: Tally) -> None:
        from ripen_dev.fakes.bus import MemoryEventBus

        self.tally = tally
        self.memory = MemoryEventBus()

    def put(self, events: Any) -> list[Any]:
        self.tally.bus_events += len(events)
        return self.memory.put(events)


def simulate(
    client: Any, settings: Any, requests: Requests, leads: int, rng: random.Random, regime: str = "busy"
) -> Tally:
    from ripen.adapters.dynamodb import DynamoStore
    from ripen.adapters.metrics import PowertoolsMetrics
    from ripen.adapters.stats import DynamoStats
    from ripen.app import App
    from ripen.config import Settings
    from ripen.core.emails import link_names
    from ripen.models.signup import Limits, parse_signup
    from ripen.ports.errors import RetryLaterError
    from ripen_dev.fakes.clock import ManualClock

    tally = Tally(metrics=PowertoolsMetrics(namespace="ripen-prod"))
    capture_logs(tally.logs)
    trickle = regime == "trickle"
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
    queue = CountedQueue(tally)
    stats = DynamoStats(settings.stats_table, settings.region, settings.dynamodb_endpoint)
    bus = CountedBus(tally)  # a deployed stack always has its sales bus: hand-offs go at once
    app = App(Settings.from_env(env), store=store, queue=queue, clock=clock, mailer=ses, metrics=tally.metrics, bus=bus)
    app.__dict__["stats"] = stats
    links = {path.stem: sorted(link_names(path.read_text())) for path in (REPO / "templates" / SEQUENCE).glob("*.md")}
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
        jobs = queue.memory.drain()
        tally.sqs["send"] += received_and_deleted(len(jobs))
        # the queue's batching window: the sweep that queued the jobs has most often finished by then
        with tally.invoking("sender", math.ceil(len(jobs) / SENDER_BATCH), clock.now() + SENDER_WINDOW):
            for job in jobs:
                try:
                    app.sender.send(job)
                except RetryLaterError as exc:
                    queue.tally.sqs["send"] += 1  # the handler defers the job: ChangeMessageVisibility
                    heapq.heappush(agenda, (clock.now() + exc.delay, next(order), "job", job))
        for ses_id, at, tags in ses.accepted[handled:]:
            plan_events(ses_id, at, tags)
        handled = len(ses.accepted)

    def plan_events(ses_id: str, at: datetime, tags: dict[str, str]) -> None:
        step, kind = tags["step"], tags["kind"]
        tally.emails[step] += 1
        message = bare_message(tags, ses_id, at)
        if trickle:
            plan_trickle(message, tags, at)
            return
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

    def plan_trickle(message: Any, tags: dict[str, str], at: datetime) -> None:
        """A small sender: Send, Delivery and an Open for every email, each on its own; one pricing
        click per lead (on the case study, which links to pricing)."""
        step, kind = tags["step"], tags["kind"]
        opened = at + timedelta(seconds=rng.randint(5 * 60, 8 * 3600))
        arrival = [("send", at, {}), ("delivery", at + timedelta(seconds=2), {}), ("open", opened, {})]
        if kind == "confirmation":
            heapq.heappush(agenda, (at + timedelta(minutes=rng.randint(2, 40)), next(order), "confirm", tags))
        elif step == "case-study" and "pricing" in links.get(step, []):
            arrival.append(
                ("click", opened + timedelta(seconds=rng.randint(20, 600)), {"linkTags": {"link": ["pricing"]}})
            )
        for name, when, fields in arrival:
            heapq.heappush(agenda, (when, next(order), "events", (message, [(name, when, fields)])))

    def apply_events(due: list[tuple[Any, list[tuple[str, datetime, dict[str, Any]]]]]) -> None:
        from ripen.models.ses import received_events
        from tests.support.ses_events import event_about, sqs_batch

        phase("engagement")
        events, arrivals = [], []
        for message, items in due:
            for name, when, fields in items:
                tally.events[name] += 1
                events.append(event_about(message, name, at=when, **fields))
                arrivals.append(when)
        tally.sqs["engagement"] += len(events)  # the EventBridge rule puts each SES event on the engagement queue
        size = ENGAGEMENT_BATCH[regime]
        for start in range(0, len(events), size):
            tally.batches += 1
            # The batching window closes after the batch's first event. A trickle's events come apart
            # (those that come together would make one batch): one batch at a time.
            at = (arrivals[start] if trickle else clock.now()) + WINDOW
            batch = events[start : start + size]
            tally.sqs["engagement"] += received_and_deleted(len(batch))
            with tally.invoking("engagement", at=at, one_at_a_time=trickle):
                _, received = received_events(sqs_batch(*batch))
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
                fields = {**FORM, "email": email, "consent": True, "tz": zone, "sequence": SEQUENCE}
                form = parse_signup(fields, Limits())
                # Signups and confirmations fall on whole minutes here (a visitor's moments are
                # spread over them): one after the other, not side by side in two containers.
                with tally.invoking("api", at=clock.now(), one_at_a_time=True):
                    app.signup.capture(form)
            elif what == "confirm":
                phase("signup")
                with tally.invoking("api", at=clock.now(), one_at_a_time=True):
                    app.signup.confirm(payload["lead"], payload["sequence"])
            elif what == "job":
                queue.memory.enqueue([payload])  # its visibility ran out: received again, no new request
            else:
                due_events.append(payload)
        send_queued()
        if next_sweep is not None and next_sweep <= now:
            phase("decisions")
            tally.sweeps += 1
            with tally.invoking("sweep", at=now):
                app.sweep.run()
            send_queued()
        if due_events:
            apply_events(due_events)
            send_queued()  # a click on pricing decides the follow-up at once
        if next_sweep is not None and next_sweep <= now and next_due(client, settings) == next_sweep:
            clock.advance(minutes=1)  # what is still due (a window not open yet) waits for the next run
    tally.span = clock.now() - START
    tally.logs.platform(0, sum(tally.cold_starts(apart=False).values()))
    return tally


def capture_logs(logs: LogVolume) -> None:
    """The functions' log lines (at the template's LogLevel, with what a handler adds to each) go to
    `logs` instead of the terminal."""
    from ripen.handlers.observability import logger

    logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
    logger.append_keys(**LAMBDA_CONTEXT)
    handler = log_handler()
    if handler is not None:
        handler.setStream(logs)  # type: ignore[arg-type]


def log_handler() -> logging.StreamHandler[Any] | None:
    """The stream the functions' log lines go to (Powertools' handler on the service logger)."""
    from ripen.handlers.observability import logger

    handler = logger.registered_handler
    return handler if isinstance(handler, logging.StreamHandler) else None


def item_sizes(client: Any, settings: Any) -> dict[str, tuple[float, int]]:
    """The mean and largest item size of each table (read with an uncounted client): a write is
    billed per KB of the item, so what is rewritten often should stay under 1 KB."""
    out: dict[str, tuple[float, int]] = {}
    for name, table in (
        ("leads", settings.leads_table),
        ("enrollments", settings.enrollments_table),
        ("messages", settings.messages_table),
        ("history", settings.history_table),
    ):
        sizes = [
            item_size(item) for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]
        ]
        if sizes:
            out[name] = (sum(sizes) / len(sizes), max(sizes))
    return out


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
                IndexName="due_keys",
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


@dataclass
class Run:
    regime: str
    leads: int
    requests: Requests
    tally: Tally
    seconds: float
    sizes: dict[str, tuple[float, int]] = field(default_factory=dict)  # table: mean and largest item size

    @property
    def emails(self) -> int:
        return sum(self.tally.emails.values())


def report(run: Run) -> list[Figure]:
    requests, tally, leads, seconds = run.requests, run.tally, run.leads, run.seconds
    emails = run.emails
    per: Callable[[float], str] = lambda n: f"{n / emails:.2f}"  # noqa: E731
    print()
    print(
        f"DynamoDB requests per email ({run.regime} regime): {leads} leads through {SEQUENCE} end to end,"
        " on DynamoDB Local"
    )
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
    wru, rru = sum(requests.write_units.values()), sum(requests.read_units.values())
    print(f"{'billed units (all phases)':34}{wru:>8.0f}{rru:>8.0f}{per(wru):>14}{per(rru):>13}   WRU, RRU")
    if requests.estimated:
        calls = ", ".join(f"{name} {n}" for name, n in requests.estimated.most_common())
        print(f"  estimated, not as DynamoDB Local reports them (see Requests.consumed): {calls}")
    print("  where the units go, per email (billed units by phase and call):")
    for name, n in requests.by_call.most_common():
        w, r = requests.write_by_call[name], requests.read_by_call[name]
        if n:
            print(f"    {name:40}{w / emails:>8.2f} WRU{r / emails:>8.2f} RRU")
    if run.sizes:
        sizes = ", ".join(f"{table} {mean:.0f} B (largest {top})" for table, (mean, top) in run.sizes.items())
        print(f"  item sizes at the end (mean, as DynamoDB counts them): {sizes}")
    print(f"simulated in {seconds:.0f} s")
    print()
    print(f"writes per email: {'PASS' if w_ok else 'FAIL'}; reads per email: {'PASS' if r_ok else 'FAIL'}")
    what = f"{SEQUENCE} {run.regime}: DynamoDB"
    return [
        Figure(f"{what} writes per email", per(writes), f"<= {MAX_WRITES:g}", w_ok),
        Figure(f"{what} reads per email", per(reads), f"<= {MAX_READS:g}", r_ok),
        Figure(f"{what} items written per email", per(items), "(none)", True),
    ]


MINUTES_A_MONTH = 30 * 24 * 60


def memory_sizes() -> dict[str, int]:
    """The MemorySize in MB of each deployed function and of each part (its function's), from
    template.yaml (the function's own, else the Globals')."""
    template = deployed_template()
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    sizes = dict.fromkeys([*FUNCTIONS, *DEPLOYED], default)
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        name = str(props.get("Handler", "")).removeprefix("ripen.handlers.").removesuffix(".handler")
        if resource.get("Type") == "AWS::Serverless::Function" and name in DEPLOYED:
            for key in (name, *DEPLOYED[name]):
                sizes[key] = int(props.get("MemorySize", default))
    return sizes


# Lambda's duration, modelled from what was measured here (a power-tuning sweep without deploying):
# the handlers' own work is CPU (measured in this process), which Lambda gives in proportion to
# memory, one vCPU at 1,769 MB (more does not help single-threaded Python); the rest is waiting on
# AWS, which memory does not change: DynamoDB (single-digit milliseconds a request in the region)
# and SES's SendEmail. A cold start bills its INIT (imports, clients) the same way (AWS bills INIT
# of managed runtimes since August 2025).
FULL_VCPU_MB = 1769
DYNAMODB_SECONDS = 0.006  # per request, in the region (assumed; transactions take a little longer)
SES_SECONDS = 0.040  # per SendEmail call (assumed)
MEMORY_SIZES = (128, 256, 384, 512, 768, 1024)
PHASES_OF = {
    "api": ("signup",),
    "sweep": ("decisions", "sweep index"),
    "sender": ("sender",),
    "engagement": ("engagement",),
}
# A cold start, as Lambda bills it (INIT of managed runtimes is billed since August 2025): INIT
# imports the handler's module, with the tracer as the template sets it (on: the X-Ray SDK); then the first
# invocation does the rest of the one-time work before its first AWS request: the settings, the parts
# the handler takes from `ripen.app` (the catalog of sequences loaded and checked), the Secrets Manager
# client (in AWS the keys come from there) and the other clients its first requests create (botocore
# loads each service's model). That part is not INIT, but it is billed all the same, in the first
# invocation's duration: it is counted here as part of the cold start. Measured without a request to
# AWS (keys from local values); printed as imports + first-invocation setup.
HANDLER_IMPORTS = {name: f"ripen.handlers.{name}" for name in (*FUNCTIONS, *DEPLOYED)}
FIRST_INVOCATION = {
    "api": (
        "a = app(); a.metrics; handler.resolver(); a.signup; a.signup_limits; a.captcha; a.links; secrets()\n"
        "dynamodb(a.store, 'leads', 'enrollments', 'messages'); a.send_queue.client\n"
    ),
    "sweep": (
        "from ripen.models.schedule import ScheduleTick; ScheduleTick.model_validate({})\n"
        "a = app(); a.metrics; a.sweep; a.account_check; a.ses_account.client\n"
        "dynamodb(a.store, 'enrollments', 'messages'); a.send_queue.client\n"
    ),
    "sender": (
        "a = app(); a.metrics; a.sender; secrets()\n"
        "dynamodb(a.store, 'leads', 'enrollments', 'messages', 'history'); a.mailer.client; a.send_queue.client\n"
        "a.sending_control.client\n"
    ),
    "engagement": (
        "a = app(); a.metrics; a.engagement; a.breaker; secrets()\n"
        "dynamodb(a.store, 'leads', 'enrollments', 'messages', 'history'); a.stats.client; a.sending_control.client\n"
    ),
}
# The nurture function's container, once each of its parts has run in it (its peak memory; a cold
# start of its own is never billed here: the sweep's run every minute keeps it warm).
FIRST_INVOCATION["nurture"] = "\n".join(FIRST_INVOCATION[part] for part in DEPLOYED["nurture"])
COLD_START_PROBE = """
import importlib, pathlib, sys, time
t = time.process_time()
handler = importlib.import_module(sys.argv[1])
imported = time.process_time() - t
from ripen.adapters import tables
from ripen.app import app

def dynamodb(store, *roles):
    store._connection.client  # transactions
    for role in roles:
        tables.MODELS[role]._get_connection().connection.client

def secrets():  # what reading a key by its ARN builds: the Secrets Manager client
    from ripen.adapters.secrets import secrets_manager
    secrets_manager()

exec(sys.argv[2])
# VmHWM: this process's own peak (ru_maxrss would keep the forking parent's across exec)
peak = [l for l in pathlib.Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM')]
print(imported, time.process_time() - t, int(peak[0].split()[1]) / 1024)
"""
# The environment a function has in Lambda, with local stand-ins for the secrets (tracing: `init_costs`).
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "ripen-cold-start",
    "POWERTOOLS_SERVICE_NAME": "ripen",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold-start",  # credentials from the environment, as Lambda gives them
    "AWS_SECRET_ACCESS_KEY": "cold-start",
    "AWS_SESSION_TOKEN": "cold-start",
    "TEMPLATES_DIR": str(REPO / "templates"),
    "TOKEN_SECRET": "a local stand-in for the link key, long enough",
    "LEAD_ID_SECRET": "a local stand-in for the lead-id key, long enough",
    "SEND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/send",
    "SALES_BUS_NAME": "sales",
    "SENDER_COMPANY": "Example Inc.",
    "SENDER_POSTAL_ADDRESS": "1 Main Street, Springfield",
    "SES_MAX_SEND_RATE": "14",
    **{name: name.lower() for name in ("LEADS_TABLE", "ENROLLMENTS_TABLE", "MESSAGES_TABLE", "HISTORY_TABLE")},
    **{name: name.lower() for name in ("STATS_TABLE", "SENDING_TABLE", "LIMITS_TABLE", "EVENT_IDS_TABLE")},
}


# What a memory size must leave: the interpreter's peak resident memory after INIT, times this
# (room for a batch's work); a cold start of at most three seconds of CPU (well inside Lambda's
# 10-second limit on INIT; a burst of first emails or events does not wait long); and for the API
# (a person waits for it) at most two.
MEMORY_HEADROOM = 2.0
COLD_START_SECONDS = 3.0
API_COLD_START_SECONDS = 2.0


@dataclass(frozen=True)
class Init:
    """One function's cold start as measured in a fresh interpreter: CPU seconds (all of it, and
    the handler module's imports alone) and peak resident MB."""

    seconds: float
    resident_mb: float
    import_seconds: float = 0.0


def init_costs(traced: bool) -> dict[str, Init]:
    """Each function's cold start (see FIRST_INVOCATION), measured in a fresh interpreter, the best
    of three; `traced`: with the template's Tracing=Active (the Tracer loads the X-Ray SDK)."""
    import subprocess

    out: dict[str, Init] = {}
    path = f"{REPO / 'functions'}{os.pathsep}{REPO}"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": path, **LAMBDA_ENV}
    env["POWERTOOLS_TRACE_DISABLED"] = "false" if traced else "true"  # as template.yaml sets it
    for function, module in HANDLER_IMPORTS.items():
        measured = []
        for _ in range(3):
            done = subprocess.run(  # noqa: S603 - this Python, our own modules
                [sys.executable, "-c", COLD_START_PROBE, module, FIRST_INVOCATION[function]],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                imported, seconds, resident = done.stdout.strip().splitlines()[-1].split()
                measured.append(Init(float(seconds), float(resident), float(imported)))
            else:
                print(f"{function}: cold start not measured: {done.stderr.strip().splitlines()[-1:]}")
        out[function] = min(measured, key=lambda i: i.seconds) if measured else Init(0.0, 0.0)
    return out


def allowed(function: str, init: Init, memory_mb: int) -> bool:
    """Whether `memory_mb` leaves room enough, and (the API) starts cold quickly enough."""
    if memory_mb < init.resident_mb * MEMORY_HEADROOM:
        return False
    limit = API_COLD_START_SECONDS if function == "api" else COLD_START_SECONDS
    return init.seconds / cpu_share(memory_mb) <= limit


def cpu_share(memory_mb: int) -> float:
    return min(1.0, memory_mb / FULL_VCPU_MB)


@dataclass
class Cost:
    """One regime's bill, per email, in dollars (and what it is made of)."""

    run: Run
    memory: dict[str, int]
    init: dict[str, Init] = field(default_factory=dict)  # INIT by function
    traced: bool = False  # Tracing=Active: X-Ray records traces (billed), the Tracer loads its SDK
    apart: bool = False  # each part a function of its own (the design before the nurture function)

    def seconds(self, function: str, memory_mb: int) -> float:
        """Modelled billed seconds of every invocation of the part `function` at `memory_mb`, cold
        starts in (with the INIT of the function that runs it)."""
        tally, requests = self.run.tally, self.run.requests
        calls = sum(requests.reads[p] + requests.writes[p] for p in PHASES_OF[function])
        waiting = calls * DYNAMODB_SECONDS + (self.run.emails * SES_SECONDS if function == "sender" else 0.0)
        started = function if self.apart else function_of(function)
        init = self.init[started].seconds if started in self.init else 0.0
        working = (tally.cpu[function] + self.cold_starts(function) * init) / cpu_share(memory_mb)
        return working + waiting

    def cold_starts(self, function: str) -> int:
        """The part `function`'s invocations that start a new container (and bill its INIT)."""
        return self.run.tally.cold_starts(self.apart)[function]

    def lambda_dollars(self, function: str, memory_mb: int | None = None) -> float:
        invocations = self.run.tally.invocations[function]
        if not invocations:
            return 0.0
        memory_mb = memory_mb or self.memory[function]
        gb_seconds = memory_mb / 1024 * self.seconds(function, memory_mb)
        return invocations * prices.LAMBDA_REQUEST + gb_seconds * prices.LAMBDA_GB_SECOND

    @property
    def parts(self) -> dict[str, float]:
        tally = self.run.tally
        dynamodb = write_units(self.run) * prices.WRITE_REQUEST_UNIT + read_units(self.run) * prices.READ_REQUEST_UNIT
        return {
            "DynamoDB": dynamodb,
            "Lambda": sum(self.lambda_dollars(f) for f in FUNCTIONS),
            "SQS": tally.sqs.total() * prices.SQS_REQUEST,
            "EventBridge": tally.bus_events * prices.EVENTBRIDGE_EVENT,
            "X-Ray": sum(tally.traces(f) for f in FUNCTIONS) * prices.XRAY_TRACE if self.traced else 0.0,
            "CloudWatch Logs": tally.logs.bytes * prices.CLOUDWATCH_LOGS_GB,
        }

    @property
    def total(self) -> float:
        """The infrastructure's dollars (every part)."""
        return sum(self.parts.values())

    @property
    def floor(self) -> dict[str, float]:
        """What this run's traffic costs before ripen does any work of its own: the requests of its
        queues and bus, Lambda's request charge and its own log lines, and the write units exactly
        once needs at the least. No change of code goes below it; only a change of the paths the
        messages take (`without_engagement_queue`)."""
        tally, parts = self.run.tally, self.parts
        return {
            "queues and bus": parts["SQS"] + parts["EventBridge"],
            "Lambda requests and Lambda's own lines": sum(tally.invocations.values()) * prices.LAMBDA_REQUEST
            + tally.logs.platform_bytes * prices.CLOUDWATCH_LOGS_GB,
            f"exactly once: {EXACTLY_ONCE_WRU} WRU an email": EXACTLY_ONCE_WRU
            * self.run.emails
            * prices.WRITE_REQUEST_UNIT,
        }

    @property
    def without_engagement_queue(self) -> float:
        """`floor`, with SES events invoking the function straight from EventBridge (asynchronously, no
        queue): no SQS request for them, but an invocation (and its log lines) for every event."""
        tally = self.run.tally
        events, batches = tally.events.total(), tally.invocations["engagement"]
        invocations = sum(tally.invocations.values())
        per_invocation = prices.LAMBDA_REQUEST + (
            tally.logs.platform_bytes / invocations * prices.CLOUDWATCH_LOGS_GB if invocations else 0.0
        )
        return (
            sum(self.floor.values())
            - tally.sqs["engagement"] * prices.SQS_REQUEST
            + (events - batches) * per_invocation
        )

    @property
    def all_cold_starts(self) -> int:
        return sum(self.cold_starts(f) for f in FUNCTIONS)

    def per_thousand(self, amount: float) -> float:
        """`amount` (dollars, or a count) per 1,000 emails."""
        return amount / self.run.emails * 1000


def costs(runs: list[Run], baseline: dict[str, str] | None = None) -> list[Figure]:
    """The regimes side by side: what each email costs in requests, billed units, invocations and
    dollars (infrastructure: DynamoDB, Lambda, SQS, EventBridge, CloudWatch Logs; SES on its own line)."""
    memory = memory_sizes()
    traced = tracing_by_default()
    untraced_init, traced_init = init_costs(traced=False), init_costs(traced=True)
    init = traced_init if traced else untraced_init
    bills = [Cost(run, memory, init, traced) for run in runs]
    with_tracing = [Cost(run, memory, traced_init, traced=True) for run in runs]
    width = 14
    print()
    print("What an email costs, regimes side by side (on-demand us-east-1 prices: ripen_dev/prices.py)")
    print(f"{'per email':44}" + "".join(f"{c.run.regime:>{width}}" for c in bills))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:44}" + "".join(f"{v:>{width}}" for v in values))

    row("leads, emails", [f"{c.run.leads}, {c.run.emails}" for c in bills])
    row("DynamoDB requests", [f"{total_requests(c.run) / c.run.emails:.2f}" for c in bills])
    row("  billed write request units (WRU)", [f"{write_units(c.run) / c.run.emails:.2f}" for c in bills])
    row("  billed read request units (RRU)", [f"{read_units(c.run) / c.run.emails:.2f}" for c in bills])
    row("Lambda invocations", [f"{sum(c.run.tally.invocations.values()) / c.run.emails:.2f}" for c in bills])
    for function in FUNCTIONS:
        row(f"  {function}", [f"{c.run.tally.invocations[function] / c.run.emails:.2f}" for c in bills])
    # (a space before each: four figures can fill the column)
    row("  CPU ms per invocation (measured here)", [f" {milliseconds(c.run, c.run.tally.cpu)}" for c in bills])
    row("  modelled billed ms at the template's memory", [f" {modelled(c)}" for c in bills])
    row(
        "  cold starts per 1,000 emails",
        [f"{c.per_thousand(c.all_cold_starts):.0f}" for c in bills],
    )
    row("SQS requests", [f"{c.run.tally.sqs.total() / c.run.emails:.2f}" for c in bills])
    row("EventBridge custom events", [f"{c.run.tally.bus_events / c.run.emails:.3f}" for c in bills])
    row("log bytes (CloudWatch Logs, as billed)", [f"{c.run.tally.logs.bytes / c.run.emails:,.0f}" for c in bills])
    print(f"{'$ per 1,000 emails':44}")
    for part in ("DynamoDB", "Lambda", "SQS", "EventBridge", "X-Ray", "CloudWatch Logs"):
        row(f"  {part}", [f"{c.per_thousand(c.parts[part]):.5f}" for c in bills])
    row("  infrastructure", [f"{c.per_thousand(c.total):.5f}" for c in bills])
    state = "on" if traced else "off"
    row(
        f"  with Tracing=Active (template: {state})",
        [f"{c.per_thousand(c.total):.5f}" for c in with_tracing],
    )
    row(
        "    of which X-Ray traces",
        [f"{c.per_thousand(c.parts['X-Ray']):.5f}" for c in with_tracing],
    )
    row(
        "    traces per 1,000 emails",
        [f"{c.per_thousand(sum(c.run.tally.traces(f) for f in FUNCTIONS)):.0f}" for c in with_tracing],
    )
    apart = [Cost(run, memory, init, traced, apart=True) for run in runs]
    row(
        "  sweep, sender, engagement as 3 functions",
        [f"{c.per_thousand(c.total):.5f}" for c in apart],
    )
    row(
        "    cold starts per 1,000 emails",
        [f"{c.per_thousand(c.all_cold_starts):.0f}" for c in apart],
    )
    row("  target", [f"<= {prices.TARGET_PER_THOUSAND}" for _ in bills])
    row("  floor: no change of code goes below", [f"{c.per_thousand(sum(c.floor.values())):.5f}" for c in bills])
    for part in bills[0].floor:
        row(f"    {part}", [f"{c.per_thousand(c.floor[part]):.5f}" for c in bills])
    row(
        "    floor with SES events straight to Lambda",
        [f"{c.per_thousand(c.without_engagement_queue):.5f}" for c in bills],
    )
    row("  SES itself (not infrastructure)", [f"{prices.SES_EMAIL * 1000:.2f}" for _ in bills])
    sizes = ", ".join(f"{f} {memory[f]} MB" for f in DEPLOYED)
    inits = ", ".join(
        f"{f} {1000 * init[f].seconds:.0f} ms (imports {1000 * init[f].import_seconds:.0f} + first invocation's"
        f" setup {1000 * (init[f].seconds - init[f].import_seconds):.0f}), {init[f].resident_mb:.0f} MB"
        for f in (*FUNCTIONS, "nurture")
    )
    print(
        f"Lambda duration, modelled (see FULL_VCPU_MB): the handlers' CPU time measured here over their CPU"
        f" share at the template's MemorySize ({sizes}), plus {DYNAMODB_SECONDS * 1000:.0f} ms per DynamoDB"
        f" request and {SES_SECONDS * 1000:.0f} ms per SES call; a cold start (an invocation finding no"
        f" container of its function idle for at most {KEPT_WARM.total_seconds() / 60:.0f} minutes: invocations"
        " that overlap, each lasting its wall time here, run side by side, send batches up to the queue's"
        " MaximumConcurrency; the nurture function's sweep keeps one container warm, every minute; see"
        " Tally.cold_starts) adds its INIT's CPU"
        f" and its first invocation's one-time setup (measured, see FIRST_INVOCATION, with peak resident"
        f" memory: {inits}); arm64 ${prices.LAMBDA_GB_SECOND} per GB-s,"
        f" ${prices.LAMBDA_REQUEST * 1e6:.2f} per million requests."
    )
    extra = ", ".join(f"{f} +{1000 * (traced_init[f].seconds - untraced_init[f].seconds):.0f} ms" for f in FUNCTIONS)
    print(
        f"X-Ray, with the template's parameter Tracing=Active: Lambda traces the first invocation of each"
        f" second and {XRAY_FIXED_RATE:.0%} of the rest (not configurable), ${prices.XRAY_TRACE * 1e6:.2f} per"
        f" million traces; the Tracer then loads the X-Ray SDK on every cold start"
        f" ({extra})"
        f" and the sweep's run every minute is a trace too (${43_200 * prices.XRAY_TRACE:.2f} a month)."
    )
    print(
        "Sweep, sender and engagement as 3 functions (the design before the nurture function, modelled on the"
        " same run): only the sweep's function is kept warm by its runs; the sender's and engagement's"
        " invocations start containers of their own functions (the same rule, see above) and pay that part's"
        " INIT; the same work otherwise."
    )
    print(
        "Floor: what this run's traffic costs before any of ripen's own work (see Cost.floor): every SQS"
        " request and sales-bus event, Lambda's $0.20 per million invocations and its START/END/REPORT lines,"
        f" and {EXACTLY_ONCE_WRU} write units an email (its claim, the lease before SES, the send recorded"
        " after it: the least exactly once takes). No DynamoDB read, no duration, no line of ripen's, no"
        " event mark, stats, decision log or index. With SES events straight from EventBridge to the"
        " function (asynchronous invocations: no engagement queue, no batch), each event is an invocation"
        " instead."
    )
    power_tuning(bills)
    print(
        "SQS: SendMessageBatch to the send queue, a ChangeMessageVisibility per deferred job, one send per SES"
        " event by the EventBridge rule, and the event source mappings' ReceiveMessage and DeleteMessageBatch"
        " (one each per 10 messages, the most one call takes)."
    )
    print(
        "Not per email (above): the sweep's reads of its due indexes. The sweep runs every minute whatever"
        " the load: its index queries (an empty one billed at DynamoDB's minimum, 0.5 RRU), the invocation, its"
        f" measured duration and its log lines ({idle_sweep_log_bytes():,} bytes a run) make a fixed floor:"
    )
    polling = idle_polling_dollars()
    print(
        "  and Lambda's pollers of the queues wait for messages whatever the load (long polls of 20 s), each a"
        f" ReceiveMessage: {', '.join(f'{m} {n}' for m, n in pollers().items())} pollers (2 at rest where the"
        f" mapping sets no MaximumConcurrency, 5 where it does): ${polling:.2f} a month"
    )
    for c in bills:
        floor = fixed_dollars(c)
        days = c.run.tally.span.total_seconds() / 86400
        if days:
            monthly_emails = c.run.emails / days * 30
            print(
                f"  {c.run.regime}: ${floor:.2f} a month (sweep ${floor - polling:.2f}, pollers ${polling:.2f}); at"
                f" this run's pace ({monthly_emails:,.0f} emails a month) ${floor / monthly_emails * 1000:.4f} per"
                " 1,000 emails more"
            )
    if baseline is not None:
        compared(bills, baseline)
    monthly_bills(bills)
    print()
    figures = []
    for c in bills:
        dollars = c.per_thousand(c.total)
        met = dollars <= prices.TARGET_PER_THOUSAND
        figures.append(
            Figure(
                f"{SEQUENCE} {c.run.regime}: infrastructure $ per 1,000 emails",
                f"{dollars:.4f}",
                f"<= {prices.TARGET_PER_THOUSAND}",
                met,
            )
        )
    return figures


def tracing_by_default() -> bool:
    """Whether template.yaml traces every function when deployed without parameters."""
    return template_default("Tracing") == "Active"


@functools.cache
def concurrency(part: str) -> int | None:
    """Invocations of `part` at once, at most: the send queue's MaximumConcurrency (the parameter
    SenderConcurrency) for the sender; None: as many as come (engagement's batches of 100 rarely
    come two at once)."""
    return int(template_default("SenderConcurrency") or 5) if part == "sender" else None


@functools.cache
def deployed_template() -> dict[str, Any]:
    """template.yaml, read once a run (read-only: the figures that follow from it)."""
    from ripen_dev.local import cfn

    return cfn.load_template(REPO / "template.yaml")


def template_default(parameter: str) -> str | None:
    from ripen_dev.local import cfn

    return cfn.parameter_defaults(deployed_template()).get(parameter)


def total_requests(run: Run) -> int:
    """Per-email DynamoDB requests: every phase but the sweep's index reads (a fixed cost a minute)."""
    requests = run.requests
    return sum(requests.writes.values()) + sum(requests.reads.values()) - requests.reads["sweep index"]


def write_units(run: Run) -> float:
    return sum(run.requests.write_units.values()) - run.requests.write_units["sweep index"]


def read_units(run: Run) -> float:
    return sum(run.requests.read_units.values()) - run.requests.read_units["sweep index"]


def milliseconds(run: Run, seconds: Counter[str]) -> str:
    tally = run.tally
    return "/".join(
        f"{1000 * seconds[f] / tally.invocations[f]:.0f}" if tally.invocations[f] else "-" for f in FUNCTIONS
    )


def modelled(cost: Cost) -> str:
    tally = cost.run.tally
    return "/".join(
        f"{1000 * cost.seconds(f, cost.memory[f]) / tally.invocations[f]:.0f}" if tally.invocations[f] else "-"
        for f in FUNCTIONS
    )


def power_tuning(bills: list[Cost]) -> dict[str, int]:
    """Each function's Lambda dollars per 1,000 emails at every memory size, the regimes side by
    side; the cheapest size over both regimes (their sum) is the one to set in template.yaml."""
    print()
    print("Lambda memory sweep (modelled from the CPU time measured here): $ per 1,000 emails, and ms per invocation")
    header = "".join(f"{m:>8} MB" for m in MEMORY_SIZES)
    print(f"{'function, regime':28}{header}   cheapest")
    best: dict[str, int] = {}
    for function, parts in DEPLOYED.items():
        total = dict.fromkeys(MEMORY_SIZES, 0.0)
        for c in bills:
            dollars = {m: c.per_thousand(sum(c.lambda_dollars(p, m) for p in parts)) for m in MEMORY_SIZES}
            for m in MEMORY_SIZES:
                total[m] += dollars[m]
            calls = sum(c.run.tally.invocations[p] for p in parts) or 1
            ms = {m: 1000 * sum(c.seconds(p, m) for p in parts) / calls for m in MEMORY_SIZES}
            cells = "".join(f"{dollars[m]:>11.5f}" for m in MEMORY_SIZES)
            print(f"{function + ', ' + c.run.regime:28}{cells}")
            print(f"{'  ms per invocation':28}" + "".join(f"{ms[m]:>11.0f}" for m in MEMORY_SIZES))
        init = bills[0].init.get(function, Init(0.0, 0.0)) if bills else Init(0.0, 0.0)
        sizes = [m for m in MEMORY_SIZES if allowed(function, init, m)] or [MEMORY_SIZES[-1]]
        best[function] = min(sizes, key=lambda m: (round(total[m], 6), -m))
        cold = 1000 * init.seconds / cpu_share(best[function])
        print(
            f"{'  cheapest allowed, both':28}{'':{11 * len(MEMORY_SIZES)}}   {best[function]} MB"
            f" (cold start {cold:.0f} ms of CPU)"
        )
    chosen = ", ".join(f"{f} {best[f]} MB" for f in DEPLOYED)
    now = ", ".join(f"{f} {bills[0].memory[f]} MB" for f in DEPLOYED) if bills else ""
    print(
        f"cheapest allowed ({MEMORY_HEADROOM:g} x the peak resident memory after INIT; a cold start's CPU"
        f" <= {COLD_START_SECONDS:g} s, the API's <= {API_COLD_START_SECONDS:g} s): {chosen}; template.yaml: {now}"
    )
    return best


# A Step Functions design: one Standard workflow per lead, each email a Wait state and a Task state
# (two transitions), plus the start and the end of the execution (two more).
TRANSITIONS_PER_EMAIL = 2


def compared(bills: list[Cost], baseline: dict[str, str]) -> None:
    """DynamoDB per email now and on the baseline commit, measured in this run (Lambda is modelled
    here and timed by wall clock there: not compared)."""
    print()
    print(f"DynamoDB per email, side by side with {BASELINE[:7]} (measured in this run; {SAME_TRAFFIC}):")
    print(f"{'':34}" + "".join(f"{c.run.regime + ' ' + BASELINE[:7]:>16}{'now':>8}{'ratio':>8}" for c in bills))
    for label, key, now in (
        ("requests", "requests", lambda c: total_requests(c.run) / c.run.emails),
        ("billed write units (WRU)", "WRU", lambda c: write_units(c.run) / c.run.emails),
        ("billed read units (RRU)", "RRU", lambda c: read_units(c.run) / c.run.emails),
        ("DynamoDB $ per 1,000 emails", "DynamoDB $", lambda c: c.per_thousand(c.parts["DynamoDB"])),
    ):
        cells = ""
        for c in bills:
            then = baseline.get(f"{c.run.regime} {key}")
            value = now(c)
            ratio = f"{value / float(then):.2f}" if then and float(then) else "?"
            digits = 5 if key == "DynamoDB $" else 2
            cells += f"{then or '?':>16}{value:>8.{digits}f}{ratio:>8}"
        print(f"{label:34}{cells}")


def monthly_bills(bills: list[Cost]) -> None:
    """What a month costs at 10k, 100k and 1M emails: the infrastructure per email (this run) plus
    the fixed floor (the sweep, the queues' pollers), beside SES's own price and a Step
    Functions-per-lead design's transitions."""
    print()
    print("A month's bill, at this run's cost per email (infrastructure: DynamoDB, Lambda, SQS, EventBridge, logs)")
    volumes = (10_000, 100_000, 1_000_000)
    print(f"{'emails a month':44}" + "".join(f"{v:>14,}" for v in volumes))
    for c in bills:
        per_email = c.total / c.run.emails
        floor = fixed_dollars(c)
        print(
            f"{'  ripen, ' + c.run.regime + ' (with the fixed floor)':44}"
            + "".join(f"{'$' + format(per_email * v + floor, ',.2f'):>14}" for v in volumes)
        )
    for c in bills[:1]:
        emails_per_lead = c.run.emails / c.run.leads
        transitions = TRANSITIONS_PER_EMAIL + 2 / emails_per_lead
        print(
            f"{'  Step Functions per lead (transitions only)':44}"
            + "".join(
                f"{'$' + format(transitions * prices.STEP_FUNCTIONS_TRANSITION * v, ',.2f'):>14}" for v in volumes
            )
        )
        print(
            f"    ({transitions:.2f} transitions an email: {TRANSITIONS_PER_EMAIL} per email, 2 per execution of"
            f" {emails_per_lead:.1f} emails, ${prices.STEP_FUNCTIONS_TRANSITION * 1000:.3f} per 1,000; its Lambda and"
            " DynamoDB for sending and events come on top)"
        )
    print(
        f"{'  SES (outbound email)':44}" + "".join(f"{'$' + format(prices.SES_EMAIL * v, ',.2f'):>14}" for v in volumes)
    )


def received_and_deleted(messages: int) -> int:
    """The SQS requests of an event source mapping for `messages` it hands to the function: a
    ReceiveMessage and a DeleteMessageBatch per 10 messages (the most either call takes)."""
    return 2 * math.ceil(messages / SQS_BATCH)


@functools.cache
def pollers() -> dict[str, int]:
    """The pollers Lambda keeps on each queue of template.yaml's event source mappings while no
    message comes: as few as 2, but 5 where the mapping sets MaximumConcurrency (AWS: "this
    optimization is not available when you enable the maximum concurrency setting";
    docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html)."""
    resources = deployed_template()["Resources"]
    out = {}
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        source = props.get("EventSourceArn", {}).get("Fn::GetAtt", [""])[0]
        if resource["Type"] == "AWS::Lambda::EventSourceMapping" and resources[source]["Type"] == "AWS::SQS::Queue":
            out[name] = 5 if props.get("ScalingConfig", {}).get("MaximumConcurrency") else 2
    return out


def idle_polling_dollars() -> float:
    """A month of the pollers' empty long polls (20 s each, the longest SQS allows)."""
    return sum(pollers().values()) * 3 * MINUTES_A_MONTH * prices.SQS_REQUEST


def fixed_dollars(cost: Cost) -> float:
    """What a month costs with no email at all: the sweep's runs and the queues' pollers."""
    return (idle_sweep_dollars(cost) or 0.0) + idle_polling_dollars()


def idle_sweep_dollars(cost: Cost) -> float | None:
    """A month of sweep runs, one a minute: the invocation, its measured duration and its index reads."""
    tally, requests = cost.run.tally, cost.run.requests
    if not tally.sweeps:
        return None
    per_run = cost.lambda_dollars("sweep") / tally.invocations["sweep"]
    per_run += requests.read_units["sweep index"] / tally.sweeps * prices.READ_REQUEST_UNIT
    if cost.traced:
        per_run += prices.XRAY_TRACE  # each run is the only invocation of its second: traced
    per_run += idle_sweep_log_bytes() * prices.CLOUDWATCH_LOGS_GB
    return per_run * MINUTES_A_MONTH


@functools.cache
def idle_sweep_log_bytes() -> int:
    """What a sweep run with nothing due writes to its log: its tick and summary lines (as
    ripen.handlers.sweep writes them), its figures (one EMF document) and Lambda's three lines."""
    from ripen.adapters.metrics import PowertoolsMetrics
    from ripen.handlers.observability import logger
    from ripen.services.sweep import SweepReport

    logs = LogVolume()
    handler = log_handler()
    if handler is None:
        return 0
    stream = handler.setStream(logs)  # type: ignore[arg-type]
    try:
        report = SweepReport()
        logger.info("sweep tick", extra={"lag_seconds": 0.412, "attempt": 1})
        logger.info("sweep finished", extra={"sweep": report.as_dict()})
        metrics = PowertoolsMetrics(namespace="ripen-prod")
        for name, value in report.metrics().items():
            metrics.count(name, value)
        with contextlib.redirect_stdout(logs):  # type: ignore[type-var]
            metrics.flush()
    finally:
        handler.setStream(stream)
    logs.platform(1, 0)
    return logs.bytes


if __name__ == "__main__":
    sys.exit(main())
