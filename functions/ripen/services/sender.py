"""Sending one queued message: check it is still wanted, render, hand it to SES, record the outcome.

Exactly one email per step: the message item is taken with a conditional lease before SES is
called, so two senders holding the same job (SQS delivers at least once) never both send. The
lease lasts longer than the sender's Lambda timeout, so an expired lease means its holder is gone.

What happens to a job:
- sent: the SES message id and time are recorded on the message (and the send time on the lead).
- skipped (a history entry says why): the lead unsubscribed, was suppressed, paused, left or
  finished the sequence after the email was decided, or is gone; a confirmation for a lead who
  already confirmed.
- failed (a history entry says why): the email does not render, or SES rejected it. The lead has
  already moved past this step, so it simply carries on with the next one; the failure stays
  visible on the message, in the history, and in the `EmailsFailed` metric.
- retried: SES throttled us or was unreachable. The lease is given back and the job returns to
  the queue after a short delay; nothing is lost.
- sending stopped: SES says the account cannot send (paused, suspended, MAIL FROM domain not
  verified, configuration missing). The lease is given back, the `SendingStopped` metric (watched
  by an alarm) is raised once, and for `SENDING_STOPPED_SECONDS` this sender hands every job back
  to the queue with that long delay, without calling SES: no retry storm while a person fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from ripen.adapters.mailer import (
    Mailer,
    MailerError,
    RejectedError,
    SendingStoppedError,
    ThrottledError,
    redact,
)
from ripen.adapters.metrics import Metrics
from ripen.adapters.queue import JobRedelivery, SendJob
from ripen.adapters.store import Store
from ripen.clock import Clock
from ripen.core.records import EnrollmentRecord, HistoryEntry, Lead, LeadStatus, Message, MessageStatus
from ripen.core.sequence import Sequence
from ripen.core.state import Status
from ripen.core.validator import Catalog
from ripen.mail.compose import Composer
from ripen.mail.render import RenderError

logger = Logger(child=True)

LEASE = timedelta(minutes=5)  # longer than the sender's Lambda timeout (template.yaml)
RETRY_AFTER_THROTTLE = timedelta(seconds=60)
RETRY_AFTER_ERROR = timedelta(minutes=2)

SENT = "EmailsSent"
SKIPPED = "EmailsSkipped"
FAILED = "EmailsFailed"
THROTTLED = "SendThrottled"
STOPPED = "SendingStopped"


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    NOTHING = "nothing to do"  # unknown, already finished, or another sender holds it


class RetryLaterError(Exception):
    """The job must come back later; the queue redelivers it after `delay`."""

    def __init__(self, reason: str, delay: timedelta) -> None:
        super().__init__(reason)
        self.delay = delay


class SendingHaltedError(RetryLaterError):
    """The account cannot send: this job and every job after it wait for `delay`."""


@dataclass
class Halt:
    until: datetime
    code: str


class Sender:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        composer: Composer,
        mailer: Mailer,
        clock: Clock,
        metrics: Metrics,
        redelivery: JobRedelivery | None = None,
        stop_for: timedelta = timedelta(minutes=15),
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.composer = composer
        self.mailer = mailer
        self.clock = clock
        self.metrics = metrics
        self.redelivery = redelivery
        self.stop_for = stop_for
        self.halt: Halt | None = None  # kept for the life of the container: one SES refusal, one pause

    # -- the queue's view -----------------------------------------------------------------------

    def deliver(self, body: str, receipt_handle: str | None = None, record_id: str = "") -> Outcome:
        """Handle one SQS record body. A malformed body is logged and dropped (it would never parse);
        a job that must come back is handed back with its delay, then RetryLaterError is raised so
        the batch reports this record (and only this one) as failed."""
        try:
            job = SendJob.model_validate_json(body)
        except ValidationError:
            logger.warning("send job dropped: malformed body", extra={"record_id": record_id})
            return Outcome.NOTHING
        try:
            return self.send(job)
        except RetryLaterError as exc:
            if receipt_handle and self.redelivery is not None:
                self.redelivery.defer(receipt_handle, exc.delay)
            raise

    # -- one message ----------------------------------------------------------------------------

    def send(self, job: SendJob) -> Outcome:
        now = self.clock.now()
        if self.halt and now < self.halt.until:
            raise SendingHaltedError(f"sending stopped ({self.halt.code})", self.halt.until - now)
        message = self.store.get_message(job.message_key)
        if message is None or message.status in (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.SKIPPED):
            return Outcome.NOTHING
        if message.claim.kind == "handoff":
            return Outcome.NOTHING  # an outbox item for the sales bus, not an email
        leased = self.store.lease_message(job.message_key, now, now + LEASE)
        if leased is None:
            return Outcome.NOTHING  # finished meanwhile, or another sender is on it
        claim = leased.claim
        if leased.observed_ses_message_id:
            # An earlier attempt reached SES (an SES event named it) but was never recorded: the
            # email went out, so record that instead of sending it a second time.
            if self.store.record_sent(leased, leased.observed_ses_message_id, now):
                logger.info("recorded a send SES reported", extra={"message_key": claim.key})
            return Outcome.NOTHING
        lead = self.store.get_lead(claim.lead_id)
        record = self.store.get_enrollment(claim.lead_id, claim.sequence)
        sequence = self._sequence(claim.sequence, claim.version)
        reason = why_not(leased, lead, record, sequence)
        if reason or lead is None or sequence is None:
            return self._finish(leased, MessageStatus.SKIPPED, reason or "not sendable", record, now)
        try:
            email = self.composer.compose(claim, lead, sequence, now)
        except RenderError as exc:
            return self._finish(leased, MessageStatus.FAILED, f"could not render: {exc}", record, now)
        try:
            sent = self.mailer.send(email)
        except ThrottledError as exc:
            self.metrics.count(THROTTLED)
            self._release(leased, now + RETRY_AFTER_THROTTLE, exc)
            raise RetryLaterError(exc.code, RETRY_AFTER_THROTTLE) from exc
        except SendingStoppedError as exc:
            self.halt = Halt(now + self.stop_for, exc.code)
            self.metrics.count(STOPPED)
            logger.error(
                "SES refuses to send: sending stopped", extra={"code": exc.code, "until": str(self.halt.until)}
            )
            self._release(leased, self.halt.until, exc)
            raise SendingHaltedError(exc.code, self.stop_for) from exc
        except RejectedError as exc:
            reason = f"SES rejected it ({exc.code}): {redact(exc.reason)}"
            return self._finish(leased, MessageStatus.FAILED, reason, record, now)
        except MailerError as exc:
            self._release(leased, now + RETRY_AFTER_ERROR, exc)
            raise RetryLaterError(exc.code, RETRY_AFTER_ERROR) from exc
        if not self.store.record_sent(leased, sent.message_id, now):
            logger.error("sent, but the lease was lost before recording it", extra={"message_key": claim.key})
        self.metrics.count(SENT)
        logger.info(
            "email sent",
            extra={"message_key": claim.key, "step": claim.step, "kind": claim.kind, "ses_message_id": sent.message_id},
        )
        return Outcome.SENT

    def _sequence(self, name: str, version: int) -> Sequence | None:
        own = self.catalog.get(name, version)
        if own is not None:
            return own
        try:
            return self.catalog.current(name)
        except KeyError:
            return None

    def _release(self, message: Message, retry_at: datetime, error: MailerError) -> None:
        if not self.store.release_message(message, retry_at, f"{error.code}: will retry"):
            logger.warning("lease lost while giving it back", extra={"message_key": message.claim.key})

    def _finish(
        self, message: Message, status: MessageStatus, reason: str, record: EnrollmentRecord | None, now: datetime
    ) -> Outcome:
        claim = message.claim
        verb = "skipped" if status is MessageStatus.SKIPPED else "not sent"
        history = HistoryEntry(
            lead_id=claim.lead_id,
            at=now,
            sequence=claim.sequence,
            revision=record.revision if record else 0,
            trigger="send",
            status=record.enrollment.status.value if record else "unknown",
            step=claim.step,
            lines=(f"email '{claim.email}' {verb}: {reason}",),
            message_key=claim.key,
        )
        if not self.store.record_unsent(message, status, reason, history):
            logger.warning("lease lost before recording the outcome", extra={"message_key": claim.key})
            return Outcome.NOTHING
        self.metrics.count(SKIPPED if status is MessageStatus.SKIPPED else FAILED)
        logger.info(f"email {verb}", extra={"message_key": claim.key, "step": claim.step, "status": status.value})
        return Outcome.SKIPPED if status is MessageStatus.SKIPPED else Outcome.FAILED


def why_not(
    message: Message, lead: Lead | None, record: EnrollmentRecord | None, sequence: Sequence | None
) -> str | None:
    """Why this message must not go out any more, or None when it still may."""
    claim = message.claim
    if lead is None:
        return "the lead no longer exists"
    if lead.status is LeadStatus.SUPPRESSED:
        return "the lead is suppressed (bounce or complaint)"
    if lead.status is LeadStatus.UNSUBSCRIBED and claim.kind != "confirmation":
        # A confirmation may still go: it is how an unsubscribed lead who signed up again with
        # fresh consent comes back (the enrollment is pending only in that case).
        return "the lead unsubscribed"
    if sequence is None:
        return f"sequence '{claim.sequence}' is no longer in templates/"
    if record is None:
        return "the lead is not in this sequence any more"
    e = record.enrollment
    if e.run != claim.run:
        return f"the lead re-entered the sequence (run {e.run}) since this email was decided"
    if e.status in (Status.UNSUBSCRIBED, Status.SUPPRESSED):
        return f"the lead left the sequence ({e.status.value})"
    if claim.kind == "confirmation":
        if e.status is not Status.PENDING:
            return "already confirmed" if e.status is not Status.EXPIRED else "the confirmation period is over"
        return None
    if e.status is Status.PAUSED:
        return "the lead paused emails"
    if e.terminal and e.ended_at is not None and e.ended_at > claim.created_at:
        return f"the enrollment ended ({e.status.value}: {e.exit_reason}) before the email went out"
    return None
