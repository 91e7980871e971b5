"""Pieces of the dev stack's outbox and API front: what they show and what they change."""

from __future__ import annotations

import json
from datetime import timedelta

from ripen.core.records import EnrollmentRecord, HistoryEntry
from ripen.core.state import Enrollment, Status, Wait
from ripen_dev.local.devstack.outbox import framed, next_action, timeline
from ripen_dev.local.devstack.ses import OutboxEmail, PublishedEvent
from ripen_dev.local.devstack.stack import local_thank_you

THANKS = "https://acme.example/trial/thanks"


def test_a_thank_you_page_on_an_example_domain_is_shown_locally():
    answer = {"statusCode": 303, "headers": {"Location": THANKS}, "body": ""}
    assert (
        local_thank_you(answer)["headers"]["Location"]
        == "/_dev/thank-you?url=https%3A%2F%2Facme.example%2Ftrial%2Fthanks"
    )
    body = json.dumps({"status": "pending_confirmation", "thank_you_url": THANKS})
    rewritten = json.loads(local_thank_you({"statusCode": 201, "body": body})["body"])
    assert rewritten == {
        "status": "pending_confirmation",
        "thank_you_url": "/_dev/thank-you?url=" + THANKS.replace(":", "%3A").replace("/", "%2F"),
    }


def test_a_real_thank_you_page_is_left_alone():
    real = {"statusCode": 303, "headers": {"location": "https://www.acme.com/thanks"}, "body": ""}
    assert local_thank_you(real) == real
    body = json.dumps({"thank_you_url": "https://www.acme.com/thanks"})
    assert local_thank_you({"statusCode": 201, "body": body})["body"] == body


def test_links_in_a_framed_email_open_in_the_whole_tab():
    assert framed("<html><head><title>x</title></head><body><a href='/confirm'>c</a></body></html>").startswith(
        '<html><head><base target="_top"><title>'
    )
    assert framed("<p>no head</p>") == '<base target="_top"><p>no head</p>'


def _record(clock, **values) -> EnrollmentRecord:
    return EnrollmentRecord(Enrollment("ld_x", "trial-nurture", 1, **values))


def test_the_next_action_says_what_the_lead_waits_for_and_when(clock):
    now = clock.now()
    held = _record(clock, status=Status.ACTIVE, wait=Wait.CAP, next_action_at=now + timedelta(hours=19, minutes=58))
    assert next_action(held, now).text == "email held by the frequency cap: in 19 h 58 min"
    waiting = _record(clock, status=Status.ACTIVE, wait=Wait.ENGAGEMENT, next_action_at=now + timedelta(days=3))
    assert next_action(waiting, now).text == "waiting for engagement, else the next step: in 3 d"
    done = _record(clock, status=Status.COMPLETED, exit_reason="trial-over")
    assert next_action(done, now).text == "finished: completed (trial-over)"
    assert next_action(_record(clock, status=Status.ACTIVE), now).at is None


def test_the_timeline_puts_emails_events_and_state_changes_in_order(clock):
    t0 = clock.now()
    sent = OutboxEmail(
        "ses-1", t0, "a@acme.example", ("ana@example.com",), "set", {"step": "welcome"}, b"Subject: Hi\n\nx"
    )
    sent.events.extend([PublishedEvent("send", t0), PublishedEvent("click", t0 + timedelta(hours=1), "docs")])
    history = [HistoryEntry("ld_x", t0, "trial-nurture", 1, "confirmed", "active", "welcome", ("sent welcome",))]
    items = timeline(history, [sent])
    assert [(item.kind, item.title) for item in items] == [
        ("email", "email sent: “Hi” (welcome)"),
        ("state", "trial-nurture: confirmed → active at welcome"),
        ("ses", "SES click on docs: welcome"),
    ]
    assert items[2].href == "/_dev/emails/ses-1"
