"""Exactly one email per step on DynamoDB Local: the sender dying at the central points of the send
path (with SES's Send event on time, late or never), and two senders of one lead racing past the
frequency cap. The same scenarios run on the in-memory store in tests/unit/test_send_once.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ripen.core.records import MessageStatus, message_key
from ripen.services.nurture import Nurture
from ripen.services.sender import LEASE, Outcome
from tests.integration.test_dynamo_store import race
from tests.support.fake_ses import FakeSes
from tests.support.mailstack import make_stack
from tests.support.sending_world import CrashAt, SendingWorld
from tests.unit.test_send_cap import SameInstant

pytestmark = pytest.mark.integration

WAIT = timedelta(minutes=15)


def world(store, clock, catalog, **options) -> SendingWorld:
    return SendingWorld(make_stack(store, clock, catalog), FakeSes(clock), **options)


@pytest.mark.parametrize(
    ("crash", "answer", "event", "emails", "resent"),
    [
        (CrashAt("lease_message", "after"), None, None, 1, True),
        (None, "crash", timedelta(seconds=10), 1, False),
        (None, "crash", timedelta(minutes=8), 1, False),
        (None, "crash", None, 2, True),  # the documented limit: SES accepted it and never said so
        (CrashAt("record_sent", "after"), None, timedelta(seconds=10), 1, False),
    ],
    ids=[
        "died after the lease, before SES",
        "died after SES accepted; Send event on time",
        "died after SES accepted; Send event late",
        "died after SES accepted; no Send event ever",
        "record written, answer lost",
    ],
)
def test_a_sender_dying_on_the_send_path_leaves_one_email_per_step(
    dynamo_store, clock, catalog, crash, answer, event, emails, resent
):
    crashes = (crash,) if crash else ()
    w = world(dynamo_store, clock, catalog, crashes=crashes, send_event_after=event)
    if answer:
        w.ses.answer(answer)
    lead = w.stack.signup("ana@example.com")
    key = message_key(lead.lead_id, "trial-nurture", 1, "welcome")
    w.run(40)
    assert w.crashed == 1
    assert w.ses.count(key) == emails
    message = w.message(key)
    assert message.status is MessageStatus.SENT
    assert message.ses_message_id in {a.ses_id for a in w.ses.accepted}
    assert (message.resent_at is not None) is resent
    # its place under the frequency cap is on the lead once, whatever happened
    assert len(w.lead(lead).recent_emails) == 1


def test_a_resend_interrupted_too_is_parked_never_sent_a_third_time(dynamo_store, clock, catalog):
    w = world(
        dynamo_store, clock, catalog, crashes=(CrashAt("lease_message", "after", times=2),), send_event_after=None
    )
    lead = w.stack.signup("ana@example.com")
    key = message_key(lead.lead_id, "trial-nurture", 1, "welcome")
    w.run(int((2 * (LEASE + WAIT)).total_seconds() // 60) + 10)
    message = w.message(key)
    assert (message.status, w.ses.count(key)) == (MessageStatus.FAILED, 0)
    assert w.stack.metrics.counts["SendsAbandoned"] == 1


class LeaseTogether:
    """The store, holding each sender at the lease until all of them got there (a true race)."""

    def __init__(self, store, parties: int) -> None:
        self._store = store
        self._barrier = threading.Barrier(parties)
        self._waited: set[int] = set()

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def lease_message(self, *args, **kwargs):
        me = threading.get_ident()
        if me not in self._waited:
            self._waited.add(me)
            self._barrier.wait(timeout=10)
        return self._store.lease_message(*args, **kwargs)


def test_two_senders_of_one_lead_at_once_send_one_email_now_and_hold_the_other(dynamo_store, clock, catalog):
    # Given a lead whose trial and ebook first emails were decided at the same instant
    stack = make_stack(dynamo_store, clock, catalog)
    lead = stack.signup("ana@example.com")
    blind = Nurture(SameInstant(dynamo_store), stack.app.catalog, stack.queue, clock)
    assert blind.enroll(dynamo_store.get_lead(lead.lead_id), "ebook-nurture").applied
    jobs = stack.queue.drain()
    assert len(jobs) == 2
    # When two senders take one job each and reach the lease together (both read the lead first)
    ses = FakeSes(clock)
    racing = LeaseTogether(dynamo_store, 2)
    senders = [
        SendingWorld(make_stack(racing, clock, catalog, mailer=ses), ses).sender,  # type: ignore[arg-type]
        SendingWorld(make_stack(racing, clock, catalog, mailer=ses), ses).sender,  # type: ignore[arg-type]
    ]
    outcomes = race(2, lambda i: senders[i].send(jobs[i]))
    # Then one email went out, and the other waits for the next slot the cap allows
    assert sorted(outcomes) == sorted([Outcome.SENT, Outcome.DEFERRED])
    assert len(ses.accepted) == 1
    held = next(dynamo_store.get_message(j.message_key) for j in jobs if j.message_key != ses.accepted[0].key)
    assert held.status is MessageStatus.CLAIMED
    assert held.due_at >= clock.now() + timedelta(hours=20)
    assert dynamo_store.get_lead(lead.lead_id).recent_emails == (clock.now(),)
