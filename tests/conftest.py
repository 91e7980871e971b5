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
