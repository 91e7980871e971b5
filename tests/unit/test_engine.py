"""The engine walks leads through the example sequences the way a marketer expects."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ripen.core.engine import advance, migrate, new_enrollment
from ripen.core.records import only_scored
from ripen.core.sequence import Migration
from ripen.core.state import (
    Confirmed,
    ExitRequested,
    GoalReached,
    HandOff,
    LeadContext,
    MovedTo,
    Paused,
    Resubmitted,
    Resumed,
    SendConfirmation,
    SendEmail,
    Status,
    Stopped,
    TimerDue,
    Wait,
)
from tests.support.walker import Walker

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def trial(catalog):
    return catalog.current("trial-nurture")


@pytest.fixture
def ebook(catalog):
    return catalog.current("ebook-nurture")


def walker(sequence, clock, tz="America/New_York") -> Walker:
    return Walker(sequence, clock, LeadContext(timezone=tz))


def test_a_quiet_trial_lead_gets_every_onboarding_email_in_order_on_weekday_mornings(trial, clock):
    # Given a confirmed lead in New York who never opens or clicks
    w = walker(trial, clock).start(confirmed=True)
    # When the sequence runs to the end
    w.run_until_done()
    # Then they get the no-click path, in order, and finish as planned
    assert w.emails == ["welcome", "first-dashboard", "case-study", "power-user-tips", "trial-ending", "trial-ended"]
    assert w.state.status is Status.COMPLETED
    assert w.state.exit_reason == "trial-over"
    # And every email went out on a weekday between 09:00 and 17:00 New York time
    for at, action in w.actions:
        local = at.astimezone(NEW_YORK)
        assert local.weekday() < 5, (action, local)
        assert time(9) <= local.time() < time(17), (action, local)


def test_a_lead_signing_up_at_night_gets_the_welcome_at_nine_their_time(trial, clock):
    # Given it is 09:30 UTC, 04:30 in New York
    w = walker(trial, clock).start(confirmed=True)
    # Then nothing is sent yet: the welcome waits for the window
    assert w.emails == []
    assert w.state.wait is Wait.WINDOW
    assert w.state.next_action_at.astimezone(NEW_YORK).time() == time(9, 0)
    # When the morning comes
    w.next_timer()
    assert w.emails == ["welcome"]


def test_the_trial_calendar_holds_whichever_branch_the_lead_takes(trial, clock):
    w = walker(trial, clock).start()
    entered = w.state.entered_at
    w.run_until_done()
    sent = {a.email: at for at, a in w.actions if isinstance(a, SendEmail)}
    assert sent["trial-ending"] - entered >= timedelta(days=11)
    assert sent["trial-ended"] - entered >= timedelta(days=14)


def test_a_pricing_click_branches_at_once_to_the_pricing_followup(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.run_until_sent("case-study")
    # When the lead clicks the pricing link ten minutes later
    w.engage("click", link="pricing", after=timedelta(minutes=10))
    # Then the branch is taken in the same moment, not at the next timer
    assert w.state.cursor == "pricing-followup"
    assert w.state.stage == "decision"
    assert w.state.score == pytest.approx(20)
    # And the follow-up goes out as soon as the frequency cap (1 per 20 hours) allows
    assert w.state.wait is Wait.CAP
    assert w.run_until_sent("pricing-followup") == w.state.last_email_at
    assert w.emails[-2:] == ["case-study", "pricing-followup"]
    # And the power-user tips of the other branch never come
    w.run_until_done()
    assert "power-user-tips" not in w.emails


def test_a_download_click_moves_the_reader_on_to_the_key_takeaways(ebook, clock):
    w = walker(ebook, clock, tz="UTC").start()
    assert w.emails == ["ebook-delivery"]
    w.engage("click", link="download", after=timedelta(hours=1))
    assert w.state.cursor == "key-takeaways"
    w.run_until_sent("key-takeaways")
    assert "download-reminder" not in w.emails


def test_an_open_that_only_adds_to_the_score_is_no_transition_for_the_history(trial, clock):
    # Given a lead reading the case study, which waits for a pricing click
    w = walker(trial, clock, tz="UTC").start()
    w.run_until_sent("case-study")
    # When they open it: the score and the engagement times move, nothing else
    before = w.state
    w.engage("open", step="case-study")
    assert w.state.score > before.score
    assert only_scored(before, w.decisions[-1])
    # When they click the demo link: the decision stage (a stage rule), so a transition
    before = w.state
    w.engage("click", link="demo")
    assert w.state.stage == "decision"
    assert not only_scored(before, w.decisions[-1])
    # When they click pricing: the branch and its email, a transition too
    before = w.state
    w.engage("click", link="pricing")
    assert w.state.cursor != before.cursor
    assert not only_scored(before, w.decisions[-1])


def test_an_old_click_does_not_count_as_a_reaction_to_a_newer_email(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.engage("click", link="pricing", after=timedelta(hours=1))  # on day 0, before the case study
    w.run_until_sent("case-study")
    assert w.state.wait is Wait.ENGAGEMENT
    assert w.state.cursor == "wait-for-7"


def test_enough_buying_signals_hand_the_lead_to_sales_once_and_stop_nurturing(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.run_until_sent("case-study")
    w.engage("click", link="pricing")  # +20
    w.engage("click", link="demo")  # +25
    w.engage("click", link="case-study")  # +8 -> 53 >= 50
    handoffs = [a for _, a in w.actions if isinstance(a, HandOff)]
    assert len(handoffs) == 1
    assert handoffs[0].score >= 50
    assert handoffs[0].stage == "decision"
    assert w.state.status is Status.SALES_READY
    # Nothing afterwards moves a sales-ready lead
    sent = list(w.emails)
    w.engage("click", link="pricing")
    assert not w.next_timer()
    assert w.emails == sent
    assert len([a for _, a in w.actions if isinstance(a, HandOff)]) == 1


def test_reaching_the_goal_ends_the_sequence(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.apply(GoalReached("trial_converted"))
    assert w.state.status is Status.GOAL_REACHED
    assert not w.next_timer()


def test_another_sequences_goal_changes_nothing(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    before = w.state
    w.apply(GoalReached("trial-started"))
    assert w.state == before
    assert not w.decisions[-1].changed


def test_an_unsubscribe_stops_every_future_email(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.run_until_sent("first-dashboard")
    w.apply(Stopped("unsubscribed"))
    assert w.state.status is Status.UNSUBSCRIBED
    assert w.state.next_action_at is None
    w.engage("open", step="first-dashboard")
    clock.advance(days=30)
    w.apply(TimerDue())
    assert w.emails == ["welcome", "first-dashboard"]


def test_double_opt_in_asks_once_reminds_once_then_expires(trial, clock):
    w = walker(trial, clock).start(confirmed=False)
    assert w.state.status is Status.PENDING
    assert [a for _, a in w.actions] == [SendConfirmation(1)]
    w.run_until_done()
    confirmations = [a for _, a in w.actions if isinstance(a, SendConfirmation)]
    assert [c.number for c in confirmations] == [1, 2]
    assert w.state.status is Status.EXPIRED
    assert w.emails == []


def test_confirming_starts_the_sequence(trial, clock):
    w = walker(trial, clock, tz="UTC").start(confirmed=False)
    clock.advance(minutes=3)
    w.apply(Confirmed())
    assert w.state.status is Status.ACTIVE
    assert w.emails == ["welcome"]


def test_signing_up_again_while_pending_resends_the_confirmation_at_most_hourly(trial, clock):
    w = walker(trial, clock).start(confirmed=False)
    clock.advance(minutes=10)
    w.apply(Resubmitted())
    assert len([a for _, a in w.actions if isinstance(a, SendConfirmation)]) == 1
    clock.advance(minutes=55)
    w.apply(Resubmitted())
    assert [a.number for _, a in w.actions if isinstance(a, SendConfirmation)] == [1, 2]


def test_signing_up_again_while_active_counts_as_engagement_once_a_week_and_sends_nothing(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    sent = list(w.emails)
    w.apply(Resubmitted(confirmed=True))
    assert w.emails == sent
    assert w.state.score == trial.scoring.resubmit
    clock.advance(days=6)
    w.apply(Resubmitted(confirmed=True))  # within the week: not counted again
    assert w.state.score == trial.scoring.resubmit


def test_signing_up_again_without_confirmed_consent_is_not_counted(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.apply(Resubmitted(confirmed=False))  # anyone can post an address
    assert w.state.score == 0


def test_machine_opens_score_little_and_scanner_clicks_nothing(ebook, clock):
    w = walker(ebook, clock, tz="UTC").start()
    w.engage("open", step="ebook-delivery", machine=True, after=timedelta(seconds=2))
    assert w.state.score == ebook.scoring.machine_open
    w.engage("click", link="download", machine=True, after=timedelta(seconds=1))
    # A scanner click neither scores nor satisfies "wait for a click on download"
    assert w.state.wait is Wait.ENGAGEMENT
    assert w.emails == ["ebook-delivery"]


def test_quiet_readers_get_the_breakup_email_and_a_stay_click_brings_them_back(ebook, clock):
    w = walker(ebook, clock, tz="UTC").start()
    w.run_until_sent("breakup")
    assert "customer-story" not in w.emails
    w.engage("click", link="stay", after=timedelta(hours=2))
    w.run_until_done()
    assert w.emails[-2:] == ["customer-story", "trial-offer"]
    assert w.state.exit_reason == "nurtured"


def test_silent_readers_leave_politely(ebook, clock):
    w = walker(ebook, clock, tz="UTC").start()
    w.run_until_done()
    assert w.emails[-1] == "breakup"
    assert w.state.exit_reason == "no-engagement"


def test_a_timer_fired_early_changes_nothing(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    due = w.state.next_action_at
    clock.set(due - timedelta(seconds=1))
    before = w.state
    w.apply(TimerDue())
    assert w.state == before
    assert not w.decisions[-1].changed


def test_a_paused_lead_gets_nothing_until_the_pause_ends(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.apply(Paused(until=clock.now() + timedelta(days=10)))
    assert w.state.status is Status.PAUSED
    w.next_timer()
    assert w.state.status is Status.ACTIVE
    assert clock.now() >= w.decisions[-2].enrollment.next_action_at
    assert w.emails[:2] == ["welcome", "first-dashboard"]


def test_resuming_early_picks_up_the_wait_where_it_was(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    waiting_until = w.state.next_action_at
    w.apply(Paused(until=clock.now() + timedelta(days=10)))
    clock.advance(hours=2)
    w.apply(Resumed())
    assert w.state.status is Status.ACTIVE
    assert w.state.next_action_at == waiting_until


def test_score_decays_week_by_week(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.engage("click", link="case-study")
    clock.advance(days=14)
    w.engage("open", step="welcome", after=timedelta(0))
    assert w.state.score == pytest.approx(8 * 0.9**2 + 1)


def test_an_exit_by_hand_ends_and_a_move_by_hand_jumps(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.apply(MovedTo("trial-ending"))
    assert w.state.cursor == "trial-ending"
    w.run_until_sent("trial-ending")
    assert w.emails == ["welcome", "trial-ending"]
    w.apply(ExitRequested("sales asked"))
    assert w.state.status is Status.COMPLETED
    assert w.state.exit_reason == "sales asked"


def test_terminal_enrollments_never_move_again(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.apply(Stopped("suppressed"))
    final = w.state
    for trigger in (
        Confirmed(),
        TimerDue(),
        Resubmitted(),
        Resumed(),
        GoalReached("trial_converted"),
        Stopped("unsubscribed"),
    ):
        clock.advance(days=1)
        decision = advance(final, trigger, trial, clock.now())
        assert decision.enrollment == final
        assert decision.actions == ()


def test_a_lead_in_progress_stays_on_its_version_unless_the_new_one_migrates_it(trial, clock):
    w = walker(trial, clock, tz="UTC").start()
    w.run_until_sent("case-study")
    v2 = trial.model_copy(update={"version": 2, "migrations": ()})
    assert migrate(w.state, v2) is None
    v2 = trial.model_copy(update={"version": 2, "migrations": (Migration(**{"from": 1}),)})
    moved = migrate(w.state, v2)
    assert moved is not None
    assert moved.version == 2
    assert moved.sent == w.state.sent
    with pytest.raises(ValueError, match="not trial-nurture v2"):
        advance(w.state, TimerDue(), v2, clock.now())


def test_a_new_enrollment_waits_for_its_start(trial, clock):
    e = new_enrollment("ld_x", trial, clock.now())
    assert e.status is Status.NEW
    assert advance(e, TimerDue(), trial, clock.now()).changed is False


def test_the_same_inputs_always_give_the_same_decision(trial, clock):
    e = new_enrollment("ld_x", trial, clock.now())
    lead = LeadContext(timezone="Europe/Berlin", confirmed=True)
    first = advance(e, Confirmed(), trial, clock.now(), lead)
    second = advance(e, Confirmed(), trial, clock.now(), lead)
    assert first == second


def test_a_lead_in_another_time_zone_gets_its_own_morning(trial):
    from ripen_dev.fakes.clock import ManualClock

    clock = ManualClock(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # Tuesday 05:00 in Tokyo
    w = walker(trial, clock, tz="Asia/Tokyo").start()
    sent_at = w.run_until_sent("welcome")
    local = sent_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert local.replace(tzinfo=None) == datetime(2026, 3, 3, 9, 0)


def test_a_lead_coming_back_after_unsubscribing_confirms_first_even_where_the_sequence_does_not_ask(ebook, clock):
    # Given a sequence without double opt-in and a lead who had unsubscribed and signed up again
    w = Walker(ebook, clock, LeadContext(timezone="UTC", reconfirm=True)).start(confirmed=False)
    # Then the first thing they get is a confirmation, and nothing else until they confirm
    assert [a for _, a in w.actions] == [SendConfirmation(1)]
    assert w.state.status is Status.PENDING
    clock.advance(minutes=5)
    w.apply(Confirmed())
    assert w.emails == ["ebook-delivery"]
