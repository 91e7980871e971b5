"""An in-memory store with the same conditional-write semantics as DynamoDB, for unit tests and demos.

A message moves only by the transitions `core.sending` declares: their guards and effects are
evaluated there, the same declaration the DynamoDB store writes its conditions from; the contract
suite (tests/contract) runs the same cases on both."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ripen.config import Settings
from ripen.core import sending
from ripen.core.leads import shard_of
from ripen.core.records import (
    Change,
    EnrollmentRecord,
    EventMark,
    HistoryEntry,
    Lead,
    Message,
    MessageStatus,
    activity_update,
    apply_activity,
    enrollment_expires_at,
    mark_guard,
)
from ripen.core.sending import Transition, allows, applied, with_email, with_send_time
from ripen.core.sequence import RECENT_EMAILS_KEPT
from ripen.ports.store import Erased, SendContext

# How long messages and history are kept (HISTORY_RETENTION_DAYS), as the DynamoDB store writes
# their TTL attribute.
RETENTION = timedelta(days=Settings.model_fields["history_retention_days"].default)


class InMemoryStore:
    def __init__(self, shards: int = 4) -> None:
        self.shards = tuple(f"{i:02d}" for i in range(shards))
        self._shard_count = shards
        self.leads: dict[str, Lead] = {}
        self.enrollments: dict[tuple[str, str], EnrollmentRecord] = {}
        self.messages: dict[str, Message] = {}
        self.history: dict[str, list[HistoryEntry]] = {}
        self.erasures: dict[str, Erased] = {}  # address hash -> what an erased lead left (keep_erased)
        self._lock = threading.Lock()

    def get_lead(self, lead_id: str) -> Lead | None:
        return self.leads.get(lead_id)

    def create_lead(self, lead: Lead) -> bool:
        with self._lock:
            if lead.lead_id in self.leads:
                return False
            self.leads[lead.lead_id] = replace(lead, revision=1)
            return True

    def save_lead(self, lead: Lead, expected_revision: int, marks: Sequence[EventMark] = ()) -> bool:
        with self._lock:
            current = self.leads.get(lead.lead_id)
            if current is None or current.revision != expected_revision:
                return False
            if marks and not self._markable(marks):
                return False
            self.leads[lead.lead_id] = replace(lead, revision=expected_revision + 1)
            if marks:
                self._mark(marks)
            return True

    def get_enrollment(self, lead_id: str, sequence: str) -> EnrollmentRecord | None:
        return self.enrollments.get((lead_id, sequence))

    def enrollments_of(self, lead_id: str) -> list[EnrollmentRecord]:
        with self._lock:
            records = [r for k, r in self.enrollments.items() if k[0] == lead_id]
        return sorted(records, key=lambda r: r.key)

    def get_enrollments(self, keys: Sequence[tuple[str, str]]) -> list[EnrollmentRecord]:
        with self._lock:
            return [self.enrollments[key] for key in dict.fromkeys(keys) if key in self.enrollments]

    def commit(self, change: Change) -> bool:
        record = change.record
        with self._lock:
            current = self.enrollments.get(record.key)
            if change.expected_revision is None:
                if current is not None:
                    return False
            elif current is None or current.revision != change.expected_revision:
                return False
            if any(m.key in self.messages for m in change.messages):
                return False
            if change.marks and not self._markable(change.marks):
                return False
            self.enrollments[record.key] = record
            for claim in change.messages:
                self.messages[claim.key] = Message(claim=claim, due_at=sending.first_due(claim))
            if change.marks:
                self._mark(change.marks)
            if change.history:
                self.history.setdefault(record.enrollment.lead_id, []).append(change.history)
            return True

    def due_enrollments(
        self, shard: str, now: datetime, limit: int, after: EnrollmentRecord | None = None
    ) -> list[EnrollmentRecord]:
        with self._lock:
            records = list(self.enrollments.values())
        due = [
            r
            for r in records
            if not r.enrollment.terminal
            and r.enrollment.next_action_at is not None
            and r.enrollment.next_action_at <= now
            and shard_of(r.enrollment.lead_id, self._shard_count) == shard
        ]
        due.sort(key=_enrollment_position)
        if after is not None:
            due = [r for r in due if _enrollment_position(r) > _enrollment_position(after)]
        return due[:limit]

    def due_messages(self, shard: str, now: datetime, limit: int, after: Message | None = None) -> list[Message]:
        with self._lock:
            messages = list(self.messages.values())
        due = [
            m
            for m in messages
            if m.due_at is not None
            and m.due_at <= now
            and m.claim.kind != "handoff"  # hand-offs have a partition of their own, as in DynamoDB
            and shard_of(m.claim.lead_id, self._shard_count) == shard
        ]
        due.sort(key=_message_position)
        if after is not None:
            due = [m for m in due if _message_position(m) > _message_position(after)]
        return due[:limit]

    def postpone_message(self, message: Message, until: datetime) -> bool:
        if message.due_at is None:
            return False
        return self._move(sending.POSTPONE, message.claim.key, message, until=until) is not None

    def get_message(self, key: str) -> Message | None:
        return self.messages.get(key)

    def history_of(self, lead_id: str) -> list[HistoryEntry]:
        return sorted(self.history.get(lead_id, []), key=lambda h: h.entry)

    # -- time to live -------------------------------------------------------------------------------

    def expire_items(self, now: datetime, retention: timedelta = RETENTION) -> int:
        """Delete every item whose TTL attribute (`expires_at`, as the DynamoDB store writes it) has
        passed at `now`, as DynamoDB may at any moment after: TTL is a promise, not a timer.
        Returns how many items went."""
        with self._lock:
            leads = [k for k, lead in self.leads.items() if _passed(lead.expires_at, now)]
            enrollments = [k for k, r in self.enrollments.items() if _passed(enrollment_expires_at(r, retention), now)]
            messages = [k for k, m in self.messages.items() if _passed(m.claim.created_at + retention, now)]
            for key in leads:
                del self.leads[key]
            for pair in enrollments:
                del self.enrollments[pair]
            for key in messages:
                del self.messages[key]
            gone = len(leads) + len(enrollments) + len(messages)
            for lead_id, entries in list(self.history.items()):
                kept = [h for h in entries if not _passed(h.at + retention, now)]
                gone += len(entries) - len(kept)
                self.history[lead_id] = kept
            return gone

    # -- sending ------------------------------------------------------------------------------------

    def send_context(self, key: str, lead_id: str, sequence: str) -> SendContext:
        with self._lock:
            return SendContext(
                self.messages.get(key), self.leads.get(lead_id), self.enrollments.get((lead_id, sequence))
            )

    def _move(self, transition: Transition, key: str, read: Message | None, **args: Any) -> Message | None:
        """Write `transition` on the stored message if its guard allows it (`read`: the message as
        the caller read it); the message as it became, or None."""
        with self._lock:
            stored = self.messages.get(key)
            if stored is None or not allows(transition, stored, read, args):
                return None
            self.messages[key] = applied(transition, stored, args)
            return self.messages[key]

    def lease_message(
        self,
        message: Message,
        now: datetime,
        lease_until: datetime,
        lead: Lead | None = None,
    ) -> Message | None:
        transition = sending.lease_for(message)
        if transition is None:
            return None
        args = sending.lease_args(message, now, lease_until)
        with self._lock:
            current = self.messages.get(message.claim.key)
            if current is None or not allows(transition, current, message, args):
                return None
            if lead is not None:
                stored = self.leads.get(lead.lead_id)
                if stored is None or stored.revision != lead.revision:
                    return None
                if sending.takes_place_on_lead(current):
                    recent = with_email(stored.recent_emails, current, now, RECENT_EMAILS_KEPT)
                    self.leads[lead.lead_id] = replace(stored, recent_emails=recent, revision=stored.revision + 1)
            leased = applied(transition, current, args)
            self.messages[message.claim.key] = leased
            return leased

    def record_sent(self, message: Message, ses_message_id: str, sent_at: datetime) -> bool:
        args = {"ses_message_id": ses_message_id, "sent_at": sent_at}
        return self._move(sending.RECORD_SENT, message.claim.key, message, **args) is not None

    def record_unsent(
        self, message: Message, status: MessageStatus, reason: str, history: HistoryEntry | None = None
    ) -> bool:
        transition = {MessageStatus.FAILED: sending.FAIL, MessageStatus.SKIPPED: sending.SKIP}.get(status)
        if transition is None:
            raise ValueError(f"a message not sent ends failed or skipped, not {status}")
        with self._lock:
            current = self.messages.get(message.claim.key)
            if current is None or not allows(transition, current, message, {"reason": reason}):
                return False
            self.messages[message.claim.key] = applied(transition, current, {"reason": reason})
            if history is not None:
                self.history.setdefault(history.lead_id, []).append(history)
            return True

    def release_message(
        self, message: Message, retry_at: datetime, reason: str | None = None, *, resend: bool = False
    ) -> bool:
        transition = sending.PUT_OFF_RESEND if resend else sending.RELEASE
        return self._move(transition, message.claim.key, message, retry_at=retry_at, reason=reason) is not None

    # -- engagement ---------------------------------------------------------------------------------

    def _markable(self, marks: Sequence[EventMark]) -> bool:
        keys = {m.message_key for m in marks}
        if len(keys) != 1:
            raise ValueError("marks of one write name one message")
        message = self.messages.get(marks[0].message_key)
        if message is None or not all(message.named_by(m.ses_message_id) for m in marks):
            return False
        return mark_guard(list(marks)).allows(message.activity)

    def _mark(self, marks: Sequence[EventMark]) -> Message:
        key = marks[0].message_key
        message = self.messages[key]
        update = activity_update(list(marks))
        changed = replace(message, activity=apply_activity(message.activity, update))
        if update.failure is not None:
            changed = applied(sending.FAIL_REPORTED, changed, {"reason": update.failure})
        self.messages[key] = changed
        return changed

    def mark_message(self, key: str, marks: Sequence[EventMark]) -> Message | None:
        if any(m.message_key != key for m in marks):
            raise ValueError("every mark must name the message written")
        with self._lock:
            if not self._markable(marks):
                return None
            return self._mark(marks)

    def find_message_by_ses_id(self, ses_message_id: str) -> Message | None:
        return next((m for m in self.messages.values() if m.ses_message_id == ses_message_id), None)

    def observe_ses_id(self, key: str, ses_message_id: str) -> bool:
        return self._move(sending.OBSERVE, key, None, ses_message_id=ses_message_id) is not None

    def reconcile_sent(self, key: str, ses_message_id: str, sent_at: datetime, now: datetime) -> bool:
        with self._lock:
            message = self.messages.get(key)
            args = {"ses_message_id": ses_message_id, "sent_at": sent_at, "now": now}
            if message is None or not allows(sending.RECONCILE, message, None, args):
                return False
            self.messages[key] = applied(sending.RECONCILE, message, args)
            lead = self.leads.get(message.claim.lead_id)
            if lead is not None and sending.needs_place_on_lead(message):
                recent = with_send_time(lead.recent_emails, sent_at, RECENT_EMAILS_KEPT)
                self.leads[lead.lead_id] = replace(lead, recent_emails=recent, revision=lead.revision + 1)
            return True

    # -- hand-offs ------------------------------------------------------------------------------------

    def handoffs_due(self, now: datetime, limit: int) -> list[Message]:
        due = [
            m
            for m in self.messages.values()
            if m.claim.kind == "handoff"
            and m.status is MessageStatus.CLAIMED
            and m.due_at is not None
            and m.due_at <= now
        ]
        due.sort(key=lambda m: (m.due_at, m.claim.key))
        return due[:limit]

    def record_handoff(self, key: str, at: datetime, error: str | None = None) -> bool:
        transition = sending.FAIL_HANDOFF if error else sending.PUBLISH_HANDOFF
        return self._move(transition, key, None, at=at, error=error) is not None

    # -- operators ------------------------------------------------------------------------------------

    def get_messages(self, keys: Sequence[str]) -> list[Message]:
        return [self.messages[k] for k in dict.fromkeys(keys) if k in self.messages]

    def erase_lead(self, lead_id: str, message_keys: Sequence[str]) -> int:
        with self._lock:
            gone = int(self.leads.pop(lead_id, None) is not None)
            for enrollment in [k for k in self.enrollments if k[0] == lead_id]:
                del self.enrollments[enrollment]
                gone += 1
            gone += len(self.history.pop(lead_id, []))
            for key in dict.fromkeys(message_keys):
                gone += int(self.messages.pop(key, None) is not None)
            return gone

    def keep_erased(self, erased: Erased) -> None:
        self.erasures[erased.address_hash] = erased

    def erased(self, address_hash: str) -> Erased | None:
        return self.erasures.get(address_hash)


def _passed(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def _enrollment_position(record: EnrollmentRecord) -> tuple[datetime, tuple[str, str]]:
    """Where a record sits in the due index: by due time, then by key (as DynamoDB pages it)."""
    assert record.enrollment.next_action_at is not None
    return (record.enrollment.next_action_at, record.key)


def _message_position(message: Message) -> tuple[datetime, str]:
    assert message.due_at is not None
    return (message.due_at, message.claim.key)
