"""The SES events `ripen dev` publishes: built from events/ses/eventbridge/ about the email the sender
really sent (its SES id, headers, tags), they read as SES records and move the lead as AWS's would."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from ripen.core.records import message_key
from ripen.core.state import Status
from ripen.models.ses import BounceRecord, ClickRecord, DeliveryRecord, SendRecord, parse_envelope
from ripen_dev.local.devstack.ses import HUMAN_DELAY, Destination, NamedLink, OutboxEmail, SentMail, SesEvents
from tests.support.mailstack import ENV
from tests.support.ses_events import SES, sqs_batch

CONFIGURATION_SET = ENV["SES_CONFIGURATION_SET"]
ALL_TYPES = frozenset({"send", "delivery", "open", "click", "bounce", "complaint"})


class RecordingBus:
    """EventBridge's PutEvents, keeping the entries; `delivered()` gives them as a rule delivers them to
    a queue (the whole event)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}

    def delivered(self) -> list[dict[str, Any]]:
        return [
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "account": "123456789012",
                "time": entry["Time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "us-east-1",
                "resources": entry["Resources"],
                "detail": json.loads(entry["Detail"]),
            }
            for entry in self.entries
        ]


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def ses(stack, bus) -> SesEvents:
    destination = Destination(CONFIGURATION_SET, "default", ALL_TYPES)
    return SesEvents(SES / "eventbridge", bus, [destination], stack.clock, SentMail())


@pytest.fixture
def ana(stack):
    return stack.signup("ana@example.com", name="Ana Lopez")


def as_sent(stack, lead, step: str) -> OutboxEmail:
    """The email of `step`, sent by the sender, as the dev stack records what SES accepted."""
    message = stack.sent(lead, step)
    [(sent, email)] = [(s, e) for s, e in stack.outbox.sent if s.message_id == message.ses_message_id]
    return OutboxEmail(
        ses_message_id=sent.message_id,
        sent_at=message.sent_at,
        source=email.from_,
        to=(email.to,),
        configuration_set=email.configuration_set,
        tags=dict(email.tags),
        raw=email.mime(),
    )


def test_send_and_delivery_name_the_email_by_its_ses_id_with_its_headers_and_tags(stack, ses, bus, ana):
    # Given the welcome email, sent
    welcome = as_sent(stack, ana, "welcome")
    # When SES accepts it
    ses.sent(welcome)
    # Then it publishes Send, then Delivery a moment later, as records of this very email
    send, delivery = (parse_envelope(event) for event in bus.delivered())
    assert isinstance(send, SendRecord)
    assert isinstance(delivery, DeliveryRecord)
    for record in (send, delivery):
        assert record.mail.message_id == welcome.ses_message_id
        assert record.mail.destination == ["ana@example.com"]
        assert record.mail.tag("message") == message_key(ana.lead_id, "trial-nurture", 1, "welcome").replace("#", ".")
        assert record.mail.tag("ses:configuration-set") == CONFIGURATION_SET
        assert record.mail.common_headers["subject"] == "Your Acme Insights trial is ready"
        assert record.mail.timestamp == welcome.sent_at
    assert delivery.delivery.recipients == ["ana@example.com"]
    assert timedelta(0) < delivery.occurred_at - welcome.sent_at < timedelta(seconds=5)
    headers = {h.name: h.value for h in send.mail.headers}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [e.kind for e in welcome.events] == ["send", "delivery"]


def test_a_click_on_a_named_link_branches_the_lead_like_the_one_ses_reports(stack, ses, bus, ana):
    # Given the case study, sent and delivered: Ana waits for a pricing click
    case_study = as_sent(stack, ana, "case-study")
    ses.sent(case_study)
    links = {link.name: link for link in case_study.links}
    assert sorted(links) == ["case-study", "pricing"]
    before = stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment
    # When she clicks pricing (a person: a while after it arrived)
    stack.clock.advance(minutes=30)
    ses.publish("click", case_study, ses.human_time(case_study), links["pricing"])
    *_, click = (parse_envelope(event) for event in bus.delivered())
    assert isinstance(click, ClickRecord)
    assert click.click.link_name == "pricing"
    assert click.click.link == links["pricing"].href
    # Then the engagement function, fed the events as the queue delivers them, branches and scores
    assert stack.ses(sqs_batch(*bus.delivered())) == set()
    after = stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment
    assert after.cursor == "pricing-followup"
    assert after.stage == "decision"
    assert after.score == pytest.approx(before.score + 20)  # the weight of a pricing click


def test_a_bounce_names_the_emails_own_recipient_and_suppresses_the_lead(stack, ses, bus, ana):
    welcome = as_sent(stack, ana, "welcome")
    ses.sent(welcome, deliver=False)
    ses.publish("bounce", welcome)
    bounce = parse_envelope(bus.delivered()[-1])
    assert isinstance(bounce, BounceRecord)
    assert bounce.permanent
    assert [r.email_address for r in bounce.bounce.bounced_recipients] == ["ana@example.com"]
    assert stack.ses(sqs_batch(*bus.delivered())) == set()
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.SUPPRESSED


def test_only_emails_of_a_configuration_set_with_an_eventbridge_destination_have_events(stack, bus, ana):
    welcome = as_sent(stack, ana, "welcome")
    only_bounces = Destination(CONFIGURATION_SET, "default", frozenset({"bounce"}))
    ses = SesEvents(SES / "eventbridge", bus, [only_bounces], stack.clock, SentMail())
    ses.sent(welcome)
    assert bus.entries == []
    assert ses.publish("bounce", welcome) is True
    other = SesEvents(
        SES / "eventbridge", bus, [Destination("another-set", "default", ALL_TYPES)], stack.clock, SentMail()
    )
    assert other.publish("open", welcome) is False
    assert len(bus.entries) == 1


def test_a_persons_open_or_click_comes_a_minute_after_arrival_at_the_earliest(stack, ses, ana):
    welcome = as_sent(stack, ana, "welcome")
    ses.sent(welcome)
    arrived = welcome.time_of("delivery")
    assert ses.human_time(welcome) == arrived + HUMAN_DELAY
    stack.clock.advance(hours=2)
    assert ses.human_time(welcome) == stack.clock.now()
    # and a minute after their previous open or click of it (two links at once: a scanner)
    ses.publish("open", welcome, stack.clock.now())
    assert ses.human_time(welcome) == stack.clock.now() + HUMAN_DELAY


def test_a_click_names_its_link(stack, ses, ana):
    welcome = as_sent(stack, ana, "welcome")
    with pytest.raises(ValueError, match="names its link"):
        ses.publish("click", welcome)
    assert ses.publish("click", welcome, link=NamedLink("docs", "https://acme.example/docs", "Docs")) is True


def test_the_outbox_kept_on_disk_reads_back_the_same_emails_and_events(stack, ses, ana, tmp_path):
    welcome = as_sent(stack, ana, "welcome")
    kept = SentMail(tmp_path / "outbox.jsonl")
    kept.add(welcome)
    ses.mail = kept
    ses.publish("open", welcome, ses.human_time(welcome))
    [again] = SentMail(tmp_path / "outbox.jsonl").all()
    assert again.raw == welcome.raw
    assert again.subject == "Your Acme Insights trial is ready"
    assert [(e.kind, e.at) for e in again.events] == [(e.kind, e.at) for e in welcome.events]
    assert again.unsubscribe_url is not None
    assert again.unsubscribe_url.startswith(f"{ENV['PUBLIC_BASE_URL']}/unsubscribe?token=")
