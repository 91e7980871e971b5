"""The limiter contract: the in-memory limiter and the Limits table (DynamoDB Local, made from
template.yaml) count takes the same way."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ripen.ports.limits import Limiter
from tests.contract.conftest import ENGINES

NOW = datetime(2026, 3, 2, 15, 30, 7, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(params=ENGINES)
def limiter(request: pytest.FixtureRequest) -> Limiter:
    if request.param == "memory":
        from ripen_dev.fakes.limits import MemoryLimiter

        return MemoryLimiter()
    import boto3

    from ripen.adapters.limits import DynamoLimiter
    from ripen_dev.local import cfn, resources
    from tests.integration.conftest import TEMPLATE

    endpoint = request.getfixturevalue("dynamodb_endpoint")
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    tables = resources.create_tables(
        client, cfn.load_template(TEMPLATE), f"t{uuid.uuid4().hex[:8]}-", expire_items=False
    )
    return DynamoLimiter(tables["LimitsTable"], "us-east-1", endpoint)


def test_a_key_is_taken_up_to_its_limit_and_then_refused(limiter):
    assert [limiter.take("k1", 3, HOUR, NOW) for _ in range(5)] == [True, True, True, False, False]


def test_keys_and_windows_are_counted_apart(limiter):
    assert limiter.take("k1", 1, HOUR, NOW)
    assert limiter.take("k2", 1, HOUR, NOW)
    assert limiter.take("k1", 1, timedelta(days=1), NOW)
    assert not limiter.take("k1", 1, HOUR, NOW)


def test_the_limit_holds_over_any_span_of_the_window_and_frees_up_after_it(limiter):
    # Given takes spread over the hour (slot boundaries crossed on the way)
    taken = [limiter.take("k1", 3, HOUR, NOW + timedelta(minutes=m)) for m in (0, 20, 40, 55)]
    assert taken == [True, True, True, False]
    # Then a window later the first takes no longer count
    later = NOW + HOUR + timedelta(minutes=7)
    assert limiter.take("k1", 3, HOUR, later)
