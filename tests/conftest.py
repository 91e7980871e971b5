from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ripen.adapters.templates import load_catalog
from ripen.core.validator import Catalog
from ripen_dev.fakes.clock import ManualClock

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"
EVENTS = REPO / "events"
# Every DynamoDB Local a test starts (its own, the dev stack's, `ripen dev`'s) lives for seconds to
# minutes: the quick JIT alone and one GC thread halve the CPU Java spends (measured: 14.7 s -> 7 s
# for 15 template table sets and 3,000 requests), which the tests on the other core want.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture
def clock() -> ManualClock:
    # A Monday, 09:30 UTC: inside most send windows.
    return ManualClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    loaded = load_catalog(TEMPLATES)
    assert not loaded.problems, "\n".join(map(str, loaded.problems))
    return loaded


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """AWS's DynamoDB Local, in memory: one per test process (each xdist worker its own), for the
    integration, browser and contract tests alike; tests keep apart by table prefix."""
    from tests.support import dynamodb

    yield dynamodb.endpoint()
    dynamodb.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on a free port: SQS (and the other AWS APIs moto has) over real HTTP."""
    from moto.server import ThreadedMotoServer

    from ripen_dev.local.dynamodb_local import free_port

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
