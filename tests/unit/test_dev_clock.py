"""The dev stack's clock: real time plus what the outbox moved it forward, never back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ripen_dev.fakes.clock import ManualClock
from ripen_dev.local.devstack.clock import DevClock


def test_it_runs_with_real_time_plus_what_was_added(clock):
    dev = DevClock(real=clock)
    assert dev.now() == clock.now()
    dev.advance(timedelta(days=1))
    clock.advance(minutes=5)  # real time goes on
    assert dev.now() == clock.now() + timedelta(days=1)
    assert dev.offset == timedelta(days=1)


def test_it_can_start_at_a_given_moment_and_keeps_running_from_there(clock):
    monday = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    dev = DevClock.starting_at(monday, real=clock)
    assert dev.now() == monday
    clock.advance(seconds=30)
    assert dev.now() == monday + timedelta(seconds=30)


def test_time_never_moves_back(clock):
    dev = DevClock(real=clock)
    dev.advance(timedelta(hours=3))
    with pytest.raises(ValueError, match="forward"):
        dev.advance(timedelta(hours=-1))
    earlier = dev.now() - timedelta(hours=1)
    assert dev.advance_to(earlier) == clock.now() + timedelta(hours=3)
    later = dev.now() + timedelta(minutes=1)
    assert dev.advance_to(later) == later
    # a start in the past is real time: the clock never runs behind it
    assert DevClock.starting_at(clock.now() - timedelta(days=1), real=clock).now() == clock.now()


def test_a_kept_clock_resumes_where_it_was(tmp_path):
    real = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    state = tmp_path / "dev-data" / "clock.json"
    first = DevClock.kept_in(state, real=real)
    first.advance(timedelta(days=2))
    real.advance(hours=1)  # the stack was stopped for an hour
    again = DevClock.kept_in(state, start=datetime(2030, 1, 1, tzinfo=UTC), real=real)
    assert again.now() == real.now() + timedelta(days=2)
