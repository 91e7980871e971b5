"""A message's life as any store keeps it: claimed once, leased by one sender, sent once, given back,
ended, or reconciled from SES's Send event. Each case runs on the in-memory store and DynamoDB Local."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ripen.core.records import Change, MessageStatus
from ripen.core.sending import ERROR_KEPT, Move, next_move
from ripen.services.sender import SEND_EVENT_WAIT
from tests.contract import given
from tests.contract.given import LEASE


def due_keys(store, at) -> set[str]:
    return {m.claim.key for shard in store.shards for m in store.due_messages(shard, at, 100)}


def test_a_step_claimed_twice_is_stored_once(store, clock):
    # Given an email claimed with its enrollment
    first = given.claimed(store, "ld_ana", clock.now())
    # When a second writer (a stale decision, a retried job) claims the same step
    record = store.get_enrollment("ld_ana", given.SEQUENCE)
    again = Change(
        record, record.revision, (given.claim("ld_ana", clock.now()),), given.history("ld_ana", clock.now(), 2)
    )
    # Then nothing of its write lands: not the claim, not the enrollment, not its history
    assert store.commit(again) is False
    assert store.get_message(first.claim.key) == first
    assert store.get_enrollment("ld_ana", given.SEQUENCE).revision == record.revision
    assert len(store.history_of("ld_ana")) == 1


def test_a_claimed_message_waits_in_the_due_index_until_its_claim_times_out(store, clock):
    message = given.claimed(store, "ld_ana", clock.now())
    assert (message.status, message.attempts) == (MessageStatus.CLAIMED, 0)
    assert due_keys(store, message.due_at - timedelta(seconds=1)) == set()
    assert due_keys(store, message.due_at) == {message.claim.key}


def test_of_two_senders_holding_the_same_read_only_one_gets_the_lease(store, clock):
    # Given one claimed email, read by eight senders (SQS delivers at least once)
    message = given.claimed(store, "ld_ana", clock.now())
    now = clock.now()
    # When they all take the lease at once
    leases = given.race(8, lambda _: store.lease_message(message, now, now + LEASE))
    # Then one holds it: sending, tried once, still due when its claim times out (after the lease
    # runs out, so the sweep finds it if its sender dies; the index key did not move)
    [lease] = [m for m in leases if m is not None]
    assert lease == store.get_message(message.claim.key)
    assert (lease.status, lease.attempts, lease.leased_at, lease.lease_until, lease.due_at) == (
        MessageStatus.SENDING,
        1,
        now,
        now + LEASE,
        message.due_at,
    )
    assert message.due_at is not None
    assert message.due_at >= now + LEASE
    assert due_keys(store, message.due_at) == {message.claim.key}


def test_a_lease_on_a_message_due_before_the_lease_ends_makes_it_due_when_the_lease_runs_out(store, clock):
    # Given a claimed email put back until now (the frequency cap held it)
    claimed = given.claimed(store, "ld_ana", clock.now())
    assert store.release_message(claimed, clock.now(), "frequency cap")
    message = store.get_message(claimed.claim.key)
    now = clock.now()
    # When a sender leases it
    lease = store.lease_message(message, now, now + LEASE)
    # Then it is due when the lease runs out: the sweep finds it if its sender dies
    assert lease is not None
    assert lease.due_at == now + LEASE == store.get_message(claimed.claim.key).due_at
    assert due_keys(store, now + LEASE - timedelta(seconds=1)) == set()
    assert due_keys(store, now + LEASE) == {claimed.claim.key}


def test_a_lease_on_a_message_whose_due_time_moved_since_it_was_read_writes_nothing(store, clock):
    # Given a claimed email read by a sender, then put off by another writer (the sweep queueing it again)
    message = given.claimed(store, "ld_ana", clock.now())
    assert store.postpone_message(message, clock.now() + timedelta(hours=1))
    now = clock.now()
    # When the sender leases it as it read it
    # Then nothing is written: it reads again (and keeps the due time the sweep chose in mind)
    assert store.lease_message(message, now, now + LEASE) is None
    assert store.get_message(message.claim.key).status is MessageStatus.CLAIMED


def test_a_lease_takes_the_emails_place_on_the_lead_in_the_same_write(store, clock):
    lead = given.lead(store, "ld_ana", clock.now())
    message = given.claimed(store, "ld_ana", clock.now())
    lease = store.lease_message(message, clock.now(), clock.now() + LEASE, lead)
    assert lease is not None
    stored = store.get_lead("ld_ana")
    assert (stored.recent_emails, stored.revision) == ((message.claim.created_at,), lead.revision + 1)
    assert store.get_message(message.claim.key) == lease


def test_a_lease_on_a_lead_that_changed_since_it_was_read_writes_nothing(store, clock):
    lead = given.lead(store, "ld_ana", clock.now())
    message = given.claimed(store, "ld_ana", clock.now())
    assert store.save_lead(lead, lead.revision)  # another writer moves the lead on
    assert store.lease_message(message, clock.now(), clock.now() + LEASE, lead) is None
    assert store.get_message(message.claim.key) == message
    assert store.get_lead("ld_ana").recent_emails == ()


@pytest.mark.parametrize("end", ["sent", "skipped", "failed", "live lease", "reported by SES"])
def test_a_message_is_leased_only_while_it_may_be_sent(store, clock, end):
    # Given a message that may not be sent (again) right now
    now = clock.now()
    if end == "sent":
        read = given.sent(store, "ld_ana", now)
    elif end in ("skipped", "failed"):
        message = given.claimed(store, "ld_ana", now)
        assert store.record_unsent(message, MessageStatus(end), "not wanted any more")
        read = store.get_message(message.claim.key)
    elif end == "live lease":
        read = given.leased(store, "ld_ana", now)
    else:
        message = given.claimed(store, "ld_ana", now)
        assert store.observe_ses_id(message.claim.key, "ses-early")
        read = store.get_message(message.claim.key)
    # When a sender tries to lease it (even once any lease would have run out)
    later = now + LEASE + timedelta(seconds=1) if end != "live lease" else now + timedelta(seconds=1)
    # Then it gets nothing and the message stays as it was
    assert store.lease_message(read, later, later + LEASE) is None
    assert store.get_message(read.claim.key) == read


def test_a_lease_that_ran_out_leaves_the_message_in_doubt_and_allows_one_resend(store, clock):
    # Given a sender that leased an email and died
    first = given.leased(store, "ld_ana", clock.now())
    # When its lease runs out: in doubt, waiting for SES's Send event; then the one resend
    clock.advance(LEASE + timedelta(seconds=1))
    in_doubt = store.get_message(first.claim.key)
    assert next_move(in_doubt, clock.now(), SEND_EVENT_WAIT).move is Move.AWAIT_SES
    clock.advance(SEND_EVENT_WAIT)
    assert next_move(in_doubt, clock.now(), SEND_EVENT_WAIT).move is Move.RESEND
    now = clock.now()
    resend = store.lease_message(in_doubt, now, now + LEASE)
    # Then the resend is the second attempt and counts as the one resend
    assert resend == store.get_message(first.claim.key)
    assert (resend.attempts, resend.resent_at, resend.lease_until) == (2, now, now + LEASE)
    # and once it too runs out, no sender gets a third try: it is parked
    clock.advance(LEASE + SEND_EVENT_WAIT + timedelta(seconds=1))
    assert next_move(resend, clock.now(), SEND_EVENT_WAIT).move is Move.PARK
    assert store.lease_message(resend, clock.now(), clock.now() + LEASE) is None


def test_a_send_is_recorded_once_and_leaves_the_due_index(store, clock):
    leased = given.leased(store, "ld_ana", clock.now())
    assert store.record_sent(leased, "ses-1", clock.now())
    assert store.record_sent(leased, "ses-2", clock.now()) is False
    sent = store.get_message(leased.claim.key)
    assert (sent.status, sent.ses_message_id, sent.sent_at, sent.lease_until, sent.due_at) == (
        MessageStatus.SENT,
        "ses-1",
        clock.now(),
        None,
        None,
    )
    assert due_keys(store, clock.now() + timedelta(days=30)) == set()
    assert store.find_message_by_ses_id("ses-1") == sent


def test_a_sender_whose_lease_was_taken_over_cannot_record_its_send(store, clock):
    # Given a sender whose lease ran out, and another sender that took the resend
    stale = given.leased(store, "ld_ana", clock.now())
    clock.advance(LEASE + SEND_EVENT_WAIT + timedelta(seconds=1))
    resend = store.lease_message(stale, clock.now(), clock.now() + LEASE)
    assert resend is not None
    # Then only the holder of the live lease records the send
    assert store.record_sent(stale, "ses-old", clock.now()) is False
    assert store.record_sent(resend, "ses-new", clock.now())
    assert store.get_message(stale.claim.key).ses_message_id == "ses-new"


def test_a_released_message_is_claimed_again_and_due_at_the_retry_time(store, clock):
    leased = given.leased(store, "ld_ana", clock.now())
    retry_at = clock.now() + timedelta(minutes=30)
    assert store.release_message(leased, retry_at, "throttled")
    released = store.get_message(leased.claim.key)
    assert (released.status, released.lease_until, released.due_at, released.error, released.attempts) == (
        MessageStatus.CLAIMED,
        None,
        retry_at,
        "throttled",
        1,
    )
    assert due_keys(store, retry_at) == {leased.claim.key}
    # the stale read (still `sending`) gives nothing back a second time
    assert store.release_message(leased, retry_at) is False
    # a release without a reason clears the last one, and the next lease is the second attempt
    assert store.release_message(released, retry_at + LEASE)
    assert store.get_message(leased.claim.key).error is None
    assert store.lease_message(store.get_message(leased.claim.key), retry_at, retry_at + LEASE).attempts == 2


def test_putting_off_the_resend_counts_the_message_as_resent_once(store, clock):
    leased = given.leased(store, "ld_ana", clock.now())
    clock.advance(LEASE + SEND_EVENT_WAIT + timedelta(seconds=1))
    in_doubt = store.get_message(leased.claim.key)
    first_retry = clock.now() + timedelta(hours=1)
    assert store.release_message(in_doubt, first_retry, "frequency cap", resend=True)
    put_off = store.get_message(leased.claim.key)
    assert (put_off.status, put_off.resent_at) == (MessageStatus.CLAIMED, first_retry)
    # put off again: the first time stays
    assert store.release_message(put_off, first_retry + timedelta(hours=1), resend=True)
    assert store.get_message(leased.claim.key).resent_at == first_retry


@pytest.mark.parametrize("status", [MessageStatus.SKIPPED, MessageStatus.FAILED])
def test_a_skipped_or_failed_message_is_over(store, clock, status):
    # Given a leased email that may not go out after all
    leased = given.leased(store, "ld_ana", clock.now())
    why = given.history("ld_ana", clock.now(), 2, trigger="not sent", message=leased.claim.key)
    # When its sender ends it, with a (long) reason and its history entry
    assert store.record_unsent(leased, status, "x" * (ERROR_KEPT + 50), why)
    # Then it is out of the due index, its reason kept (clipped), the history written with it
    ended = store.get_message(leased.claim.key)
    assert (ended.status, ended.error, ended.lease_until, ended.due_at) == (status, "x" * ERROR_KEPT, None, None)
    assert why in store.history_of("ld_ana")
    assert due_keys(store, clock.now() + timedelta(days=30)) == set()
    # and nothing moves it again
    assert store.record_unsent(leased, status, "again") is False
    assert store.release_message(leased, clock.now()) is False
    assert store.record_sent(ended, "ses-1", clock.now()) is False
    assert store.lease_message(ended, clock.now(), clock.now() + LEASE) is None
    with pytest.raises(ValueError, match="failed or skipped"):
        store.record_unsent(ended, MessageStatus.SENT, "no")


def test_a_message_ses_reported_is_never_skipped(store, clock):
    leased = given.leased(store, "ld_ana", clock.now())
    assert store.observe_ses_id(leased.claim.key, "ses-1")
    assert store.record_unsent(leased, MessageStatus.SKIPPED, "unsubscribed meanwhile") is False
    assert store.get_message(leased.claim.key).status is MessageStatus.SENDING


def test_a_send_event_reconciles_a_send_its_sender_never_recorded(store, clock):
    # Given a sender that reached SES and died before recording it
    leased = given.leased(store, "ld_ana", clock.now())
    # When SES's Send event names it: noted at once, recorded once the lease is over
    assert store.observe_ses_id(leased.claim.key, "ses-1")
    assert store.reconcile_sent(leased.claim.key, "ses-1", clock.now(), clock.now()) is False  # lease still live
    clock.advance(LEASE)
    assert store.reconcile_sent(leased.claim.key, "ses-1", leased.leased_at, clock.now())
    # Then it is sent, under that id, out of the due index; and nothing records it twice
    sent = store.get_message(leased.claim.key)
    assert (sent.status, sent.ses_message_id, sent.observed_ses_message_id, sent.sent_at, sent.due_at) == (
        MessageStatus.SENT,
        "ses-1",
        "ses-1",
        leased.leased_at,
        None,
    )
    assert store.reconcile_sent(leased.claim.key, "ses-1", clock.now(), clock.now()) is False
    assert store.observe_ses_id(leased.claim.key, "ses-2") is False


def test_only_a_message_tried_at_least_once_is_reconciled(store, clock):
    message = given.claimed(store, "ld_ana", clock.now())
    assert store.reconcile_sent(message.claim.key, "ses-1", clock.now(), clock.now()) is False
    assert store.reconcile_sent("ld_nobody#trial-nurture#1#welcome", "ses-1", clock.now(), clock.now()) is False
    assert store.observe_ses_id("ld_nobody#trial-nurture#1#welcome", "ses-1") is False
    assert store.get_message(message.claim.key) == message


def test_the_sweep_postpones_a_message_only_as_it_read_it(store, clock):
    message = given.claimed(store, "ld_ana", clock.now())
    later = message.due_at + timedelta(minutes=15)
    assert store.postpone_message(message, later)
    assert store.postpone_message(message, later + timedelta(minutes=15)) is False  # read before the first
    assert store.get_message(message.claim.key).due_at == later
    sent = given.sent(store, "ld_bo", clock.now())
    assert store.postpone_message(sent, later) is False


def test_a_hand_off_is_published_once_after_its_grace_period(store, clock):
    # Given a hand-off claimed with its enrollment, and an email
    handoff = given.claimed(store, "ld_ana", clock.now(), kind="handoff")
    email = given.claimed(store, "ld_bo", clock.now())
    # Then it waits apart from emails, until its grace period is over
    assert store.handoffs_due(clock.now(), 10) == []
    assert store.handoffs_due(handoff.due_at, 10) == [handoff]
    assert handoff.claim.key not in due_keys(store, handoff.due_at + timedelta(days=1))
    # When it is published: out of the index, once; an email is never a hand-off
    assert store.record_handoff(handoff.claim.key, clock.now())
    assert store.record_handoff(handoff.claim.key, clock.now()) is False
    assert store.record_handoff(email.claim.key, clock.now()) is False
    published = store.get_message(handoff.claim.key)
    assert (published.status, published.sent_at, published.due_at, published.error) == (
        MessageStatus.SENT,
        clock.now(),
        None,
        None,
    )
    assert store.handoffs_due(handoff.due_at, 10) == []


def test_a_hand_off_that_cannot_be_published_fails_with_its_error(store, clock):
    handoff = given.claimed(store, "ld_ana", clock.now(), kind="handoff")
    assert store.record_handoff(handoff.claim.key, clock.now(), "bus refused: " + "y" * ERROR_KEPT)
    failed = store.get_message(handoff.claim.key)
    assert (failed.status, failed.error, failed.due_at) == (
        MessageStatus.FAILED,
        ("bus refused: " + "y" * ERROR_KEPT)[:ERROR_KEPT],
        None,
    )
