"""Benchmark: sending throughput against SES's maximum send rate, nothing lost, nothing doubled.

A fake SES accepts at most N emails per second (a token bucket holding one second's worth, as SES
allows short bursts) and answers 429 (TooManyRequests) above it. `SenderConcurrency` sender
containers (threads) drain an SQS-like queue of send jobs in batches of 10, each with the real
sender and its production pacer at N / concurrency; a throttled job goes back to the queue and
comes again, as with SQS. Time is virtual: a clock shared by the containers moves only when every
one of them waits (for its pacer, for SES's answer, for the queue), so the figures do not depend on
this machine's speed, and the run takes seconds, not minutes.

Reported: achieved sends per second / N, emails lost (a job whose message is not sent at the end),
emails doubled (SES accepted a message twice); once with the pacer, once without (a control).

    uv run --frozen python -m benchmarks.send_rate [--rate 14 --senders 5 --emails 1400]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.figures import Figure

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TARGET = 0.95
VISIBILITY = timedelta(seconds=180)  # the send queue's visibility timeout (template.yaml)
INVOCATION = timedelta(seconds=30)  # the sender's timeout (template.yaml)
SES_LATENCY = 0.06  # seconds SES takes to answer SendEmail


class VirtualTime:
    """A clock shared by threads that moves only when all of them wait: it then jumps to the earliest
    wake-up, and that thread runs. One thread runs at a time, so a run is deterministic."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._sleepers: list[tuple[datetime, int, threading.Event]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        wake = self._now + timedelta(seconds=max(0.0, seconds))
        ready = threading.Event()
        with self._lock:
            heapq.heappush(self._sleepers, (wake, next(self._order), ready))
            self._next()
        ready.wait()

    def _next(self) -> None:
        """Hand the turn to the earliest sleeper (the lock is held)."""
        if self._sleepers:
            wake, _, ready = heapq.heappop(self._sleepers)
            self._now = max(self._now, wake)
            ready.set()

    def run(self, work: list[Callable[[], None]]) -> None:
        """Run every piece of work in its own thread, taking turns in virtual time."""
        errors: list[BaseException] = []

        def thread(job: Callable[[], None], ready: threading.Event) -> None:
            ready.wait()
            try:
                job()
            except BaseException as exc:  # reported after the run
                errors.append(exc)
            finally:
                with self._lock:
                    self._next()

        threads = []
        with self._lock:
            for job in work:
                ready = threading.Event()
                heapq.heappush(self._sleepers, (self._now, next(self._order), ready))
                threads.append(threading.Thread(target=thread, args=(job, ready), daemon=True))
        for t in threads:
            t.start()
        with self._lock:
            self._next()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]


@dataclass
class QueuedJob:
    body: str
    receipt: str
    visible_at: datetime
    receives: int = 0


@dataclass
class FakeSqs:
    """The send queue as SQS behaves for the sender: batches of up to 10 visible jobs, hidden for the
    visibility timeout while a sender has them, deleted when handled, hidden for the sender's delay
    when handed back (ChangeMessageVisibility)."""

    clock: VirtualTime
    jobs: dict[str, QueuedJob] = field(default_factory=dict)

    def put(self, body: str) -> None:
        receipt = f"r{len(self.jobs)}"
        self.jobs[receipt] = QueuedJob(body, receipt, self.clock.now())

    def receive(self, limit: int = 10) -> list[QueuedJob]:
        now = self.clock.now()
        batch = [job for job in self.jobs.values() if job.visible_at <= now][:limit]
        for job in batch:
            job.visible_at = now + VISIBILITY
            job.receives += 1
        return batch

    def delete(self, job: QueuedJob) -> None:
        self.jobs.pop(job.receipt, None)

    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        if receipt_handle in self.jobs:
            self.jobs[receipt_handle].visible_at = self.clock.now() + delay

    def next_visible(self) -> datetime | None:
        return min((job.visible_at for job in self.jobs.values()), default=None)


@dataclass
class Result:
    label: str
    rate: float
    accepted: int
    throttled: int
    seconds: float
    lost: int
    doubled: int
    wall: float

    @property
    def achieved(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def main(argv: list[str] | None = None) -> int:
    return 0 if all(f.met for f in measure(argv)) else 1


def measure(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=14.0, help="SES maximum send rate (emails per second)")
    parser.add_argument("--senders", type=int, default=5, help="SenderConcurrency")
    parser.add_argument("--emails", type=int, default=1400)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # a line per email would bury the figures
    paced = run(args.rate, args.senders, args.emails, paced=True)
    control = run(args.rate, args.senders, args.emails, paced=False)
    return report([paced, control], args)


def run(rate: float, senders: int, emails: int, paced: bool) -> Result:
    from ripen.adapters.templates import load_catalog
    from ripen.core.records import MessageStatus
    from ripen.ports.errors import RetryLaterError
    from ripen.services.pacing import Pacer, share_of
    from ripen.services.sender import Sender
    from ripen_dev.fakes.clock import ManualClock
    from ripen_dev.fakes.metrics import MemoryMetrics
    from ripen_dev.fakes.store import InMemoryStore
    from tests.conftest import TEMPLATES
    from tests.support.fake_ses import FakeSes
    from tests.support.mailstack import make_stack

    wall = time.perf_counter()
    store = InMemoryStore()
    stack = make_stack(store, ManualClock(START), load_catalog(TEMPLATES))
    for i in range(emails):
        stack.signup(f"lead{i:05d}@example.com")
    clock = VirtualTime(START)
    sqs = FakeSqs(clock)
    for job in stack.queue.drain():
        sqs.put(job.model_dump_json())
    ses = LatentSes(FakeSes(clock, rate=rate), clock)
    app = stack.app
    composer = app.composer

    def container() -> None:
        pacer = Pacer(share_of(rate, senders), clock) if paced else None
        sender = Sender(app.store, app.catalog, composer, ses, clock, MemoryMetrics(), sqs, pacer=pacer)
        while sqs.jobs:
            batch = sqs.receive()
            if not batch:
                upcoming = sqs.next_visible()
                clock.sleep(1.0 if upcoming is None else max(0.2, (upcoming - clock.now()).total_seconds()))
                continue
            started = clock.now()

            def remaining_ms(started: datetime = started) -> int:
                return int((INVOCATION - (clock.now() - started)).total_seconds() * 1000)

            for job in batch:
                try:
                    sender.deliver(job.body, job.receipt, job.receipt, remaining_ms)
                except RetryLaterError:
                    continue  # handed back with its delay (partial batch failure)
                sqs.delete(job)

    clock.run([container for _ in range(senders)])
    accepted = ses.inner.accepted
    first, last = accepted[0].at, accepted[-1].at
    counts = ses.inner.per_key()
    unsent = [m for m in store.messages.values() if m.status is not MessageStatus.SENT]
    return Result(
        "with the pacer" if paced else "without the pacer (control)",
        rate,
        len(accepted) - 1,  # sends after the first, over the time from the first to the last
        ses.inner.throttled,
        (last - first).total_seconds(),
        len(unsent),
        sum(1 for n in counts.values() if n > 1),
        time.perf_counter() - wall,
    )


class LatentSes:
    """The fake SES, answering after SES's usual latency (in virtual time)."""

    def __init__(self, inner: Any, clock: VirtualTime) -> None:
        self.inner = inner
        self.clock = clock

    def send(self, email: Any) -> Any:
        self.clock.sleep(SES_LATENCY)
        return self.inner.send(email)


def report(results: list[Result], args: argparse.Namespace) -> list[Figure]:
    print()
    print(
        f"Send rate: {args.emails:,} queued emails, a fake SES accepting {args.rate:g} emails/s (429 above it),"
        f" {args.senders} senders"
    )
    print("in batches of 10 (SenderConcurrency), virtual time; a throttled job comes back from the queue.")
    print()
    print(f"{'':30}{'sent/s':>8}{'of N':>8}{'target':>9}{'429s':>7}{'lost':>6}{'doubled':>9}{'seconds':>9}")
    for r in results:
        target = f">= {TARGET:.0%}" if r is results[0] else ""
        print(
            f"{r.label:30}{r.achieved:>8.2f}{r.achieved / r.rate:>8.1%}{target:>9}{r.throttled:>7}{r.lost:>6}"
            f"{r.doubled:>9}{r.seconds:>9.1f}"
        )
    print(f"(simulated in {sum(r.wall for r in results):.0f} s)")
    paced = results[0]
    ok = paced.achieved / paced.rate >= TARGET and all(r.lost == 0 and r.doubled == 0 for r in results)
    print()
    print("PASS: at the SES rate, nothing lost or doubled" if ok else "FAIL")
    share = paced.achieved / paced.rate
    lost, doubled = sum(r.lost for r in results), sum(r.doubled for r in results)
    return [
        Figure(
            f"send rate against a fake SES at {paced.rate:g}/s: sent / N",
            f"{share:.1%}",
            f">= {TARGET:.0%}",
            share >= TARGET,
        ),
        Figure(
            "send rate: emails lost, emails doubled",
            f"{lost}, {doubled}",
            "0, 0",
            lost == 0 and doubled == 0,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
