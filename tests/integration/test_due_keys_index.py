"""The sweep's due indexes on DynamoDB Local: keys only, so a write that keeps an item's due time
writes no index entry; the items read after their keys, so one that moved on in between is left out
while paging goes on from the index's own place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from ripen.adapters.dynamodb import DynamoStore
from ripen.core.leads import shard_of
from ripen.core.records import Change
from ripen.core.state import Status
from ripen.services.sender import LEASE
from ripen_dev.local.botocore_hooks import on_dynamodb_calls
from tests.contract import given
from tests.support.ids import lead_id_for
from tests.support.mailstack import make_stack
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@dataclass
class Capacity:
    """What each DynamoDB write consumed, table and indexes apart (ReturnConsumedCapacity=INDEXES)."""

    consumed: list[dict[str, Any]] = field(default_factory=list)

    def ask(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def keep(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES:
            answer = parsed.get("ConsumedCapacity") or []
            self.consumed.extend(answer if isinstance(answer, list) else [answer])

    def on(self, table: str) -> list[dict[str, Any]]:
        return [c for c in self.consumed if c["TableName"] == table]


@contextmanager
def capacity() -> Iterator[Capacity]:
    """Every botocore client created inside reports what its writes consumed."""
    seen = Capacity()
    with on_dynamodb_calls(("before-parameter-build.dynamodb", seen.ask), ("after-call.dynamodb", seen.keep)):
        yield seen


def table_units_only(consumed: list[dict[str, Any]]) -> bool:
    return all(
        c["CapacityUnits"] == c["Table"]["CapacityUnits"] and not c.get("GlobalSecondaryIndexes") for c in consumed
    )


@contextmanager
def before_items_are_read(settings, move) -> Iterator[None]:
    """`move()` runs once, after the due index listed its keys and before the items are read."""
    done: list[bool] = []

    def between(**_: Any) -> None:
        if not done:
            done.append(True)
            move()

    with on_dynamodb_calls(("before-call.dynamodb.BatchGetItem", between)):
        yield
    assert done, "the items were never read after the index"


def leads_in_one_shard(count: int, shards: int) -> list[str]:
    ids = (lead_id_for(f"lead{i}@example.com") for i in range(1000))
    first = lead_id_for("lead0@example.com")
    return [i for i in ids if shard_of(i, shards) == shard_of(first, shards)][:count]


def waiting(store, lead_ids: list[str], now: datetime) -> list:
    """An enrollment for each lead, due a minute apart (the first the oldest), all due by `now`."""
    records = []
    for n, lead_id in enumerate(lead_ids):
        due = now - timedelta(hours=1) + timedelta(minutes=n)
        assert store.commit(Change(given.enrollment(lead_id, now - timedelta(days=1), due=due), None))
        records.append(store.get_enrollment(lead_id, given.SEQUENCE))
    return records


def leads(page) -> list[str]:
    return [r.enrollment.lead_id for r in page]


# -- no index write when the due time stays -----------------------------------------------------------


def test_an_open_on_an_enrollment_waiting_for_its_timer_writes_no_index_entry(dynamo_settings, clock, catalog):
    with capacity() as seen:
        stack = make_stack(DynamoStore(dynamo_settings), clock, catalog)
        # Given a lead whose welcome went out: their enrollment waits a day for its timer (due index)
        ana = stack.signup("ana@example.com")
        welcome = stack.sent(ana, "welcome")
        before = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
        assert before.enrollment.next_action_at is not None
        assert before.enrollment.next_action_at > clock.now()
        seen.consumed.clear()
        # When they open it (an open scores)
        stack.ses(sqs_batch(event_about(welcome, "open")))
    # Then the score moved and the timer did not
    after = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert after.enrollment.score > before.enrollment.score
    assert after.enrollment.next_action_at == before.enrollment.next_action_at
    # And the enrollment's write consumed the table's write units only: no due index entry written
    written = seen.on(dynamo_settings.enrollments_table)
    assert written
    assert table_units_only(written), written
    assert table_units_only(seen.on(dynamo_settings.messages_table)), seen.on(dynamo_settings.messages_table)


def test_a_lease_that_keeps_the_messages_due_time_writes_no_index_entry(dynamo_settings, clock):
    with capacity() as seen:
        store = DynamoStore(dynamo_settings)
        # Given a claimed email, due in the index when its claim times out (after a lease would end)
        message = given.claimed(store, lead_id_for("ana@example.com"), clock.now())
        now = clock.now()
        assert message.due_at is not None
        assert message.due_at >= now + LEASE
        seen.consumed.clear()
        # When a sender leases it
        lease = store.lease_message(message, now, now + LEASE)
    # Then it holds the lease, still due at the same time
    assert lease is not None
    assert lease.due_at == message.due_at
    # And the write consumed the table's write units only: no due index entry written
    [written] = seen.on(dynamo_settings.messages_table)
    assert table_units_only([written]), written


# -- items read after their keys ------------------------------------------------------------------------


def test_a_due_enrollment_that_ends_before_its_item_is_read_is_left_out_and_paging_goes_on(
    dynamo_store, dynamo_settings, clock
):
    # Given four enrollments due in one shard, oldest first
    a, b, c, d = waiting(dynamo_store, leads_in_one_shard(4, len(dynamo_store.shards)), clock.now())
    shard = shard_of(a.enrollment.lead_id, len(dynamo_store.shards))
    other = DynamoStore(dynamo_settings)

    def b_ends() -> None:  # the lead opted out: the run ends, out of the due index
        ended = replace(b, enrollment=replace(b.enrollment, status=Status.UNSUBSCRIBED, next_action_at=None, wait=None))
        assert other.commit(Change(ended, b.revision))

    # When the sweep reads a page of two, and the second ends after the index listed it
    with before_items_are_read(dynamo_settings, b_ends):
        first = dynamo_store.due_enrollments(shard, clock.now(), 2)
    # Then it is left out, and the page is still full: the next key read on from the index
    assert leads(first) == [a.enrollment.lead_id, c.enrollment.lead_id]
    # And the next page goes on after the last one's place in the index, to the end
    second = dynamo_store.due_enrollments(shard, clock.now(), 2, after=first[-1])
    assert leads(second) == [d.enrollment.lead_id]


def test_a_due_enrollment_whose_timer_moved_on_is_listed_at_its_new_place(dynamo_store, dynamo_settings, clock):
    # Given four enrollments due in one shard, oldest first
    a, b, c, d = waiting(dynamo_store, leads_in_one_shard(4, len(dynamo_store.shards)), clock.now())
    shard = shard_of(a.enrollment.lead_id, len(dynamo_store.shards))
    other = DynamoStore(dynamo_settings)
    later = d.enrollment.next_action_at + timedelta(minutes=1)

    def b_moves() -> None:  # another writer put its timer after the last one's, still due now
        assert other.commit(Change(replace(b, enrollment=replace(b.enrollment, next_action_at=later)), b.revision))

    # When the sweep pages through the shard two at a time, and the second moves after the index listed it
    with before_items_are_read(dynamo_settings, b_moves):
        first = dynamo_store.due_enrollments(shard, clock.now(), 2)
    second = dynamo_store.due_enrollments(shard, clock.now(), 2, after=first[-1])
    third = dynamo_store.due_enrollments(shard, clock.now(), 2, after=second[-1])
    # Then it is read once, at its new place, as it is now, and every other once in order
    assert leads(first) == [a.enrollment.lead_id, c.enrollment.lead_id]
    assert leads(second) == [d.enrollment.lead_id, b.enrollment.lead_id]
    assert second[-1].enrollment.next_action_at == later
    assert third == []


def test_a_due_message_sent_before_its_item_is_read_is_left_out(dynamo_store, dynamo_settings, clock):
    # Given two claimed emails of leads in one shard, both past their claim timeout
    first_lead, second_lead = leads_in_one_shard(2, len(dynamo_store.shards))
    sent_meanwhile = given.claimed(dynamo_store, first_lead, clock.now())
    waiting_one = given.claimed(dynamo_store, second_lead, clock.now() + timedelta(minutes=1))
    clock.advance(days=1)
    shard = shard_of(first_lead, len(dynamo_store.shards))
    other = DynamoStore(dynamo_settings)

    def sent() -> None:  # a sender leased and sent the first: out of the due index
        lease = other.lease_message(sent_meanwhile, clock.now(), clock.now() + LEASE)
        assert lease is not None
        assert other.record_sent(lease, "ses-1", clock.now())

    # When the sweep reads its due messages, and the first is sent after the index listed it
    with before_items_are_read(dynamo_settings, sent):
        due = dynamo_store.due_messages(shard, clock.now(), 10)
    # Then only the one still waiting is read
    assert [m.claim.key for m in due] == [waiting_one.claim.key]
