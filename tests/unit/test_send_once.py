"""Exactly one email per step, with the sender dying at each point of the send path, SES's answer
lost, duplicate deliveries, throttling mid-batch, and SES's Send event on time, late or never.
Everything runs: the sweep every minute, a queue that redelivers like SQS, the sender, the
engagement function; a fake SES counts every email it accepted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ripen.core.records import MessageStatus, message_key
from ripen.services.sender import LEASE, Outcome
from tests.support.fake_ses import FakeSes
from tests.support.mailstack import make_stack
from tests.support.sending_world import CrashAt, SendingWorld

ON_TIME = timedelta(seconds=10)  # within the lease: the event is noted on the message
LATE = timedelta(minutes=8)  # after the lease ran out, within the wait for it
TOO_LATE = timedelta(minutes=40)  # after the wait: the email was resent meanwhile
WAIT = timedelta(minutes=15)  # SEND_EVENT_WAIT_SECONDS


def world(store, clock, catalog, **options) -> SendingWorld:
    stack = make_stack(store, clock, catalog)
    return SendingWorld(stack, FakeSes(clock), **options)


def welcome(w: SendingWorld, address: str = "ana@example.com"):
    lead = w.stack.signup(address)
    return lead, message_key(lead.lead_id, "trial-nurture", 1, "welcome")


@pytest.fixture
def store():
    from ripen_dev.fakes.store import InMemoryStore

    return InMemoryStore()


# -- each point of the send path ----------------------------------------------------------------------


@pytest.mark.parametrize("event", [ON_TIME, LATE, None], ids=["event on time", "event late", "no event"])
def test_a_sender_dying_after_its_lease_before_ses_leaves_one_email_in_the_end(store, clock, catalog, event):
    # Given a sender that takes the lease on the welcome email and dies before calling SES
    w = world(store, clock, catalog, crashes=(CrashAt("lease_message", "after"),), send_event_after=event)
    lead, key = welcome(w)
    started = clock.now()
    # When time goes by: the job comes back, the sweep runs every minute
    w.run(30)
    # Then SES accepted the welcome exactly once: after the lease ran out and SES reported nothing
    # for the wait, the one resend went out
    assert w.crashed == 1
    assert w.ses.count(key) == 1
    assert w.ses.accepted[0].at == started + LEASE + WAIT
    message = w.message(key)
    assert (message.status, message.ses_message_id, message.attempts) == (
        MessageStatus.SENT,
        w.ses.accepted[0].ses_id,
        2,
    )
    assert message.resent_at == started + LEASE + WAIT
    # and the welcome holds one place under the frequency cap, at the time it went out
    assert w.lead(lead).recent_emails == (started + LEASE + WAIT,)


@pytest.mark.parametrize(
    ("event", "recorded_by"),
    [(ON_TIME, "SendsReconciled"), (LATE, "SendsReconciled")],
    ids=["event on time", "event late"],
)
def test_a_sender_dying_after_ses_accepted_is_reconciled_by_the_send_event_never_resent(
    store, clock, catalog, event, recorded_by
):
    # Given a sender that dies right after SES accepted the welcome email
    w = world(store, clock, catalog, send_event_after=event)
    w.ses.answer("crash")
    lead, key = welcome(w)
    sent_at = clock.now()
    # When SES's Send event arrives (while the lease is live, or after it ran out)
    w.run(60)
    # Then that one email is recorded with SES's id, and nothing is sent again
    assert w.ses.count(key) == 1
    message = w.message(key)
    assert (message.status, message.ses_message_id) == (MessageStatus.SENT, w.ses.accepted[0].ses_id)
    assert message.resent_at is None
    assert w.stack.metrics.counts[recorded_by] == 1
    assert w.lead(lead).recent_emails == (sent_at,)


def test_the_one_case_with_two_emails_ses_accepted_it_the_sender_died_and_ses_never_said_so(store, clock, catalog):
    # Given a sender that dies right after SES accepted the welcome email, and SES's Send event
    # never reaches ripen (event publishing lost it)
    w = world(store, clock, catalog, send_event_after=None)
    w.ses.answer("crash")
    _, key = welcome(w)
    # When the wait for the event is over
    w.run(60)
    # Then ripen cannot tell this from a sender that died before SES: the email is resent, once
    assert w.ses.count(key) == 2
    assert w.message(key).status is MessageStatus.SENT
    w.run(24 * 60)
    assert w.ses.count(key) == 2  # never a third time


def test_a_send_event_later_than_the_wait_finds_the_email_resent_and_says_so(store, clock, catalog):
    w = world(store, clock, catalog, send_event_after=TOO_LATE)
    w.ses.answer("crash")
    _, key = welcome(w)
    w.run(60)
    assert w.ses.count(key) == 2
    _, resent = w.ses.accepted
    assert w.message(key).ses_message_id == resent.ses_id
    assert w.stack.metrics.counts["EmailsSentTwice"] == 1


@pytest.mark.parametrize("event", [ON_TIME, LATE], ids=["event on time", "event late"])
def test_an_ses_answer_lost_on_the_way_back_is_handled_like_a_crash(store, clock, catalog, event):
    w = world(store, clock, catalog, send_event_after=event)
    w.ses.answer("lose answer")
    _, key = welcome(w)
    w.run(60)
    assert Outcome.IN_DOUBT in w.outcomes
    assert w.ses.count(key) == 1
    assert w.message(key).status is MessageStatus.SENT
    assert w.stack.metrics.counts["SendsInDoubt"] == 1


@pytest.mark.parametrize("when", ["before", "after"], ids=["record never written", "record written, answer lost"])
def test_a_sender_dying_while_recording_the_send_leaves_one_email(store, clock, catalog, when):
    w = world(store, clock, catalog, crashes=(CrashAt("record_sent", when),))
    lead, key = welcome(w)
    w.run(60)
    assert w.crashed == 1
    assert w.ses.count(key) == 1
    assert w.message(key).status is MessageStatus.SENT
    assert len(w.lead(lead).recent_emails) == 1


def test_a_sender_dying_after_the_record_before_the_queue_forgets_the_job_sends_nothing_more(store, clock, catalog):
    w = world(store, clock, catalog, lose_acks=1)
    _, key = welcome(w)
    w.run(10)
    assert w.outcomes == [Outcome.SENT, Outcome.NOTHING]  # the job came back and found it sent
    assert w.ses.count(key) == 1


def test_a_duplicate_delivery_while_another_sender_holds_the_lease_sends_nothing(store, clock, catalog):
    # Given the same job delivered to two senders at once (SQS delivers at least once)
    w = world(store, clock, catalog)
    _, key = welcome(w)
    [job] = w.stack.queue.drain()
    second = SendingWorld(w.stack, w.ses).sender
    during: list[Outcome] = []
    # When the second one gets it while the first is talking to SES
    w.ses.while_sending = lambda email: during.append(second.send(job)) if not during else None
    assert w.sender.send(job) is Outcome.SENT
    # Then it found the lease taken and did nothing; one email
    assert during == [Outcome.NOTHING]
    assert w.ses.count(key) == 1


def test_throttling_mid_batch_loses_and_doubles_nothing(store, clock, catalog):
    # Given ten welcome emails in one batch, and SES throttling the 4th to the 6th
    w = world(store, clock, catalog)
    keys = [welcome(w, f"lead{i}@example.com")[1] for i in range(10)]
    w.ses.answer("accept", "accept", "accept", "throttle", "throttle", "throttle")
    # When the batch runs and the throttled jobs come back
    w.run(5)
    # Then every email went out once, the throttled ones a minute later
    assert w.ses.throttled == 3
    assert w.ses.per_key() == dict.fromkeys(keys, 1)
    assert all(w.message(key).status is MessageStatus.SENT for key in keys)


# -- a second interruption: parked, never a third send ------------------------------------------------


def test_a_resend_interrupted_too_is_parked_as_failed_with_an_alarm_never_sent_a_third_time(store, clock, catalog):
    w = world(store, clock, catalog, crashes=(CrashAt("lease_message", "after", times=2),), send_event_after=None)
    lead, key = welcome(w)
    w.run(24 * 60)
    assert w.crashed == 2
    assert w.ses.count(key) == 0
    message = w.message(key)
    assert message.status is MessageStatus.FAILED
    assert "interrupted twice" in message.error
    assert w.stack.metrics.counts["SendsAbandoned"] == 1
    [entry] = [h for h in w.stack.store.history_of(lead.lead_id) if h.message_key == key]
    assert "not tried a third time" in entry.lines[0]


def test_a_parked_email_ses_reports_after_all_is_recorded_as_sent(store, clock, catalog):
    # Both attempts reached SES, both senders died, and the Send events come very late
    w = world(store, clock, catalog, send_event_after=timedelta(hours=2))
    w.ses.answer("crash", "crash")
    _, key = welcome(w)
    w.run(90)
    assert w.message(key).status is MessageStatus.FAILED
    w.run(60)
    message = w.message(key)
    assert (message.status, message.ses_message_id) == (MessageStatus.SENT, w.ses.accepted[0].ses_id)
    assert w.ses.count(key) == 2
