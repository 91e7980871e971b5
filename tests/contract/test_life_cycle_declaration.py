"""The message life cycle is declared once (core/sending.py); both stores are built from it. These
cases keep the declaration whole: every transition translates to a DynamoDB condition and update,
and a guard the memory store evaluates rejects exactly what it says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ripen.adapters.dynamodb import _actions, _condition
from ripen.core import sending
from ripen.core.records import Message, MessageStatus
from tests.contract import given

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ARGS = {
    "now": NOW,
    "lease_until": NOW + given.LEASE,
    "lease_due": NOW + given.LEASE,
    "status": MessageStatus.CLAIMED,
    "leased_at": NOW,
    "due_at": NOW,
    "resent_at": NOW,
    "ses_message_id": "ses-1",
    "sent_at": NOW,
    "reason": "why",
    "retry_at": NOW,
    "until": NOW,
    "at": NOW,
    "error": "bus refused",
}


@pytest.mark.parametrize("transition", sending.TRANSITIONS, ids=lambda t: t.name)
def test_every_transition_has_a_dynamodb_condition_and_update(transition):
    read = Message(given.claim("ld_ana", NOW), due_at=NOW)
    condition = _condition(transition, read, ARGS)
    assert "attribute_exists (#0)" in condition.serialize({}, {})  # never creates a message
    assert len(_actions(transition, ARGS, due_shard="00")) >= len(transition.effect)


def test_a_lease_is_the_first_or_the_one_resend_and_nothing_else():
    claimed = Message(given.claim("ld_ana", NOW))
    assert sending.lease_for(claimed) is sending.LEASE
    in_doubt = sending.applied(sending.LEASE, claimed, ARGS)
    assert sending.lease_for(in_doubt) is sending.RESEND
    later = {**ARGS, "now": NOW + given.LEASE}
    assert not sending.allows(sending.RESEND, in_doubt, in_doubt, ARGS)  # still live
    resent = sending.applied(sending.RESEND, in_doubt, later)
    assert sending.allows(sending.RESEND, in_doubt, in_doubt, later)
    assert (resent.attempts, resent.resent_at) == (2, NOW + given.LEASE)
    assert not sending.allows(sending.RESEND, resent, resent, {**ARGS, "now": NOW + timedelta(days=1)})
    for status in (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.SKIPPED):
        assert sending.lease_for(replace(claimed, status=status)) is None


@pytest.mark.parametrize("lease", ["first", "resend"])
def test_an_undone_lease_leaves_the_message_exactly_as_it_was_read(lease):
    # Given a message as a sender read it: claimed, or in doubt (its lease ran out, never resent)
    read = Message(given.claim("ld_ana", NOW), due_at=NOW + sending.CLAIM_TIMEOUT)
    at = NOW
    if lease == "resend":
        read = sending.applied(sending.LEASE, read, sending.lease_args(read, NOW, NOW + given.LEASE))
        at = NOW + given.LEASE + timedelta(minutes=15)
    # When it leases it, then undoes the lease (the lead changed before SES was called)
    transition = sending.lease_for(read)
    assert transition is not None
    leased = sending.applied(transition, read, sending.lease_args(read, at, at + given.LEASE))
    undo = sending.unlease_args(read)
    assert sending.allows(sending.UNLEASE, leased, leased, undo)
    # Then the message is as it was read, to the field
    assert sending.applied(sending.UNLEASE, leased, undo) == read
    # and only that very lease can be undone: not one another sender took since
    later = replace(leased, leased_at=at + timedelta(seconds=1))
    assert not sending.allows(sending.UNLEASE, later, leased, undo)
