"""Engagement marks under real traffic, as any store keeps them: a message keeps at most `SEEN_KEPT`
keys of opens and clicks, then takes them in time order; a person's open is refused when the
stored delivery makes it a machine's. Each case runs on both engines."""

from __future__ import annotations

import json
from datetime import timedelta

from ripen.core.records import SEEN_KEPT, EventMark, Message
from ripen.ports.store import Store
from tests.contract import given


def opened(message: Message, seconds: int, **more) -> EventMark:
    at = message.sent_at + timedelta(hours=1, seconds=seconds)
    return EventMark(message.claim.key, "ses-1", f"open@{seconds}", "open", at, **more)


def item_bytes(store: Store, key: str) -> int | None:
    """The message item's size as DynamoDB stores it (roughly: its attributes as JSON), None in memory."""
    from ripen.adapters.dynamodb import DynamoStore
    from ripen.adapters.tables import MessageItem

    if not isinstance(store, DynamoStore):
        return None
    return len(json.dumps(MessageItem.get(key, consistent_read=True).serialize()))


def test_a_message_keeps_a_bounded_set_of_keys_and_takes_later_opens_in_time_order(store, clock):
    sent = given.sent(store, "ld_ana", clock.now())
    key = sent.claim.key
    # Given the keys it keeps are taken by opens
    for i in range(SEEN_KEPT):
        assert store.mark_message(key, [opened(sent, i)]) is not None
    # Then one more open with its key is refused: the set does not grow
    assert store.mark_message(key, [opened(sent, SEEN_KEPT)]) is None
    full = store.get_message(key)
    assert (len(full.activity.seen), full.activity.full) == (SEEN_KEPT, True)
    # while opens past the cap are taken in time order, each once: a redelivery (no later) is refused
    for i in range(SEEN_KEPT, SEEN_KEPT + 300):
        assert store.mark_message(key, [opened(sent, i, past_cap=True)]) is not None
    assert store.mark_message(key, [opened(sent, SEEN_KEPT + 299, past_cap=True)]) is None
    assert store.mark_message(key, [opened(sent, 5, past_cap=True)]) is None
    # and a complaint is never held up by the cap
    complaint = EventMark(key, "ses-1", "complaint@1", "complaint", sent.sent_at + timedelta(days=1))
    assert store.mark_message(key, [complaint]) is not None
    activity = store.get_message(key).activity
    assert activity.opens == SEEN_KEPT + 300
    assert len(activity.seen) == SEEN_KEPT + 1
    assert activity.open_past_cap_at == opened(sent, SEEN_KEPT + 299).at
    size = item_bytes(store, key)
    assert size is None or size < 16_000  # far below DynamoDB's 400 KB, however many more opens come


def test_a_persons_open_is_refused_when_the_stored_delivery_makes_it_a_machines(store, clock):
    sent = given.sent(store, "ld_ana", clock.now())
    key = sent.claim.key
    # a person's open, judged with no delivery known: written if none is stored
    assert store.mark_message(key, [opened(sent, 0, delivered_by=sent.sent_at)]) is not None
    delivered = EventMark(key, "ses-1", "delivery", "delivery", sent.sent_at + timedelta(hours=1))
    assert store.mark_message(key, [delivered]) is not None
    # the delivery stored: an open judged a person's against an earlier time is refused
    too_soon = opened(sent, 3, delivered_by=sent.sent_at + timedelta(hours=1, seconds=-7))
    assert store.mark_message(key, [too_soon]) is None
    # and one that allows for it is written
    later = opened(sent, 60, delivered_by=sent.sent_at + timedelta(hours=1, seconds=50))
    assert store.mark_message(key, [later]) is not None
    assert store.get_message(key).activity.opens == 2
