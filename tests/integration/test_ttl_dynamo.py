"""Time to live on DynamoDB (Local, tables from template.yaml): a suppression or an unsubscribe
written on a never-confirmed lead outlives the lead's TTL, and a run never confirmed carries a TTL
of its own. Test tables have TTL off; `expire_items` deletes what DynamoDB may delete by then."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from ripen.core.records import LeadStatus, message_key
from ripen.models.ses import received_events
from ripen.models.signup import Limits, parse_signup
from ripen.services.signup import Capture, CaptureStatus
from ripen_dev.fakes.clock import ManualClock
from tests.support.capture import CaptureStack, capture_stack, installed, next_monday
from tests.support.expiry import expire_items
from tests.support.ids import lead_id_for
from tests.support.ses_events import event_about

pytestmark = pytest.mark.integration

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)
CONFIRM = message_key(ANA_ID, "trial-nurture", 1, "confirm")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(next_monday(10))


@pytest.fixture
def stack(dynamodb_endpoint, moto_endpoint, clock) -> Iterator[CaptureStack]:
    stack = capture_stack(dynamodb_endpoint, moto_endpoint, clock)
    with installed(stack.app):
        yield stack


def sign_up(stack: CaptureStack, sequence: str) -> Capture:
    form = {"email": ANA, "consent": True, "tz": "Europe/Berlin", "sequence": sequence, "company": "Fernhill"}
    return stack.app.signup.capture(parse_signup(form, Limits()))


def confirmation_sent(stack: CaptureStack, clock: ManualClock) -> None:
    """Ana signs up for the trial (double opt-in); SES accepts the confirmation email."""
    assert sign_up(stack, "trial-nurture").status is CaptureStatus.PENDING_CONFIRMATION
    assert [j.message_key for j in stack.drain_send_queue()] == [CONFIRM]
    store = stack.app.store
    leased = store.lease_message(store.get_message(CONFIRM), clock.now(), clock.now() + timedelta(minutes=5))
    assert leased is not None
    assert store.record_sent(leased, "ses-confirm-1", clock.now())


def months_later(stack: CaptureStack, clock: ManualClock) -> None:
    clock.advance(days=45)
    stack.app.sweep.run()
    expire_items(stack.app.store, clock.now())


def test_a_complaint_on_the_confirmation_outlives_the_leads_ttl(stack, clock):
    confirmation_sent(stack, clock)
    _, received = received_events(event_about(stack.app.store.get_message(CONFIRM), "complaint"))
    assert stack.app.engagement.process(received) == set()
    months_later(stack, clock)
    assert sign_up(stack, "ebook-nurture").status is CaptureStatus.NOT_ENROLLED
    assert stack.drain_send_queue() == []
    assert stack.app.store.get_lead(ANA_ID).status is LeadStatus.SUPPRESSED


def test_an_unsubscribe_from_the_confirmation_outlives_the_leads_ttl(stack, clock):
    confirmation_sent(stack, clock)
    stack.app.preferences.unsubscribe(ANA_ID, "one-click unsubscribe", CONFIRM)
    months_later(stack, clock)
    assert sign_up(stack, "ebook-nurture").status is CaptureStatus.PENDING_CONFIRMATION
    assert [j.message_key for j in stack.drain_send_queue()] == [message_key(ANA_ID, "ebook-nurture", 1, "confirm")]


def test_a_run_never_confirmed_carries_a_ttl_and_no_copy_of_the_lead(stack, clock):
    confirmation_sent(stack, clock)
    months_later(stack, clock)
    assert stack.app.store.get_lead(ANA_ID) is None  # the lead went with its TTL
    item = stack.dynamodb.get_item(
        TableName=stack.tables["EnrollmentsTable"],
        Key={"lead_id": {"S": ANA_ID}, "sequence": {"S": "trial-nurture"}},
        ConsistentRead=True,
    )["Item"]
    assert item["status"] == {"S": "expired"}
    assert "expires_at" in item
    assert item.get("attributes", {"M": {}}) == {"M": {}}
