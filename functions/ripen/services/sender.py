"""Sending one queued message: check it is still wanted and within the frequency cap, render,
hand it to SES at the account's rate, record the outcome.

Exactly one email per step: every write on the message is conditioned on it being still as the
sender read it, and SES is only called under a lease (`ripen.core.sending` has the state machine).
The lease lasts longer than the sender's Lambda timeout, so an expired lease means its holder is gone.

What happens to a job (one consistent read of the message, its lead and its enrollment first):
- sent: the lease is taken, conditioned on the lead and the enrollment being still as read (a
  leave, pause, hand-off, opt-out or complaint landing while the email was rendered or waited for
  its send rate makes the sender read again and decide again), and with it (for a nurture email)
  the email's place in the lead's recent emails: of two senders emailing one lead at once (two
  sequences), only one passes the frequency cap; the other reads again and waits its turn.
  Then SES, then the SES message id and time are recorded on the message.
- deferred: the lead got another nurture email too recently (the frequency cap across all its
  sequences), or the send window is closed in the lead's zone (an email released late by a pause,
  throttling, a resend or a backlog): the message waits, due at the next moment the cap and the
  send window allow; the sweep queues it again then. Never dropped.
- skipped (a history entry says why): the lead unsubscribed, was suppressed, left or finished
  the sequence after the email was decided, or is gone; a confirmation for a lead who already
  confirmed. An email decided before the lead paused is not skipped: it waits for the pause's end.
- failed (a history entry says why): the email does not render, or SES rejected it. The lead has
  already moved past this step, so it simply carries on with the next one; the failure stays
  visible on the message, in the history, and in the `EmailsFailed` metric. A recipient SES
  refused because the account is in the SES sandbox (unverified address) is not counted as a
  failure: its message says so (with the link to request production access) and it is counted in
  `EmailsBlockedBySandbox`.
- retried: SES throttled us or was unreachable. The lease is given back and the job returns to
  the queue after a short delay; nothing is lost.
- sending stopped: SES says the account cannot send (paused, suspended, MAIL FROM domain not
  verified, configuration missing). The lease is given back, the `SendingStopped` metric (watched
  by an alarm) is raised once, and for `SENDING_STOPPED_SECONDS` this sender hands every job back
  to the queue with that long delay, without calling SES: no retry storm while a person fixes it.
- in doubt: SES's answer was lost (a timeout after the request went out). Handled like a sender
  that died holding the lease: the message waits for SES's Send event, then is resent at most once.
- recorded: SES reported the send of an earlier attempt that was never recorded: recorded now,
  not sent again.
- parked: a resend was interrupted too, and SES reported neither: `failed`, `SendsAbandoned`
  (alarm); never a third send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from ripen.core.engagement import MessageRef
from ripen.core.records import EnrollmentRecord, HistoryEntry, Lead, LeadStatus, Message, MessageStatus
from ripen.core.sending import Move, next_move, other_emails, takes_place_on_lead
from ripen.core.sequence import Sequence
from ripen.core.state import Status, Wait
from ripen.core.validator import Catalog
from ripen.core.windows import cap_frees_at, next_send_time
from ripen.mail.compose import Composer
from ripen.mail.render import RenderError
from ripen.ports.clock import Clock
from ripen.ports.errors import RetryLaterError
from ripen.ports.mailer import (
    Mailer,
    MailerError,
    OutgoingEmail,
    RejectedError,
    SandboxRejectedError,
    SendingStoppedError,
    SendUncertainError,
    ThrottledError,
    redact,
)
from ripen.ports.metrics import Metrics
from ripen.ports.queue import JobRedelivery, SendJob
from ripen.ports.sending import PRODUCTION_ACCESS_URL
from ripen.ports.store import Store
from ripen.services.pacing import Pacer
from ripen.services.reputation import SendingGate

logger = Logger(child=True)

LEASE = timedelta(minutes=5)  # longer than the sender's Lambda timeout (template.yaml)
RETRY_AFTER_THROTTLE = timedelta(seconds=60)
RETRY_AFTER_ERROR = timedelta(minutes=2)
RETRY_AFTER_CONFLICT = timedelta(seconds=30)
SEND_EVENT_WAIT = timedelta(minutes=15)  # SEND_EVENT_WAIT_SECONDS
MAX_ATTEMPTS = 4  # reads of a message whose lead keeps changing under the sender
# Time an invocation keeps in hand after waiting for its send rate: the SES call and the record.
SEND_MARGIN_SECONDS = 5.0
# An email held by a pause that is over but not yet applied (the sweep fires the timer) looks again soon.
PAUSE_RECHECK = timedelta(minutes=1)

SENT = "EmailsSent"
SKIPPED = "EmailsSkipped"
FAILED = "EmailsFailed"
DEFERRED = "EmailsDeferred"
THROTTLED = "SendThrottled"
STOPPED = "SendingStopped"
IN_DOUBT = "SendsInDoubt"
RECORDED = "SendsReconciled"
ABANDONED = "SendsAbandoned"
BLOCKED_BY_SANDBOX = "EmailsBlockedBySandbox"
SANDBOX_REASON = (
    f"SES sandbox: the recipient is not a verified address; request production access: {PRODUCTION_ACCESS_URL}"
)


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEFERRED = "deferred"  # the frequency cap: due again at the next allowed moment
    RECORDED = "recorded"  # SES reported an earlier attempt's send: recorded, not sent again
    IN_DOUBT = "in doubt"  # SES's answer was lost: waits for SES's Send event
    NOTHING = "nothing to do"  # unknown, already finished, another sender holds it, or waiting on SES


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
        pacer: Pacer | None = None,
        send_event_wait: timedelta = SEND_EVENT_WAIT,
        gate: SendingGate | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.composer = composer
        self.mailer = mailer
        self.clock = clock
        self.metrics = metrics
        self.redelivery = redelivery
        self.stop_for = stop_for
        self.pacer = pacer  # None: no rate to keep to (tests, local runs)
        self.send_event_wait = send_event_wait
        self.halt: Halt | None = None  # kept for the life of the container: one SES refusal, one pause
        self.gate = gate  # holds on sending and the daily SES quota (ripen.services.reputation); None: none

    # -- the queue's view -----------------------------------------------------------------------

    def deliver(
        self,
        body: str,
        receipt_handle: str | None = None,
        record_id: str = "",
        remaining_ms: Callable[[], int] | None = None,
    ) -> Outcome:
        """Handle one SQS record body. A malformed body is logged and dropped (it would never parse);
        a job that must come back is handed back with its delay, then RetryLaterError is raised so
        the batch reports this record (and only this one) as failed. `remaining_ms`: the
        invocation's time left, so waiting for the send rate never runs past it."""
        try:
            job = SendJob.model_validate_json(body)
        except ValidationError:
            logger.warning("send job dropped: malformed body", extra={"record_id": record_id})
            return Outcome.NOTHING
        try:
            return self.send(job, remaining_ms)
        except RetryLaterError as exc:
            if receipt_handle and self.redelivery is not None and exc.delay is not None:
                self.redelivery.defer(receipt_handle, exc.delay)
            raise

    # -- one message ----------------------------------------------------------------------------

    def send(self, job: SendJob, remaining_ms: Callable[[], int] | None = None) -> Outcome:
        ref = MessageRef.parse(job.message_key)
        if ref is None:
            logger.warning("send job dropped: not a message key", extra={"message_key": job.message_key[:200]})
            return Outcome.NOTHING
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            if self.halt and now < self.halt.until:
                raise SendingHaltedError(f"sending stopped ({self.halt.code})", self.halt.until - now)
            context = self.store.send_context(ref.key, ref.lead_id, ref.sequence)
            message = context.message
            if message is None:
                return Outcome.NOTHING
            step = next_move(message, now, self.send_event_wait)
            match step.move:
                case Move.SEND | Move.RESEND:
                    outcome = self._send(message, context.lead, context.record, now, remaining_ms)
                    if outcome is not None:
                        return outcome
                    # the message or the lead changed since they were read: read again, decide again
                case Move.RECORD:
                    return self._record_reported(message, now)
                case Move.PARK:
                    return self._park(message, context.record, now)
                case _:
                    return Outcome.NOTHING  # finished, held by another sender, or waiting for SES's report
        raise RetryLaterError("the lead kept changing", RETRY_AFTER_CONFLICT)

    def _send(
        self,
        message: Message,
        lead: Lead | None,
        record: EnrollmentRecord | None,
        now: datetime,
        remaining_ms: Callable[[], int] | None,
    ) -> Outcome | None:
        """Check, render, lease, send, record. None when a race was lost before SES was called."""
        claim = message.claim
        sequence = self._sequence(claim.sequence, claim.version)
        reason = why_not(message, lead, record, sequence)
        if reason or lead is None or sequence is None:
            return self._finish(message, MessageStatus.SKIPPED, reason or "not sendable", record, now)
        wait = self.gate.check(claim.sequence, now, claim.created_at, claim.kind) if self.gate else None
        if wait is not None:  # a hold or the spent quota: it waits, re-timed like a deferral, never failed
            outcome = self._defer(message, wait.until, wait.reason, now)
            if outcome is not None:
                self.metrics.count(wait.metric)
            return outcome
        held = _paused(record, now) or self._held(message, lead, sequence, now)
        if held is not None:
            return self._defer(message, *held, now)
        try:
            email = self.composer.compose(claim, lead, sequence, now)
        except RenderError as exc:
            return self._finish(message, MessageStatus.FAILED, f"could not render: {exc}", record, now)
        self._keep_to_rate(remaining_ms)
        now = self.clock.now()
        # Only if the lead and the enrollment are still as `why_not` and `_held` read them: a change
        # that landed while rendering or waiting for the rate (a leave, pause, complaint...) is decided
        # again. A nurture email's lease takes its place on the lead, revision-checked in the same
        # write; what is not in the write (the enrollment; the lead of any other email) is read
        # again once the lease is held, and a change gives the lease back: a consistent read costs a
        # fifth of the write unit a transaction's item costs, and a change that lands before the
        # read is caught as surely as one before the write.
        place = takes_place_on_lead(message)
        leased = self.store.lease_message(message, now, now + LEASE, lead if place else None)
        if leased is None:
            return None
        if self._changed(None if place else lead, record):
            if not self.store.release_message(leased, now, "the lead or the enrollment changed: decided again"):
                logger.warning("lease lost while giving it back", extra={"message_key": leased.claim.key})
            return None
        return self._hand_to_ses(leased, email, record, now)

    def _changed(self, lead: Lead | None, record: EnrollmentRecord | None) -> bool:
        """Whether the lead or the enrollment (those given) moved on since the sender read them."""
        if record is not None:
            now_record = self.store.get_enrollment(*record.key)
            if now_record is None or now_record.revision != record.revision:
                return True
        if lead is not None:
            now_lead = self.store.get_lead(lead.lead_id)
            if now_lead is None or now_lead.revision != lead.revision:
                return True
        return False

    def _hand_to_ses(
        self, leased: Message, email: OutgoingEmail, record: EnrollmentRecord | None, now: datetime
    ) -> Outcome:
        claim = leased.claim
        try:
            sent = self.mailer.send(email)
        except ThrottledError as exc:
            self.metrics.count(THROTTLED)
            if self.pacer is not None:
                self.pacer.throttled()
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
        except SandboxRejectedError:
            # Not this email's fault: the account may only email verified addresses. Told apart from
            # a failure in the message, the history and its own metric.
            return self._finish(leased, MessageStatus.FAILED, SANDBOX_REASON, record, now, BLOCKED_BY_SANDBOX)
        except RejectedError as exc:
            reason = f"SES rejected it ({exc.code}): {redact(exc.reason)}"
            return self._finish(leased, MessageStatus.FAILED, reason, record, now)
        except SendUncertainError as exc:
            # SES may have accepted it: keep the lease (it runs out by itself) and let SES's Send
            # event say what happened, exactly as if this sender had died here.
            self.metrics.count(IN_DOUBT)
            logger.warning(
                "SES's answer was lost: waiting for its Send event", extra={"message_key": claim.key, "code": exc.code}
            )
            return Outcome.IN_DOUBT
        except MailerError as exc:
            self._release(leased, now + RETRY_AFTER_ERROR, exc)
            raise RetryLaterError(exc.code, RETRY_AFTER_ERROR) from exc
        if not self.store.record_sent(leased, sent.message_id, now):
            logger.error("sent, but the lease was lost before recording it", extra={"message_key": claim.key})
        self.metrics.count(SENT)
        self.metrics.count_for(claim.sequence, SENT)  # the dashboard's per-sequence widgets
        logger.info(
            "email sent",
            extra={
                "message_key": claim.key,
                "step": claim.step,
                "kind": claim.kind,
                "ses_message_id": sent.message_id,
                "resend": leased.resent_at is not None,
            },
        )
        return Outcome.SENT

    def _held(self, message: Message, lead: Lead, sequence: Sequence, now: datetime) -> tuple[datetime, str] | None:
        """Until when, and why, a nurture email must wait: outside the send window (in the lead's
        zone) or over the frequency cap (the lead's emails from every sequence, as recorded on the
        lead: the authority, updated with every lease). Checked when the email actually goes, since
        a pause, throttling, a resend or a backlog can release it hours after it was decided.
        None when it may go now; confirmations never wait (the person just asked for them)."""
        if message.claim.kind != "nurture":
            return None
        cap, window = sequence.frequency_cap, sequence.send_window
        recent = other_emails(lead.recent_emails, message)
        at = next_send_time(now, window, cap, recent, lead.timezone)
        if at <= now:
            return None
        return at, "frequency cap" if cap_frees_at(recent, cap, now) > now else "send window"

    def _keep_to_rate(self, remaining_ms: Callable[[], int] | None) -> None:
        """Wait for this container's share of the SES rate; hand the job back when the wait would
        outlast the invocation."""
        if self.pacer is None:
            return
        budget = None if remaining_ms is None else remaining_ms() / 1000 - SEND_MARGIN_SECONDS
        if self.pacer.take(max_wait=budget) is None:
            delay = timedelta(seconds=max(1.0, 1 / self.pacer.rate))
            raise RetryLaterError("no time left in this invocation for the send rate", delay)

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

    def _defer(self, message: Message, until: datetime, rule: str, now: datetime) -> Outcome | None:
        reason = f"{rule}: held until {until.isoformat()}"
        in_doubt = message.status is MessageStatus.SENDING  # its one resend, put off
        if not self.store.release_message(message, until, reason, resend=in_doubt):
            return None  # it changed meanwhile: read again
        self.metrics.count(DEFERRED)
        logger.info(
            f"email held by the {rule}",
            extra={"message_key": message.claim.key, "in_seconds": int((until - now).total_seconds())},
        )
        return Outcome.DEFERRED

    def _record_reported(self, message: Message, now: datetime) -> Outcome:
        """An earlier attempt reached SES (its Send event named the message) and was never recorded."""
        ses_id = message.observed_ses_message_id
        assert ses_id is not None
        if not self.store.reconcile_sent(message.claim.key, ses_id, message.leased_at or now, now):
            return Outcome.NOTHING
        self.metrics.count(RECORDED)
        logger.info("recorded a send SES reported", extra={"message_key": message.claim.key})
        return Outcome.RECORDED

    def _park(self, message: Message, record: EnrollmentRecord | None, now: datetime) -> Outcome:
        """The resend's lease ran out too and SES reported neither attempt: never a third send."""
        reason = (
            "sending was interrupted twice and SES reported no send for either attempt: not tried a "
            "third time (it may have gone out)"
        )
        outcome = self._finish(message, MessageStatus.FAILED, reason, record, now)
        if outcome is Outcome.FAILED:
            self.metrics.count(ABANDONED)
            logger.error("send abandoned after a second interrupted attempt", extra={"message_key": message.claim.key})
        return outcome

    def _finish(
        self,
        message: Message,
        status: MessageStatus,
        reason: str,
        record: EnrollmentRecord | None,
        now: datetime,
        metric: str | None = None,
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
            logger.warning("the message changed before its outcome was recorded", extra={"message_key": claim.key})
            return Outcome.NOTHING
        self.metrics.count(metric or (SKIPPED if status is MessageStatus.SKIPPED else FAILED))
        logger.info(f"email {verb}", extra={"message_key": claim.key, "step": claim.step, "status": status.value})
        return Outcome.SKIPPED if status is MessageStatus.SKIPPED else Outcome.FAILED


def _paused(record: EnrollmentRecord | None, now: datetime) -> tuple[datetime, str] | None:
    """An email decided before the lead paused waits for the pause to end (resuming early brings
    it forward: `Preferences.resume`), instead of being dropped."""
    if record is None or record.enrollment.status is not Status.PAUSED or record.enrollment.wait is not Wait.PAUSE:
        return None
    ends = record.enrollment.next_action_at or now
    return max(ends, now + PAUSE_RECHECK), "paused"


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
    if e.terminal and e.ended_at is not None and e.ended_at > claim.created_at:
        return f"the enrollment ended ({e.status.value}: {e.exit_reason}) before the email went out"
    return None
