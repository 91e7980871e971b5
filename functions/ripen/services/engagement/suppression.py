"""Bounce, Complaint, Subscription: events that change the lead, and stop their enrollments.

A permanent bounce suppresses the lead everywhere; transient ones count toward the soft bounce
limit (`SoftBounceRule`); a complaint suppresses the lead and stops every enrollment as an
opt-out; a subscription change unsubscribes from everything, or leaves the sequences named by the
topics opted out of. The lead's change is written first, on its own, then the event's mark on
the message: a message item that cannot take another write never holds up a suppression. The
change is idempotent by state (a repeated bounce finds the lead suppressed already, a soft bounce
no newer than the latest counted changes nothing), and terminal states never move again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from ripen.core.engagement import (
    BOUNCED,
    COMPLAINED,
    SOFT_BOUNCED,
    UNSUBSCRIBED,
    MessageRef,
    Tally,
    after_soft_bounce,
    suppressed,
    unsubscribed,
)
from ripen.core.leads import InvalidEmailError, lead_id_for, normalize_email
from ripen.core.records import EventMark, Lead, LeadStatus, Message, message_key
from ripen.core.state import Stopped
from ripen.models.ses import AnyRecord, BounceRecord, ComplaintRecord, SubscriptionRecord
from ripen.ports.store import MessageFullError
from ripen.services.engagement.attribution import Applied, Attribution, Email, Parts, Verdict, mark
from ripen.services.engagement.metric_names import EVENTS, LEADS_SUPPRESSED, MARKS_NOT_WRITTEN
from ripen.services.nurture import SequenceVersionMissingError, UnknownSequenceError

logger = Logger(child=True)

LeadRecord = BounceRecord | ComplaintRecord | SubscriptionRecord


@dataclass(frozen=True, slots=True)
class LeadWritten:
    """A lead event written: the message it was marked on, the lead, and whether it changed."""

    message: Message
    lead: Lead | None
    changed: bool


class Suppression:
    def __init__(self, parts: Parts, attribution: Attribution) -> None:
        self.parts = parts
        self.attribution = attribution

    def apply(self, email: Email, record: LeadRecord, tally: Tally) -> None:
        written = self.attribution.write(email, {record.key}, lambda ref: self._write(email, record, ref))
        if written is Verdict.UNKNOWN or email.ref is None:
            self.attribution.unknown(email, [record])
            return
        ref = email.ref
        if not isinstance(written, Applied):
            self.attribution.duplicate(email)
            # finish what a crashed attempt may have left
            self._stop(ref, record, self.parts.store.get_lead(ref.lead_id))
            return
        done = written.value
        self._stop(ref, record, done.lead)
        bucket = email.bucket(done.message, ref)
        self.parts.metrics.count(EVENTS)
        if done.changed and done.lead is not None and done.lead.status is LeadStatus.SUPPRESSED:
            self.parts.metrics.count(LEADS_SUPPRESSED)
            logger.info("lead suppressed", extra={"lead_id": ref.lead_id, "why": done.lead.status_reason})
        match record:
            case BounceRecord():
                tally.add(bucket, BOUNCED if record.permanent else SOFT_BOUNCED)
            case ComplaintRecord():
                tally.add(bucket, COMPLAINED)
            case SubscriptionRecord():
                sub = record.subscription
                if sub.new_topic_preferences.unsubscribe_all or self._sequences_named(sub.opted_out_of):
                    tally.add(bucket, UNSUBSCRIBED)

    def _write(self, email: Email, record: LeadRecord, ref: MessageRef) -> LeadWritten | None:
        """The lead's change, then the mark. Read first: the message must be this email's and the
        event new to it. The lead is written on its own, before the message: a message item that
        cannot take another write (at its size limit) never holds up a suppression, and the change
        is idempotent by state, so a redelivery that finds the mark missing changes nothing twice."""
        store = self.parts.store
        message = store.get_message(ref.key)
        if message is None or not message.named_by(email.ses_id) or record.key in message.activity.seen:
            return None
        lead = store.get_lead(ref.lead_id)
        event = mark(ref, email, record)
        if lead is None:
            return self._write_for_deleted_lead(message, event, ref, record)
        changed = self._lead_after(lead, record)
        saved = False
        if changed is not None and changed != lead:
            # The lead first, on its own: a message that cannot take another mark never blocks a
            # suppression (writing the same change again is harmless: it depends on the lead only).
            if not store.save_lead(changed, lead.revision):
                return None
            lead, saved = changed, True
        if not self._mark(ref, event):
            return None
        return LeadWritten(message, lead, changed=saved)

    def _mark(self, ref: MessageRef, event: EventMark) -> bool:
        """Mark the event on its message; False when the message changed meanwhile (read again)."""
        try:
            return self.parts.store.mark_message(ref.key, [event]) is not None
        except MessageFullError:
            self.parts.metrics.count(MARKS_NOT_WRITTEN)
            logger.error(
                "lead event applied to the lead; its message cannot take the mark", extra={"message_key": ref.key}
            )
            return True

    def _write_for_deleted_lead(
        self, message: Message, event: EventMark, ref: MessageRef, record: LeadRecord
    ) -> LeadWritten | None:
        """The lead is gone (time to live took it, unconfirmed) but the address stays suppressed or
        unsubscribed for good: a lead of the address alone records it, then the mark."""
        store = self.parts.store
        stand_in = self._address_only(ref.lead_id, record)
        if stand_in is not None and not store.create_lead(stand_in):
            return None  # a signup made the lead meanwhile: the next attempt changes that one
        if not self._mark(ref, event):
            return None
        return LeadWritten(message, stand_in, changed=stand_in is not None)

    def _address_only(self, lead_id: str, record: LeadRecord) -> Lead | None:
        """A lead of the event's recipient alone (no details, no consent), as the event leaves it;
        None when the event would leave it active, or names no address of this lead."""
        addresses = [*record.mail.destination]
        match record:
            case BounceRecord():
                addresses += [r.email_address for r in record.bounce.bounced_recipients]
            case ComplaintRecord():
                addresses += [r.email_address for r in record.complaint.complained_recipients]
        for address in addresses:
            try:
                normalized = normalize_email(address)
            except InvalidEmailError:
                continue
            if lead_id_for(normalized, self.parts.lead_id_key) == lead_id:
                after = self._lead_after(Lead(lead_id, normalized, self.parts.clock.now()), record)
                return after if after is not None and after.status is not LeadStatus.ACTIVE else None
        return None

    def _lead_after(self, lead: Lead, record: LeadRecord) -> Lead | None:
        match record:
            case BounceRecord() if record.permanent:
                return suppressed(lead, f"hard bounce ({record.description})")
            case BounceRecord():
                at, rule = record.occurred_at, self.parts.soft_bounces
                delivered = rule.continues(lead, at) and self._delivered_between(lead, lead.soft_bounced_at, at)
                return after_soft_bounce(lead, at, rule, delivered_since=delivered)
            case ComplaintRecord():
                return suppressed(lead, "complaint")
            case SubscriptionRecord() if record.subscription.new_topic_preferences.unsubscribe_all:
                why = f"SES subscription preferences ({record.subscription.source or 'unknown'})"
                return unsubscribed(lead, why, self.parts.clock.now())
        return None

    def _delivered_between(self, lead: Lead, since: datetime | None, until: datetime) -> bool:
        """Whether an email of the lead's current runs was delivered after `since` and before
        `until`: the mailbox worked in between, so soft bounces either side are not in a row. Read
        only while a run of soft bounces is going on (deliveries are never written on the lead: that
        would cost a write on every delivery)."""
        store = self.parts.store
        for record in store.enrollments_of(lead.lead_id):
            e = record.enrollment
            for step in reversed(e.sent):  # the latest first
                message = store.get_message(message_key(lead.lead_id, e.sequence, e.run, step))
                delivered = message.activity.delivered_at if message is not None else None
                if delivered is not None and (since is None or since < delivered) and delivered < until:
                    return True
        return False

    def _sequences_named(self, topics: list[str]) -> list[str]:
        return [t for t in topics if t in self.parts.nurture.catalog.versions]

    # -- stopping enrollments ---------------------------------------------------------------------

    def _stop(self, ref: MessageRef, record: AnyRecord, lead: Lead | None) -> None:
        """Stop the enrollments the lead's state no longer allows (idempotent: finished ones stay)."""
        if isinstance(record, SubscriptionRecord):
            for sequence in self._sequences_named(record.subscription.opted_out_of):
                self._stop_enrollments(ref.lead_id, Stopped("unsubscribed"), "unsubscribed (SES topic)", [sequence])
        if lead is None or lead.status is LeadStatus.ACTIVE:
            return
        if lead.status is LeadStatus.UNSUBSCRIBED:
            self._stop_enrollments(ref.lead_id, Stopped("unsubscribed"), lead.status_reason or "unsubscribed")
        elif isinstance(record, ComplaintRecord):
            # A complaint is an opt-out; the address stays suppressed for every sequence.
            self._stop_enrollments(ref.lead_id, Stopped("unsubscribed"), "complaint")
        else:
            self._stop_enrollments(ref.lead_id, Stopped("suppressed"), lead.status_reason or "suppressed")

    def _stop_enrollments(self, lead_id: str, trigger: Stopped, name: str, sequences: list[str] | None = None) -> None:
        store, nurture = self.parts.store, self.parts.nurture
        names = sequences or [r.enrollment.sequence for r in store.enrollments_of(lead_id) if not r.enrollment.terminal]
        stopped = 0
        for sequence in names:
            try:
                stopped += nurture.apply(lead_id, sequence, trigger, name).applied
            except (UnknownSequenceError, SequenceVersionMissingError):
                logger.warning("enrollment on a missing sequence left as is", extra={"sequence": sequence})
        if stopped:
            logger.info("enrollments stopped", extra={"lead_id": lead_id, "why": name, "enrollments": stopped})
