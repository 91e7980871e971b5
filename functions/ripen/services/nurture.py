"""Moving enrollments: load, decide with the engine, write conditionally, queue the emails.

Every trigger (signup, confirmation, timer, engagement, preference change) goes through here,
so there is one path from a decision to a stored state and a queued send.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from aws_lambda_powertools import Logger

from ripen.core.engine import advance, migrate, new_enrollment
from ripen.core.records import Change, EnrollmentRecord, EventMark, Lead, MessageClaim, change_for, only_scored
from ripen.core.sequence import RECENT_EMAILS_KEPT, Sequence
from ripen.core.state import Decision, Enrolled, LeadContext, Resubmitted, SendEmail, Status, Trigger
from ripen.core.validator import Catalog
from ripen.ports.clock import Clock
from ripen.ports.queue import SendJob, SendQueue
from ripen.ports.store import Store

logger = Logger(child=True)

MAX_ATTEMPTS = 4  # re-read and re-decide when another writer moved the enrollment first
HELD_BACK = "held back"  # the decision would send an email its caller's admission refused: nothing stored


class UnknownSequenceError(KeyError):
    pass


class SequenceVersionMissingError(RuntimeError):
    """The enrollment's version is gone from templates/ and no migration was declared."""


@dataclass
class NurtureResult:
    """What enrolling a lead or applying a trigger did: `applied` whether the enrollment changed,
    `reason` why not (`conflict`: another writer moved it first)."""

    applied: bool
    record: EnrollmentRecord | None = None
    decision: Decision | None = None
    queued: list[str] = field(default_factory=list)
    reason: str = ""
    started: bool = False  # enroll() began a new run (rather than counting a resubmission)
    handoffs: list[str] = field(default_factory=list)  # hand-offs to sales this decision made


class HandOffPublisher(Protocol):
    def publish(self, claims: Seq[MessageClaim]) -> int:
        """Publish hand-offs just committed; never raises (the outbox keeps what fails)."""
        ...


class Nurture:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        queue: SendQueue,
        clock: Clock,
        handoffs: HandOffPublisher | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.queue = queue
        self.clock = clock
        self.handoffs = handoffs  # None: hand-offs wait in the outbox for publish_pending_handoffs

    def queuing_to(self, queue: SendQueue) -> Nurture:
        """The same service with its send jobs going to `queue` (the sweep's batches of 10)."""
        return Nurture(self.store, self.catalog, queue, self.clock, self.handoffs)

    def sequence(self, name: str) -> Sequence:
        try:
            return self.catalog.current(name)
        except KeyError:
            raise UnknownSequenceError(name) from None

    def enroll(
        self,
        lead: Lead,
        sequence_name: str,
        source: str = "signup",
        *,
        reconsent: bool = False,
        admit: Callable[[], bool] | None = None,
    ) -> NurtureResult:
        """Put a lead into a sequence once. Again while enrolled counts as engagement (and refreshes the
        lead's attributes the engine sees); again after leaving starts a new run only if the sequence's
        re-entry policy allows it. `reconsent`: a lead who unsubscribed gave fresh consent; they come
        back only through double opt-in, whatever the sequence says. `admit`: asked before storing a
        new run or an email (the signup limits); when it says no, nothing is stored (`HELD_BACK`)."""
        sequence = self.sequence(sequence_name)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            existing = self.store.get_enrollment(lead.lead_id, sequence.name)
            if existing and not existing.enrollment.terminal:
                refreshed = replace(
                    existing, timezone=lead.timezone or existing.timezone, attributes=dict(lead.attributes)
                )
                return self.apply_record(refreshed, Resubmitted(confirmed=lead.confirmed), "resubmitted", admit=admit)
            if existing and not self._may_reenter(existing, sequence, now, reconsent):
                return NurtureResult(False, existing, reason=f"already {existing.enrollment.status.value}")
            run = existing.enrollment.run + 1 if existing else 1
            record = EnrollmentRecord(
                new_enrollment(lead.lead_id, sequence, now, run),
                revision=existing.revision if existing else 0,
                timezone=lead.timezone,
                attributes=dict(lead.attributes),
                recent_emails=lead.recent_emails,
            )
            confirmed = lead.confirmed and not reconsent
            record, decision = self._decide(record, Enrolled(), sequence, now, confirmed, reconfirm=reconsent)
            expected = existing.revision if existing else None
            change = self._change(record, decision, sequence, source, now, expected)
            if admit is not None and not admit():  # a new run always sends, now or later
                return NurtureResult(False, change.record, decision, reason=HELD_BACK, started=True)
            if self.store.commit(change):
                outcome = self._done(change, decision)
                outcome.started = True
                return outcome
        return NurtureResult(False, reason="contended")

    def _may_reenter(self, existing: EnrollmentRecord, sequence: Sequence, now: datetime, reconsent: bool) -> bool:
        e = existing.enrollment
        if e.status is Status.UNSUBSCRIBED:
            return reconsent  # only fresh consent (confirmed by double opt-in) brings them back
        if e.status is Status.SUPPRESSED:
            return False  # a hard bounce or a complaint: never again
        if e.status is Status.EXPIRED:
            return True  # never confirmed: a new signup simply starts over
        policy = sequence.reentry
        return policy.policy == "after_exit" and (e.ended_at is None or now >= e.ended_at + policy.cooldown)

    def apply(self, lead_id: str, sequence_name: str, trigger: Trigger, name: str) -> NurtureResult:
        """Apply a trigger to one enrollment, re-reading and re-deciding if another writer won."""
        for _ in range(MAX_ATTEMPTS):
            record = self.store.get_enrollment(lead_id, sequence_name)
            if record is None:
                return NurtureResult(False, reason="not enrolled")
            outcome = self.apply_record(record, trigger, name)
            if outcome.applied or outcome.reason != "conflict":
                return outcome
        return NurtureResult(False, reason="contended")

    def apply_everywhere(self, lead_id: str, trigger: Trigger, name: str) -> list[NurtureResult]:
        return [self.apply(lead_id, r.enrollment.sequence, trigger, name) for r in self.store.enrollments_of(lead_id)]

    def apply_record(
        self,
        record: EnrollmentRecord,
        trigger: Trigger,
        name: str,
        marks: Seq[EventMark] = (),
        siblings: Seq[EnrollmentRecord] | None = None,
        admit: Callable[[], bool] | None = None,
    ) -> NurtureResult:
        """Decide from a record already in hand (e.g. from the due index) with one conditional write.
        `marks`: the engagement events behind the trigger, written on their message in the same
        transaction (so each changes the enrollment once); nothing is written when nothing changes.
        `siblings`: the lead's other enrollments, when the caller read them already (the sweep reads
        them for a whole page of due enrollments at once); else read when the frequency cap needs them."""
        if record.enrollment.terminal:
            return NurtureResult(False, record, reason=f"already {record.enrollment.status.value}")
        now = self.clock.now()
        sequence, record = self._on_sequence(record)
        record, decision = self._decide(record, trigger, sequence, now, siblings=siblings)
        if not decision.changed:
            return NurtureResult(False, record, decision, reason="nothing to do")
        change = self._change(record, decision, sequence, name, now, record.revision)
        if admit is not None and any(m.kind != "handoff" for m in change.messages) and not admit():
            return NurtureResult(False, record, decision, reason=HELD_BACK)
        if marks:
            change = replace(change, marks=tuple(marks))
            if only_scored(record.enrollment, decision):
                # The open or click is on its message (`ripen lead show` lists it) and the score on
                # the enrollment: a history line would add two write units for no transition.
                change = replace(change, history=None)
        if not self.store.commit(change):
            return NurtureResult(False, record, decision, reason="conflict")
        return self._done(change, decision)

    def needs_siblings(self, record: EnrollmentRecord, trigger: Trigger) -> bool:
        """Whether deciding `trigger` would send an email under a frequency cap, so the decision
        must learn what the lead's other enrollments sent (the engine alone, nothing read)."""
        if record.enrollment.terminal:
            return False
        sequence, record = self._on_sequence(record)
        if sequence.frequency_cap is None:
            return False
        decision = advance(record.enrollment, trigger, sequence, self.clock.now(), self._context(record, False, False))
        return any(isinstance(a, SendEmail) for a in decision.actions)

    def _decide(
        self,
        record: EnrollmentRecord,
        trigger: Trigger,
        sequence: Sequence,
        now: datetime,
        confirmed: bool = False,
        reconfirm: bool = False,
        siblings: Seq[EnrollmentRecord] | None = None,
    ) -> tuple[EnrollmentRecord, Decision]:
        """Decide with the engine. The frequency cap counts the emails of all the lead's sequences, so
        a decision that would send under a cap first learns what the lead's other enrollments sent
        (one query, only then, unless the caller has them) and decides again when that adds anything."""
        decision = advance(record.enrollment, trigger, sequence, now, self._context(record, confirmed, reconfirm))
        if sequence.frequency_cap is None or not any(isinstance(a, SendEmail) for a in decision.actions):
            return record, decision
        if siblings is None:
            siblings = self.store.enrollments_of(record.enrollment.lead_id)
        recent = merged_recent_emails([record, *(r for r in siblings if r.key != record.key)])
        if recent == tuple(sorted(record.recent_emails)):
            return record, decision
        record = replace(record, recent_emails=recent)
        return record, advance(record.enrollment, trigger, sequence, now, self._context(record, confirmed, reconfirm))

    @staticmethod
    def _context(record: EnrollmentRecord, confirmed: bool, reconfirm: bool) -> LeadContext:
        return replace(record.lead_context(confirmed), reconfirm=reconfirm)

    def _on_sequence(self, record: EnrollmentRecord) -> tuple[Sequence, EnrollmentRecord]:
        """The sequence version this enrollment runs on, migrating it when the new version says how."""
        e = record.enrollment
        current = self.sequence(e.sequence)
        if e.version != current.version:
            migrated = migrate(e, current)
            if migrated is not None:
                return current, replace(record, enrollment=migrated)
        own = self.catalog.get(e.sequence, e.version)
        if own is None:
            raise SequenceVersionMissingError(
                f"{e.sequence} v{e.version} is not in templates/ and v{current.version} declares no migration from it"
            )
        return own, record

    def _change(
        self,
        record: EnrollmentRecord,
        decision: Decision,
        sequence: Sequence,
        name: str,
        now: datetime,
        expected: int | None,
    ) -> Change:
        change = change_for(record, decision, sequence, name, now, expected)
        sends = sum(1 for m in change.messages if m.kind == "nurture")
        if sends:
            recent = (*record.recent_emails, *([now] * sends))[-RECENT_EMAILS_KEPT:]
            change = replace(change, record=replace(change.record, recent_emails=recent))
        return change

    def _done(self, change: Change, decision: Decision) -> NurtureResult:
        jobs = [SendJob(message_key=m.key) for m in change.messages if m.kind != "handoff"]
        handoffs = [m for m in change.messages if m.kind == "handoff"]
        if handoffs and self.handoffs is not None:
            self.handoffs.publish(handoffs)
        if jobs:
            failed = self.queue.enqueue(jobs)
            if failed:
                # The claims are stored; the sweep re-queues unsent claims after CLAIM_TIMEOUT.
                logger.warning("send jobs not queued; the sweep will retry them", extra={"failed": len(failed)})
        e = change.record.enrollment
        logger.info(
            "enrollment moved",
            extra={
                "lead_id": e.lead_id,
                "sequence": e.sequence,
                "status": e.status.value,
                "step": e.cursor,
                "revision": change.record.revision,
                "actions": len(decision.actions),
            },
        )
        return NurtureResult(
            True, change.record, decision, [j.message_key for j in jobs], handoffs=[m.key for m in handoffs]
        )


def merged_recent_emails(records: Iterable[EnrollmentRecord]) -> tuple[datetime, ...]:
    """The lead's recent nurture emails as known by all its enrollments, oldest first. Each record
    holds copies of emails it learnt from the others, so a moment counts as many times as the
    record holding it most often says (two emails in one decision share a moment)."""
    counts: Counter[datetime] = Counter()
    for record in records:
        counts |= Counter(record.recent_emails)
    return tuple(sorted(counts.elements()))[-RECENT_EMAILS_KEPT:]
