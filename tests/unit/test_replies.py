"""Replies stop the sequence: an SES receiving notification of an answer to an email ripen sent
records a `replied` product event for that lead (once per inbound email), and the trial, which
`exit_on: [replied]`, ends; a reply that answers nothing ripen sent is counted, never an error."""

from __future__ import annotations

import json

import pytest

from ripen.core.events import EventOutcome
from ripen.core.state import Status
from ripen.handlers import replies as replies_handler
from ripen.models.replies import NotAReplyError, ReceivingNotification, notification_from_json
from ripen.services.replies import REPLIES_MATCHED, REPLIES_UNMATCHED
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS
from tests.support.ids import lead_id_for

SAMPLE_SES_ID = "010001958a2b7c3d-6f1e2a44-9b7c-4d21-a8e3-2c5f0e9d1b77-000000"


def sample() -> dict:
    return json.loads((EVENTS / "ses" / "receiving" / "reply.json").read_text())


def reply_to(
    ses_id: str | None,
    *,
    header: str = "In-Reply-To",
    inbound_id: str = "inbound-1",
    at: str = "2026-03-12T14:05:09.104Z",
    domain: str = "email.amazonses.com",
) -> ReceivingNotification:
    """The sample notification, answering the email SES knows as `ses_id` through `header` only."""
    notification = sample()
    mail = notification["mail"]
    mail["messageId"] = inbound_id
    mail["timestamp"] = at
    mail["headers"] = [h for h in mail["headers"] if h["name"] not in ("In-Reply-To", "References")]
    if ses_id is not None:
        mail["headers"].append({"name": header, "value": f"<{ses_id}@{domain}>"})
    return notification_from_json(json.dumps(notification))


def status(stack, email: str, sequence: str = "trial-nurture") -> Status:
    record = stack.store.get_enrollment(lead_id_for(email), sequence)
    assert record is not None
    return record.enrollment.status


def test_the_sample_notification_names_the_email_it_answers_and_the_inbound_mail():
    # Given the sample of what SES receiving publishes (alert form: headers, no content)
    notification = notification_from_json((EVENTS / "ses" / "receiving" / "reply.json").read_text())
    # Then it yields the SES id of the email answered, the inbound mail's id and when it arrived
    assert notification.answered_ses_ids() == [SAMPLE_SES_ID]
    assert notification.inbound_id == "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1"
    assert notification.received_at.isoformat() == "2026-03-12T14:05:09.104000+00:00"


def test_a_thread_yields_in_reply_to_first_then_references_latest_first_and_region_message_ids():
    # Given a reply deep in a thread, from a region whose SES Message-IDs name the region
    notification = sample()
    notification["mail"]["headers"] = [
        {
            "name": "references",
            "value": "<a@email.amazonses.com> <CAx1@mail.example.com>\r\n <b@eu-west-1.amazonses.com>",
        },
        {"name": "IN-REPLY-TO", "value": "<c@eu-west-1.amazonses.com>"},
    ]
    # Then the ids are read case-insensitively, foreign Message-IDs ignored
    assert notification_from_json(json.dumps(notification)).answered_ses_ids() == ["c", "b", "a"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        json.dumps({"notificationType": "Bounce", "mail": {}}),
        json.dumps({"notificationType": "Received"}),
    ],
)
def test_anything_but_a_receiving_notification_is_refused_without_quoting_it(body):
    with pytest.raises(NotAReplyError) as caught:
        notification_from_json(body)
    assert "example.com" not in str(caught.value)


@pytest.mark.parametrize("header", ["In-Reply-To", "References"])
def test_a_reply_to_a_trial_email_ends_the_trial_as_replied(stack, header):
    # Given a trial lead who got the welcome email
    lead = stack.signup("ana@example.com")
    welcome = stack.sent(lead, "welcome")
    assert welcome.ses_message_id
    stack.clock.advance(hours=3)
    # When they answer it (the mail client names the email in `header`)
    result = stack.app.replies.record(reply_to(welcome.ses_message_id, header=header, at=stack.clock.now().isoformat()))
    # Then the lead gets a `replied` event and the trial (exit_on: [replied]) ends, not as a conversion
    assert (result.outcome, result.lead_id) == (EventOutcome.APPLIED, lead.lead_id)
    assert status(stack, "ana@example.com") is Status.COMPLETED
    assert stack.metrics.counts[REPLIES_MATCHED] == 1
    [entry] = [h for h in stack.store.history_of(lead.lead_id) if h.trigger == "event replied"]
    assert "left on the 'replied' event" in " ".join(entry.lines)
    # And no further email goes out
    stack.clock.advance(days=20)
    assert not stack.timer(lead)


def test_the_same_reply_delivered_twice_is_one_event(stack):
    # Given a lead who answered the welcome email
    lead = stack.signup("ana@example.com")
    welcome = stack.sent(lead, "welcome")
    reply = reply_to(welcome.ses_message_id, inbound_id="inbound-twice", at=stack.clock.now().isoformat())
    # When SNS delivers the notification twice
    first = stack.app.replies.record(reply)
    second = stack.app.replies.record(reply)
    # Then it is applied once
    assert (first.outcome, second.outcome) == (EventOutcome.APPLIED, EventOutcome.DUPLICATE)


@pytest.mark.parametrize("ses_id", [None, "0100019999999999-unknown-000000"])
def test_a_reply_that_answers_no_email_ripen_sent_is_counted_and_changes_nothing(stack, ses_id, caplog):
    # Given a lead on the trial
    lead = stack.signup("ana@example.com")
    stack.sent(lead, "welcome")
    # When a new email (no reply headers) or a reply to some other email arrives
    result = stack.app.replies.record(reply_to(ses_id, at=stack.clock.now().isoformat()))
    # Then it is counted, nobody's enrollment moves, and no address is logged
    assert result.outcome is None
    assert stack.metrics.counts[REPLIES_UNMATCHED] == 1
    assert status(stack, "ana@example.com") is Status.ACTIVE
    assert "example.com" not in caplog.text


def test_the_replies_function_records_the_sample_sns_event(stack):
    # Given the lead and the email the sample answers (SES gave it the sample's id)
    lead = stack.signup("ana@example.com")
    welcome = stack.sent(lead, "welcome")
    event = json.loads((EVENTS / "sns" / "ses-reply.json").read_text())
    message = event["Records"][0]["Sns"]["Message"].replace(SAMPLE_SES_ID, welcome.ses_message_id)
    message = message.replace("2026-03-12T14:05:09.104Z", stack.clock.now().isoformat())
    event["Records"][0]["Sns"]["Message"] = message
    # When SNS invokes the function with it
    answer = replies_handler.handler(event, LambdaContext())
    # Then the reply is applied and the trial ends
    assert answer == {"outcomes": ["applied"]}
    assert status(stack, "ana@example.com") is Status.COMPLETED


def test_the_replies_function_skips_what_is_not_a_receiving_notification(stack):
    event = json.loads((EVENTS / "sns" / "ses-reply.json").read_text())
    event["Records"][0]["Sns"]["Message"] = json.dumps({"notificationType": "Bounce"})
    assert replies_handler.handler(event, LambdaContext()) == {"outcomes": ["refused"]}
