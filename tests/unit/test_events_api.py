"""`POST /events`: product events over HTTP, authorized by IAM, one event or a batch of up to 100, with
clear JSON answers; driven by HTTP API events shaped as API Gateway sends them (events/apigw)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ripen.core.state import Status
from ripen.models.events import MAX_BATCH
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local import cfn
from tests.conftest import EVENTS, REPO
from tests.support.capture import Answer, installed, invoke
from tests.support.ids import lead_id_for
from tests.support.mailstack import make_stack

SAMPLE = json.loads((EVENTS / "apigw" / "post-events.json").read_text())


@pytest.fixture
def stack(clock, catalog):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    built = make_stack(InMemoryStore(), clock, catalog)
    with installed(built.app):
        built.signup("ana@example.com")
        built.signup("ben@example.com")
        clock.set(datetime(2026, 3, 11, 12, tzinfo=UTC))
        yield built


def request(body, content_type: str = "application/json", iam: bool = True) -> dict:
    changed = json.loads(json.dumps(SAMPLE))
    text = body if isinstance(body, str) else json.dumps(body)
    changed["body"] = text
    changed["headers"]["content-type"] = content_type
    changed["headers"]["content-length"] = str(len(text.encode()))
    if not iam:
        del changed["requestContext"]["authorizer"]
    return changed


def answer(response: Answer) -> tuple[int, dict]:
    assert response.headers["content-type"] == "application/json"
    return response.status, json.loads(response.body)


def event(n: int, name: str = "pricing_page_viewed", email: str = "ana@example.com") -> dict:
    return {"email": email, "event": name, "id": f"evt-{n}", "occurred_at": "2026-03-11T11:00:00Z"}


def status(stack, email: str) -> Status:
    return stack.store.get_enrollment(lead_id_for(email), "trial-nurture").enrollment.status


def test_the_sample_batch_applies_the_good_events_and_names_the_bad_one_by_index(stack):
    # When the sample batch arrives: Ana converts, Ben books a demo, and a third event has no id and a bad time
    code, body = answer(invoke(SAMPLE))
    # Then the two good ones are applied and the bad one is reported with each field to fix
    assert code == 200
    assert (body["applied"], body["duplicate"], body["rejected"]) == (2, 0, 1)
    assert [r["status"] for r in body["results"]] == ["applied", "applied", "invalid"]
    bad = body["results"][2]
    assert bad["index"] == 2
    assert {e["field"] for e in bad["errors"]} == {"id", "occurred_at"}
    assert status(stack, "ana@example.com") is Status.GOAL_REACHED
    assert stack.store.get_lead(lead_id_for("ben@example.com")).attributes == {"role": "head-of-data"}


def test_the_same_batch_again_is_answered_as_duplicates_and_changes_nothing(stack):
    invoke(SAMPLE)
    before = stack.store.get_enrollment(lead_id_for("ben@example.com"), "trial-nurture")
    code, body = answer(invoke(SAMPLE))
    assert code == 200
    assert [r["status"] for r in body["results"]] == ["duplicate", "duplicate", "invalid"]
    assert stack.store.get_enrollment(lead_id_for("ben@example.com"), "trial-nurture") == before


def test_a_single_event_gets_one_result(stack):
    code, body = answer(invoke(request(event(1))))
    assert code == 200
    assert body["results"] == [{"index": 0, "status": "applied", "id": "evt-1", "errors": []}]


def test_an_unknown_lead_is_reported_and_not_created(stack):
    code, body = answer(invoke(request(event(2, email="nobody@example.com"))))
    assert code == 200
    assert body["results"][0]["status"] == "unknown_lead"
    assert stack.store.get_lead(lead_id_for("nobody@example.com")) is None


def test_an_unknown_event_name_is_accepted(stack):
    code, body = answer(invoke(request(event(3, name="logged_in"))))
    assert (code, body["results"][0]["status"]) == (200, "applied")


def test_a_request_not_authorized_by_iam_is_refused(stack):
    # Given the route lost its IAM authorizer (a misconfigured stack): the function still refuses
    code, body = answer(invoke(request(event(4), iam=False)))
    assert (code, body["error"]) == (403, "forbidden")
    assert stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture").enrollment.score == 0


@pytest.mark.parametrize(
    ("body", "content_type", "code", "error"),
    [
        (json.dumps(event(5)), "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("", "application/json", 400, "empty_body"),
        ("{not json", "application/json", 400, "malformed_body"),
        ("[]", "application/json", 400, "empty_body"),
        ('"trial_converted"', "application/json", 400, "malformed_body"),
        (json.dumps([event(n) for n in range(MAX_BATCH + 1)]), "application/json", 413, "payload_too_large"),
        (json.dumps(event(6)) + " " * 600_000, "application/json", 413, "payload_too_large"),
    ],
)
def test_bad_requests_get_a_clear_json_answer_and_apply_nothing(stack, body, content_type, code, error):
    got, answered = answer(invoke(request(body, content_type)))
    assert (got, answered["error"]) == (code, error)
    assert answered["message"]
    assert stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture").enrollment.score == 0


def test_an_invalid_single_event_is_a_422_naming_each_field(stack):
    bad = {"email": "ana@example.com", "lead_id": "ld_x", "event": "Trial Converted", "id": "a b"}
    code, body = answer(invoke(request(bad)))
    assert (code, body["error"]) == (422, "invalid_event")
    fields = {e["field"] for e in body["errors"]}
    assert {"event", "id", "occurred_at", "lead_id"} <= fields


def test_a_batch_of_only_bad_events_is_a_422_naming_each_by_index(stack):
    code, body = answer(invoke(request([{"event": "x"}, {"id": "y"}])))
    assert code == 422
    assert any(e["field"].startswith("[0].") for e in body["errors"])
    assert any(e["field"].startswith("[1].") for e in body["errors"])


def test_a_batch_of_100_is_accepted(stack):
    code, body = answer(invoke(request([event(1000 + n) for n in range(MAX_BATCH)])))
    assert (code, body["applied"]) == (200, MAX_BATCH)


def test_the_route_is_authorized_by_iam_in_the_template():
    template = cfn.load_template(REPO / "template.yaml")
    events = template["Resources"]["ApiFunction"]["Properties"]["Events"]
    [route] = [e for e in events.values() if e["Properties"]["Path"] == "/events"]
    assert route["Properties"]["Method"] == "POST"
    assert route["Properties"]["Auth"] == {"Authorizer": "AWS_IAM"}
    others = [e for e in events.values() if e["Properties"]["Path"] != "/events"]
    assert all("Auth" not in e["Properties"] for e in others)
