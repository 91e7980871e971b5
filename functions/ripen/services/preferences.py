"""What a lead can change about the emails they get: unsubscribe from everything, leave one
sequence, pause for a while, resume.

Every change is idempotent by state: unsubscribing an unsubscribed lead, pausing a paused one or
leaving a sequence already left changes nothing and says so. An unsubscribe is always honoured,
whatever else holds, and marks the lead itself (`LeadStatus.UNSUBSCRIBED`), so the sender skips
every email already queued for them, in any sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from ripen.core.engagement import UNSUBSCRIBED, Bucket, unsubscribed
from ripen.core.records import EnrollmentRecord, LeadStatus, MessageStatus, message_key
from ripen.core.state import Paused, Resumed, Status, Stopped, Trigger
from ripen.ports.clock import Clock
from ripen.ports.stats import Stats
from ripen.ports.store import Store
from ripen.services.nurture import Nurture, SequenceVersionMissingError, UnknownSequenceError

logger = Logger(child=True)

PAUSE_CHOICES = (14, 30, 90)  # days a lead can pause for
MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class Standing:
    """Where a lead stands, for the preferences page."""

    found: bool
    unsubscribed: bool = False
    suppressed: bool = False
    paused_until: datetime | None = None
    in_sequence: bool = False  # still receiving the sequence the link came from
    active: list[str] = field(default_factory=list)  # sequences still sending
    locale: str | None = None  # the lead's language, for the pages


@dataclass(frozen=True)
class Result:
    changed: bool
    what: str  # in words, for logs and history: what is true now
    until: datetime | None = None  # a pause's end
    locale: str | None = None  # the lead's language, for the page that answers


class Preferences:
    def __init__(self, store: Store, nurture: Nurture, clock: Clock, stats: Stats | None = None) -> None:
        self.store = store
        self.nurture = nurture
        self.clock = clock
        self.stats = stats  # counts unsubscribes against the email whose link was used

    def standing(self, lead_id: str, sequence: str | None) -> Standing:
        lead = self.store.get_lead(lead_id)
        records = self.store.enrollments_of(lead_id)
        if lead is None and not records:
            return Standing(found=False)
        paused = [r.enrollment.next_action_at for r in records if r.enrollment.status is Status.PAUSED]
        live = [r for r in records if not r.enrollment.terminal]
        return Standing(
            found=True,
            unsubscribed=bool(lead and lead.status is LeadStatus.UNSUBSCRIBED),
            suppressed=bool(lead and lead.status is LeadStatus.SUPPRESSED),
            paused_until=max((p for p in paused if p), default=None),
            in_sequence=any(r.enrollment.sequence == sequence for r in live),
            active=[r.enrollment.sequence for r in live],
            locale=lead.locale if lead else None,
        )

    def unsubscribe(self, lead_id: str, how: str, message_key: str | None = None) -> Result:
        """Stop every email to this lead, now and later (until they sign up again with fresh consent).
        `message_key`: the email whose link was used; its step's `unsubscribed` counter goes up."""
        changed = False
        for _ in range(MAX_ATTEMPTS):
            lead = self.store.get_lead(lead_id)
            marked = unsubscribed(lead, how, self.clock.now()) if lead is not None else None
            if lead is None or marked is None:  # no lead, or one not active (suppressed, unsubscribed)
                break
            if self.store.save_lead(marked, lead.revision):
                changed = True
                break
        else:
            raise RuntimeError("the lead kept changing while unsubscribing; try again")
        stopped = self._apply(self.store.enrollments_of(lead_id), Stopped("unsubscribed"), how)
        changed = changed or stopped
        logger.info("unsubscribed", extra={"lead_id": lead_id, "how": how, "changed": changed})
        if changed and message_key:
            self._count_unsubscribe(message_key)
        return Result(changed, "unsubscribed from all emails", locale=lead.locale if lead else None)

    def _count_unsubscribe(self, message_key: str) -> None:
        message = self.store.get_message(message_key) if self.stats is not None else None
        if self.stats is None or message is None or message.claim.kind == "handoff":
            return
        claim = message.claim
        bucket = Bucket.of(claim.sequence, claim.version, claim.stats_step, message.sent_at or claim.created_at)
        try:
            self.stats.add({bucket: {UNSUBSCRIBED: 1}})
        except Exception:  # a counter is not worth failing an unsubscribe for
            logger.exception("unsubscribe not counted", extra={"message_key": message_key})

    def leave(self, lead_id: str, sequence: str) -> Result:
        record = self.store.get_enrollment(lead_id, sequence)
        changed = bool(record) and self._apply(
            [record] if record else [], Stopped("unsubscribed"), "left this sequence"
        )
        return Result(changed, "left this sequence", locale=self._locale(lead_id))

    def pause(self, lead_id: str, days: int) -> Result:
        if days not in PAUSE_CHOICES:
            raise ValueError(f"pause for one of {PAUSE_CHOICES} days")
        until = self.clock.now() + timedelta(days=days)
        records = self.store.enrollments_of(lead_id)
        changed = self._apply(records, Paused(until), f"paused for {days} days")
        return Result(changed, f"paused until {until:%Y-%m-%d}", until=until, locale=self._locale(lead_id))

    def resume(self, lead_id: str) -> Result:
        records = self.store.enrollments_of(lead_id)
        changed = self._apply(records, Resumed(), "resumed")
        for record in records:
            if record.enrollment.status is Status.PAUSED:
                self._release_held_email(record)
        return Result(changed, "emails resumed", locale=self._locale(lead_id))

    def _locale(self, lead_id: str) -> str | None:
        """The lead's language, for the page that answers (one read, on a path people rarely take)."""
        lead = self.store.get_lead(lead_id)
        return lead.locale if lead else None

    def _release_held_email(self, record: EnrollmentRecord) -> None:
        """An email decided before the pause waits for the pause's end (see the sender); resuming
        early brings it forward. A paused enrollment claims nothing new, so it is the last one."""
        e = record.enrollment
        if not e.sent:
            return
        message = self.store.get_message(message_key(e.lead_id, e.sequence, e.run, e.sent[-1]))
        now = self.clock.now()
        if message and message.status is MessageStatus.CLAIMED and message.due_at and message.due_at > now:
            self.store.postpone_message(message, now)  # lost to another writer: the sweep sends it later

    def _apply(self, records: list[EnrollmentRecord], trigger: Trigger, name: str) -> bool:
        changed = False
        for record in records:
            if record.enrollment.terminal:
                continue
            e = record.enrollment
            try:
                outcome = self.nurture.apply(e.lead_id, e.sequence, trigger, name)
            except (UnknownSequenceError, SequenceVersionMissingError):
                # The sequence is gone from templates/: nothing can be sent for it anyway.
                logger.warning("enrollment on a missing sequence left as is", extra={"sequence": e.sequence})
                continue
            changed = changed or outcome.applied
        return changed
