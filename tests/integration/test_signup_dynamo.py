"""Lead capture on the engines it runs on: DynamoDB (Local) with tables from template.yaml, and SQS (moto)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from ripen.models.signup import Limits, parse_signup
from ripen.services.signup import CaptureStatus
from ripen_dev.fakes.clock import ManualClock
from tests.support.capture import CaptureStack, capture_stack, event, installed, invoke, next_monday, post_json
from tests.support.ids import lead_id_for

pytestmark = pytest.mark.integration

JANE_ID = lead_id_for("jane+test@example.com")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(next_monday(16))  # 10:00 or 11:00 in Chicago (Jane's zone): inside the send window


@pytest.fixture
def stack(dynamodb_endpoint, moto_endpoint, clock) -> Iterator[CaptureStack]:
    stack = capture_stack(dynamodb_endpoint, moto_endpoint, clock)
    with installed(stack.app):
        yield stack


def lead_item(stack: CaptureStack) -> dict:
    return stack.dynamodb.get_item(
        TableName=stack.tables["LeadsTable"], Key={"lead_id": {"S": JANE_ID}}, ConsistentRead=True
    )["Item"]


def test_a_form_signup_is_stored_with_its_consent_and_expiry_and_its_email_queued_on_sqs_at_once(stack, clock):
    assert invoke(event("post-leads-form-base64.json")).status == 303
    item = lead_item(stack)
    assert item["email"] == {"S": "jane+test@example.com"}
    assert "consent" not in item  # the one record of before: now the first entry of the log
    [entry] = item["consents"]["L"]
    consent = entry["M"]
    assert {k: v["S"] for k, v in consent.items() if k != "given_at"} == {
        "method": "form",
        "source": "landing-a",
        "wording": "2026-03",
    }
    assert "confirmed_at" not in consent
    # expires_at is the Leads table's TTL attribute (epoch seconds): unconfirmed leads go after 30 days
    assert int(item["expires_at"]["N"]) == int((clock.now() + timedelta(days=30)).timestamp())
    jobs = stack.drain_send_queue()
    assert [j.message_key for j in jobs] == [f"{JANE_ID}#trial-nurture#1#confirm"]
    message = stack.app.store.get_message(jobs[0].message_key)
    assert (message.claim.kind, message.claim.email, message.status.value) == ("confirmation", "confirm", "claimed")


def test_confirming_keeps_the_lead_for_good_and_queues_the_welcome_on_sqs(stack, clock):
    invoke(event("post-leads-json.json"))
    stack.drain_send_queue()
    clock.advance(minutes=4)
    assert invoke(event("post-confirm-form-base64.json")).status == 200
    item = lead_item(stack)
    assert "expires_at" not in item
    [entry] = item["consents"]["L"]
    assert "confirmed_at" in entry["M"]
    assert [j.message_key for j in stack.drain_send_queue()] == [f"{JANE_ID}#trial-nurture#1#welcome"]


def test_racing_signups_for_one_address_make_one_lead_one_enrollment_and_one_email(stack):
    # Given six signups of one address landing at the same instant in six containers (threads here:
    # the race is in the store; the HTTP resolver holds one request per process, as Lambda does)
    form = parse_signup(json.loads(event("post-leads-json.json")["body"]), Limits())
    start = threading.Barrier(6)
    captures = []

    def sign_up() -> None:
        start.wait()
        captures.append(stack.app.signup.capture(form))

    threads = [threading.Thread(target=sign_up) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then at most one of them made something new, and all wait for the same confirmation
    assert sum(1 for c in captures if c.created) <= 1
    assert {c.status for c in captures} == {CaptureStatus.PENDING_CONFIRMATION}
    assert len(stack.items("LeadsTable")) == 1
    assert len(stack.items("EnrollmentsTable")) == 1
    assert len(stack.items("MessagesTable")) == 1
    assert len(stack.drain_send_queue()) == 1
    # And the same posts afterwards are told what a new signup is told (nothing tells a known address
    # apart), JSON and form alike, and send nothing
    json_answer, form_answer = invoke(event("post-leads-json.json")), invoke(event("post-leads-form-base64.json"))
    assert (json_answer.status, json_answer.json["status"]) == (201, "pending_confirmation")
    assert (form_answer.status, form_answer.location) == (303, "https://acme.example/trial/thanks")
    assert stack.drain_send_queue() == []


def test_refused_signups_leave_every_table_and_the_queue_empty(stack):
    good = json.loads(event("post-leads-json.json")["body"])
    for body in [
        {**good, "consent": False},
        {**good, "email": "jane@localhost"},
        {**good, "name": "Jane\r\nBcc: all@example.com"},
        {**good, "sequence": "nope"},
        {**good, "website": "https://spam.example"},  # the honeypot: a 201, but nothing stored
        {**good, "notes": "x" * 20_000},
    ]:
        assert post_json(body).status in (201, 413, 422)
    for table in stack.tables:
        assert stack.items(table) == [], table
    assert stack.drain_send_queue() == []
