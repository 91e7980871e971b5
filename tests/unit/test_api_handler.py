"""The api function, driven by HTTP API (payload 2.0) events shaped exactly as API Gateway sends them.

The events come from the project's own `events/apigw/` (see its README), or are built from them.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from ripen.app import App
from ripen.core.records import LeadStatus
from ripen.core.state import Status
from ripen.core.tokens import Purpose, issue
from ripen.ports.store import StoreUnavailableError
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.event_ids import MemoryEventIds
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from tests.conftest import EVENTS as EVENTS_DIR
from tests.support.capture import (
    EVENTS_KEY,
    Leads,
    event,
    get,
    installed,
    invoke,
    post_form,
    post_json,
    queued,
    settings,
)
from tests.support.ids import lead_id_for

JANE = "jane+test@example.com"
JANE_ID = lead_id_for(JANE)
# A Monday, 09:30 in Chicago (the time zone Jane's browser sends): inside trial-nurture's send window.
MONDAY_MORNING_CHICAGO = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_MORNING_CHICAGO)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def queue() -> MemorySendQueue:
    return MemorySendQueue()


@pytest.fixture
def api(store, queue, clock, catalog) -> Iterator[App]:
    app = App(
        settings(ALLOWED_ORIGINS="https://www.acme.example"),
        store=store,
        queue=queue,
        clock=clock,
        catalog=catalog,
        event_ids=MemoryEventIds(),
    )
    with installed(app):
        yield app


@pytest.fixture
def leads(api) -> Leads:
    return Leads(api)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the function logs, as it would reach CloudWatch."""
    from ripen.handlers.api import logger

    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    yield stream
    logging.getLogger(logger.service).removeHandler(capture)


def with_body(raw: dict, body: bytes | str | None, content_type: str | None = "application/json", b64=False) -> dict:
    """The same request with another body, as API Gateway would hand it over."""
    changed = json.loads(json.dumps(raw))
    headers = changed["headers"]
    changed.pop("body", None)
    if content_type is None:
        headers.pop("content-type", None)
    else:
        headers["content-type"] = content_type
    data = body.encode() if isinstance(body, str) else body
    if data:
        changed["body"] = base64.b64encode(data).decode() if b64 else data.decode()
    changed["isBase64Encoded"] = bool(data) and b64
    headers["content-length"] = str(len(data or b""))
    return changed


# -- the happy paths, from events/apigw ----------------------------------------------------------------


def test_a_json_signup_is_stored_with_its_consent_and_the_confirmation_is_queued(api, leads, queue, clock, logs):
    answer = invoke(event("post-leads-json.json"))
    assert answer.status == 201
    assert answer.headers["content-type"] == "application/json"
    assert answer.json == {
        "status": "pending_confirmation",
        "sequence": "trial-nurture",
        "message": "Thanks! Please check your inbox and click the link in our email to confirm your address.",
        "thank_you_url": "https://acme.example/trial/thanks",
    }
    lead = leads.get(JANE)
    assert (lead.email, lead.name, lead.timezone) == (JANE, "Jane Doe", "America/Chicago")
    assert dict(lead.attributes) == {"company": "Example Ltd", "utm_source": "newsletter"}
    assert (lead.consent.given_at, lead.consent.source, lead.consent.wording) == (clock.now(), "landing-a", "2026-03")
    assert queued(queue) == [f"{JANE_ID}#trial-nurture#1#confirm"]
    # The logs name the lead by its id, never by address or name
    assert JANE_ID in logs.getvalue()
    assert "jane" not in logs.getvalue().lower()


def test_a_base64_form_post_decodes_plus_and_escapes_and_redirects_to_the_thank_you_page(api, leads, queue):
    answer = invoke(event("post-leads-form-base64.json"))
    assert answer.status == 303
    assert answer.location == "https://acme.example/trial/thanks"
    lead = leads.get(JANE)
    assert (lead.email, lead.name, lead.consent.source) == (JANE, "Jane Doe", "landing-a")
    assert queued(queue) == [f"{JANE_ID}#trial-nurture#1#confirm"]


def test_the_same_signup_as_json_and_then_as_a_form_is_one_lead_and_one_email(api, store, queue, clock):
    invoke(event("post-leads-json.json"))
    clock.advance(minutes=3)
    assert invoke(event("post-leads-form-base64.json")).status == 303
    assert invoke(event("post-leads-json.json")).status == 201  # answered as a new one: nobody learns it is known
    assert len(store.leads) == 1
    assert len(store.enrollments) == 1
    assert queued(queue) == [f"{JANE_ID}#trial-nurture#1#confirm"]


def test_opening_the_confirmation_link_only_shows_a_button(api, store, queue, leads):
    invoke(event("post-leads-json.json"))
    answer = invoke(event("get-confirm.json"))  # what a link scanner does, too
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<form method="post" action="confirm">' in answer.body
    assert event("get-confirm.json")["queryStringParameters"]["token"] in answer.body
    assert "Getting started with your Acme Insights trial" in answer.body
    # Nothing is confirmed by opening the link
    assert leads.get(JANE).consent.confirmed_at is None
    assert store.get_enrollment(JANE_ID, "trial-nurture").enrollment.status is Status.PENDING
    assert queued(queue) == [f"{JANE_ID}#trial-nurture#1#confirm"]


def test_pressing_the_button_confirms_and_queues_the_first_email_at_once(api, store, queue, leads, clock):
    invoke(event("post-leads-json.json"))
    clock.advance(minutes=2)
    answer = invoke(event("post-confirm-form-base64.json"))
    assert answer.status == 200
    assert "Thanks, you&#39;re confirmed!" in answer.body
    assert leads.get(JANE).consent.confirmed_at == clock.now()
    assert leads.get(JANE).expires_at is None
    assert store.get_enrollment(JANE_ID, "trial-nurture").enrollment.status is Status.ACTIVE
    assert queued(queue) == [f"{JANE_ID}#trial-nurture#1#confirm", f"{JANE_ID}#trial-nurture#1#welcome"]
    # Pressing it again (or a second tab) changes nothing
    assert "already confirmed" in invoke(event("post-confirm-form-base64.json")).body
    assert "already confirmed" in invoke(event("get-confirm.json")).body
    assert len(queued(queue)) == 2


def test_a_form_post_with_accept_json_is_answered_in_json(api):
    raw = event("post-leads-form-base64.json")
    raw["headers"]["accept"] = "application/json"
    answer = invoke(raw)
    assert (answer.status, answer.json["status"]) == (201, "pending_confirmation")


def test_the_thank_you_page_for_sequences_without_one(api):
    answer = get("/thanks?status=pending_confirmation")
    assert answer.status == 200
    assert "check your inbox" in answer.body


# -- bad input: a clear 4xx, nothing stored, nothing queued, no address in the logs --------------------------

JSON_EVENT = "post-leads-json.json"
GOOD = {"email": JANE, "name": "Jane Doe", "consent": True, "sequence": "trial-nurture"}
HUNDRED_KB = "x" * 100_000


@pytest.mark.parametrize(
    ("name", "body", "content_type", "status", "error"),
    [
        ("malformed JSON", '{"email": "jane+test@example.com",', "application/json", 400, "malformed_body"),
        ("JSON that is not an object", '["jane+test@example.com"]', "application/json", 400, "malformed_body"),
        ("wrong content type", json.dumps(GOOD), "text/plain;charset=UTF-8", 415, "unsupported_media_type"),
        ("no content type", json.dumps(GOOD), None, 415, "unsupported_media_type"),
        ("empty body", None, "application/json", 400, "empty_body"),
        ("a 100 KB field", json.dumps({**GOOD, "name": HUNDRED_KB}), "application/json", 413, "payload_too_large"),
        ("a 10 KB name", json.dumps({**GOOD, "name": "x" * 10_000}), "application/json", 422, "invalid_fields"),
        (
            "invalid email",
            json.dumps({**GOOD, "email": "jane+test(at)example.com"}),
            "application/json",
            422,
            "invalid_fields",
        ),
        (
            "unicode local part",
            json.dumps({**GOOD, "email": "jäne+test@example.com"}),
            "application/json",
            422,
            "invalid_fields",
        ),
        (
            "CR/LF in the name",
            json.dumps({**GOOD, "name": "Jane\r\nBcc: x@example.com"}),
            "application/json",
            422,
            "invalid_fields",
        ),
        (
            "unknown sequence",
            json.dumps({**GOOD, "sequence": "black-friday"}),
            "application/json",
            422,
            "invalid_fields",
        ),
        ("consent missing", json.dumps({**GOOD, "consent": False}), "application/json", 422, "invalid_fields"),
        (
            "an extra field too long",
            json.dumps({**GOOD, "notes": "y" * 501}),
            "application/json",
            422,
            "invalid_fields",
        ),
        ("deeply nested JSON", "[" * 3000 + "]" * 3000, "application/json", 400, "malformed_body"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_leaves_nothing_behind(
    api, store, queue, logs, name, body, content_type, status, error
):
    answer = invoke(with_body(event(JSON_EVENT), body, content_type))
    assert answer.status == status, answer.body
    assert answer.json["error"] == error
    assert answer.json["message"]
    assert (store.leads, store.enrollments, store.messages) == ({}, {}, {})
    assert queue.jobs == []
    assert "jane" not in logs.getvalue().lower()
    assert "signup refused" in logs.getvalue()


def test_field_errors_name_each_field(api):
    answer = post_json({"email": "nope", "name": "J\nD", "consent": "maybe", "sequence": "trial-nurture"})
    assert answer.status == 422
    assert {e["field"] for e in answer.json["errors"]} == {"email", "name", "consent"}


def test_a_missing_consent_or_unknown_sequence_is_named_with_the_other_problems(api):
    answer = post_json({"email": "nope", "sequence": "trial-nurture"})
    assert {e["field"] for e in answer.json["errors"]} == {"email", "consent"}
    answer = post_json({"email": "nope", "sequence": "black-friday", "consent": True})
    assert {e["field"] for e in answer.json["errors"]} == {"email", "sequence"}
    assert answer.json["sequences"] == ["ebook-nurture", "trial-nurture"]


def test_an_unknown_sequence_is_answered_with_the_ones_that_exist(api):
    answer = post_json({**GOOD, "sequence": "black-friday"})
    assert answer.json["sequences"] == ["ebook-nurture", "trial-nurture"]
    assert answer.json["errors"] == [
        {
            "field": "sequence",
            "message": "There is no sequence 'black-friday'; choose one of: ebook-nurture, trial-nurture.",
        }
    ]


def test_missing_consent_says_what_to_do(api):
    answer = post_json({**GOOD, "consent": False})
    assert answer.json["errors"] == [
        {"field": "consent", "message": "Please tick the box to agree to receive our emails."}
    ]


def test_an_international_domain_is_accepted_and_stored_in_ascii(api, leads):
    answer = post_json({**GOOD, "email": "jane@bücher.example"})
    assert answer.status == 201
    assert leads.get("jane@xn--bcher-kva.example").email == "jane@xn--bcher-kva.example"


def test_a_filled_honeypot_looks_like_success_but_stores_and_sends_nothing(api, store, queue, logs):
    answer = invoke(with_body(event(JSON_EVENT), json.dumps({**GOOD, "website": "https://spam.example"})))
    assert (answer.status, answer.json["status"]) == (201, "pending_confirmation")
    form = post_form({"email": "not even an address", "website": "x", "sequence": "ebook-nurture"})
    assert (form.status, form.location) == (303, "https://acme.example/playbook/thanks")
    assert (store.leads, queue.jobs) == ({}, [])
    assert "honeypot" in logs.getvalue()


def test_a_bad_form_post_gets_a_page_saying_what_to_fix_and_a_way_back(api, store):
    answer = post_form(
        {"email": "jane@localhost", "name": "Jane\r\nDoe", "sequence": "trial-nurture"},
        referer="https://www.acme.example/trial?utm_source=ad",
    )
    assert answer.status == 422
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "Please check the form" in answer.body
    assert "<strong>Email address</strong>" in answer.body
    assert "<strong>Name</strong>: Line breaks and control characters are not allowed here." in answer.body
    assert 'href="https://www.acme.example/trial"' in answer.body
    assert store.leads == {}


@pytest.mark.parametrize("unreadable", [b"email=%FF", b"{not a form", b""])
def test_an_unreadable_form_post_gets_a_page_not_json(api, unreadable):
    answer = post_form(unreadable)
    assert 400 <= answer.status < 500
    assert answer.headers["content-type"].startswith("text/html")


def test_when_the_store_is_unavailable_the_caller_is_asked_to_retry(api, store, monkeypatch):
    def unavailable(lead):
        raise StoreUnavailableError("throttled")

    monkeypatch.setattr(store, "create_lead", unavailable)
    answer = post_json(GOOD)
    assert (answer.status, answer.headers["retry-after"], answer.json["error"]) == (503, "2", "busy")


# -- links ----------------------------------------------------------------------------------------------------


def confirm_link_event(token: str, method: str = "GET") -> dict:
    raw = event("get-confirm.json") if method == "GET" else event("post-confirm-form-base64.json")
    if method == "GET":
        raw["rawQueryString"] = urlencode({"token": token})
        raw["queryStringParameters"] = {"token": token}
    else:
        raw["body"] = base64.b64encode(urlencode({"token": token}).encode()).decode()
    return raw


def test_an_expired_link_says_so_and_how_to_get_a_new_one(api, clock):
    invoke(event("post-leads-json.json"))
    token = issue(EVENTS_KEY.encode(), Purpose.CONFIRM, JANE_ID, clock.now() - timedelta(seconds=1), "trial-nurture")
    for method in ("GET", "POST"):
        answer = invoke(confirm_link_event(token, method))
        assert answer.status == 410
        assert "This link has expired" in answer.body


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        issue(
            b"another-key-another-key-another-key!",
            Purpose.CONFIRM,
            JANE_ID,
            datetime(2036, 1, 1, tzinfo=UTC),
            "trial-nurture",
        ),
        issue(EVENTS_KEY.encode(), Purpose.UNSUBSCRIBE, JANE_ID, datetime(2036, 1, 1, tzinfo=UTC), "trial-nurture"),
    ],
)
def test_a_forged_or_foreign_link_confirms_nothing(api, store, token):
    invoke(event("post-leads-json.json"))
    for method in ("GET", "POST"):
        answer = invoke(confirm_link_event(token, method))
        assert answer.status == 400
        assert "This link didn" in answer.body
    assert store.get_enrollment(JANE_ID, "trial-nurture").enrollment.status is Status.PENDING


def test_a_link_for_a_signup_that_was_deleted_says_to_sign_up_again(api, store):
    # No POST /leads: the lead is gone (the TTL removed it)
    for name in ("get-confirm.json", "post-confirm-form-base64.json"):
        answer = invoke(event(name))
        assert answer.status == 410
        assert "Sign up again" in answer.body


def test_a_suppressed_lead_cannot_be_confirmed(api, store):
    from dataclasses import replace

    invoke(event("post-leads-json.json"))
    lead = store.get_lead(JANE_ID)
    store.save_lead(replace(lead, status=LeadStatus.SUPPRESSED), lead.revision)
    answer = invoke(event("post-confirm-form-base64.json"))
    assert answer.status == 403
    assert store.get_lead(JANE_ID).consent.confirmed_at is None


# -- CORS --------------------------------------------------------------------------------------------------------


def test_a_page_on_an_allowed_site_may_post_with_fetch(api):
    preflight = invoke(
        {
            **event(JSON_EVENT),
            "requestContext": {
                **event(JSON_EVENT)["requestContext"],
                "http": {**event(JSON_EVENT)["requestContext"]["http"], "method": "OPTIONS"},
            },
            "headers": {"origin": "https://www.acme.example", "access-control-request-method": "POST"},
            "body": None,
        }
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == "https://www.acme.example"
    answer = invoke(event(JSON_EVENT))  # its origin header is https://www.acme.example
    assert answer.headers["access-control-allow-origin"] == "https://www.acme.example"


def test_a_page_on_another_site_gets_no_cors_headers(api):
    raw = event(JSON_EVENT)
    raw["headers"]["origin"] = "https://evil.example"
    assert "access-control-allow-origin" not in invoke(raw).headers


# -- one app per request --------------------------------------------------------------------------------


def test_each_route_gets_the_app_once_per_request_and_passes_what_it_needs_down(api, monkeypatch):
    # Given the routes' access to the app, counted
    from ripen.web import events, signup, subscription

    calls: list[str] = []

    def counted(module: str):
        def app() -> App:
            calls.append(module)
            return api

        return app

    monkeypatch.setattr(signup, "app", counted("signup"))
    monkeypatch.setattr(subscription, "app", counted("subscription"))
    monkeypatch.setattr(events, "app", counted("events"))
    samples = sorted((EVENTS_DIR / "apigw").glob("*.json"))
    wrong = with_body(event("post-leads-json.json"), json.dumps({"email": "nope", "sequence": "nope"}))
    # When every sample request, and a signup with fields to correct, reach the api
    for raw in [*(event(path.name) for path in samples), wrong]:
        calls.clear()
        invoke(raw)
        # Then each request took the app at most once
        assert len(calls) <= 1, (raw["rawPath"], calls)


# -- the lead's language -------------------------------------------------------------------------------


def test_a_locale_field_sets_the_leads_language_and_the_browsers_is_used_otherwise(api, leads):
    # Given a signup that names its language, and one from a browser set to Brazilian Portuguese
    raw = event("post-leads-json.json")
    body = json.loads(raw["body"])
    named = with_body(raw, json.dumps({**body, "locale": "de-AT"}))
    invoke(named)
    browser = with_body(raw, json.dumps({**body, "email": "ana@example.com"}))
    browser["headers"]["accept-language"] = "pt-BR,pt;q=0.9,en;q=0.8"
    invoke(browser)
    # Then each lead keeps its language, in the form email files are named with
    assert leads.get(JANE).locale == "de-at"
    assert leads.get("ana@example.com").locale == "pt-br"


def test_a_later_post_never_changes_a_leads_language(api, leads):
    raw = event("post-leads-json.json")
    body = json.loads(raw["body"])
    invoke(with_body(raw, json.dumps({**body, "locale": "de"})))
    invoke(with_body(raw, json.dumps({**body, "locale": "fr"})))
    assert leads.get(JANE).locale == "de"
