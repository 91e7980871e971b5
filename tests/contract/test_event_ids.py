"""The event-id contract: the in-memory ids and the EventIds table (DynamoDB Local, made from
template.yaml) let each product event be applied once, and let a dead attempt's claim be taken over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ripen.ports.event_ids import Claim, EventIds
from tests.contract.conftest import ENGINES

NOW = datetime(2026, 3, 2, 15, 30, 7, tzinfo=UTC)
LEASE = timedelta(minutes=2)
KEEP = timedelta(days=30)


@pytest.fixture(params=ENGINES)
def event_ids(request: pytest.FixtureRequest) -> EventIds:
    if request.param == "memory":
        from ripen_dev.fakes.event_ids import MemoryEventIds

        return MemoryEventIds()
    import boto3

    from ripen.adapters.event_ids import DynamoEventIds
    from ripen_dev.local import cfn, resources
    from tests.integration.conftest import TEMPLATE

    endpoint = request.getfixturevalue("dynamodb_endpoint")
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    tables = resources.create_tables(
        client, cfn.load_template(TEMPLATE), f"t{uuid.uuid4().hex[:8]}-", expire_items=False
    )
    return DynamoEventIds(tables["EventIdsTable"], "us-east-1", endpoint)


def claim(ids: EventIds, event_id: str, at: datetime) -> Claim:
    return ids.claim(event_id, at, at + LEASE, at + KEEP)


def test_an_event_id_is_taken_once_and_then_known_as_applied(event_ids):
    # Given an attempt took an id and applied its event
    assert claim(event_ids, "evt-1", NOW) is Claim.TAKEN
    event_ids.mark_applied("evt-1", NOW + KEEP)
    # Then every later delivery of the same id finds it applied, however late
    assert claim(event_ids, "evt-1", NOW + timedelta(seconds=1)) is Claim.APPLIED
    assert claim(event_ids, "evt-1", NOW + timedelta(days=3)) is Claim.APPLIED


def test_a_live_claim_holds_off_a_second_attempt(event_ids):
    assert claim(event_ids, "evt-2", NOW) is Claim.TAKEN
    assert claim(event_ids, "evt-2", NOW + timedelta(seconds=30)) is Claim.HELD


def test_the_claim_of_an_attempt_that_died_is_taken_over_after_its_lease(event_ids):
    # Given an attempt took the id and never marked it applied
    assert claim(event_ids, "evt-3", NOW) is Claim.TAKEN
    # When the retry comes after the lease ran out
    # Then it takes the id over, and applies it
    assert claim(event_ids, "evt-3", NOW + LEASE + timedelta(seconds=2)) is Claim.TAKEN
    event_ids.mark_applied("evt-3", NOW + KEEP)
    assert claim(event_ids, "evt-3", NOW + LEASE + timedelta(seconds=3)) is Claim.APPLIED


def test_ids_are_kept_apart(event_ids):
    assert claim(event_ids, "evt-a", NOW) is Claim.TAKEN
    assert claim(event_ids, "evt-b", NOW) is Claim.TAKEN
