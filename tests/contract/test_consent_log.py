"""A lead's consent log as any store keeps it: every statement, in order, as it was written."""

from __future__ import annotations

from datetime import timedelta

from ripen.core.records import Consent
from tests.contract import given


def test_a_leads_consent_log_keeps_every_statement_in_order(store, clock):
    lead = given.lead(store, "ld_ana", clock.now())
    assert lead.consents == ()
    first = Consent(clock.now(), "form", "ebook-landing", "2026-03")
    assert store.save_lead(lead.with_consent(first), lead.revision)
    stored = store.get_lead("ld_ana")
    later = Consent(clock.now() + timedelta(days=3), "form", "trial-landing", "2026-05")
    assert store.save_lead(stored.with_consent(later).with_latest_confirmed(clock.now() + timedelta(days=4)), 2)
    log = store.get_lead("ld_ana").consents
    assert log[0] == first
    assert (log[1].source, log[1].wording, log[1].confirmed_at) == (
        "trial-landing",
        "2026-05",
        clock.now() + timedelta(days=4),
    )
    assert len(log) == 2
