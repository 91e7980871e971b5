"""The engine and product events: goals, exits, event scores and event waits, by when events happened."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from ripen.core.sequence import Sequence
from ripen.core.state import EventOccurred, GoalReached, HandOff, LeadContext, Status, Wait
from ripen.core.validator import validate_text
from tests.support.walker import Walker

EMAILS = {
    "welcome": "Hi! [Plans](https://x.example/pricing){ link=pricing }",
    "demo-prep": "See you at the demo.",
    "nudge": "Still there?",
    "last": "Bye.",
    "confirm": "Please confirm: {{ confirm_url }}",
}

SEQUENCE = """\
name: onboarding
from: "Demo <hi@x.example>"
double_opt_in: false
frequency_cap: off
goal: [{event: trial_converted}, {event: upgraded}]
exit_on: [replied]
sales_ready: {score: 50}
scoring: {events: {pricing_page_viewed: 10, invited_teammate: 4}}
steps:
  - email: welcome
  - wait_for: {event: demo_booked, within: 4 days}
    then: demo-prep
    else: nudge
  - email: nudge
  - wait_for: {any: [{click: pricing}, {event: invited_teammate}], within: 3 days}
    then: last
    else: last
  - email: demo-prep
  - wait: 2 days
  - email: last
"""


@pytest.fixture
def onboarding() -> Sequence:
    result = validate_text(textwrap.dedent(SEQUENCE), EMAILS.get, "onboarding/sequence.yaml", "onboarding")
    assert result.sequence is not None, [str(p) for p in result.problems]
    return result.sequence


def walker(sequence, clock) -> Walker:
    return Walker(sequence, clock, LeadContext(timezone="UTC")).start(confirmed=True)


def event(w: Walker, name: str, ago: timedelta = timedelta(0)) -> Walker:
    return w.apply(EventOccurred(name, w.clock.now() - ago))


def test_any_goal_event_ends_the_enrollment_as_a_conversion(onboarding, clock):
    # Given a lead waiting for a demo booking
    w = walker(onboarding, clock)
    # When they upgrade (the second of two goals)
    clock.advance(hours=3)
    event(w, "upgraded")
    # Then the run ends as a conversion, and the decision log says which goal
    assert w.state.status is Status.GOAL_REACHED
    assert w.state.exit_reason == "goal 'upgraded' reached"
    assert "goal reached: goal 'upgraded' reached" in w.decisions[-1].log
    # And nothing more is sent
    assert not w.next_timer()
    assert w.emails == ["welcome"]


def test_the_goal_as_a_trigger_of_its_own_still_works_with_several_goals(onboarding, clock):
    w = walker(onboarding, clock)
    w.apply(GoalReached("trial_converted"))
    assert w.state.status is Status.GOAL_REACHED


def test_an_exit_on_event_ends_the_enrollment_without_a_conversion(onboarding, clock):
    w = walker(onboarding, clock)
    event(w, "replied")
    assert w.state.status is Status.COMPLETED
    assert w.state.exit_reason == "left on the 'replied' event"


def test_a_booked_demo_takes_the_then_branch_at_once(onboarding, clock):
    # Given a lead waiting up to 4 days for a demo booking
    w = walker(onboarding, clock)
    assert w.state.wait is Wait.ENGAGEMENT
    # When they book one on day 2
    clock.advance(days=2)
    event(w, "demo_booked")
    # Then the demo preparation goes out now, not at the next timer
    assert w.emails == ["welcome", "demo-prep"]
    assert "demo_booked event seen: taking the 'then' branch" in w.decisions[-1].log


def test_no_booking_within_the_wait_takes_the_else_branch(onboarding, clock):
    w = walker(onboarding, clock)
    w.next_timer()
    assert w.emails == ["welcome", "nudge"]
    assert "no demo_booked event within 4 days" in w.decisions[-1].log


def test_any_of_several_signals_satisfies_the_wait(onboarding, clock):
    # Given a lead on the nudge, waiting for a pricing click or a teammate invitation
    w = walker(onboarding, clock)
    w.next_timer()
    # When they invite a teammate
    clock.advance(hours=5)
    event(w, "invited_teammate")
    # Then the event is scored and the wait ends at once
    assert w.emails == ["welcome", "nudge", "last"]
    assert w.state.score == 4


def test_a_click_satisfies_the_same_wait(onboarding, clock):
    w = walker(onboarding, clock)
    w.next_timer()
    w.engage("click", link="pricing")
    assert w.emails == ["welcome", "nudge", "last"]


def test_an_event_that_happened_before_the_wait_began_does_not_satisfy_it(onboarding, clock):
    # Given a lead who received the nudge an hour ago
    w = walker(onboarding, clock)
    w.next_timer()
    clock.advance(hours=1)
    # When an invitation sent two hours ago (before the nudge) arrives late
    event(w, "invited_teammate", ago=timedelta(hours=2))
    # Then it is scored but the wait goes on
    assert w.state.score == 4
    assert w.state.wait is Wait.ENGAGEMENT


def test_an_event_from_before_this_run_is_ignored(onboarding, clock):
    # Given a lead who entered an hour ago
    clock.advance(hours=1)
    w = walker(onboarding, clock)
    clock.advance(hours=1)
    # When a conversion from a day before they entered arrives (out of order, or replayed)
    event(w, "trial_converted", ago=timedelta(days=1))
    # Then it does not end this run
    assert w.state.status is Status.ACTIVE
    assert "it happened before this run began" in w.decisions[-1].log[0]


def test_scored_events_add_points_and_can_hand_off_to_sales(onboarding, clock):
    w = walker(onboarding, clock)
    for _ in range(5):
        clock.advance(hours=1)
        event(w, "pricing_page_viewed")
    assert w.state.status is Status.SALES_READY
    assert next(a for _, a in w.actions if isinstance(a, HandOff)).score == 50


def test_the_same_event_delivered_twice_counts_once(onboarding, clock):
    w = walker(onboarding, clock)
    clock.advance(hours=1)
    at = clock.now()
    w.apply(EventOccurred("pricing_page_viewed", at))
    w.apply(EventOccurred("pricing_page_viewed", at))
    assert w.state.score == 10
    assert not w.decisions[-1].changed


def test_an_event_the_sequence_does_not_use_changes_nothing(onboarding, clock):
    w = walker(onboarding, clock)
    before = w.state
    event(w, "logged_in")
    assert w.state == before
    assert not w.decisions[-1].changed


def test_an_event_dated_in_the_future_counts_as_now(onboarding, clock):
    w = walker(onboarding, clock)
    w.apply(EventOccurred("demo_booked", clock.now() + timedelta(hours=3)))
    assert w.emails == ["welcome", "demo-prep"]
    assert w.state.engaged["event:demo_booked"] == clock.now()


def test_before_double_opt_in_only_a_goal_or_an_exit_counts(onboarding, clock):
    seq = onboarding.model_copy(update={"double_opt_in": onboarding.double_opt_in.model_copy(update={"enabled": True})})
    w = Walker(seq, clock, LeadContext(timezone="UTC")).start(confirmed=False)
    assert w.state.status is Status.PENDING
    event(w, "pricing_page_viewed")
    assert w.state.score == 0
    event(w, "trial_converted")
    assert w.state.status is Status.GOAL_REACHED
