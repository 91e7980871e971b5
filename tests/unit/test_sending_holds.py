"""The kill switch: `ripen sending pause|resume` holds every send it covers; held emails wait (never
dropped, never failed) and go out exactly once after the resume."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from ripen.core.records import MessageStatus, message_key
from ripen.core.reputation import ALL, BREAKER, OPERATOR
from ripen.services.reputation import CACHE, HELD, QUOTA_HELD, pause, resume
from ripen.services.sender import DEFERRED, SENT, Outcome
from ripen_dev.fakes.sending import MemorySendingControl, MemorySesAccount
from ripen_dev.fakes.store import InMemoryStore
from tests.support.mailstack import Stack, make_stack


@pytest.fixture
def control() -> MemorySendingControl:
    return MemorySendingControl()


@pytest.fixture
def ses_account() -> MemorySesAccount:
    return MemorySesAccount()


@pytest.fixture
def held_stack(clock, catalog, control, ses_account) -> Stack:
    return make_stack(InMemoryStore(), clock, catalog, sending=control, ses_account=ses_account)


def signups(stack: Stack, n: int, sequence: str = "trial-nurture") -> list[str]:
    return [stack.signup(f"lead{i}@example.com", sequence=sequence).lead_id for i in range(n)]


def work_for(stack: Stack, minutes: int) -> list[Outcome]:
    """The sweep and the sender, minute by minute, as in AWS."""
    outcomes = []
    for _ in range(minutes):
        stack.app.sweep.run()
        outcomes += stack.send_queued()
        stack.clock.advance(minutes=1)
    return outcomes


def test_paused_every_email_waits_and_after_resume_each_goes_out_exactly_once(held_stack, control, clock):
    # Given sending paused by an operator, and 20 leads whose welcome email is queued
    assert pause(control, ALL, "bad import", OPERATOR, clock.now())
    leads = signups(held_stack, 20)
    # When the sweep and the sender work for an hour
    outcomes = work_for(held_stack, 60)
    # Then nothing went out, and every email waits: held, not failed, not skipped, not dropped
    assert held_stack.outbox.emails == []
    assert Outcome.DEFERRED in outcomes
    assert set(outcomes) == {Outcome.DEFERRED}
    for lead in leads:
        message = held_stack.message(message_key(lead, "trial-nurture", 1, "welcome"))
        assert message.status is MessageStatus.CLAIMED
        assert "sending hold" in (message.error or "")
    assert held_stack.metrics.counts[HELD] == len(outcomes)
    assert held_stack.metrics.counts.get("EmailsFailed", 0) == 0
    # When the operator resumes and the sweep and sender work on
    assert resume(control, None, None, ALL, clock.now(), OPERATOR)
    work_for(held_stack, 10)
    # Then each held email went out exactly once
    sent_to = Counter(email.to for email in held_stack.outbox.emails)
    assert sent_to == Counter({f"lead{i}@example.com": 1 for i in range(20)})
    assert held_stack.metrics.counts[SENT] == 20


def test_a_pause_reaches_a_sender_within_its_cache_period_and_the_reads_stay_few(held_stack, control, clock):
    # Given a sender that has just read that nothing is held
    first = held_stack.signup("early@example.com").lead_id
    assert held_stack.send_queued() == [Outcome.SENT]
    # When an operator pauses, and emails keep coming during the next minute
    pause(control, ALL, "stop", OPERATOR, clock.now())
    clock.advance(CACHE)
    signups(held_stack, 5)
    outcomes = held_stack.send_queued()
    # Then once the cache period has passed (at most a minute), nothing more goes out
    assert CACHE.total_seconds() <= 60
    assert set(outcomes) == {Outcome.DEFERRED}
    assert [e.to for e in held_stack.outbox.emails] == ["early@example.com"]
    assert first
    # and the holds were read once per cache period, not once per email
    assert control.reads == 2


def test_a_hold_on_one_sequence_leaves_the_others_sending(held_stack, control, clock):
    # Given the trial sequence held, and a lead in each sequence
    pause(control, "trial-nurture", "rework", OPERATOR, clock.now())
    held_stack.signup("trial@example.com", sequence="trial-nurture")
    held_stack.signup("ebook@example.com", sequence="ebook-nurture")
    # When the sender works through the queue
    outcomes = held_stack.send_queued()
    # Then the ebook email went, the trial email waits
    assert sorted(outcomes) == sorted([Outcome.SENT, Outcome.DEFERRED])
    assert [e.to for e in held_stack.outbox.emails] == ["ebook@example.com"]


def test_a_pause_on_a_scope_held_already_keeps_the_first_hold(control, clock):
    first = pause(control, ALL, "first", OPERATOR, clock.now())
    assert first is not None
    assert pause(control, ALL, "second", OPERATOR, clock.now()) is None
    assert [h.reason for h in control.holds()] == ["first"]


def test_a_hold_with_a_cool_down_lifts_itself_and_switches_ses_back_on(held_stack, control, ses_account, clock):
    # Given the breaker's hold with a 30-minute cool-down, SES sending switched off with it
    until = clock.now() + timedelta(minutes=30)
    pause(control, ALL, "circuit breaker", BREAKER, clock.now(), until=until, paused_ses=True)
    ses_account.set_sending("ripen-nurture", False)
    held_stack.signup("ana@example.com")
    assert held_stack.send_queued() == [Outcome.DEFERRED]
    # When the cool-down is over
    clock.set(until + timedelta(seconds=1))
    held_stack.app.sweep.run()
    outcomes = held_stack.send_queued()
    # Then the hold is lifted, SES sends again and the email goes out
    assert outcomes == [Outcome.SENT]
    assert control.holds() == []
    assert ses_account.sending["ripen-nurture"] is True


def test_resuming_a_hold_that_switched_ses_off_switches_it_on(control, ses_account, clock):
    pause(control, ALL, "breaker", BREAKER, clock.now(), paused_ses=True)
    lifted = resume(control, ses_account, "ripen-nurture", ALL, clock.now(), OPERATOR)
    assert lifted is not None
    assert ses_account.switches == [("ripen-nurture", True)]
    # and resuming what is not held changes nothing
    assert resume(control, ses_account, "ripen-nurture", ALL, clock.now(), OPERATOR) is None


def test_beyond_the_daily_ses_quota_emails_wait_and_go_the_next_day(held_stack, ses_account, clock):
    # Given an account whose 24-hour quota is spent
    from dataclasses import replace

    ses_account.state = replace(ses_account.state, max_24_hour_send=200, sent_last_24_hours=200)
    signups(held_stack, 3)
    # When the sender works through the queue
    outcomes = held_stack.send_queued()
    # Then every email waits for the quota, counted apart, none failed
    assert outcomes == [Outcome.DEFERRED] * 3
    assert held_stack.metrics.counts[QUOTA_HELD] == 3
    assert held_stack.outbox.emails == []
    # When the rolling 24 hours free up sends
    ses_account.state = replace(ses_account.state, sent_last_24_hours=0)
    clock.advance(hours=1, minutes=1)
    held_stack.app.sweep.run()
    # Then they go out, once each
    assert held_stack.send_queued() == [Outcome.SENT] * 3
    assert held_stack.metrics.counts[DEFERRED] == 3


def test_when_ses_refuses_to_switch_sending_back_on_the_hold_stays_and_is_tried_again(control, clock):
    # Given the breaker's hold that switched SES off, and SES refusing to switch it back on once
    class Refusing(MemorySesAccount):
        refusals = 1

        def set_sending(self, configuration_set, enabled):
            if self.refusals:
                self.refusals -= 1
                raise RuntimeError("throttled")
            super().set_sending(configuration_set, enabled)

    account = Refusing()
    pause(control, ALL, "breaker", BREAKER, clock.now(), paused_ses=True)
    # When resuming fails, the hold stays; when it is tried again, both happen
    with pytest.raises(RuntimeError):
        resume(control, account, "ripen-nurture", ALL, clock.now(), OPERATOR)
    assert [h.scope for h in control.holds()] == [ALL]
    assert resume(control, account, "ripen-nurture", ALL, clock.now(), OPERATOR) is not None
    assert (control.holds(), account.sending) == ([], {"ripen-nurture": True})
