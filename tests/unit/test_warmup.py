"""Warming up a new identity: on day N of the ramp at most the N-th allowance of nurture emails go
out; the others wait for the next day, oldest first, and none is dropped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ripen.core.reputation import ALL, Counts, hour_of
from ripen.core.warmup import Ramp, parse_schedule, release_at
from ripen.services.reputation import WARMUP_HELD
from ripen.services.sender import Outcome
from ripen_dev.fakes.sending import MemorySendingControl
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.operate.sending_commands import warmup_progress
from tests.support.mailstack import make_stack

START = date(2026, 3, 2)


def test_the_ramp_gives_each_day_its_allowance_and_no_limit_after_the_last():
    ramp = Ramp(START, parse_schedule("50, 100,200"))
    assert [ramp.allowance(START + timedelta(days=d)) for d in range(4)] == [50, 100, 200, None]
    assert ramp.allowance(START - timedelta(days=3)) == 50  # before it starts: day 1
    assert parse_schedule("") == ()
    with pytest.raises(ValueError, match="more than 0"):
        parse_schedule("50,0")


def test_a_schedule_without_its_first_day_is_refused_when_the_sender_starts(clock, catalog):
    stack = make_stack(
        InMemoryStore(), clock, catalog, env={"WARMUP_SCHEDULE": "50,100"}, sending=MemorySendingControl()
    )
    with pytest.raises(RuntimeError, match="WARMUP_START"):
        _ = stack.app.sender


def test_held_emails_come_due_in_the_next_days_first_hour_oldest_first():
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    older, newer = now - timedelta(hours=30), now - timedelta(minutes=5)
    tomorrow = datetime(2026, 3, 3, tzinfo=UTC)
    assert tomorrow <= release_at(now, older) < release_at(now, newer) < tomorrow + timedelta(hours=1)


def test_beyond_the_days_allowance_emails_wait_for_the_next_day_and_none_is_dropped(clock, catalog):
    # Given day 1 of a ramp of 3, then 6 emails a day
    control = MemorySendingControl()
    env = {"WARMUP_SCHEDULE": "3,6", "WARMUP_START": clock.now().date().isoformat()}
    stack = make_stack(InMemoryStore(), clock, catalog, env=env, sending=control)
    for i in range(5):
        stack.signup(f"lead{i}@example.com")
        clock.advance(minutes=1)
    # When the sender works through the 5 queued emails
    outcomes = stack.send_queued()
    # Then 3 go out today, 2 wait, counted apart
    assert sorted(outcomes) == sorted([Outcome.SENT] * 3 + [Outcome.DEFERRED] * 2)
    assert stack.metrics.counts[WARMUP_HELD] == 2
    # and they come due tomorrow, in their order
    held = sorted((m for m in stack.store.messages.values() if m.status.value == "claimed"), key=lambda m: m.due_at)
    assert [m.claim.created_at for m in held] == sorted(m.claim.created_at for m in held)
    assert all(m.due_at.date() == clock.now().date() + timedelta(days=1) for m in held)
    # When the next day's send window opens
    clock.set(clock.now() + timedelta(days=1))
    stack.app.sweep.run()
    stack.send_queued()
    # Then both held emails go out (with the next steps of the others), and no email goes twice
    assert all(stack.message(m.claim.key).status.value == "sent" for m in held)
    welcomes = [e.to for e in stack.outbox.emails if e.subject == stack.outbox.emails[0].subject]
    assert sorted(welcomes) == [f"lead{i}@example.com" for i in range(5)]


def test_the_days_sends_counted_by_engagement_count_toward_the_allowance(clock, catalog):
    # Given 3 emails already sent today (as the engagement function counted them), allowance 3
    control = MemorySendingControl()
    control.add_counts({(ALL, hour_of(clock.now())): Counts(sends=3)}, clock.now())
    env = {"WARMUP_SCHEDULE": "3", "WARMUP_START": clock.now().date().isoformat()}
    stack = make_stack(InMemoryStore(), clock, catalog, env=env, sending=control)
    stack.signup("late@example.com")
    # Then the next email waits for tomorrow
    assert stack.send_queued() == [Outcome.DEFERRED]


def test_status_shows_the_ramps_progress():
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    hours = {hour_of(now): Counts(sends=40), hour_of(now - timedelta(days=1)): Counts(sends=50)}
    assert warmup_progress("50,100,200", START, hours, now) == {
        "day": 2,
        "days": 3,
        "allowance_today": 100,
        "sent_today": 40,
        "over": False,
    }
    assert warmup_progress("", None, hours, now) is None
