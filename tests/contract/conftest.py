"""The store contract: every case runs on the in-memory store the unit tests use and on DynamoDB
Local (tables from template.yaml), so the fake cannot drift from the real engine unnoticed."""

from __future__ import annotations

import pytest

# DynamoDB Local and its fresh tables, as the integration tests start them (one engine a session)
from tests.integration.conftest import dynamo_settings  # noqa: F401

ENGINES = ["memory", pytest.param("dynamodb", marks=pytest.mark.integration)]


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest):
    if request.param == "memory":
        from ripen_dev.fakes.store import InMemoryStore

        return InMemoryStore()
    from ripen.adapters.dynamodb import DynamoStore

    return DynamoStore(request.getfixturevalue("dynamo_settings"))
