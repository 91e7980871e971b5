"""The sweep: every minute, move every enrollment whose timer is due and queue again the send
jobs that never reached the queue.

Each shard of the sparse due indexes is read in its own thread, a page at a time, oldest first,
so the cost of a run follows the due work only: idle and finished leads are not in the indexes.
Every move is the nurture service's conditional write on the enrollment's revision, so two
sweeps at once (or a sweep racing a click) cannot apply a step twice: the loser's condition
fails and it moves on. The send jobs of all decisions go to the queue in batches of 10.
The run stops claiming while it still has time to finish what is under way; the rest stays due
for the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from aws_lambda_powertools import Logger

from ripen.core.records import EnrollmentRecord, Message
from ripen.core.sending import Move, next_move
from ripen.core.state import TimerDue
from ripen.core.validator import Catalog
from ripen.ports.clock import Clock
from ripen.ports.queue import SendJob, SendQueue
from ripen.ports.store import CLAIM_TIMEOUT, Store
from ripen.services.batching import BatchingSendQueue
from ripen.services.nurture import Nurture

logger = Logger(child=True)

MAX_WORKERS = 16  # threads reading shards at once; more shards than this are read in turn
LONGEST_REQUEUE_GAP = timedelta(hours=4)

Item = TypeVar("Item", EnrollmentRecord, Message)


class SweepIncompleteError(RuntimeError):
    """A shard could not be read; everything else was done, and the next run reads it again."""


@dataclass
class SweepReport:
    """What one run did. Counts only: nothing here names a lead."""

    due: int = 0  # due enrollments looked at
    claimed: int = 0  # enrollments moved by their timer (one conditional write each)
    lost_races: int = 0  # stale index entries, or another writer moved the enrollment first
    unchanged: int = 0  # due but nothing to do (already finished, say)
    failed: int = 0  # decisions that raised; they stay due and are tried again next run
    jobs: int = 0  # send jobs from the moves and the re-queued claims
    queued: int = 0  # of those, accepted by the send queue
    not_queued: int = 0  # refused by the queue: sent again once their claim times out
    lost_jobs_requeued: int = 0  # claims whose job never reached the queue, queued again
    retries_queued: int = 0  # messages put back for later (throttled, the frequency cap, ...), now due
    in_doubt_waiting: int = 0  # leases that ran out unrecorded: waiting for SES's Send event
    in_doubt_requeued: int = 0  # ... whose wait is over (or SES reported them): handed to the sender
    awaiting_sender: int = 0  # a sender holds a live lease (the index lags behind)
    handoffs_published: int = 0  # Lead Sales Ready events left in the outbox, published now
    left: int = 0  # due items read but left for the next run when the time ran out
    more_due: bool = False  # the time ran out before every page was read
    shards_failed: int = 0

    def add(self, other: SweepReport) -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, (mine or theirs) if isinstance(mine, bool) else mine + theirs)

    def as_dict(self) -> dict[str, int | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def metrics(self) -> dict[str, int]:
        """The figures worth a CloudWatch metric (and an alarm on the last ones)."""
        return {
            "EnrollmentsClaimed": self.claimed,
            "SendJobsQueued": self.queued,
            "LeftForNextRun": self.left,
            "LostJobsRequeued": self.lost_jobs_requeued,
            "InDoubtSendsRequeued": self.in_doubt_requeued,
            "LostRaces": self.lost_races,
            "SendJobsNotQueued": self.not_queued,
            "HandOffsRepublished": self.handoffs_published,
            "SweepFailures": self.failed + self.shards_failed,
        }


@dataclass
class Budget:
    """The time a run may keep claiming: until less than `margin_ms` of the invocation is left."""

    remaining_ms: Callable[[], int] | None = None
    margin_ms: int = 10_000
    _spent: threading.Event = field(default_factory=threading.Event)

    @property
    def spent(self) -> bool:
        if not self._spent.is_set() and self.remaining_ms is not None and self.remaining_ms() < self.margin_ms:
            self._spent.set()  # once spent, stays spent: no thread starts new work after another stopped
        return self._spent.is_set()


class PendingHandOffs(Protocol):
    def publish_pending_handoffs(self, now: datetime | None = None, limit: int = 100) -> int: ...


class Sweep:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        queue: SendQueue,
        clock: Clock,
        page_size: int = 100,
        safety_margin_ms: int = 10_000,
        handoffs: PendingHandOffs | None = None,
        send_event_wait: timedelta = timedelta(minutes=15),
    ) -> None:
        self.handoffs = handoffs
        self.send_event_wait = send_event_wait
        self.store = store
        self.catalog = catalog
        self.queue = queue
        self.clock = clock
        self.page_size = page_size
        self.safety_margin_ms = safety_margin_ms
        # Hand-offs of the sweep's moves wait in the outbox: the run publishes them once, at its end.
        self.nurture = Nurture(store, catalog, queue, clock)

    def run(self, remaining_ms: Callable[[], int] | None = None) -> SweepReport:
        """One run over every shard. `remaining_ms` is the invocation's time left (the Lambda
        context's `get_remaining_time_in_millis`); without it the run goes until nothing is due."""
        now = self.clock.now()
        budget = Budget(remaining_ms, self.safety_margin_ms)
        jobs = BatchingSendQueue(self.queue)
        nurture = self.nurture.queuing_to(jobs)  # the jobs of every move join the batches
        shards = self.store.shards
        workers = max(1, min(len(shards), MAX_WORKERS))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            reports = list(pool.map(lambda shard: _ShardRun(self, shard, now, nurture, jobs, budget).run(), shards))
        jobs.flush()
        report = SweepReport()
        for part in reports:
            report.add(part)
        report.queued, report.not_queued = jobs.queued, len(jobs.not_queued)
        if self.handoffs is not None and not budget.spent:
            # Hand-offs whose function died between the commit and the publish (or the bus refused).
            report.handoffs_published = self.handoffs.publish_pending_handoffs(now)
        logger.info("sweep finished", extra={"sweep": report.as_dict()})
        return report


class _ShardRun:
    """One shard of one run: lost jobs first (they are the oldest work), then due enrollments."""

    def __init__(
        self, sweep: Sweep, shard: str, now: datetime, nurture: Nurture, jobs: BatchingSendQueue, budget: Budget
    ) -> None:
        self.sweep = sweep
        self.store = sweep.store
        self.shard = shard
        self.now = now
        self.nurture = nurture
        self.jobs = jobs
        self.budget = budget
        self.report = SweepReport()
        self.siblings: dict[str, dict[str, EnrollmentRecord]] = {}  # lead -> sequence -> enrollment

    def run(self) -> SweepReport:
        try:
            for message in self._due(self.store.due_messages):
                self.reconcile(message)
            for record in self._due(self.store.due_enrollments, self._read_siblings):
                self.move(record)
        except Exception:
            logger.exception("sweep could not read a shard", extra={"shard": self.shard})
            self.report.shards_failed += 1
        return self.report

    def _due(
        self,
        page: Callable[[str, datetime, int, Item | None], list[Item]],
        on_page: Callable[[list[Item]], None] | None = None,
    ) -> Iterator[Item]:
        """Due items a page at a time, until none are left or the time is spent (then counted as left)."""
        after: Item | None = None
        size = self.sweep.page_size
        while not self.budget.spent:
            items = page(self.shard, self.now, size, after)
            if on_page is not None and items:
                on_page(items)
            for index, item in enumerate(items):
                if self.budget.spent:
                    self.report.left += len(items) - index
                    self.report.more_due = self.report.more_due or len(items) == size
                    return
                yield item
            if len(items) < size:
                return
            after = items[-1]
        self.report.more_due = True

    def _read_siblings(self, page: list[EnrollmentRecord]) -> None:
        """The other enrollments of the leads in `page` whose timer would send an email under a
        frequency cap (the cap counts every sequence's emails): one batch read for the page instead
        of a query per decision. Kept up to date with this run's own decisions."""
        leads: set[str] = set()
        for record in page:
            try:
                if self.nurture.needs_siblings(record, TimerDue()):
                    leads.add(record.enrollment.lead_id)
            except Exception:  # noqa: S112 - a record that cannot be decided: `move` counts it
                continue
        leads -= set(self.siblings)
        if not leads:
            return
        names = self.sweep.catalog.names()
        try:
            found = self.store.get_enrollments([(lead, name) for lead in sorted(leads) for name in names])
        except Exception:
            # each decision that needs them reads them itself
            logger.warning("siblings not read for a page", extra={"shard": self.shard}, exc_info=True)
            return
        for lead in leads:
            self.siblings.setdefault(lead, {})
        for record in found:
            self.siblings[record.enrollment.lead_id][record.enrollment.sequence] = record

    def move(self, record: EnrollmentRecord) -> None:
        """Fire a due timer: the nurture service re-decides with the engine (send window, cap) and
        writes only if the enrollment is still at the revision the index showed."""
        self.report.due += 1
        lead_id = record.enrollment.lead_id
        known = self.siblings.get(lead_id)
        siblings = None if known is None else [r for r in known.values() if r.key != record.key]
        try:
            outcome = self.nurture.apply_record(record, TimerDue(), "timer", siblings=siblings)
        except Exception as exc:
            self.report.failed += 1
            logger.exception(
                "due enrollment could not be moved",
                extra={"shard": self.shard, "sequence": record.enrollment.sequence, "error": type(exc).__name__},
            )
            return
        if outcome.applied:
            self.report.claimed += 1
            self.report.jobs += len(outcome.queued)
            if known is not None and outcome.record is not None:
                known[record.enrollment.sequence] = outcome.record  # what the lead's next decision counts
        elif outcome.reason == "conflict":
            self.report.lost_races += 1
        else:
            self.report.unchanged += 1

    def reconcile(self, message: Message) -> None:
        try:
            self._reconcile(message)
        except Exception as exc:
            self.report.failed += 1
            logger.exception(
                "unsent message could not be reconciled", extra={"shard": self.shard, "error": type(exc).__name__}
            )

    def _reconcile(self, message: Message) -> None:
        """An unsent message whose due time passed, moved on as `ripen.core.sending` says:
        - still `claimed`: its job was lost (a crash after the write, a queue outage), or it was put
          back for later (throttled, the frequency cap): queue it (again);
        - its lease ran out without the send being recorded (the sender died, or SES's answer was
          lost): wait for SES's Send event until the lease's end plus `send_event_wait` (the due
          time moves there), then hand it to the sender, which records what SES reported, resends
          it once, or parks it.
        A job is queued only by the sweep whose conditional write moves the due time, so of two
        runs only one queues it. The wait before the next copy grows with the claim's age (a long
        queue backlog is not flooded with copies); the sender ignores a job whose message it
        already handled."""
        step = next_move(message, self.now, self.sweep.send_event_wait)
        match step.move:
            case Move.AWAIT_SES:
                assert step.at is not None
                if self.store.postpone_message(message, step.at):
                    self.report.in_doubt_waiting += 1
                else:
                    self.report.lost_races += 1
            case Move.SEND | Move.RESEND | Move.RECORD | Move.PARK:
                gap = min(max(CLAIM_TIMEOUT, self.now - message.claim.created_at), LONGEST_REQUEUE_GAP)
                if not self.store.postpone_message(message, self.now + gap):
                    self.report.lost_races += 1
                    return
                self.jobs.enqueue([SendJob(message_key=message.claim.key)])
                self.report.jobs += 1
                if step.move is Move.SEND and message.error is not None:
                    self.report.retries_queued += 1  # the sender put it back with the reason
                elif step.move is Move.SEND:
                    self.report.lost_jobs_requeued += 1
                else:
                    self.report.in_doubt_requeued += 1
            case Move.HELD:
                self.report.awaiting_sender += 1
            case Move.DONE:
                pass
