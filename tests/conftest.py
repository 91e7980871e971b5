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


# -- pytest-xdist (`make test`: -n auto; --dist loadgroup from pyproject.toml) ----------------------------
# Workers take tests one at a time, except the modules below, whose tests share a module-scoped
# fixture (a served API, built artifacts, a moto server; the schemathesis module's last test checks
# what the others stored): each of those runs whole, in order, on one worker. (xdist's own
# `xdist_group` marks do not reach its scheduler on pytest 9, hence the list and the scheduler here.)
TOGETHER = frozenset(
    {
        "tests/integration/test_api_schemathesis.py",
        "tests/integration/test_contract.py",
        "tests/integration/test_sales_bus.py",
        "tests/integration/test_sender_ses.py",
        "tests/unit/test_replay.py",
        "tests/unit/test_simulation.py",
    }
)
# The longest tests are handed out first, so that at the end no worker is left alone with one of
# them while the other idles (a module of TOGETHER is named whole, to keep it in one piece).
LONGEST_FIRST = (
    "tests/integration/test_sweep_at_scale.py",
    "tests/integration/test_dev_stack.py::test_persisted_data_time_and_links_survive_a_restart",
    "tests/integration/test_contract.py",
    "tests/integration/test_dev_stack.py::test_ripen_dev_serves_until_ctrl_c_then_stops_everything",
    "tests/browser/test_dev_stack.py",
    "tests/integration/test_api_schemathesis.py",
    "tests/integration/test_engagement_dynamo.py::test_concurrent_clicks_hand_the_lead_to_sales_exactly_once",
    "tests/integration/test_dev_stack.py",
    "tests/integration/test_sweep_dynamo.py::test_two_sweeps_at_once_claim_and_queue_each_email_once",
    "tests/unit/test_deploy.py::test_the_template_passes_sam_validate_with_lint",
    "tests/unit/test_send_once.py",
    "tests/unit/test_engine_properties.py",
)
SHARED_SCOPES = ("class", "module", "package")


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0]


def _rank(item: pytest.Item) -> int:
    return next((n for n, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))


def _shares_a_fixture(item: pytest.Item) -> bool:
    definitions = getattr(item, "_fixtureinfo", None)
    if definitions is None:
        return False
    return any(defs and defs[-1].scope in SHARED_SCOPES for defs in definitions.name2fixturedefs.values())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker (all collect the same)
        items.sort(key=_rank)  # stable: a module's tests keep their order


def pytest_runtest_setup(item: pytest.Item) -> None:
    module = _module(item.nodeid)
    if hasattr(item.config, "workerinput") and module not in TOGETHER and _shares_a_fixture(item):
        pytest.fail(f"{module} shares a fixture between its tests: add it to TOGETHER in tests/conftest.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    if config.getoption("dist") != "loadgroup":
        return None  # xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class Scheduler(LoadScopeScheduling):
        """Scopes of one test each, or one module of TOGETHER."""

        def _split_scope(self, nodeid: str) -> str:
            module = _module(nodeid)
            return module if module in TOGETHER else nodeid

    return Scheduler(config, log)
