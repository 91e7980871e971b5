"""Product events in sequence.yaml: goals, event waits, several signals, triggers, event scores and exits,
validated with the file, the line and a fix."""

from __future__ import annotations

import textwrap

from ripen.core.sequence import Signal
from ripen.core.validator import LoadResult, validate_text

EMAILS = {
    "welcome": "Hi! [Plans](https://x.example/pricing){ link=pricing }",
    "followup": "More.",
    "last": "Bye.",
    "confirm": "Please confirm: {{ confirm_url }}",
}

HEADER = """\
name: demo
from: "Demo <hi@x.example>"
"""


def check(yaml_text: str) -> LoadResult:
    return validate_text(textwrap.dedent(yaml_text), EMAILS.get, "demo/sequence.yaml", expect_name="demo")


def only_problem(result: LoadResult) -> tuple[int, str, str]:
    assert result.sequence is None
    assert len(result.problems) == 1, [str(p) for p in result.problems]
    p = result.problems[0]
    return p.line, p.message, p.fix or ""


def test_every_event_setting_loads_from_the_documented_format():
    # Given a sequence using each product-event setting
    result = check(
        HEADER
        + """\
goal: [{event: trial_converted}, {event: upgraded}]
trigger: {event: trial_started}
exit_on: [replied, account_deleted]
scoring: {events: {pricing_page_viewed: 10}}
steps:
  - email: welcome
  - wait_for: {event: demo_booked, within: 4 days}
    then: followup
    else: last
  - email: last
  - exit: done
  - email: followup
  - wait_for: {any: [{click: pricing}, {event: invited_teammate}], within: 5 days}
"""
    )
    # Then it loads, and says what each event means
    assert result.problems == []
    seq = result.sequence
    assert seq is not None
    assert seq.goal_events == ("trial_converted", "upgraded")
    assert seq.trigger is not None
    assert seq.trigger.event == "trial_started"
    assert seq.exit_on == ("replied", "account_deleted")
    assert seq.scoring.events == {"pricing_page_viewed": 10}
    assert seq.watched_events == frozenset({"demo_booked", "invited_teammate"})
    assert seq.step("wait-for-6").wait_for.signals == (Signal(click="pricing"), Signal(event="invited_teammate"))


def test_one_goal_may_be_written_alone_and_exit_on_may_name_one_event():
    result = check(HEADER + "goal: {event: trial_converted}\nexit_on: replied\nsteps:\n  - email: welcome\n")
    assert result.sequence is not None
    assert result.sequence.goal_events == ("trial_converted",)
    assert result.sequence.exit_on == ("replied",)


def test_a_wait_for_with_two_kinds_of_signal_is_refused_with_the_line():
    line, message, _ = only_problem(
        check(
            HEADER + "steps:\n  - email: welcome\n  - wait_for: {click: pricing, event: demo_booked, within: 2 days}\n"
        )
    )
    assert line == 5
    assert "exactly one of 'open', 'click', 'event' or 'any'" in message


def test_a_signal_in_any_must_name_one_thing():
    line, message, _ = only_problem(
        check(
            HEADER
            + "steps:\n  - email: welcome\n  - wait_for:\n"
            + "      any: [{click: pricing, event: demo_booked}]\n      within: 2 days\n"
        )
    )
    assert line == 6
    assert "exactly one of 'open', 'click' or 'event'" in message


def test_a_link_in_any_must_exist_in_an_email():
    line, message, fix = only_problem(
        check(HEADER + "steps:\n  - email: welcome\n  - wait_for: {any: [{click: pricng}], within: 2 days}\n")
    )
    assert line == 5
    assert "no email in this sequence has a link named 'pricng'" in message
    assert "did you mean 'pricing'?" in fix


def test_an_event_name_must_be_a_plain_name():
    line, message, _ = only_problem(check(HEADER + "goal: {event: Trial Converted}\nsteps:\n  - email: welcome\n"))
    assert line == 3
    assert "'Trial Converted' is not a valid name" in message


def test_a_goal_that_is_also_an_exit_is_refused():
    line, message, fix = only_problem(
        check(HEADER + "goal: {event: converted}\nexit_on: [replied, converted]\nsteps:\n  - email: welcome\n")
    )
    assert line == 4
    assert "'converted' is both a goal and an exit_on event" in message
    assert "goal" in fix


def test_a_trigger_that_ends_the_sequence_is_refused():
    line, message, fix = only_problem(
        check(HEADER + "goal: {event: converted}\ntrigger: {event: converted}\nsteps:\n  - email: welcome\n")
    )
    assert line == 4
    assert "trigger event 'converted' is also a goal" in message
    assert "trial_started" in fix


def test_a_misspelt_event_key_gets_a_suggestion():
    line, message, fix = only_problem(
        check(HEADER + "scoring: {evnts: {demo_booked: 5}}\nsteps:\n  - email: welcome\n")
    )
    assert line == 3
    assert "unknown key 'evnts'" in message
    assert "did you mean 'events'?" in fix
