"""`ripen import` through the signup service on the in-memory stack: consent proven or asked for,
Pinpoint opt-outs, addresses that must be skipped, dry runs. (10,000 rows: tests/integration/test_operate_import.py.)"""

from __future__ import annotations

from collections import Counter

import pytest

from ripen.core.leads import lead_id_for
from ripen.core.records import LeadStatus
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.operate import importing
from ripen_dev.operate.lead import forget
from ripen_dev.operate.target import OperatorError
from tests.conftest import REPO
from tests.support.ids import LEAD_ID_KEY
from tests.support.mailstack import make_stack

EXAMPLES = REPO / "examples" / "import"


@pytest.fixture
def stack(clock, catalog):
    return make_stack(InMemoryStore(), clock, catalog)


def steps_queued(stack) -> list[str]:
    return sorted(job.message_key.split("#", 1)[1] for job in stack.queue.drain())


def test_with_consent_the_lead_is_enrolled_at_once_and_its_consent_kept_as_proven(stack):
    report = importing.run(stack.app, importing.read(EXAMPLES / "leads.csv"), "trial-nurture", file="leads.csv")
    assert report.outcomes == Counter({"enrolled": 2})
    assert steps_queued(stack) == ["trial-nurture#1#welcome"]  # Ana's; Ben's waits for his send window
    [consent] = stack.store.get_lead(lead_id_for("ana@example.com", LEAD_ID_KEY.encode())).consents
    assert (consent.method, consent.source) == ("import", "import leads.csv")
    assert consent.confirmed_at.isoformat() == "2025-11-04T10:12:00+00:00"


def test_without_a_consent_column_every_row_gets_the_double_opt_in_and_nothing_else(stack):
    parsed = importing.read(EXAMPLES / "pinpoint-endpoints.jsonl")
    report = importing.run(stack.app, parsed, "trial-nurture", file="export.jsonl")
    # Then Ana and Chloé get a confirmation email; Ben's Pinpoint opt-out is imported as an unsubscribe
    assert report.outcomes == Counter({"pending_confirmation": 2, "unsubscribed (opted out)": 1})
    assert steps_queued(stack) == ["trial-nurture#1#confirm", "trial-nurture#1#confirm"]
    ben = stack.store.get_lead(lead_id_for("ben@example.org", LEAD_ID_KEY.encode()))
    assert ben.status is LeadStatus.UNSUBSCRIBED
    # And a sequence without double opt-in refuses such a file
    with pytest.raises(OperatorError, match="no consent column"):
        importing.run(stack.app, parsed, "ebook-nurture", file="export.jsonl")


def test_an_unsubscribed_person_erased_since_is_never_imported_again(stack):
    importing.run(stack.app, importing.read(EXAMPLES / "leads.csv"), "trial-nurture", file="leads.csv")
    ana = lead_id_for("ana@example.com", LEAD_ID_KEY.encode())
    stack.app.preferences.unsubscribe(ana, "link")
    stack.queue.drain()
    # When she is erased, and the same file is imported again
    assert forget(stack.app, "ana@example.com")["kept"] == "unsubscribed"
    report = importing.run(stack.app, importing.read(EXAMPLES / "leads.csv"), "trial-nurture", file="leads.csv")
    # Then she is skipped: nothing stored, nothing sent
    assert report.outcomes == Counter({"skipped: erased with an opt-out kept": 1, "already_enrolled": 1})
    assert stack.store.get_lead(ana) is None
    assert stack.queue.drain() == []


def test_a_dry_run_counts_and_writes_nothing(stack):
    report = importing.run(
        stack.app, importing.read(EXAMPLES / "pinpoint-endpoints.jsonl"), "trial-nurture", file="x", dry_run=True
    )
    assert report.outcomes == Counter({"would ask for confirmation (double opt-in)": 2, "unsubscribed (opted out)": 1})
    assert stack.store.leads == {}
    assert stack.queue.jobs == []


def test_an_unknown_sequence_is_one_clear_line(stack):
    with pytest.raises(OperatorError, match="no sequence 'nope': choose one of ebook-nurture, trial-nurture"):
        importing.run(stack.app, importing.read(EXAMPLES / "leads.csv"), "nope", file="leads.csv")
