"""The nurture function (template.yaml, NurtureFunction) runs the sweep, the sender and engagement:
each invocation reaches the handler its trigger is for, whatever order they come in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ripen.handlers import engagement, nurture, sender, sweep
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS

SEND_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ripen-SendQueue"


def sample(*path: str) -> Any:
    return json.loads(EVENTS.joinpath(*path).read_text())


@pytest.fixture
def called(monkeypatch) -> list[tuple[str, Any]]:
    """Each part's handler, replaced by one that notes the event it got."""
    calls: list[tuple[str, Any]] = []
    for part, module in ((nurture.SWEEP, sweep), (nurture.SENDER, sender), (nurture.ENGAGEMENT, engagement)):
        monkeypatch.setattr(module, "handler", lambda event, context, part=part: calls.append((part, event)) or part)
    monkeypatch.setenv("SEND_QUEUE_URL", SEND_QUEUE_URL)
    return calls


@pytest.mark.parametrize(
    ("event", "part"),
    [
        (("schedule", "sweep-tick.json"), nurture.SWEEP),
        (("schedule", "eventbridge-scheduled-event.json"), nurture.SWEEP),  # a classic EventBridge rule
        (("sqs", "send-jobs.json"), nurture.SENDER),
        (("ses", "sqs", "eventbridge-bodies.json"), nurture.ENGAGEMENT),
        (("ses", "sqs", "sns-bodies.json"), nurture.ENGAGEMENT),
        (("ses", "sqs", "bad-bodies.json"), nurture.ENGAGEMENT),  # logged and skipped there, never retried
        (("ses", "sns", "open.json"), nurture.ENGAGEMENT),  # the function subscribed to the SNS topic
        (("ses", "eventbridge", "click.json"), nurture.ENGAGEMENT),  # an EventBridge rule targeting it
    ],
)
def test_each_trigger_reaches_its_part_with_the_event_as_aws_sent_it(called, event, part):
    # Given an event as AWS delivers it for one of the function's triggers
    given = sample(*event)
    # When the nurture function is invoked with it
    answer = nurture.handler(given, LambdaContext())
    # Then the part it is for handles it, unchanged, and its answer (partial failures) is the function's
    assert called == [(part, given)]
    assert answer == part


def test_send_jobs_reach_the_sender_whatever_the_queue_is_called(called, monkeypatch):
    # Given send jobs from a queue whose name the environment does not give (a local stand-in)
    jobs = sample("sqs", "send-jobs.json")
    for record in jobs["Records"]:
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:some-other-name"
    # When they arrive
    nurture.handler(jobs, LambdaContext())
    # Then the sender has them: a send job's body says what it is
    assert [part for part, _ in called] == [nurture.SENDER]


def test_ses_events_never_reach_the_sender_even_from_a_queue_named_like_it(called):
    # Given SES events whose queue is not the send queue
    events = sample("ses", "sqs", "eventbridge-bodies.json")
    # Then they are engagement's, whatever their bodies
    assert nurture.part_for(events, SEND_QUEUE_URL) == nurture.ENGAGEMENT
    # And a schedule input that is not understood still sweeps (a wrong input must not stop the timers)
    assert nurture.part_for({"task": "something else"}, SEND_QUEUE_URL) == nurture.SWEEP
    assert nurture.part_for([], SEND_QUEUE_URL) == nurture.SWEEP


def test_the_parts_are_the_handlers_the_function_hands_to():
    assert {
        nurture.SWEEP: sweep.__name__,
        nurture.SENDER: sender.__name__,
        nurture.ENGAGEMENT: engagement.__name__,
    } == nurture.PARTS
