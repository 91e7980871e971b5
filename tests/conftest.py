from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ripen.clock import ManualClock
from ripen.core.validator import Catalog, load_catalog

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
