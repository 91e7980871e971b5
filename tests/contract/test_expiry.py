"""What time to live deletes, on both engines: the items whose TTL attribute has passed, and only
those. An unconfirmed lead goes; a lead whose TTL was cleared (suppressed, unsubscribed, confirmed)
stays; a run that ended never confirmed goes after its messages; every other enrollment stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ripen.core.records import UNCONFIRMED_RUN_OUTLIVES_ITS_MESSAGES, Change, Lead, LeadStatus
from ripen.core.state import Status
from ripen_dev.fakes.store import RETENTION
from tests.contract import given
from tests.support.expiry import expire_items

DAY = timedelta(days=1)


def test_an_unconfirmed_lead_goes_with_its_ttl_and_one_whose_ttl_was_cleared_stays(store, clock):
    at = clock.now()
    for lead_id in ("ld_unconfirmed", "ld_suppressed"):
        assert store.create_lead(Lead(lead_id, f"{lead_id}@example.com", at, expires_at=at + 30 * DAY))
    suppressed = store.get_lead("ld_suppressed")
    cleared = replace(suppressed, status=LeadStatus.SUPPRESSED, status_reason="complaint", expires_at=None)
    assert store.save_lead(cleared, suppressed.revision)
    # Before the TTL nothing goes; after it, the lead that still carries one does
    assert expire_items(store, at + 29 * DAY) == 0
    assert expire_items(store, at + 31 * DAY) == 1
    assert store.get_lead("ld_unconfirmed") is None
    assert store.get_lead("ld_suppressed").status is LeadStatus.SUPPRESSED


def test_a_run_that_ended_never_confirmed_goes_after_its_messages_and_other_enrollments_stay(store, clock):
    at = clock.now()
    for lead_id, status in [
        ("ld_expired", Status.EXPIRED),
        ("ld_left", Status.UNSUBSCRIBED),
        ("ld_done", Status.COMPLETED),
    ]:
        ended = given.enrollment(lead_id, at, status=status)
        ended = replace(ended, enrollment=replace(ended.enrollment, ended_at=at))
        assert store.commit(Change(ended, None, (given.claim(lead_id, at),), given.history(lead_id, at, 1)))
    # When the messages' retention has passed, the messages and history go, every run stays
    expire_items(store, at + RETENTION + DAY)
    assert store.get_message(given.claim("ld_expired", at).key) is None
    assert store.history_of("ld_expired") == []
    assert len(store.get_enrollments([("ld_expired", given.SEQUENCE), ("ld_left", given.SEQUENCE)])) == 2
    # and once the margin after it has passed too, the run never confirmed goes
    expire_items(store, at + RETENTION + UNCONFIRMED_RUN_OUTLIVES_ITS_MESSAGES + DAY)
    assert store.get_enrollment("ld_expired", given.SEQUENCE) is None
    assert store.get_enrollment("ld_left", given.SEQUENCE).enrollment.status is Status.UNSUBSCRIBED
    assert store.get_enrollment("ld_done", given.SEQUENCE).enrollment.status is Status.COMPLETED
