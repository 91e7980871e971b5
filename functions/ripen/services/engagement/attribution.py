"""Attributing an email's events to the message they are about, and writing them there once.

The `message` tag names the message key; every write is conditional on the message carrying the
email's SES message id (recorded by the sender) and not having the events' keys yet, so the tag
is checked without a read and an event delivered twice changes state once. When a condition
fails, `Attribution.write` finds out why, fixes what it can (a wrong or missing tag: the
`by_ses_id_keys` index; a send its sender did not record yet) and tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Generic, TypeVar

from aws_lambda_powertools import Logger

from ripen.core.engagement import Bucket, MessageRef, Rules, SoftBounceRule
from ripen.core.records import EventMark, Message, MessageStatus
from ripen.models.ses import AnyRecord, BounceRecord, ClickRecord, RejectRecord, RenderingFailureRecord
from ripen.ports.clock import Clock
from ripen.ports.errors import RetryLaterError
from ripen.ports.mailer import redact
from ripen.ports.metrics import Metrics
from ripen.ports.store import Store
from ripen.services.engagement.metric_names import DUPLICATES, RECONCILED, SENT_TWICE, UNKNOWN
from ripen.services.nurture import Nurture

logger = Logger(child=True)

MAX_ATTEMPTS = 5

T = TypeVar("T")


@dataclass
class Parts:
    """What every step of the engagement service works with. The steps share this one object, so
    a part replaced on the service (a test's flaky store) is replaced for all of them."""

    store: Store
    nurture: Nurture
    metrics: Metrics
    clock: Clock
    rules: Rules
    soft_bounces: SoftBounceRule
    lead_id_key: bytes  # to tell which recipient of a lead-less event is the lead (lead_id_for)


@dataclass
class Email:
    """The events of one email (one SES message id) in this batch, and what is known about it."""

    ses_id: str
    sent_at: datetime
    ref: MessageRef | None  # the message it is about, once known
    delivered_at: datetime | None = None
    clicks: list[tuple[datetime, str | None, str]] = field(default_factory=list)  # at, link name, key
    # The tag names a message recorded under another SES id after more than one attempt: this is
    # the first attempt, which SES accepted although it never said so in time (sent twice).
    sent_twice: bool = False
    read: Message | None = None  # the message as read after a write on it failed

    @property
    def arrived_at(self) -> datetime:
        """When it reached the mailbox as far as is known: its delivery, from this batch or stored by
        an earlier one (a write that failed on it reads it), else when SES sent it."""
        stored = self.read.activity.delivered_at if self.read is not None else None
        known = [at for at in (self.delivered_at, stored) if at is not None]
        return min(known) if known else self.sent_at

    def bucket(self, message: Message | None, ref: MessageRef, version: int | None = None) -> Bucket:
        """Counted for the email's sequence, version and step, on the day SES says it was sent."""
        if message is not None:
            claim = message.claim
            return Bucket.of(claim.sequence, claim.version, claim.stats_step, self.sent_at)
        return Bucket.of(ref.sequence, version or 1, ref.step, self.sent_at)


class Verdict(Enum):
    """Why an email's events were not written."""

    DUPLICATE = "duplicate"  # every one was applied before (a redelivery)
    UNKNOWN = "unknown"  # no message ripen knows is named by the email


@dataclass(frozen=True, slots=True)
class Applied(Generic[T]):
    """The write went through; `value` is what it returned."""

    value: T


def mark(
    ref: MessageRef,
    email: Email,
    record: AnyRecord,
    machine: bool = False,
    delivered_by: datetime | None = None,
    past_cap: bool = False,
) -> EventMark:
    """What an event leaves on its message: its key (applied once), kind, time and detail."""
    link = record.click.link_name if isinstance(record, ClickRecord) else None
    detail: str | None = None
    if isinstance(record, BounceRecord):
        detail = record.description
    elif isinstance(record, RejectRecord):
        detail = f"SES rejected it after accepting it: {redact(record.reject.reason)[:300]}"
    elif isinstance(record, RenderingFailureRecord):
        detail = f"SES could not render it: {redact(record.failure.error_message)[:300]}"
    return EventMark(
        ref.key,
        email.ses_id,
        record.key,
        record.kind,
        record.occurred_at,
        machine,
        link,
        detail,
        delivered_by=delivered_by,
        past_cap=past_cap,
    )


def redelivered_past_cap(message: Message, record: AnyRecord) -> bool:
    """Whether an open or click on a message past its kept keys (`SEEN_KEPT`) is no later than the
    latest one written so: a redelivery, as far as the message can tell."""
    latest = message.activity.past_cap(record.kind)
    return latest is not None and record.occurred_at <= latest


class Attribution:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def write(
        self, email: Email, pending: set[str], attempt: Callable[[MessageRef], T | Verdict | None]
    ) -> Applied[T] | Verdict:
        """Write an email's events on its message, with optimistic retry. `attempt` makes the
        conditional write on the message named and returns what it wrote, or None when a condition
        failed (or a verdict it reached itself); then what the failure reveals (the message as it is
        now: `email.read`) is fixed and it is made again. `pending`: the keys of
        the events still to apply (a key found applied already is taken out of it).
        RetryLaterError when the message kept changing under every attempt."""
        for _ in range(MAX_ATTEMPTS):
            if email.ref is None:
                email.ref = self._search(email)
                if email.ref is None:
                    return Verdict.UNKNOWN
            value = attempt(email.ref)
            if isinstance(value, Verdict):
                return value
            if value is not None:
                return Applied(value)
            verdict = self._diagnose(email, pending)
            if verdict is not None:
                return verdict
        raise RetryLaterError("the message kept changing")

    def _search(self, email: Email) -> MessageRef | None:
        found = self.parts.store.find_message_by_ses_id(email.ses_id)
        return MessageRef.parse(found.claim.key) if found else None

    def _diagnose(self, email: Email, pending: set[str]) -> Verdict | None:
        """Why a write failed: a verdict, or None when another attempt may succeed."""
        store = self.parts.store
        ref = email.ref
        message = store.get_message(ref.key) if ref else None
        if message is not None and message.named_by(email.ses_id):
            email.read = message
            seen = pending & message.activity.seen
            if seen == pending:
                return Verdict.DUPLICATE
            pending.difference_update(seen)
            return None  # some were applied already, or another writer moved the enrollment
        if message is not None and message.ses_message_id is None and message.attempts > 0:
            now = self.parts.clock.now()
            live = message.status is MessageStatus.SENDING and (message.lease_until or now) > now
            if live:
                store.observe_ses_id(message.claim.key, email.ses_id)  # its sender is still finishing
            elif store.reconcile_sent(message.claim.key, email.ses_id, email.sent_at, now):
                self.parts.metrics.count(RECONCILED)
                logger.warning(
                    "send recorded from its SES event: its sender never recorded it",
                    extra={"message_key": message.claim.key, "ses_message_id": email.ses_id},
                )
            return None
        found = store.find_message_by_ses_id(email.ses_id)
        if found is not None and (ref is None or found.claim.key != ref.key):
            email.ref = MessageRef.parse(found.claim.key)
            return None if email.ref else Verdict.UNKNOWN
        if message is not None and message.ses_message_id is not None and message.attempts > 1:
            email.sent_twice = True
        return Verdict.UNKNOWN

    # -- what was not written -----------------------------------------------------------------------

    def not_written(self, email: Email, records: Sequence[AnyRecord], verdict: Verdict) -> None:
        if verdict is Verdict.UNKNOWN:
            self.unknown(email, records)
        else:
            self.duplicate(email, len(records))

    def unknown(self, email: Email, records: Sequence[AnyRecord]) -> None:
        metrics = self.parts.metrics
        if email.sent_twice and any(record.kind == "send" for record in records):
            metrics.count(SENT_TWICE)
            logger.warning(
                "an email went out twice: SES reported its first attempt only after the resend",
                extra={"message_key": email.ref.key if email.ref else None, "ses_message_id": email.ses_id},
            )
        metrics.count(UNKNOWN, len(records))
        logger.info(
            "SES event for a message ripen does not know: ignored",
            extra={"ses_message_id": email.ses_id, "events": [r.kind for r in records]},
        )

    def duplicate(self, email: Email, n: int = 1) -> None:
        self.parts.metrics.count(DUPLICATES, n)
        logger.debug("SES event applied already", extra={"ses_message_id": email.ses_id})
