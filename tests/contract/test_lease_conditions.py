"""A lease holds only if the message and the lead the sender decided from are still as it read them
(issue 13.2), for every kind of email (the enrollment is read again once the lease is held: the
sender's own tests, `test_changes_while_sending`). Each case runs on the in-memory store and
DynamoDB Local."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ripen.core.records import LeadStatus
from tests.contract import given
from tests.contract.given import LEASE

KINDS = ["nurture", "confirmation"]


def read_by_a_sender(store, clock, kind):
    """A lead with one email of `kind` claimed, and the message, lead and enrollment as read."""
    given.lead(store, "ld_ana", clock.now())
    message = given.claimed(store, "ld_ana", clock.now(), kind=kind)
    context = store.send_context(message.claim.key, "ld_ana", given.SEQUENCE)
    assert (context.message, context.lead, context.record) != (None, None, None)
    return context


@pytest.mark.parametrize("kind", KINDS)
def test_a_lease_as_read_takes_the_message_and_a_place_on_the_lead_only_for_a_nurture_email(store, clock, kind):
    read = read_by_a_sender(store, clock, kind)
    now = clock.now()
    leased = store.lease_message(read.message, now, now + LEASE, read.lead)
    assert leased is not None
    assert leased == store.get_message(read.message.claim.key)
    lead = store.get_lead("ld_ana")
    if kind == "nurture":
        assert (lead.recent_emails, lead.revision) == ((read.message.claim.created_at,), read.lead.revision + 1)
    else:  # a confirmation does not count under the frequency cap: the lead is only checked
        assert lead == read.lead
    assert store.get_enrollment("ld_ana", given.SEQUENCE) == read.record


@pytest.mark.parametrize("kind", KINDS)
def test_a_lease_on_a_lead_that_changed_since_it_was_read_writes_nothing(store, clock, kind):
    # Given a sender that read an email, its lead and its enrollment
    read = read_by_a_sender(store, clock, kind)
    # When the lead changes before the lease (a complaint suppressed them)
    assert store.save_lead(replace(read.lead, status=LeadStatus.SUPPRESSED), read.lead.revision)
    # Then the lease is not taken, whatever the kind of email
    now = clock.now()
    assert store.lease_message(read.message, now, now + LEASE, read.lead) is None
    assert store.get_message(read.message.claim.key) == read.message
    assert store.get_lead("ld_ana").recent_emails == ()
