"""SES events, however they are wired, become typed records; what is not a usable record is
skipped with a reason that never quotes the input."""

from __future__ import annotations

import json

import pytest

from ripen.core.engagement import ref_from_tags
from ripen.models import ses
from tests.support.ids import lead_id_for
from tests.support.ses_events import NAMES, SES, record_of, sample

TYPES = {
    "send": ses.SendRecord,
    "delivery": ses.DeliveryRecord,
    "bounce-permanent": ses.BounceRecord,
    "bounce-transient": ses.BounceRecord,
    "complaint": ses.ComplaintRecord,
    "open": ses.OpenRecord,
    "open-machine": ses.OpenRecord,
    "click": ses.ClickRecord,
    "click-scanner": ses.ClickRecord,
    "reject": ses.RejectRecord,
    "rendering-failure": ses.RenderingFailureRecord,
    "delivery-delay": ses.DeliveryDelayRecord,
    "subscription": ses.SubscriptionRecord,
}
SAMPLE_KEY = f"{lead_id_for('ana@example.com')}#trial-nurture#1#case-study"


def test_there_is_a_sample_of_every_event_type_both_ways():
    assert set(TYPES) == set(NAMES)
    types = {record_of(sample(name))["eventType"] for name in NAMES}
    assert types == set(ses.EVENT_TYPES)
    for via in ("eventbridge", "sns"):
        assert {p.stem for p in (SES / via).glob("*.json")} == set(NAMES)


@pytest.mark.parametrize("via", ["eventbridge", "sns"])
@pytest.mark.parametrize("name", NAMES)
def test_every_sample_parses_into_its_record_type_whichever_way_it_came(name, via):
    source, [received] = ses.received_events(sample(name, via))
    assert source == via
    assert received.problem is None
    record = received.record
    assert isinstance(record, TYPES[name])
    assert record.mail.message_id == "0100018f5c2d7a3b-4e8f9a1c-2b3d-4c5e-8f7a-9b0c1d2e3f4a-000000"
    # the tags the sender sets name the message
    ref = ref_from_tags(record.mail.tags)
    assert ref is not None
    assert (ref.key, ref.lead_id, ref.sequence, ref.run, ref.step) == (
        SAMPLE_KEY,
        lead_id_for("ana@example.com"),
        "trial-nurture",
        1,
        "case-study",
    )


@pytest.mark.parametrize("name", NAMES)
def test_an_event_has_the_same_key_via_sns_and_via_eventbridge(name):
    [via_bus] = ses.received_events(sample(name, "eventbridge"))[1]
    [via_topic] = ses.received_events(sample(name, "sns"))[1]
    assert via_bus.record is not None
    assert via_topic.record is not None
    assert via_bus.record.key == via_topic.record.key
    assert via_bus.record.occurred_at == via_topic.record.occurred_at


def test_keys_tell_events_of_one_email_apart_and_repeat_for_the_same_event():
    keys = {name: ses.parse_envelope(sample(name)).key for name in NAMES}
    assert len(set(keys.values())) == len(NAMES)
    assert keys["send"] == "send"
    assert keys["click"] == "click@20260305T114302.914#pricing"
    assert keys["open"] == "open@20260305T114217.305"


def test_records_without_headers_parse():
    for name in ("rendering-failure", "delivery-delay"):
        record = ses.parse_envelope(sample(name))
        assert record.mail.headers is None
        assert record.mail.common_headers is None


def test_a_click_names_its_link_and_a_subscription_its_topics():
    click = ses.parse_envelope(sample("click"))
    assert isinstance(click, ses.ClickRecord)
    assert click.click.link_name == "pricing"
    subscription = ses.parse_envelope(sample("subscription"))
    assert isinstance(subscription, ses.SubscriptionRecord)
    assert subscription.subscription.new_topic_preferences.unsubscribe_all
    assert subscription.subscription.opted_out_of == ["trial-nurture"]


@pytest.mark.parametrize("file", ["eventbridge-bodies.json", "sns-bodies.json"])
def test_an_sqs_batch_of_eventbridge_events_or_sns_notifications_parses(file):
    event = json.loads((SES / "sqs" / file).read_text())
    source, received = ses.received_events(event)
    assert source == "sqs"
    assert [r.item_id for r in received] == [r["messageId"] for r in event["Records"]]
    assert all(r.record is not None and r.problem is None for r in received)


def test_bad_bodies_get_a_reason_each_and_the_good_one_still_parses():
    event = json.loads((SES / "sqs" / "bad-bodies.json").read_text())
    _, received = ses.received_events(event)
    reasons = [r.problem for r in received]
    assert reasons[:5] == [
        "the message body is not JSON",
        "a legacy identity notification (notificationType), not event publishing",
        "unknown eventType 'Email Forwarded'",
        "an EventBridge event not from SES",
        "malformed Open record: mail (missing)",
    ]
    # a foreign message is a usable record: the engagement service finds no message for it
    assert received[5].record is not None
    assert received[6].record is not None
    assert all("@" not in (r or "") for r in reasons)


def test_a_malformed_record_is_described_without_its_values():
    record = record_of(sample("bounce-permanent"))
    record["bounce"]["bounceType"] = "ana@example.com"
    with pytest.raises(ses.NotAnEventError) as raised:
        ses.parse_record(record)
    assert raised.value.reason == "malformed Bounce record: bounce.bounceType (literal_error)"
    assert "@" not in str(raised.value)


def test_direct_invocations_are_read_too():
    source, [one] = ses.received_events(sample("open"))
    assert source == "eventbridge"
    assert isinstance(one.record, ses.OpenRecord)
    event = sample("open", "sns")
    event["Records"][0]["Sns"]["Message"] = "not json"
    source, [bad] = ses.received_events(event)
    assert (source, bad.problem) == ("sns", "the SNS message is not JSON")
    source, [legacy] = ses.received_events({"notificationType": "Delivery", "mail": {}})
    assert legacy.problem == "a legacy identity notification (notificationType), not event publishing"
