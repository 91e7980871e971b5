"""The DynamoDB store: pynamodb models, conditional writes and transactions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from ripen.adapters import tables
from ripen.adapters.store import CLAIM_TIMEOUT, RECENT_EMAILS_KEPT, StoreUnavailableError
from ripen.adapters.tables import EnrollmentItem, HistoryItem, LeadItem, MessageItem
from ripen.config import Settings
from ripen.core.leads import shard_of
from ripen.core.records import (
    Change,
    Consent,
    ConsentMethod,
    EnrollmentRecord,
    HistoryEntry,
    Lead,
    LeadStatus,
    Message,
    MessageClaim,
    MessageStatus,
)
from ripen.core.state import Enrollment, Status, Wait

_RETRIES = 3


class DynamoStore:
    def __init__(self, settings: Settings) -> None:
        tables.bind(
            {
                "leads": settings.leads_table,
                "enrollments": settings.enrollments_table,
                "messages": settings.messages_table,
                "history": settings.history_table,
                "stats": settings.stats_table,
            },
            region=settings.region,
            host=settings.dynamodb_endpoint,
        )
        self._connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)
        self._shard_count = settings.due_shards
        self.shards = tuple(f"{i:02d}" for i in range(settings.due_shards))
        self._history_ttl = timedelta(days=settings.history_retention_days)

    # -- leads ------------------------------------------------------------------------------------

    def get_lead(self, lead_id: str) -> Lead | None:
        try:
            return _lead(LeadItem.get(lead_id, consistent_read=True))
        except DoesNotExist:
            return None

    def create_lead(self, lead: Lead) -> bool:
        return self._put(_lead_item(lead, revision=None))

    def save_lead(self, lead: Lead, expected_revision: int) -> bool:
        return self._put(_lead_item(lead, revision=expected_revision))

    def _put(self, item: LeadItem) -> bool:
        try:
            item.save()  # VersionAttribute adds the revision (or must-not-exist) condition
            return True
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise

    # -- enrollments ------------------------------------------------------------------------------

    def get_enrollment(self, lead_id: str, sequence: str) -> EnrollmentRecord | None:
        try:
            return _record(EnrollmentItem.get(lead_id, sequence, consistent_read=True))
        except DoesNotExist:
            return None

    def enrollments_of(self, lead_id: str) -> list[EnrollmentRecord]:
        return [_record(item) for item in EnrollmentItem.query(lead_id, consistent_read=True)]

    def due_enrollments(self, shard: str, now: datetime, limit: int) -> list[EnrollmentRecord]:
        items = EnrollmentItem.due.query(shard, EnrollmentItem.due_at <= now, limit=limit, page_size=limit)
        return [_record(item) for item in items]

    def commit(self, change: Change) -> bool:
        """One transaction: the enrollment (revision-checked), its new message claims, its history."""
        item = self._enrollment_item(change)
        for attempt in range(_RETRIES):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.save(item)  # VersionAttribute: revision must still be expected_revision
                    for claim in change.messages:
                        tx.save(self._message_item(claim), condition=MessageItem.message_key.does_not_exist())
                    if change.history:
                        tx.save(self._history_item(change.history), condition=HistoryItem.entry.does_not_exist())
                return True
            except TransactWriteError as exc:
                codes = {reason.code for reason in exc.cancellation_reasons or [] if reason}
                if "ConditionalCheckFailed" in codes:
                    return False
                if codes & {"TransactionConflict", "ThrottlingError"} and attempt < _RETRIES - 1:
                    item = self._enrollment_item(change)  # the failed attempt bumped the revision locally
                    time.sleep(0.02 * (attempt + 1))
                    continue
                if "TransactionConflict" in codes:
                    return False  # another writer is changing this enrollment right now
                raise StoreUnavailableError(str(exc)) from exc
        return False

    def _enrollment_item(self, change: Change) -> EnrollmentItem:
        record, e = change.record, change.record.enrollment
        item = EnrollmentItem(
            e.lead_id,
            e.sequence,
            version=e.version,
            run=e.run,
            status=e.status.value,
            cursor=e.cursor,
            wait=e.wait.value if e.wait else None,
            next_action_at=e.next_action_at,
            since=e.since,
            score=e.score,
            score_at=e.score_at,
            stage=e.stage,
            sent=list(e.sent),
            last_email_at=e.last_email_at,
            engaged={k: v.isoformat() for k, v in e.engaged.items()},
            confirmations=e.confirmations,
            last_confirmation_at=e.last_confirmation_at,
            entered_at=e.entered_at,
            exit_reason=e.exit_reason,
            ended_at=e.ended_at,
            held_wait=e.held_wait.value if e.held_wait else None,
            held_until=e.held_until,
            timezone=record.timezone,
            attributes=dict(record.attributes),
            recent_emails=[t.timestamp() for t in record.recent_emails],
        )
        if change.expected_revision is not None:
            item.revision = change.expected_revision
        if not e.terminal and e.next_action_at is not None:
            item.due_shard = shard_of(e.lead_id, self._shard_count)
            item.due_at = e.next_action_at
        return item

    def _message_item(self, claim: MessageClaim) -> MessageItem:
        due = claim.created_at + CLAIM_TIMEOUT
        return MessageItem(
            claim.key,
            lead_id=claim.lead_id,
            sequence=claim.sequence,
            version=claim.version,
            run=claim.run,
            step=claim.step,
            email=claim.email,
            kind=claim.kind,
            created_at=claim.created_at,
            status=MessageStatus.CLAIMED.value,
            due_shard=shard_of(claim.lead_id, self._shard_count),
            due_at=due,
            expires_at=claim.created_at + self._history_ttl,
        )

    def _history_item(self, entry: HistoryEntry) -> HistoryItem:
        return HistoryItem(
            entry.lead_id,
            entry.entry,
            at=entry.at,
            sequence=entry.sequence,
            revision=entry.revision,
            trigger=entry.trigger,
            status=entry.status,
            step=entry.step,
            lines=list(entry.lines),
            actions=list(entry.actions),
            message_key=entry.message_key,
            expires_at=entry.at + self._history_ttl,
        )

    # -- messages and history ---------------------------------------------------------------------

    def get_message(self, key: str) -> Message | None:
        try:
            return _message(MessageItem.get(key, consistent_read=True))
        except DoesNotExist:
            return None

    def history_of(self, lead_id: str) -> list[HistoryEntry]:
        return [_history(item) for item in HistoryItem.query(lead_id)]

    # -- sending ------------------------------------------------------------------------------------

    def lease_message(self, key: str, now: datetime, lease_until: datetime) -> Message | None:
        item = MessageItem(key)
        free = (MessageItem.status == MessageStatus.CLAIMED.value) | (
            (MessageItem.status == MessageStatus.SENDING.value) & (MessageItem.lease_until <= now)
        )
        actions: list[Action] = [
            MessageItem.status.set(MessageStatus.SENDING.value),
            MessageItem.lease_until.set(lease_until),
            MessageItem.due_at.set(lease_until),
            MessageItem.attempts.add(1),
        ]
        try:
            item.update(actions=actions, condition=free)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None  # gone, finished, or another sender holds a live lease
            raise
        return _message(item)

    @staticmethod
    def _leased(message: Message) -> Any:
        return (MessageItem.status == MessageStatus.SENDING.value) & (MessageItem.attempts == message.attempts)

    def record_sent(self, message: Message, ses_message_id: str, sent_at: datetime) -> bool:
        claim = message.claim

        def message_update() -> list[Action]:
            return [
                MessageItem.status.set(MessageStatus.SENT.value),
                MessageItem.ses_message_id.set(ses_message_id),
                MessageItem.sent_at.set(sent_at),
                MessageItem.lease_until.remove(),
                MessageItem.due_shard.remove(),
                MessageItem.due_at.remove(),
                MessageItem.error.remove(),
            ]

        for attempt in range(_RETRIES + 2):
            lead = self.get_lead(claim.lead_id) if claim.kind == "nurture" else None
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(MessageItem(claim.key), actions=message_update(), condition=self._leased(message))
                    if lead is not None:
                        recent: Any = [t.timestamp() for t in (*lead.recent_emails, sent_at)[-RECENT_EMAILS_KEPT:]]
                        # revision-checked and bumped, so a writer holding an older copy re-reads
                        tx.update(
                            LeadItem(lead.lead_id, revision=lead.revision), actions=[LeadItem.recent_emails.set(recent)]
                        )
                return True
            except TransactWriteError as exc:
                reasons = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # the lease is no longer ours
                if set(reasons) & {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"}:
                    time.sleep(0.02 * (attempt + 1))  # the lead moved meanwhile: re-read it and try again
                    continue
                raise StoreUnavailableError(str(exc)) from exc
        # The lead keeps changing: never lose the fact that the email went out.
        try:
            MessageItem(claim.key).update(actions=message_update(), condition=self._leased(message))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_unsent(
        self, message: Message, status: MessageStatus, reason: str, history: HistoryEntry | None = None
    ) -> bool:
        if status not in (MessageStatus.FAILED, MessageStatus.SKIPPED):
            raise ValueError(f"a message not sent ends failed or skipped, not {status}")
        actions: list[Action] = [
            MessageItem.status.set(status.value),
            MessageItem.error.set(reason[:1000]),
            MessageItem.lease_until.remove(),
            MessageItem.due_shard.remove(),
            MessageItem.due_at.remove(),
        ]
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(MessageItem(message.claim.key), actions=actions, condition=self._leased(message))
                if history is not None:
                    tx.save(self._history_item(history), condition=HistoryItem.entry.does_not_exist())
        except TransactWriteError as exc:
            reasons = [reason.code if reason else None for reason in exc.cancellation_reasons or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise StoreUnavailableError(str(exc)) from exc
        return True

    def release_message(self, message: Message, retry_at: datetime, reason: str | None = None) -> bool:
        actions: list[Action] = [
            MessageItem.status.set(MessageStatus.CLAIMED.value),
            MessageItem.lease_until.remove(),
            MessageItem.due_shard.set(shard_of(message.claim.lead_id, self._shard_count)),
            MessageItem.due_at.set(retry_at),
            MessageItem.error.set(reason) if reason else MessageItem.error.remove(),
        ]
        try:
            MessageItem(message.claim.key).update(actions=actions, condition=self._leased(message))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


# -- item <-> record -------------------------------------------------------------------------------


def _times(values: list[Any] | None) -> tuple[datetime, ...]:
    return tuple(datetime.fromtimestamp(float(v), tz=UTC) for v in values or [])


def _strings(values: Any) -> dict[str, str]:
    raw = values.as_dict() if hasattr(values, "as_dict") else dict(values or {})
    return {str(k): str(v) for k, v in raw.items()}


def _lead_item(lead: Lead, revision: int | None) -> LeadItem:
    consent = None
    if lead.consent:
        c = lead.consent
        consent = tables.ConsentAttribute(
            given_at=c.given_at, method=c.method, source=c.source, wording=c.wording, confirmed_at=c.confirmed_at
        )
    item = LeadItem(
        lead.lead_id,
        email=lead.email,
        name=lead.name,
        timezone=lead.timezone,
        attributes=dict(lead.attributes),
        status=lead.status.value,
        status_reason=lead.status_reason,
        consent=consent,
        recent_emails=[t.timestamp() for t in lead.recent_emails],
        soft_bounces=lead.soft_bounces,
        created_at=lead.created_at,
        expires_at=lead.expires_at,
    )
    if revision is not None:
        item.revision = revision
    return item


def _lead(item: LeadItem) -> Lead:
    consent = None
    if item.consent is not None:
        c = item.consent
        consent = Consent(
            given_at=c.given_at,
            method=cast(ConsentMethod, c.method),
            source=c.source,
            wording=c.wording,
            confirmed_at=c.confirmed_at,
        )
    return Lead(
        lead_id=item.lead_id,
        email=item.email,
        created_at=item.created_at,
        name=item.name,
        timezone=item.timezone,
        attributes=_strings(item.attributes),
        status=LeadStatus(item.status),
        status_reason=item.status_reason,
        consent=consent,
        recent_emails=_times(item.recent_emails),
        soft_bounces=int(item.soft_bounces or 0),
        revision=int(item.revision or 0),
        expires_at=item.expires_at,
    )


def _record(item: EnrollmentItem) -> EnrollmentRecord:
    engaged: Mapping[str, str] = _strings(item.engaged)
    enrollment = Enrollment(
        lead_id=item.lead_id,
        sequence=item.sequence,
        version=int(item.version),
        run=int(item.run),
        status=Status(item.status),
        cursor=item.cursor,
        wait=Wait(item.wait) if item.wait else None,
        next_action_at=item.next_action_at,
        since=item.since,
        score=float(item.score),
        score_at=item.score_at,
        stage=item.stage,
        sent=tuple(str(s) for s in item.sent or ()),
        last_email_at=item.last_email_at,
        engaged={k: datetime.fromisoformat(v) for k, v in engaged.items()},
        confirmations=int(item.confirmations),
        last_confirmation_at=item.last_confirmation_at,
        entered_at=item.entered_at,
        exit_reason=item.exit_reason,
        ended_at=item.ended_at,
        held_wait=Wait(item.held_wait) if item.held_wait else None,
        held_until=item.held_until,
    )
    return EnrollmentRecord(
        enrollment=enrollment,
        revision=int(item.revision or 0),
        timezone=item.timezone,
        attributes=_strings(item.attributes),
        recent_emails=_times(item.recent_emails),
    )


def _message(item: MessageItem) -> Message:
    claim = MessageClaim(
        key=item.message_key,
        lead_id=item.lead_id,
        sequence=item.sequence,
        version=int(item.version),
        run=int(item.run),
        step=item.step,
        email=item.email,
        kind=item.kind,  # type: ignore[arg-type]
        created_at=item.created_at,
    )
    return Message(
        claim=claim,
        status=MessageStatus(item.status),
        attempts=int(item.attempts),
        lease_until=item.lease_until,
        due_at=item.due_at,
        ses_message_id=item.ses_message_id,
        sent_at=item.sent_at,
        error=item.error,
    )


def _history(item: HistoryItem) -> HistoryEntry:
    return HistoryEntry(
        lead_id=item.lead_id,
        at=item.at,
        sequence=item.sequence,
        revision=int(item.revision),
        trigger=item.trigger,
        status=item.status,
        step=item.step,
        lines=tuple(str(x) for x in item.lines or ()),
        actions=tuple(str(x) for x in item.actions or ()),
        message_key=item.message_key,
    )
