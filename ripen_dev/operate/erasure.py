"""Deleting a person's items on request (`ripen lead forget`). Only operators delete: the functions'
store and limiter never do (no function role may delete, scan or batch-write; a test checks the
adapters), so the deletes live here, on the same pynamodb models and table clients the adapters use.

Batch writes go 25 items a request; what DynamoDB leaves unprocessed is written again, backing off."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ripen.adapters import tables
from ripen.adapters.dynamodb import DynamoStore
from ripen.adapters.limits import DynamoLimiter
from ripen.ports.limits import Limiter, slots_for
from ripen.ports.store import Store
from ripen.services.limits import DAY, MONTH, SignupLimits
from ripen_dev.fakes.limits import MemoryLimiter
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.operate.target import OperatorError

BATCH = 25  # items a BatchWriteItem takes
RETRIES = 8


def erase_lead(store: Store, lead_id: str, message_keys: Sequence[str]) -> int:
    """Delete the lead, every enrollment and history entry of it, and the messages of these keys: how
    many items existed and went (0 when nothing was left: erasing again is safe). The lead goes last,
    so an erasure cut short is found again by its address and finished by running it again."""
    if isinstance(store, InMemoryStore):
        return store.erase_lead(lead_id, message_keys)
    if not isinstance(store, DynamoStore):
        raise OperatorError(f"cannot erase from a {type(store).__name__}")
    keys = list(dict.fromkeys(message_keys))
    groups: list[tuple[Any, list[Any]]] = [
        (
            tables.MessageItem,
            list(tables.MessageItem.batch_get(keys, attributes_to_get=["message_key"])) if keys else [],
        ),
        (
            tables.HistoryItem,
            list(tables.HistoryItem.query(lead_id, consistent_read=True, attributes_to_get=["lead_id", "entry"])),
        ),
        (
            tables.EnrollmentItem,
            list(tables.EnrollmentItem.query(lead_id, consistent_read=True, attributes_to_get=["lead_id", "sequence"])),
        ),
        (tables.LeadItem, [tables.LeadItem(lead_id)] if tables.LeadItem.count(lead_id, consistent_read=True) else []),
    ]
    gone = 0
    for model, items in groups:
        with model.batch_write() as batch:  # pynamodb writes unprocessed items again
            for item in items:
                batch.delete(item)
                gone += 1
    return gone


def erase_mailbox_counters(limits: SignupLimits, address: str) -> int:
    """Delete the signup-limit counters of the address's mailbox that any window still reads (older
    slots are past their time to live); how many there were."""
    key, now = limits.mailbox_key(address), limits.clock.now()
    return sum(erase_slots(limits.limiter, key, slots_for(key, window, now)) for window in (DAY, MONTH))


def erase_slots(limiter: Limiter, key: str, slots: Any) -> int:
    names = [*slots.earlier, slots.current]
    if isinstance(limiter, MemoryLimiter):
        return sum(limiter.counts.pop(name, None) is not None for name in names)
    if not isinstance(limiter, DynamoLimiter):
        raise OperatorError(f"cannot erase from a {type(limiter).__name__}")
    client, table = limiter.client, limiter.table
    found: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = [{"limit_key": {"S": name}} for name in names]
    while pending:
        request = {"Keys": pending, "ConsistentRead": True, "ProjectionExpression": "limit_key"}
        answer = client.batch_get_item(RequestItems={table: request})
        found += answer["Responses"].get(table, [])
        pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    deletes = [{"DeleteRequest": {"Key": {"limit_key": item["limit_key"]}}} for item in found]
    batch_write(client, table, deletes)
    return len(found)


def batch_write(client: Any, table: str, requests: list[dict[str, Any]], pause: float = 0.05) -> int:
    """BatchWriteItem in 25s, writing again what DynamoDB leaves unprocessed (throttled), backing off.
    How many requests were sent (a retry counts)."""
    sent = 0
    for start in range(0, len(requests), BATCH):
        batch = requests[start : start + BATCH]
        for attempt in range(RETRIES + 1):
            answer = client.batch_write_item(RequestItems={table: batch})
            sent += 1
            batch = answer.get("UnprocessedItems", {}).get(table, [])
            if not batch:
                break
            if attempt == RETRIES:
                raise OperatorError(f"DynamoDB kept {len(batch)} writes to {table} unprocessed: try again later")
            time.sleep(min(pause * 2**attempt, 5.0))
    return sent
