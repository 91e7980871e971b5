"""The DynamoDB store: pynamodb models, conditional writes and transactions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from pynamodb.attributes import Attribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from ripen.adapters import tables
from ripen.adapters.tables import EnrollmentItem, HistoryItem, LeadItem, MessageItem
from ripen.config import Settings
from ripen.core import sending
from ripen.core.leads import shard_of
from ripen.core.records import (
    SEEN_KEPT,
    Activity,
    Change,
    Consent,
    ConsentMethod,
    EnrollmentRecord,
    EventMark,
    HistoryEntry,
    Lead,
    LeadStatus,
    Message,
    MessageClaim,
    MessageKind,
    MessageStatus,
    activity_update,
    enrollment_expires_at,
    mark_guard,
)
from ripen.core.sending import (
    Absent,
    AsRead,
    AtLeast,
    Bump,
    Drop,
    Either,
    Is,
    Keep,
    NotAfter,
    Present,
    Put,
    Term,
    Transition,
    field_of,
    value_of,
    with_email,
    with_send_time,
)
from ripen.core.sequence import RECENT_EMAILS_KEPT
from ripen.core.state import Enrollment, Status, Wait
from ripen.ports.store import HANDOFF_SHARD, Erased, MessageFullError, SendContext, StoreUnavailableError

_RETRIES = 3
ERASED_PREFIX = "erased#"  # the Leads table's items of erased addresses (lead ids start with "ld_")


class DynamoStore:
    def __init__(self, settings: Settings) -> None:
        self._connection = tables.bind(  # one connection for every table and the transactions
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

    def save_lead(self, lead: Lead, expected_revision: int, marks: Sequence[EventMark] = ()) -> bool:
        if not marks:
            return self._put(_lead_item(lead, revision=expected_revision))
        actions, condition = _mark_update(marks)

        def write() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(_lead_item(lead, revision=expected_revision))  # VersionAttribute: still that revision
                tx.update(MessageItem(marks[0].message_key), actions=actions, condition=condition)

        return _conditional(write)

    def _put(self, item: LeadItem) -> bool:
        return _conditional(item.save)  # VersionAttribute adds the revision (or must-not-exist) condition

    # -- enrollments ------------------------------------------------------------------------------

    def get_enrollment(self, lead_id: str, sequence: str) -> EnrollmentRecord | None:
        try:
            return _record(EnrollmentItem.get(lead_id, sequence, consistent_read=True))
        except DoesNotExist:
            return None

    def enrollments_of(self, lead_id: str) -> list[EnrollmentRecord]:
        return [_record(item) for item in EnrollmentItem.query(lead_id, consistent_read=True)]

    def get_enrollments(self, keys: Sequence[tuple[str, str]]) -> list[EnrollmentRecord]:
        # pynamodb sends BatchGetItem in chunks of 100 keys and asks again for unprocessed ones
        unique = list(dict.fromkeys(keys))
        return [_record(item) for item in EnrollmentItem.batch_get(unique, consistent_read=True)] if unique else []

    def due_enrollments(
        self, shard: str, now: datetime, limit: int, after: EnrollmentRecord | None = None
    ) -> list[EnrollmentRecord]:
        start = None
        if after is not None and after.enrollment.next_action_at is not None:
            start = {
                "due_shard": {"S": shard},
                "due_at": {"N": EnrollmentItem.due_at.serialize(after.enrollment.next_action_at)},
                "lead_id": {"S": after.enrollment.lead_id},
                "sequence": {"S": after.enrollment.sequence},
            }
        # Eventually consistent item reads (half the units), as the index itself is: a record read
        # stale is written back only at its revision (`commit`): it loses the race, the next run reads it.
        items = _still_due(EnrollmentItem.due, EnrollmentItem, _enrollment_key, shard, now, limit, start)
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
                    if change.marks:
                        actions, condition = _mark_update(change.marks)
                        tx.update(MessageItem(change.marks[0].message_key), actions=actions, condition=condition)
                return True
            except TransactWriteError as exc:
                codes = set(_cancelled(exc))
                if "ConditionalCheckFailed" in codes:
                    return False
                if codes & {"TransactionConflict", "ThrottlingError"} and attempt < _RETRIES - 1:
                    item = self._enrollment_item(change)  # the failed attempt bumped the revision locally
                    time.sleep(0.02 * (attempt + 1))
                    continue
                if "TransactionConflict" in codes:
                    return False  # another writer is changing this enrollment right now
                if change.marks and _cancelled(exc)[-1] == "ValidationError":  # the marks' message is full
                    raise MessageFullError(f"message {change.marks[0].message_key}: {exc}") from exc
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
            engaged={k: v.timestamp() for k, v in e.engaged.items()},  # numbers: 9 bytes, not 32 of ISO text
            confirmations=e.confirmations,
            last_confirmation_at=e.last_confirmation_at,
            entered_at=e.entered_at,
            exit_reason=e.exit_reason,
            ended_at=e.ended_at,
            held_wait=e.held_wait.value if e.held_wait else None,
            held_until=e.held_until,
            holdout=True if e.holdout else None,  # absent for most leads: no bytes on every rewrite
            timezone=record.timezone,
            attributes=dict(record.attributes),
            recent_emails=[t.timestamp() for t in record.recent_emails],
            expires_at=enrollment_expires_at(record, self._history_ttl),
        )
        if change.expected_revision is not None:
            item.revision = change.expected_revision
        if not e.terminal and e.next_action_at is not None:
            item.due_shard = shard_of(e.lead_id, self._shard_count)
            item.due_at = e.next_action_at
        return item

    def _message_item(self, claim: MessageClaim) -> MessageItem:
        return MessageItem(
            claim.key,
            lead_id=claim.lead_id,
            sequence=claim.sequence,
            version=claim.version,
            run=claim.run,
            step=claim.step,
            email=claim.email,
            variant=claim.variant,
            kind=claim.kind,
            created_at=claim.created_at,
            status=MessageStatus.CLAIMED.value,
            due_shard=self._due_shard(claim),
            due_at=sending.first_due(claim),
            expires_at=claim.created_at + self._history_ttl,
            details=json.dumps(dict(claim.details), sort_keys=True) if claim.details else None,
        )

    def _due_shard(self, claim: MessageClaim) -> str:
        """The partition of the due index a message waits in: hand-offs apart from emails."""
        return HANDOFF_SHARD if claim.kind == "handoff" else shard_of(claim.lead_id, self._shard_count)

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

    def due_messages(self, shard: str, now: datetime, limit: int, after: Message | None = None) -> list[Message]:
        start = None
        if after is not None and after.due_at is not None:
            start = {
                "due_shard": {"S": shard},
                "due_at": {"N": MessageItem.due_at.serialize(after.due_at)},
                "message_key": {"S": after.claim.key},
            }
        # Eventually consistent item reads, as the index is: every write on a message read here is
        # conditioned on its status, attempts or due time as read (`postpone_message`, the lease), so
        # one read stale writes nothing.
        items = _still_due(MessageItem.due, MessageItem, _message_key, shard, now, limit, start)
        return [_message(item) for item in items]

    def postpone_message(self, message: Message, until: datetime) -> bool:
        if message.due_at is None:
            return False
        return self._move(sending.POSTPONE, message, until=until)

    def history_of(self, lead_id: str) -> list[HistoryEntry]:
        return [_history(item) for item in HistoryItem.query(lead_id)]

    # -- sending ------------------------------------------------------------------------------------

    def send_context(self, key: str, lead_id: str, sequence: str) -> SendContext:
        """One BatchGetItem over the three tables, consistent reads."""
        keys = {
            MessageItem.Meta.table_name: {"message_key": {"S": key}},
            LeadItem.Meta.table_name: {"lead_id": {"S": lead_id}},
            EnrollmentItem.Meta.table_name: {"lead_id": {"S": lead_id}, "sequence": {"S": sequence}},
        }
        request: dict[str, Any] = {table: {"Keys": [k], "ConsistentRead": True} for table, k in keys.items()}
        found: dict[str, dict[str, Any]] = {}
        for attempt in range(_RETRIES + 2):
            client: Any = self._connection.client
            answer = client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                for raw in items:
                    found[table] = raw
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.02 * 2**attempt)  # throttled: BatchGetItem hands back what it could not read
        else:
            raise StoreUnavailableError("the send context kept coming back unread")
        message = found.get(MessageItem.Meta.table_name)
        lead = found.get(LeadItem.Meta.table_name)
        record = found.get(EnrollmentItem.Meta.table_name)
        return SendContext(
            _message(MessageItem.from_raw_data(message)) if message else None,
            _lead(LeadItem.from_raw_data(lead)) if lead else None,
            _record(EnrollmentItem.from_raw_data(record)) if record else None,
        )

    def _move(self, transition: Transition, message: Message, **args: Any) -> bool:
        """Write `transition` on `message` (as read) in one conditional update; False when its guard fails."""
        actions = _actions(transition, args, self._due_shard(message.claim))
        condition = _condition(transition, message, args)
        return _conditional(lambda: MessageItem(message.claim.key).update(actions=actions, condition=condition))

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
        actions = _actions(transition, args, self._due_shard(message.claim))
        condition = _condition(transition, message, args)
        item = MessageItem(message.claim.key)
        # the message first, on its own: False when gone, finished, or another sender got there first
        # (the usual race: a job delivered twice), and then nothing was written
        if not _conditional(lambda: item.update(actions=actions, condition=condition)):
            return None
        leased = _message(item)  # the update returns the item as it became
        if lead is None or self._lead_holds(lead, message, now):
            return leased
        # The lead changed since it was read (rare): the lease is undone, exactly, so the message is
        # as read again. Two single-item writes cost 3 units where one transaction cost 5; the lease
        # is held in between, so no other sender can take the message meanwhile.
        undo = sending.unlease_args(message)
        undone = _conditional(
            lambda: MessageItem(message.claim.key).update(
                actions=_actions(sending.UNLEASE, undo, self._due_shard(message.claim)),
                condition=_condition(sending.UNLEASE, leased, undo),
            )
        )
        if not undone:  # only SES's report of an earlier attempt can have landed: the lease runs out
            raise StoreUnavailableError(f"message {message.claim.key}: the lease could not be undone")
        return None

    def _lead_holds(self, lead: Lead, message: Message, now: datetime) -> bool:
        """Whether the lead is still at the revision read; a nurture email takes its place in the
        lead's recent emails in the same conditional write (revision-checked and bumped: a sender
        holding an older copy of the lead reads again)."""
        if not sending.takes_place_on_lead(message):
            current = self.get_lead(lead.lead_id)
            return current is not None and current.revision == lead.revision
        recent = with_email(lead.recent_emails, message, now, RECENT_EMAILS_KEPT)
        place = LeadItem(lead.lead_id, revision=lead.revision)
        return _conditional(
            lambda: place.update(
                actions=[LeadItem.recent_emails.set(cast(Any, [t.timestamp() for t in recent]))],
                condition=LeadItem.lead_id.exists(),
            )
        )

    def record_sent(self, message: Message, ses_message_id: str, sent_at: datetime) -> bool:
        args = {"ses_message_id": ses_message_id, "sent_at": sent_at}
        return self._record_sent(sending.RECORD_SENT, message, args, lead_too=False)

    def _record_sent(self, transition: Transition, message: Message, args: Mapping[str, Any], lead_too: bool) -> bool:
        """Write `transition` (status sent with the SES id, out of the due index); with `lead_too`,
        the send time on the lead in the same transaction. False when its guard fails."""
        claim = message.claim
        actions = _actions(transition, args, self._due_shard(message.claim))
        condition = _condition(transition, message, args)
        for attempt in range(_RETRIES + 2 if lead_too else 0):
            lead = self.get_lead(claim.lead_id)
            if lead is None:
                break
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(MessageItem(claim.key), actions=actions, condition=condition)
                    times = with_send_time(lead.recent_emails, args["sent_at"], RECENT_EMAILS_KEPT)
                    recent: Any = [t.timestamp() for t in times]
                    tx.update(
                        LeadItem(lead.lead_id, revision=lead.revision), actions=[LeadItem.recent_emails.set(recent)]
                    )
                return True
            except TransactWriteError as exc:
                reasons = _cancelled(exc)
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # the message is not in the state the caller expected
                if set(reasons) & {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"}:
                    time.sleep(0.02 * (attempt + 1))  # the lead moved meanwhile: re-read it and try again
                    continue
                raise StoreUnavailableError(str(exc)) from exc
        # The message alone (or the lead keeps changing): never lose the fact that the email went out.
        return _conditional(lambda: MessageItem(claim.key).update(actions=actions, condition=condition))

    def record_unsent(
        self, message: Message, status: MessageStatus, reason: str, history: HistoryEntry | None = None
    ) -> bool:
        transition = {MessageStatus.FAILED: sending.FAIL, MessageStatus.SKIPPED: sending.SKIP}.get(status)
        if transition is None:
            raise ValueError(f"a message not sent ends failed or skipped, not {status}")
        args = {"reason": reason}
        actions = _actions(transition, args, self._due_shard(message.claim))
        condition = _condition(transition, message, args)

        def write() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(MessageItem(message.claim.key), actions=actions, condition=condition)
                if history is not None:
                    tx.save(self._history_item(history), condition=HistoryItem.entry.does_not_exist())

        return _conditional(write, decided_by_first=True)

    def release_message(
        self, message: Message, retry_at: datetime, reason: str | None = None, *, resend: bool = False
    ) -> bool:
        transition = sending.PUT_OFF_RESEND if resend else sending.RELEASE
        return self._move(transition, message, retry_at=retry_at, reason=reason)

    # -- engagement -----------------------------------------------------------------------------------

    def mark_message(self, key: str, marks: Sequence[EventMark]) -> Message | None:
        if any(m.message_key != key for m in marks):
            raise ValueError("every mark must name the message written")
        actions, condition = _mark_update(marks)
        item = MessageItem(key)
        try:
            written = _conditional(lambda: item.update(actions=actions, condition=condition))
        except UpdateError as exc:
            if exc.cause_response_code == "ValidationException":  # the item is at its 400 KB
                raise MessageFullError(f"message {key}: {exc.cause_response_message}") from exc
            raise
        return _message(item) if written else None  # the update returns the item as it became

    def find_message_by_ses_id(self, ses_message_id: str) -> Message | None:
        # the index holds keys only (no index write when the message changes later): read it after
        for item in MessageItem.by_ses_id.query(ses_message_id, limit=1):
            return self.get_message(item.message_key)
        return None

    def observe_ses_id(self, key: str, ses_message_id: str) -> bool:
        args = {"ses_message_id": ses_message_id}
        condition = _condition(sending.OBSERVE, None, args)
        actions = _actions(sending.OBSERVE, args)
        return _conditional(lambda: MessageItem(key).update(actions=actions, condition=condition))

    def reconcile_sent(self, key: str, ses_message_id: str, sent_at: datetime, now: datetime) -> bool:
        message = self.get_message(key)
        if message is None:
            return False
        args = {"ses_message_id": ses_message_id, "sent_at": sent_at, "now": now}
        return self._record_sent(sending.RECONCILE, message, args, lead_too=sending.needs_place_on_lead(message))

    # -- hand-offs ------------------------------------------------------------------------------------

    def handoffs_due(self, now: datetime, limit: int) -> list[Message]:
        # Eventually consistent: the service reads each again consistently before publishing it.
        items = _still_due(MessageItem.due, MessageItem, _message_key, HANDOFF_SHARD, now, limit, None)
        return [_message(item) for item in items]

    def record_handoff(self, key: str, at: datetime, error: str | None = None) -> bool:
        transition = sending.FAIL_HANDOFF if error else sending.PUBLISH_HANDOFF
        args = {"at": at, "error": error}
        condition = _condition(transition, None, args)
        actions = _actions(transition, args)
        return _conditional(lambda: MessageItem(key).update(actions=actions, condition=condition))

    # -- operators: one person's data, read and erased on request -----------------------------------

    def get_messages(self, keys: Sequence[str]) -> list[Message]:
        # pynamodb sends BatchGetItem in chunks of 100 keys and asks again for unprocessed ones
        unique = list(dict.fromkeys(keys))
        return [_message(item) for item in MessageItem.batch_get(unique)] if unique else []

    def keep_erased(self, erased: Erased) -> None:
        tables.ErasedItem(ERASED_PREFIX + erased.address_hash, status=erased.status.value, at=erased.at).save()

    def erased(self, address_hash: str) -> Erased | None:
        try:
            item = tables.ErasedItem.get(ERASED_PREFIX + address_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return Erased(address_hash, LeadStatus(item.status), item.at)


def _actions(transition: Transition, args: Mapping[str, Any], due_shard: str | None = None) -> list[Action]:
    """The update expression of `transition`'s effect. The due index is `due_at` with its partition,
    `due_shard`: set together, removed together."""
    actions: list[Action] = []
    for effect in transition.effect:
        match effect:
            case Put(field, value) if value_of(value, args) is not None:
                actions.append(_attribute(field).set(_stored(value_of(value, args))))
                if field == "due_at":
                    if due_shard is None:
                        raise ValueError(f"{transition.name} puts a message in the due index: which partition?")
                    actions.append(MessageItem.due_shard.set(due_shard))
            case Put(field) | Drop(field):
                actions.append(_attribute(field).remove())
                if field == "due_at":
                    actions.append(MessageItem.due_shard.remove())
            case Bump(field, by):
                actions.append(_attribute(field).add(by))
            case Keep(field, value):
                attribute = _attribute(field)
                actions.append(attribute.set(attribute | _stored(value_of(value, args))))  # if_not_exists
    return actions


def _condition(transition: Transition, read: Message | None, args: Mapping[str, Any]) -> Condition:
    """The condition expression of `transition`'s guard, on a message that exists."""
    condition: Condition = MessageItem.message_key.exists()
    for term in transition.guard:
        condition = condition & _term(term, read, args)
    return condition


def _term(term: Term, read: Message | None, args: Mapping[str, Any]) -> Condition:
    match term:
        case Is(field, values):
            first, *more = sorted(values)
            attribute = _attribute(field)
            return attribute.is_in(first, *more) if more else attribute == first
        case AsRead(field):
            if read is None:
                raise ValueError(f"{field} as read needs the message as read")
            attribute, value = _attribute(field), _stored(field_of(read, field))
            if value is None:
                return attribute.does_not_exist()
            same: Condition = attribute == value
            # a field never written reads as its default
            return same | attribute.does_not_exist() if value == attribute.default else same
        case Absent(field):
            return _attribute(field).does_not_exist()
        case Present(field):
            return _attribute(field).exists()
        case AtLeast(field, number):
            at_least: Condition = _attribute(field) >= number
            return at_least
        case NotAfter(field, arg):
            not_after: Condition = _attribute(field) <= args[arg]
            return not_after
        case Either(first, second):
            either: Condition = _term(first, read, args) | _term(second, read, args)
            return either
    raise TypeError(term)


def _attribute(field: str) -> Attribute[Any]:
    """The item attribute a life-cycle field is stored in (they share their names)."""
    attribute: Attribute[Any] = getattr(MessageItem, field)
    return attribute


def _stored(value: Any) -> Any:
    return value.value if isinstance(value, MessageStatus) else value


def _cancelled(exc: TransactWriteError) -> list[str | None]:
    """Why each item of a cancelled transaction failed (None: it did not), in the order written."""
    return [reason.code if reason else None for reason in exc.cancellation_reasons or []]


def _conditional(write: Callable[[], object], *, decided_by_first: bool = False) -> bool:
    """Run one conditional write (an item's, or a transaction's): False when a condition failed, or
    a transaction was cancelled by a concurrent one (another writer got there first). With
    `decided_by_first`, only the first item of the transaction decides that; any other failure is
    the store's (`StoreUnavailableError`, or the error as raised)."""
    try:
        write()
    except (PutError, UpdateError) as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    except TransactWriteError as exc:
        reasons = _cancelled(exc)
        decisive = reasons[:1] if decided_by_first else reasons
        if set(decisive) & {"ConditionalCheckFailed", "TransactionConflict"}:
            return False
        raise StoreUnavailableError(str(exc)) from exc
    return True


def _mark_update(marks: Sequence[EventMark]) -> tuple[list[Action], Condition]:
    """The update and condition that write `marks` on their message (see `Store.mark_message`)."""
    if not marks or len({(m.message_key, m.ses_message_id) for m in marks}) != 1:
        raise ValueError("the marks of one write name one message, by one SES id")
    ses_id = marks[0].ses_message_id
    update = activity_update(list(marks))
    actions: list[Action] = [MessageItem.seen.add(set(update.keys))] if update.keys else []  # none past the cap
    for name, at in update.first.items():
        attribute = getattr(MessageItem, name)
        actions.append(attribute.set(attribute | at))  # if_not_exists: the first one stays
    for name, value in update.latest.items():
        actions.append(getattr(MessageItem, name).set(value))
    for name, n in update.add.items():
        actions.append(getattr(MessageItem, name).add(n))
    if update.failure is not None:
        actions += _actions(sending.FAIL_REPORTED, {"reason": update.failure})
    condition: Condition = MessageItem.message_key.exists() & (
        (MessageItem.ses_message_id == ses_id) | (MessageItem.observed_ses_message_id == ses_id)
    )
    guard = mark_guard(list(marks))
    for key in sorted(guard.keys):
        condition = condition & ~MessageItem.seen.contains(key)
    if guard.capped:
        condition = condition & (MessageItem.seen.does_not_exist() | (size(MessageItem.seen) < SEEN_KEPT))
    if guard.delivered_by is not None:
        delivered = MessageItem.delivered_at
        condition = condition & (delivered.does_not_exist() | (delivered <= guard.delivered_by))
    for kind, at in sorted(guard.past_cap.items()):
        latest = getattr(MessageItem, f"{kind}_past_cap_at")
        condition = condition & (latest.does_not_exist() | (latest < at))
    return actions, condition


# -- item <-> record -------------------------------------------------------------------------------


def _times(values: list[Any] | None) -> tuple[datetime, ...]:
    return tuple(datetime.fromtimestamp(float(v), tz=UTC) for v in values or [])


def _engaged(values: Any) -> dict[str, datetime]:
    """Engagement times: Unix seconds, or the ISO text of an enrollment written before."""
    return {k: tables.parse_time(v) for k, v in _strings(values).items()}


def _strings(values: Any) -> dict[str, str]:
    raw = values.as_dict() if hasattr(values, "as_dict") else dict(values or {})
    return {str(k): str(v) for k, v in raw.items()}


def _lead_item(lead: Lead, revision: int | None) -> LeadItem:
    consents = [
        tables.ConsentAttribute(
            given_at=c.given_at, method=c.method, source=c.source, wording=c.wording, confirmed_at=c.confirmed_at
        )
        for c in lead.consents
    ]
    item = LeadItem(
        lead.lead_id,
        email=lead.email,
        name=lead.name,
        timezone=lead.timezone,
        locale=lead.locale,
        attributes=dict(lead.attributes),
        status=lead.status.value,
        status_reason=lead.status_reason,
        consents=consents,
        recent_emails=[t.timestamp() for t in lead.recent_emails],
        soft_bounces=lead.soft_bounces,
        soft_bounced_at=lead.soft_bounced_at,
        unsubscribed_at=lead.unsubscribed_at,
        created_at=lead.created_at,
        expires_at=lead.expires_at,
    )
    if revision is not None:
        item.revision = revision
    return item


def _consent(c: tables.ConsentAttribute) -> Consent:
    return Consent(
        given_at=c.given_at,
        method=cast(ConsentMethod, c.method),
        source=c.source,
        wording=c.wording,
        confirmed_at=c.confirmed_at,
    )


def _lead(item: LeadItem) -> Lead:
    # A lead stored before the log holds its one record in `consent`: the log's first entry.
    earlier = [item.consent] if item.consent is not None and not item.consents else []
    return Lead(
        lead_id=item.lead_id,
        email=item.email,
        created_at=item.created_at,
        name=item.name,
        timezone=item.timezone,
        locale=item.locale,
        attributes=_strings(item.attributes),
        status=LeadStatus(item.status),
        status_reason=item.status_reason,
        consents=tuple(_consent(c) for c in [*earlier, *(item.consents or [])]),
        recent_emails=_times(item.recent_emails),
        soft_bounces=int(item.soft_bounces or 0),
        revision=int(item.revision or 0),
        expires_at=item.expires_at,
        soft_bounced_at=item.soft_bounced_at,
        unsubscribed_at=item.unsubscribed_at,
    )


def enrollment_record(item: EnrollmentItem) -> EnrollmentRecord:
    """The enrollment an item holds (also for operator reports, which read the table themselves)."""
    return _record(item)


_Due = TypeVar("_Due", EnrollmentItem, MessageItem)


def _still_due(
    index: GlobalSecondaryIndex[_Due],
    model: type[_Due],
    key: Callable[[_Due], Any],
    shard: str,
    now: datetime,
    limit: int,
    start: dict[str, dict[str, Any]] | None,
) -> list[_Due]:
    """One page of the items a keys-only due index lists in `shard` at or before `now`, oldest first,
    from `start` (an index key): the keys, then the items themselves, one BatchGetItem per page of keys.
    An item read after its key may have moved on (its timer fired, it was sent, its due time moved):
    only those still where the index listed them are kept (so due at `now`; one that moved is listed
    again at its new place, this run if that is further on, else the next). Keys are read on, from
    the index's own last key, in place of those left out: a short page still means the index has no
    more, and the last item's due key is its place in the index (the next page's `after`)."""
    found: list[_Due] = []
    while len(found) < limit:
        wanted = limit - len(found)
        page = index.query(shard, model.due_at <= now, limit=wanted, page_size=wanted, last_evaluated_key=start)
        listed = list(page)
        if listed:
            items = {key(item): item for item in model.batch_get([key(k) for k in listed], consistent_read=False)}
            for entry in listed:
                item = items.get(key(entry))
                if item is not None and (item.due_shard, item.due_at) == (entry.due_shard, entry.due_at):
                    found.append(item)
        start = page.last_evaluated_key
        if len(listed) < wanted or start is None:
            break
    return found


def _enrollment_key(item: EnrollmentItem) -> tuple[str, str]:
    return item.lead_id, item.sequence


def _message_key(item: MessageItem) -> str:
    return item.message_key


def _record(item: EnrollmentItem) -> EnrollmentRecord:
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
        engaged=_engaged(item.engaged),
        confirmations=int(item.confirmations),
        last_confirmation_at=item.last_confirmation_at,
        entered_at=item.entered_at,
        exit_reason=item.exit_reason,
        ended_at=item.ended_at,
        held_wait=Wait(item.held_wait) if item.held_wait else None,
        held_until=item.held_until,
        holdout=bool(item.holdout),
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
        variant=item.variant,
        kind=cast(MessageKind, item.kind),
        created_at=item.created_at,
        details=json.loads(item.details) if item.details else {},
    )
    activity = Activity(
        seen=frozenset(item.seen or ()),
        delivered_at=item.delivered_at,
        opened_at=item.opened_at,
        clicked_at=item.clicked_at,
        last_click_at=item.last_click_at,
        last_click_link=item.last_click_link,
        opens=int(item.opens or 0),
        machine_opens=int(item.machine_opens or 0),
        clicks=int(item.clicks or 0),
        scanner_clicks=int(item.scanner_clicks or 0),
        bounce=item.bounce,
        complained_at=item.complained_at,
        open_past_cap_at=item.open_past_cap_at,
        click_past_cap_at=item.click_past_cap_at,
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
        observed_ses_message_id=item.observed_ses_message_id,
        activity=activity,
        leased_at=item.leased_at,
        resent_at=item.resent_at,
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
