"""Time to live, at a moment the test chooses: DynamoDB may delete an item any time after its TTL
attribute passes, so a test may delete every expired item at any moment. Tables in tests are made
with TTL off (DynamoDB Local would delete by the real clock); this does the deleting."""

from __future__ import annotations

from datetime import datetime

from ripen.adapters import tables
from ripen.ports.store import Store
from ripen_dev.fakes.store import InMemoryStore


def expire_items(store: Store, now: datetime) -> int:
    """Delete every item whose TTL attribute has passed at `now`; how many went."""
    if isinstance(store, InMemoryStore):
        return store.expire_items(now)
    return _expire_dynamodb(now)


def _expire_dynamodb(now: datetime) -> int:
    """Scan each table the DynamoDB store writes (bound to this test's tables) and delete the items
    whose TTL attribute, as the store's model declares it, is at or before `now`."""
    gone = 0
    for model in tables.MODELS.values():
        ttl = model._ttl_attribute()
        if ttl is None:
            continue
        for item in model.scan(consistent_read=True):
            expires_at = getattr(item, ttl.attr_name)
            if expires_at is not None and expires_at <= now:
                item.delete()
                gone += 1
    return gone
