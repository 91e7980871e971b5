"""Every decision and every open or click that scores rewrites the enrollment, and a write is billed
per started KB of the item (two units per KB in a transaction): an engaged lead's enrollment must
stay under 1 KB, with the fields a landing page posts, and enrollments written before still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ripen.adapters.dynamodb import DynamoStore
from ripen.adapters.tables import TimeAttribute
from ripen.core.state import Engaged
from ripen_dev.local.item_size import item_size
from tests.support.mailstack import make_stack
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration

# What examples/landing-page posts besides the address, and the campaign's UTM fields: the lead's
# attributes, which every enrollment copies for the engine.
FORM = {
    "company": "Fernhill Analytics",
    "role": "Head of Data",
    "team_size": "11-50",
    "country": "Portugal",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "trial-launch-2026",
    "utm_content": "hero-button",
}
TIMES = ("next_action_at", "since", "score_at", "last_email_at", "last_confirmation_at", "entered_at", "ended_at")
TRIAL_EMAILS = ("welcome", "first-dashboard", "case-study", "pricing-followup", "trial-ending", "trial-ended")


def raw_enrollment(settings, lead_id: str, sequence: str = "trial-nurture") -> dict:
    client = boto3.client("dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.region)
    key = {"lead_id": {"S": lead_id}, "sequence": {"S": sequence}}
    return client.get_item(TableName=settings.enrollments_table, Key=key, ConsistentRead=True)["Item"]


def test_an_engaged_lead_with_a_landing_pages_fields_keeps_her_enrollment_under_one_kb(dynamo_settings, clock, catalog):
    # Given Ana signed up with the landing page's fields and a campaign's UTM fields
    stack = make_stack(DynamoStore(dynamo_settings), clock, catalog)
    ana = stack.signup("ana@example.com", name="Ana Lopez", attributes=FORM)
    largest = 0
    # When she opens every email of the trial and clicks pricing in the case study
    for step in TRIAL_EMAILS:
        email = stack.sent(ana, step)
        opened = event_about(email, "open", at=email.sent_at + timedelta(minutes=30))
        events = [opened]
        if step == "case-study":
            events.append(event_about(email, "click", at=email.sent_at + timedelta(minutes=31)))
        assert stack.ses(sqs_batch(*events)) == set()
        largest = max(largest, item_size(raw_enrollment(dynamo_settings, ana.lead_id)))
    # Then her enrollment never reached 1 KB: each of its writes is one write unit (two in a transaction)
    record = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert record is not None
    assert len(record.enrollment.engaged) >= len(TRIAL_EMAILS) + 2  # every email's open, the click, "any"s
    assert record.attributes == FORM
    assert largest < 1024, f"the enrollment grew to {largest} bytes"
    # And its times are numbers (about 9 bytes each, where ISO text took 31): room for more fields
    item = raw_enrollment(dynamo_settings, ana.lead_id)
    times = [item[name] for name in TIMES if name in item] + list(item["engaged"]["M"].values())
    assert len(times) > 10
    assert all("N" in value for value in times)


def test_an_enrollment_written_before_times_were_numbers_still_reads_and_moves(dynamo_settings, clock, catalog):
    # Given an enrollment as an earlier release wrote it: its times as ISO text
    stack = make_stack(DynamoStore(dynamo_settings), clock, catalog)
    ana = stack.signup("ana@example.com")
    before = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert before is not None
    item = raw_enrollment(dynamo_settings, ana.lead_id)
    iso = "%Y-%m-%dT%H:%M:%S.%f%z"  # pynamodb's UTCDateTimeAttribute
    opened_at = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)
    for name in ("next_action_at", "since", "entered_at", "last_email_at"):
        if name in item:
            moment = TimeAttribute().deserialize(item[name]["N"])
            item[name] = {"S": moment.strftime(iso)}
    item["engaged"] = {"M": {"open:any": {"S": opened_at.isoformat()}}}
    client = boto3.client("dynamodb", endpoint_url=dynamo_settings.dynamodb_endpoint, region_name="us-east-1")
    client.put_item(TableName=dynamo_settings.enrollments_table, Item=item)
    # When ripen reads it
    old = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert old is not None
    # Then every time reads as it was written
    assert old.enrollment.next_action_at == before.enrollment.next_action_at
    assert old.enrollment.entered_at == before.enrollment.entered_at
    assert old.enrollment.last_email_at == before.enrollment.last_email_at
    assert old.enrollment.engaged == {"open:any": opened_at}
    # And the next move writes it back with numbers
    outcome = stack.app.nurture.apply_record(old, Engaged("open", clock.now(), step="welcome"), "engagement: open")
    assert outcome.applied
    rewritten = raw_enrollment(dynamo_settings, ana.lead_id)
    assert "N" in rewritten["entered_at"]
    assert all("N" in value for value in rewritten["engaged"]["M"].values())
    again = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert again is not None
    assert again.enrollment.engaged["open:any"] >= opened_at
    assert again.enrollment.entered_at == before.enrollment.entered_at
