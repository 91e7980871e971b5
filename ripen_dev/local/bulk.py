"""Bulk loading and reading back enrollments and messages on DynamoDB (Local), for tests and
benchmarks: thousands of leads in a chosen state in seconds.

Build one lead's state with the real service on an in-memory store, then `replicate` it: the
stored items of that lead are serialized once by the DynamoDB store itself (so they are exactly
what the functions write) and copied for every other lead id. `put_items` writes them through
BatchWriteItem, 25 items a request, from several threads, where writing them one decision at a
time would take minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from ripen.adapters import dynamodb
from ripen.adapters.dynamodb import DynamoStore
from ripen.adapters.tables import EnrollmentItem, MessageItem
from ripen.core.leads import shard_of
from ripen.core.records import Change, EnrollmentRecord, Message, MessageStatus, message_key
from ripen_dev.fakes.store import InMemoryStore

BATCH = 25  # BatchWriteItem's limit
Item = dict[str, Any]


def mark_sent(world: InMemoryStore, at: datetime) -> None:
    """Record every claimed message in `world` as sent, as the sender would (out of the due index)."""
    for key, message in list(world.messages.items()):
        if message.status is MessageStatus.CLAIMED:
            world.messages[key] = replace(message, status=MessageStatus.SENT, due_at=None, sent_at=at)


def replicate(
    store: DynamoStore, world: InMemoryStore, lead_id: str, lead_ids: Iterable[str]
) -> tuple[list[Item], list[Item]]:
    """The stored items (enrollments, messages) of every lead in `lead_ids`, each in exactly the
    state `lead_id` has in `world`."""
    enrollments = [_enrollment_item(store, r) for r in world.enrollments.values() if r.enrollment.lead_id == lead_id]
    messages = [(m, _message_item(store, m)) for m in world.messages.values() if m.claim.lead_id == lead_id]
    shards = len(store.shards)
    out_enrollments: list[Item] = []
    out_messages: list[Item] = []
    for other in lead_ids:
        shard = {"S": shard_of(other, shards)}
        for item in enrollments:
            copy = {**item, "lead_id": {"S": other}}
            if "due_shard" in copy:
                copy["due_shard"] = shard
            out_enrollments.append(copy)
        for message, item in messages:
            c = message.claim
            copy = {
                **item,
                "lead_id": {"S": other},
                "message_key": {"S": message_key(other, c.sequence, c.run, c.step)},
            }
            if "due_shard" in copy:
                copy["due_shard"] = shard
            out_messages.append(copy)
    return out_enrollments, out_messages


def _enrollment_item(store: DynamoStore, record: EnrollmentRecord) -> Item:
    item: Item = store._enrollment_item(Change(record, expected_revision=record.revision)).serialize()
    return item


def _message_item(store: DynamoStore, message: Message) -> Item:
    item = store._message_item(message.claim)
    item.status = message.status.value
    item.attempts = message.attempts
    item.lease_until = message.lease_until
    item.ses_message_id = message.ses_message_id
    item.sent_at = message.sent_at
    item.error = message.error
    if message.due_at is None:
        item.due_shard = None
        item.due_at = None
    else:
        item.due_at = message.due_at
    serialized: Item = item.serialize()
    return serialized


def put_items(client: Any, table: str, items: Sequence[Item], threads: int = 8) -> None:
    """Write every item (new or replacing) through BatchWriteItem, retrying what DynamoDB leaves unprocessed."""

    def write(start: int) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bulk") as pool:
        list(pool.map(write, range(0, len(items), BATCH)))


def scan_enrollments(store: DynamoStore) -> list[EnrollmentRecord]:
    """Every enrollment in the tables `store` is bound to (a Scan: for checking a run, never for the functions)."""
    return [dynamodb._record(item) for item in EnrollmentItem.scan()]


def scan_messages(store: DynamoStore) -> list[Message]:
    return [dynamodb._message(item) for item in MessageItem.scan()]
