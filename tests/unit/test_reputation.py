"""The circuit breaker's rule (pure) and its service on fakes: counted once per batch, judged over
SES's window and a short burst window, tripping for the account or for one sequence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ripen.core.reputation import (
    ALL,
    BREAKER,
    Counts,
    Hold,
    Thresholds,
    covering,
    first_hour,
    hour_of,
    judge,
    window_counts,
)
from ripen.models.ses import received_events
from ripen.services.reputation import NOT_COUNTED, TRIPPED, Breaker, tally
from ripen_dev.fakes.metrics import MemoryMetrics
from ripen_dev.fakes.sending import MemorySendingControl, MemorySesAccount
from tests.support.ses_events import event_about, sqs_batch

NOW = datetime(2026, 3, 2, 10, 20, tzinfo=UTC)
LIMITS = Thresholds(min_sends=100)


def hours(*pairs: tuple[int, Counts]) -> dict[str, Counts]:
    """Counters `ago` hours before NOW."""
    return {hour_of(NOW - timedelta(hours=ago)): c for ago, c in pairs}


# -- the rule ---------------------------------------------------------------------------------------


def test_a_burst_of_bounces_trips_in_the_short_window_while_the_day_looks_fine():
    # Given a quiet day (4,000 sends, 0.5 % bounces) and, this hour, 150 sends with 12 hard bounces
    day = [(ago, Counts(sends=200, bounces=1)) for ago in range(1, 21)]
    counts = hours(*day, (0, Counts(sends=150, bounces=12)))
    # Then the breaker trips on the last hour (8 %), though the day is at 0.8 %
    verdict = judge(ALL, counts, NOW, LIMITS)
    assert verdict is not None
    assert (verdict.window, verdict.rule, verdict.counts.sends, verdict.counts.bounces) == ("1h", "bounce", 150, 12)
    assert window_counts(counts, NOW, LIMITS.window).bounce_rate < 0.01
    assert verdict.reason == "8.00% bounces over the last 1h (150 emails sent)"


def test_below_the_minimum_volume_nothing_is_judged():
    counts = hours((0, Counts(sends=99, bounces=50)))
    assert judge(ALL, counts, NOW, LIMITS) is None


def test_the_thresholds_are_inclusive_and_complaints_count_apart():
    assert judge(ALL, hours((0, Counts(sends=1000, bounces=29))), NOW, LIMITS) is None
    assert judge(ALL, hours((0, Counts(sends=1000, bounces=30))), NOW, LIMITS) is not None
    verdict = judge(ALL, hours((3, Counts(sends=10_000, complaints=5))), NOW, LIMITS)
    assert verdict is not None
    assert (verdict.window, verdict.rule) == ("24h", "complaint")


def test_hours_outside_the_window_are_not_counted():
    counts = hours((24, Counts(sends=1000, bounces=500)), (23, Counts(sends=1000)))
    assert window_counts(counts, NOW, timedelta(hours=24)) == Counts(sends=1000)
    assert first_hour(NOW, timedelta(hours=1)) == "2026-03-02T10"


def test_an_account_wide_hold_covers_every_sequence_and_a_cool_down_ends_it():
    since = NOW - timedelta(minutes=5)
    holds = [
        Hold("trial-nurture", "one", "operator", since),
        Hold(ALL, "all", BREAKER, since, until=NOW + timedelta(minutes=10)),
    ]
    assert covering(holds, "ebook-nurture", NOW).scope == ALL
    assert covering(holds, "trial-nurture", NOW).scope == ALL
    later = NOW + timedelta(minutes=11)
    assert covering(holds, "trial-nurture", later).scope == "trial-nurture"
    assert covering(holds, "ebook-nurture", later) is None


# -- the service ------------------------------------------------------------------------------------


@pytest.fixture
def control() -> MemorySendingControl:
    return MemorySendingControl()


@pytest.fixture
def ses_account() -> MemorySesAccount:
    return MemorySesAccount()


@pytest.fixture
def breaker(control, ses_account, clock) -> Breaker:
    return Breaker(control, clock, MemoryMetrics(), LIMITS, ses_account, "ripen-nurture")


def batch_of(stack, messages, kind: str, **fields):
    return received_events(sqs_batch(*(event_about(m, kind, at=stack.clock.now(), **fields) for m in messages)))[1]


def sent_messages(stack, n: int, sequence: str = "trial-nurture"):
    leads = [stack.signup(f"lead{i}-{sequence}@example.com", sequence=sequence) for i in range(n)]
    stack.send_queued()
    return [stack.sent(lead, "welcome", sequence) for lead in leads]


def test_a_batch_is_counted_with_one_write_per_scope_and_hour(stack, control, breaker):
    # Given 30 emails sent, and a batch with their 30 Send events and 2 hard bounces and 1 soft bounce
    messages = sent_messages(stack, 30)
    received = [
        *batch_of(stack, messages, "send"),
        *batch_of(stack, messages[:2], "bounce-permanent"),
        *batch_of(stack, messages[2:3], "bounce-transient"),
    ]
    # When the breaker counts the batch
    breaker.after_batch(received, failed=set())
    # Then the account and the sequence each got one counter write, hard bounces only
    hour = hour_of(stack.clock.now())
    assert control.hours == {
        (ALL, hour): Counts(sends=30, bounces=2),
        ("trial-nurture", hour): Counts(sends=30, bounces=2),
    }
    assert control.writes == 2


def test_events_that_failed_are_counted_when_they_come_back_not_now(stack):
    messages = sent_messages(stack, 2)
    received = batch_of(stack, messages, "send")
    counted = tally(received, failed={received[0].item_id})
    assert sum(c.sends for (scope, _), c in counted.counts.items() if scope == ALL) == 1


def test_an_account_wide_trip_holds_everything_and_switches_ses_off(stack, control, ses_account, breaker):
    # Given 150 emails of the trial sequence sent this hour, 12 of which bounce hard
    messages = sent_messages(stack, 150)
    breaker.after_batch(batch_of(stack, messages, "send"), set())
    # When their bounces arrive
    holds = breaker.after_batch(batch_of(stack, messages[:12], "bounce-permanent"), set())
    # Then every sequence is held, by the breaker, with what drove it, and SES sending is off
    [hold] = holds
    assert (hold.scope, hold.by, hold.paused_ses, hold.until) == (ALL, BREAKER, True, None)
    assert hold.detail["sequence"] == "trial-nurture"
    assert (hold.detail["window"], hold.detail["sends"], hold.detail["bounces"]) == ("1h", "150", "12")
    assert control.holds() == [hold]
    assert ses_account.switches == [("ripen-nurture", False)]
    assert breaker.metrics.counts[TRIPPED] == 1
    # and more bounces do not trip it again
    assert breaker.after_batch(batch_of(stack, messages[12:14], "bounce-permanent"), set()) == []
    assert breaker.metrics.counts[TRIPPED] == 1


def test_a_sequence_whose_own_rates_cross_the_line_pauses_alone(stack, control, ses_account, breaker):
    # Given a healthy ebook sequence (1,000 sends) and a trial sequence with 110 sends, 6 hard bounces
    control.add_counts({(ALL, hour_of(stack.clock.now())): Counts(sends=1000)}, stack.clock.now())
    control.add_counts({("ebook-nurture", hour_of(stack.clock.now())): Counts(sends=1000)}, stack.clock.now())
    trial = sent_messages(stack, 110)
    breaker.after_batch(batch_of(stack, trial, "send"), set())
    # When the trial's bounces arrive (5.5 % of its emails, 0.5 % of the account's)
    [hold] = breaker.after_batch(batch_of(stack, trial[:6], "bounce-permanent"), set())
    # Then the trial sequence alone is held, and SES sending stays on
    assert (hold.scope, hold.paused_ses) == ("trial-nurture", False)
    assert ses_account.switches == []


def test_a_cool_down_set_by_the_operator_is_on_the_hold(stack, control, ses_account, clock):
    breaker = Breaker(control, clock, MemoryMetrics(), LIMITS, ses_account, "ripen-nurture", timedelta(hours=2))
    messages = sent_messages(stack, 100)
    breaker.after_batch(batch_of(stack, messages, "send"), set())
    [hold] = breaker.after_batch(batch_of(stack, messages[:5], "complaint"), set())
    assert hold.until == clock.now() + timedelta(hours=2)
    assert hold.detail["rule"] == "complaint"


def test_counters_that_cannot_be_written_never_fail_the_batch(stack, clock):
    class Broken(MemorySendingControl):
        def add_counts(self, counts, expires_at):
            raise RuntimeError("throttled")

    breaker = Breaker(Broken(), clock, MemoryMetrics(), LIMITS)
    messages = sent_messages(stack, 1)
    assert breaker.after_batch(batch_of(stack, messages, "send"), set()) == []
    assert breaker.metrics.counts[NOT_COUNTED] == 1
