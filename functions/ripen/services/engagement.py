"""Engagement: what leads do with their emails, as SES reports it, moves their nurture state.

Each event is matched to the message it is about, applied once, and counted:

- **Attribution**: the `message` tag names the message key; the write is conditional on the
  message carrying the event's `mail.messageId` (recorded by the sender), so the tag is checked
  without a read. A missing or wrong tag falls back to the `by_ses_id` index. Events for messages
  ripen does not know are counted (`EngagementUnknownMessages`) and ignored.
- **Once**: a message keeps the keys of the events applied to it (`Activity.seen`, kept as long
  as the message item: its TTL); the key is added in the same conditional write or transaction
  as the change the event makes, so an event delivered twice (a retry, SNS and EventBridge both
  wired) changes state once. Lead-level changes (suppression, unsubscribe) are idempotent by state
  as well: a repeated bounce finds the lead suppressed already.
- **Per type**: Send confirms the send (and records it when the sender crashed after SES
  accepted it); Delivery, DeliveryDelay: the message and the stats; Open, Click: the engine
  (score, stage rules, `wait_for` branches at once, the hand-off), machine opens weighted low and
  scanner clicks ignored for branching (`ripen.core.engagement`); Bounce: Permanent suppresses the
  lead everywhere, Transient counts toward `SOFT_BOUNCE_LIMIT`; Complaint: suppressed and stopped
  everywhere; Reject, Rendering Failure: the message failed (alarm metrics); Subscription: the
  preference change (unsubscribe from all, or leave the sequences named by topics opted out of).
- **Order and lateness**: terminal states never move again (the engine ignores everything on a
  finished enrollment; a suppressed lead stays suppressed), so a late Open after an unsubscribe
  changes the stats only, and a Delivery after a Bounce changes nothing about the lead.
- **Stats**: gathered over the batch, written once at its end (one atomic ADD per bucket).

Events of one email in one batch are applied together: Send and Delivery in one write, and the
scanner rules see every click of the email in the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from aws_lambda_powertools import Logger

from ripen.core.engagement import (
    BOUNCED,
    CLICKED,
    CLICKS,
    COMPLAINED,
    DELAYED,
    DELIVERED,
    LINK_PREFIX,
    MACHINE_OPENS,
    OPENED,
    OPENS,
    REJECTED,
    RENDERING_FAILED,
    SALES_READY,
    SCANNER_CLICKS,
    SENT,
    SOFT_BOUNCED,
    UNSUBSCRIBED,
    Bucket,
    MessageRef,
    Rules,
    SoftBounceRule,
    Tally,
    after_soft_bounce,
    machine_open,
    ref_from_tags,
    scanner_click,
    suppressed,
    unsubscribed,
)
from ripen.core.records import EnrollmentRecord, EventMark, Lead, LeadStatus, Message, MessageStatus
from ripen.core.state import Engaged, Stopped
from ripen.models.ses import (
    AnyRecord,
    BounceRecord,
    ClickRecord,
    ComplaintRecord,
    DeliveryRecord,
    OpenRecord,
    Received,
    RejectRecord,
    RenderingFailureRecord,
    SubscriptionRecord,
)
from ripen.ports.clock import Clock
from ripen.ports.mailer import redact
from ripen.ports.metrics import Metrics
from ripen.ports.stats import Stats
from ripen.ports.store import Store
from ripen.services.nurture import Nurture, Outcome, SequenceVersionMissingError, UnknownSequenceError

logger = Logger(child=True)

MAX_ATTEMPTS = 5

EVENTS = "EngagementEvents"
DUPLICATES = "EngagementDuplicates"
UNKNOWN = "EngagementUnknownMessages"
SKIPPED = "EngagementSkipped"
RETRIED = "EngagementRetried"
RECONCILED = "SendsReconciled"
SENT_TWICE = "EmailsSentTwice"
EMAILS_REJECTED = "EmailsRejected"
RENDERING_FAILURES = "EmailRenderingFailures"
LEADS_SUPPRESSED = "LeadsSuppressed"
LEADS_SALES_READY = "LeadsSalesReady"
STATS_NOT_WRITTEN = "StatsNotWritten"

MESSAGE_ONLY = frozenset({"send", "delivery", "delay", "reject", "rendering_failure"})
_SIMPLE_COUNTERS = {
    "send": SENT,
    "delivery": DELIVERED,
    "delay": DELAYED,
    "reject": REJECTED,
    "rendering_failure": RENDERING_FAILED,
}

Verdict = Literal["done", "duplicate", "unknown"]


class RetryLaterError(Exception):
    """The event could not be applied now (the message keeps changing); its delivery comes back."""


@dataclass
class _Email:
    """The events of one email (one SES message id) in this batch, and what is known about it."""

    ses_id: str
    sent_at: datetime
    ref: MessageRef | None
    delivered_at: datetime | None = None
    clicks: list[tuple[datetime, str | None, str]] = field(default_factory=list)  # at, link name, key
    # The tag names a message recorded under another SES id after more than one attempt: this is
    # the first attempt, which SES accepted although it never said so in time (sent twice).
    sent_twice: bool = False

    def bucket(self, message: Message | None, ref: MessageRef, version: int | None = None) -> Bucket:
        """Counted for the email's sequence, version and step, on the day SES says it was sent."""
        if message is not None:
            claim = message.claim
            return Bucket.of(claim.sequence, claim.version, claim.step, self.sent_at)
        return Bucket.of(ref.sequence, version or 1, ref.step, self.sent_at)


@dataclass
class _Result:
    message: Message | None = None
    outcome: Outcome | None = None
    lead: Lead | None = None
    version: int | None = None
    first: bool = False  # the first open (click) of the email by a person
    lead_changed: bool = False


class Engagement:
    def __init__(
        self,
        store: Store,
        nurture: Nurture,
        stats: Stats,
        metrics: Metrics,
        clock: Clock,
        rules: Rules | None = None,
        soft_bounces: SoftBounceRule | None = None,
    ) -> None:
        self.store = store
        self.nurture = nurture
        self.stats = stats
        self.metrics = metrics
        self.clock = clock
        self.rules = rules or Rules()
        self.soft_bounces = soft_bounces or SoftBounceRule()

    # -- a batch ------------------------------------------------------------------------------------

    def process(self, received: Sequence[Received]) -> set[str | None]:
        """Apply a batch of events. Returns the item ids of the events that failed for a reason
        that may pass (the store throttled, the message kept changing): only those come back.
        Unusable input was logged and skipped, never retried."""
        tally = Tally()
        failed: set[str | None] = set()
        emails: dict[str, list[tuple[Received, AnyRecord]]] = {}
        for item in received:
            if item.record is None:
                self.metrics.count(SKIPPED)
                logger.warning("SES event skipped", extra={"reason": item.problem, "item_id": item.item_id})
                continue
            emails.setdefault(item.record.mail.message_id, []).append((item, item.record))
        for ses_id, items in emails.items():
            items.sort(key=lambda pair: pair[1].occurred_at)
            done: set[int] = set()
            try:
                self._apply_email(ses_id, items, tally, done)
            except Exception as exc:
                left = [item for i, (item, _) in enumerate(items) if i not in done]
                self.metrics.count(RETRIED, len(left))
                logger.warning(
                    "SES events will come back",
                    extra={"ses_message_id": ses_id, "events": len(left), "error": type(exc).__name__},
                    exc_info=True,
                )
                failed.update(item.item_id for item in left)
        if tally:
            try:
                self.stats.add(tally.counts)
            except Exception:
                # The state is committed and each event marked; only these counters are lost.
                self.metrics.count(STATS_NOT_WRITTEN)
                logger.exception("stats not written", extra={"buckets": len(tally.counts)})
        return failed

    def _apply_email(self, ses_id: str, items: list[tuple[Received, AnyRecord]], tally: Tally, done: set[int]) -> None:
        records = [record for _, record in items]
        ref = next((r for r in (ref_from_tags(record.mail.tags) for record in records) if r), None)
        email = _Email(ses_id, records[0].mail.timestamp, ref)
        for record in records:
            if isinstance(record, DeliveryRecord):
                email.delivered_at = min(email.delivered_at or record.occurred_at, record.occurred_at)
            if isinstance(record, ClickRecord):
                email.clicks.append((record.occurred_at, record.click.link_name, record.key))
        simple = [i for i, record in enumerate(records) if record.kind in MESSAGE_ONLY]
        if simple:
            self._message_events(email, [records[i] for i in simple], tally)
            done.update(simple)
        for i, record in enumerate(records):
            if i in done:
                continue
            match record:
                case OpenRecord():
                    self._open(email, record, tally)
                case ClickRecord():
                    self._click(email, record, tally)
                case BounceRecord() | ComplaintRecord() | SubscriptionRecord():
                    self._lead_event(email, record, tally)
            done.add(i)

    # -- finding the message ------------------------------------------------------------------------

    def _attributed(self, email: _Email, keys: set[str], write: Callable[[MessageRef], bool]) -> Verdict:
        """Run `write` on the email's message until its conditions hold. `keys`: the events still
        to apply (a key found applied already is taken out). Fixes what a failed write reveals:
        a wrong tag, a send its sender did not record yet."""
        for _ in range(MAX_ATTEMPTS):
            if email.ref is None:
                email.ref = self._search(email)
                if email.ref is None:
                    return "unknown"
            if write(email.ref):
                return "done"
            verdict = self._diagnose(email, keys)
            if verdict != "retry":
                return verdict
        raise RetryLaterError("the message kept changing")

    def _search(self, email: _Email) -> MessageRef | None:
        found = self.store.find_message_by_ses_id(email.ses_id)
        return MessageRef.parse(found.claim.key) if found else None

    def _diagnose(self, email: _Email, keys: set[str]) -> Verdict | Literal["retry"]:
        ref = email.ref
        message = self.store.get_message(ref.key) if ref else None
        if message is not None and message.named_by(email.ses_id):
            seen = keys & message.activity.seen
            if seen == keys:
                return "duplicate"
            keys -= seen
            return "retry"  # some were applied already, or another writer moved the enrollment
        if message is not None and message.ses_message_id is None and message.attempts > 0:
            now = self.clock.now()
            live = message.status is MessageStatus.SENDING and (message.lease_until or now) > now
            if live:
                self.store.observe_ses_id(message.claim.key, email.ses_id)  # its sender is still finishing
            elif self.store.reconcile_sent(message.claim.key, email.ses_id, email.sent_at, now):
                self.metrics.count(RECONCILED)
                logger.warning(
                    "send recorded from its SES event: its sender never recorded it",
                    extra={"message_key": message.claim.key, "ses_message_id": email.ses_id},
                )
            return "retry"
        found = self.store.find_message_by_ses_id(email.ses_id)
        if found is not None and (ref is None or found.claim.key != ref.key):
            email.ref = MessageRef.parse(found.claim.key)
            return "retry" if email.ref else "unknown"
        if message is not None and message.ses_message_id is not None and message.attempts > 1:
            email.sent_twice = True
        return "unknown"

    def _mark(self, ref: MessageRef, email: _Email, record: AnyRecord, machine: bool = False) -> EventMark:
        link = record.click.link_name if isinstance(record, ClickRecord) else None
        detail: str | None = None
        if isinstance(record, BounceRecord):
            detail = record.description
        elif isinstance(record, RejectRecord):
            detail = f"SES rejected it after accepting it: {redact(record.reject.reason)[:300]}"
        elif isinstance(record, RenderingFailureRecord):
            detail = f"SES could not render it: {redact(record.failure.error_message)[:300]}"
        return EventMark(ref.key, email.ses_id, record.key, record.kind, record.occurred_at, machine, link, detail)

    def _unknown(self, email: _Email, records: Sequence[AnyRecord]) -> None:
        if email.sent_twice and any(record.kind == "send" for record in records):
            self.metrics.count(SENT_TWICE)
            logger.warning(
                "an email went out twice: SES reported its first attempt only after the resend",
                extra={"message_key": email.ref.key if email.ref else None, "ses_message_id": email.ses_id},
            )
        self.metrics.count(UNKNOWN, len(records))
        logger.info(
            "SES event for a message ripen does not know: ignored",
            extra={"ses_message_id": email.ses_id, "events": [r.kind for r in records]},
        )

    def _duplicate(self, email: _Email, n: int = 1) -> None:
        self.metrics.count(DUPLICATES, n)
        logger.debug("SES event applied already", extra={"ses_message_id": email.ses_id})

    # -- Send, Delivery, DeliveryDelay, Reject, Rendering Failure: the message only ---------------

    def _message_events(self, email: _Email, records: list[AnyRecord], tally: Tally) -> None:
        by_key = {record.key: record for record in records}
        keys = set(by_key)
        result = _Result()

        def write(ref: MessageRef) -> bool:
            marks = [self._mark(ref, email, by_key[key]) for key in sorted(keys)]
            result.message = self.store.mark_message(ref.key, marks)
            return result.message is not None

        verdict = self._attributed(email, keys, write)
        if verdict == "unknown":
            self._unknown(email, records)
            return
        applied = keys if verdict == "done" else set()
        if len(by_key) - len(applied):
            self._duplicate(email, len(by_key) - len(applied))
        if not applied or result.message is None or email.ref is None:
            return
        bucket = email.bucket(result.message, email.ref)
        for key in applied:
            kind = by_key[key].kind
            tally.add(bucket, _SIMPLE_COUNTERS[kind])
            if kind == "reject":
                self.metrics.count(EMAILS_REJECTED)
            elif kind == "rendering_failure":
                self.metrics.count(RENDERING_FAILURES)
        if any(by_key[key].kind in ("reject", "rendering_failure") for key in applied):
            logger.warning("SES did not deliver an email it accepted", extra={"message_key": result.message.claim.key})
        self.metrics.count(EVENTS, len(applied))

    # -- Open, Click: the engine ----------------------------------------------------------------------

    def _live_enrollment(self, ref: MessageRef) -> EnrollmentRecord | None:
        """The enrollment the email belongs to, while it can still move (same run, not finished)."""
        record = self.store.get_enrollment(ref.lead_id, ref.sequence)
        if record is None or record.enrollment.run != ref.run or record.enrollment.terminal:
            return None
        return record

    def _engage(
        self, ref: MessageRef, record: EnrollmentRecord | None, trigger: Engaged, mark: EventMark, result: _Result
    ) -> bool:
        """The engaged trigger through the engine with the mark in its transaction; the mark alone
        when the enrollment cannot move or nothing changes. False when a condition failed."""
        if record is not None:
            try:
                outcome = self.nurture.apply_record(record, trigger, f"engagement: {trigger.kind}", marks=[mark])
            except (UnknownSequenceError, SequenceVersionMissingError):
                outcome = Outcome(False, reason="sequence gone")
            if outcome.applied:
                result.outcome = outcome
                result.version = record.enrollment.version
                return True
            if outcome.reason == "conflict":
                return False
        result.message = self.store.mark_message(ref.key, [mark])
        return result.message is not None

    def _scores_nothing(self, sequence: str) -> bool:
        try:
            return self.nurture.sequence(sequence).scoring.machine_open == 0
        except UnknownSequenceError:
            return True

    def _open(self, email: _Email, record: OpenRecord, tally: Tally) -> None:
        opened = record.open
        arrived = email.delivered_at or email.sent_at
        why = machine_open(opened.timestamp, opened.user_agent, opened.ip_address, arrived, self.rules)
        machine = why is not None
        result = _Result()

        def write(ref: MessageRef) -> bool:
            mark = self._mark(ref, email, record, machine)
            live = None if machine and self._scores_nothing(ref.sequence) else self._live_enrollment(ref)
            result.first = not machine and live is not None and f"open:{ref.step}" not in live.enrollment.engaged
            trigger = Engaged("open", opened.timestamp, step=ref.step, machine=machine)
            return self._engage(ref, live, trigger, mark, result)

        verdict = self._attributed(email, {record.key}, write)
        if not self._applied(email, record, verdict):
            return
        assert email.ref is not None
        if result.message is not None:
            result.first = not machine and result.message.activity.opens == 1
        bucket = email.bucket(result.message, email.ref, result.version)
        if machine:
            tally.add(bucket, MACHINE_OPENS)
            logger.debug("machine open", extra={"ses_message_id": email.ses_id, "why": why})
        else:
            tally.add(bucket, OPENS, *([OPENED] if result.first else []))
        self._engaged(result, bucket, tally)

    def _click(self, email: _Email, record: ClickRecord, tally: Tally) -> None:
        click = record.click
        result = _Result()
        why: str | None = None

        def write(ref: MessageRef) -> bool:
            nonlocal why
            message = self.store.get_message(ref.key)
            if message is None or not message.named_by(email.ses_id) or record.key in message.activity.seen:
                return False
            activity = message.activity
            others = [(at, link) for at, link, key in email.clicks if key != record.key]
            if activity.last_click_at is not None:
                others.append((activity.last_click_at, activity.last_click_link or None))
            arrived = activity.delivered_at or email.delivered_at or email.sent_at
            why = scanner_click(click.timestamp, click.link_name, click.user_agent, arrived, others, self.rules)
            machine = why is not None
            result.first = not machine and activity.clicked_at is None
            mark = self._mark(ref, email, record, machine)
            trigger = Engaged("click", click.timestamp, step=ref.step, link=click.link_name, machine=machine)
            live = None if machine else self._live_enrollment(ref)
            done = self._engage(ref, live, trigger, mark, result)
            result.message = result.message or message
            return done

        verdict = self._attributed(email, {record.key}, write)
        if not self._applied(email, record, verdict):
            return
        assert email.ref is not None
        bucket = email.bucket(result.message, email.ref, result.version)
        if why is not None:
            tally.add(bucket, SCANNER_CLICKS)
            logger.debug("scanner click", extra={"ses_message_id": email.ses_id, "why": why})
        else:
            link = [f"{LINK_PREFIX}{click.link_name}"] if click.link_name else []
            tally.add(bucket, CLICKS, *link, *([CLICKED] if result.first else []))
        self._engaged(result, bucket, tally)

    def _applied(self, email: _Email, record: AnyRecord, verdict: Verdict) -> bool:
        if verdict == "unknown":
            self._unknown(email, [record])
        elif verdict == "duplicate":
            self._duplicate(email)
        return verdict == "done"

    def _engaged(self, result: _Result, bucket: Bucket, tally: Tally) -> None:
        self.metrics.count(EVENTS)
        if result.outcome is not None and result.outcome.handoffs:
            tally.add(bucket, SALES_READY)
            self.metrics.count(LEADS_SALES_READY)

    # -- Bounce, Complaint, Subscription: the lead ---------------------------------------------------

    def _lead_event(
        self, email: _Email, record: BounceRecord | ComplaintRecord | SubscriptionRecord, tally: Tally
    ) -> None:
        result = _Result()

        def write(ref: MessageRef) -> bool:
            message = self.store.get_message(ref.key)
            if message is None or not message.named_by(email.ses_id) or record.key in message.activity.seen:
                return False
            result.message = message
            mark = self._mark(ref, email, record)
            lead = self.store.get_lead(ref.lead_id)
            changed = self._lead_after(lead, record) if lead is not None else None
            if lead is not None and changed is not None and changed != lead:
                if not self.store.save_lead(changed, lead.revision, marks=[mark]):
                    return False
                result.lead, result.lead_changed = changed, True
                return True
            result.lead, result.lead_changed = lead, False
            return self.store.mark_message(ref.key, [mark]) is not None

        verdict = self._attributed(email, {record.key}, write)
        if verdict == "unknown" or email.ref is None:
            self._unknown(email, [record])
            return
        ref = email.ref
        if verdict == "duplicate":
            self._duplicate(email)
            result.lead = self.store.get_lead(ref.lead_id)  # finish what a crashed attempt may have left
        self._stop(ref, record, result.lead)
        if verdict != "done":
            return
        bucket = email.bucket(result.message, ref)
        self.metrics.count(EVENTS)
        if result.lead_changed and result.lead is not None and result.lead.status is LeadStatus.SUPPRESSED:
            self.metrics.count(LEADS_SUPPRESSED)
            logger.info("lead suppressed", extra={"lead_id": ref.lead_id, "why": result.lead.status_reason})
        match record:
            case BounceRecord():
                tally.add(bucket, BOUNCED if record.permanent else SOFT_BOUNCED)
            case ComplaintRecord():
                tally.add(bucket, COMPLAINED)
            case SubscriptionRecord():
                sub = record.subscription
                if sub.new_topic_preferences.unsubscribe_all or self._sequences_named(sub.opted_out_of):
                    tally.add(bucket, UNSUBSCRIBED)

    def _lead_after(self, lead: Lead, record: BounceRecord | ComplaintRecord | SubscriptionRecord) -> Lead | None:
        match record:
            case BounceRecord() if record.permanent:
                return suppressed(lead, f"hard bounce ({record.description})")
            case BounceRecord():
                return after_soft_bounce(lead, record.occurred_at, self.soft_bounces)
            case ComplaintRecord():
                return suppressed(lead, "complaint")
            case SubscriptionRecord() if record.subscription.new_topic_preferences.unsubscribe_all:
                return unsubscribed(lead, f"SES subscription preferences ({record.subscription.source or 'unknown'})")
        return None

    def _sequences_named(self, topics: list[str]) -> list[str]:
        return [t for t in topics if t in self.nurture.catalog.versions]

    def _stop(self, ref: MessageRef, record: AnyRecord, lead: Lead | None) -> None:
        """Stop the enrollments the lead's state no longer allows (idempotent: finished ones stay)."""
        if isinstance(record, SubscriptionRecord):
            for sequence in self._sequences_named(record.subscription.opted_out_of):
                self._apply_stop(ref.lead_id, Stopped("unsubscribed"), "unsubscribed (SES topic)", [sequence])
        if lead is None or lead.status is LeadStatus.ACTIVE:
            return
        if lead.status is LeadStatus.UNSUBSCRIBED:
            self._apply_stop(ref.lead_id, Stopped("unsubscribed"), lead.status_reason or "unsubscribed")
        elif isinstance(record, ComplaintRecord):
            # A complaint is an opt-out; the address stays suppressed for every sequence.
            self._apply_stop(ref.lead_id, Stopped("unsubscribed"), "complaint")
        else:
            self._apply_stop(ref.lead_id, Stopped("suppressed"), lead.status_reason or "suppressed")

    def _apply_stop(self, lead_id: str, trigger: Stopped, name: str, sequences: list[str] | None = None) -> None:
        names = sequences or [
            r.enrollment.sequence for r in self.store.enrollments_of(lead_id) if not r.enrollment.terminal
        ]
        stopped = 0
        for sequence in names:
            try:
                stopped += self.nurture.apply(lead_id, sequence, trigger, name).applied
            except (UnknownSequenceError, SequenceVersionMissingError):
                logger.warning("enrollment on a missing sequence left as is", extra={"sequence": sequence})
        if stopped:
            logger.info("enrollments stopped", extra={"lead_id": lead_id, "why": name, "enrollments": stopped})
