from __future__ import annotations

from collections.abc import Iterator

import pytest

from ripen.app import use
from ripen_dev.fakes.store import InMemoryStore
from tests.support.mailstack import Stack, make_stack


@pytest.fixture
def stack(clock, catalog) -> Iterator[Stack]:
    """ripen in memory (store, queue, outbox, manual clock), installed as the api handler uses it."""
    built = make_stack(InMemoryStore(), clock, catalog)
    use(built.app)
    yield built
    use(None)
