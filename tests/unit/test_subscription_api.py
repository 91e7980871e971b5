"""Unsubscribe and preferences through the `api` Lambda handler, with the events API Gateway sends."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from ripen.core.records import LeadStatus, message_key
from ripen.core.state import Status
from ripen.handlers import api
from ripen.services.sender import Outcome
from ripen_dev.local.http import LambdaContext, LocalHttpApi, http_api_event
from tests.conftest import EVENTS

FORM = "application/x-www-form-urlencoded"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def call(method: str, path: str, token: str | None = None, body: bytes = b"", content_type: str = FORM) -> dict:
    target = f"{path}?token={token}" if token is not None else path
    headers = {"content-type": content_type} if body else {}
    response = api.handler(http_api_event(method, target, headers, body), LambdaContext())
    response["text"] = unescape(response.get("body") or "")  # the page as a reader sees its words
    return response


def unsubscribe_token(stack, lead, sequence="trial-nurture", step="welcome") -> str:
    key = message_key(lead.lead_id, sequence, 1, step)
    return token_of(stack.app.links.unsubscribe(lead.lead_id, sequence, stack.clock.now(), message=key))


def preferences_token(stack, lead, sequence="trial-nurture") -> str:
    return token_of(stack.app.links.preferences(lead.lead_id, sequence, stack.clock.now()))


def snapshot(stack, lead) -> tuple:
    """Everything an unsubscribe or preference change could touch."""
    return (
        stack.store.get_lead(lead.lead_id),
        tuple(stack.store.enrollments_of(lead.lead_id)),
        len(stack.store.history_of(lead.lead_id)),
    )


def one_click_event(token: str) -> dict:
    event = json.loads((EVENTS / "apigw" / "unsubscribe-one-click.json").read_text())
    event["rawQueryString"] = f"token={token}"
    event["queryStringParameters"] = {"token": token}
    return event


def test_a_one_click_post_unsubscribes_at_once_and_answers_200_without_a_redirect(stack):
    # Given a lead two sequences in
    lead = stack.signup("ana@example.com", sequence="trial-nurture")
    stack.app.nurture.enroll(stack.store.get_lead(lead.lead_id), "ebook-nurture")
    # When their mailbox provider POSTs List-Unsubscribe=One-Click to the header's URL
    response = api.handler(one_click_event(unsubscribe_token(stack, lead)), LambdaContext())
    # Then the answer is 200 with no redirect
    assert response["statusCode"] == 200
    assert "Location" not in response.get("headers", {})
    assert "location" not in response.get("headers", {})
    # and the lead is unsubscribed from everything, saying how and from which email
    stored = stack.store.get_lead(lead.lead_id)
    assert stored.status is LeadStatus.UNSUBSCRIBED
    assert stored.status_reason == "one-click unsubscribe (welcome)"
    statuses = {r.enrollment.sequence: r.enrollment.status for r in stack.store.enrollments_of(lead.lead_id)}
    assert statuses == {"trial-nurture": Status.UNSUBSCRIBED, "ebook-nurture": Status.UNSUBSCRIBED}
    # and nothing already queued for them goes out (the ebook waits for the frequency cap: one job)
    assert stack.send_queued() == [Outcome.SKIPPED]
    assert stack.outbox.emails == []


def test_a_repeated_one_click_changes_nothing_and_still_answers_200(stack):
    lead = stack.signup("ana@example.com")
    token = unsubscribe_token(stack, lead)
    api.handler(one_click_event(token), LambdaContext())
    before = snapshot(stack, lead)
    stack.clock.advance(hours=1)
    response = api.handler(one_click_event(token), LambdaContext())
    assert response["statusCode"] == 200
    assert "You were already unsubscribed" in unescape(response["body"])
    assert snapshot(stack, lead) == before


def test_a_real_http_post_with_the_one_click_body_unsubscribes(stack):
    lead = stack.signup("ana@example.com")
    with LocalHttpApi(api.handler) as url:
        request = urllib.request.Request(
            f"{url}/unsubscribe?token={unsubscribe_token(stack, lead)}",
            data=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": FORM},
            method="POST",
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.UNSUBSCRIBED


def test_one_click_in_a_multipart_body_works_too(stack):
    lead = stack.signup("ana@example.com")
    body = b'--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--\r\n'
    response = call("POST", "/unsubscribe", unsubscribe_token(stack, lead), body, "multipart/form-data; boundary=x")
    assert response["statusCode"] == 200
    assert stack.store.get_lead(lead.lead_id).status_reason == "one-click unsubscribe (welcome)"


def test_opening_the_unsubscribe_link_shows_a_confirm_page_and_changes_nothing(stack):
    lead = stack.signup("ana@example.com")
    before = snapshot(stack, lead)
    response = call("GET", "/unsubscribe", unsubscribe_token(stack, lead))
    assert response["statusCode"] == 200
    body = response["body"]
    assert "Unsubscribe from all emails" in body
    assert 'method="post"' in body
    assert "Pause all emails for 1 month" in body
    assert "Getting started with your Acme Insights trial" in body  # "stop only these" names the sequence
    assert snapshot(stack, lead) == before
    headers = response["headers"]
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def _forged(token: str) -> str:
    payload, signature = token.split(".")
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


REFUSALS = [
    ("forged", 400, "This link doesn't work"),
    ("cut-off", 400, "This link doesn't work"),
    ("missing", 400, "This link doesn't work"),
    ("expired", 410, "This link has expired"),
    ("wrong-purpose", 400, "This link is meant for something else"),
]
ROUTES = [("GET", "/unsubscribe"), ("POST", "/unsubscribe"), ("POST", "/preferences")]


@pytest.mark.parametrize(
    ("kind", "status", "heading", "method", "path"),
    [
        (*refusal, *route)
        for refusal in REFUSALS
        for route in ROUTES
        # an unsubscribe link unsubscribes however old it is (tests/security/test_identity_and_links.py)
        if not (refusal[0] == "expired" and route[1] == "/unsubscribe")
    ],
)
def test_a_token_that_must_not_work_gets_a_friendly_page_and_changes_nothing(
    stack, kind, status, heading, method, path
):
    lead = stack.signup("ana@example.com")
    right = unsubscribe_token(stack, lead) if path == "/unsubscribe" else preferences_token(stack, lead)
    other = preferences_token(stack, lead) if path == "/unsubscribe" else unsubscribe_token(stack, lead)
    token = {
        "forged": _forged(right),
        "cut-off": right[:-6],
        "missing": "",
        "expired": right,
        "wrong-purpose": other,
    }[kind]
    if kind == "expired":
        stack.clock.advance(days=61)
    before = snapshot(stack, lead)
    body = b"List-Unsubscribe=One-Click" if path == "/unsubscribe" else b"choice=leave-all"
    response = call(method, path, token, body if method == "POST" else b"")
    assert response["statusCode"] == status
    assert heading in response["text"]
    assert "Nothing has been changed." in response["text"]
    assert snapshot(stack, lead) == before


def test_pausing_holds_every_sequence_and_pausing_again_changes_nothing(stack):
    lead = stack.signup("ana@example.com")
    token = preferences_token(stack, lead)
    page = call("GET", "/preferences", token)
    assert page["statusCode"] == 200
    assert 'value="pause-30"' in page["body"]
    response = call("POST", "/preferences", token, b"choice=pause-30")
    assert response["statusCode"] == 200
    assert "paused until April 1, 2026" in response["body"]
    [record] = stack.store.enrollments_of(lead.lead_id)
    assert record.enrollment.status is Status.PAUSED
    assert record.enrollment.next_action_at == stack.clock.now() + timedelta(days=30)
    before = snapshot(stack, lead)
    again = call("POST", "/preferences", token, b"choice=pause-90")
    assert "already paused" in again["body"]
    assert snapshot(stack, lead) == before
    # the preferences page now says so and offers to resume
    page = call("GET", "/preferences", token)
    assert "paused until April 1, 2026" in page["body"]
    assert 'value="resume"' in page["body"]
    resumed = call("POST", "/preferences", token, b"choice=resume")
    assert "start again" in resumed["body"]
    assert stack.store.enrollments_of(lead.lead_id)[0].enrollment.status is Status.ACTIVE


def test_leaving_one_sequence_keeps_the_others(stack):
    lead = stack.signup("ana@example.com", sequence="trial-nurture")
    stack.app.nurture.enroll(stack.store.get_lead(lead.lead_id), "ebook-nurture")
    response = call("POST", "/preferences", preferences_token(stack, lead, "trial-nurture"), b"choice=leave-sequence")
    assert response["statusCode"] == 200
    assert "Getting started with your Acme Insights trial" in response["body"]
    statuses = {r.enrollment.sequence: r.enrollment.status for r in stack.store.enrollments_of(lead.lead_id)}
    assert statuses == {"trial-nurture": Status.UNSUBSCRIBED, "ebook-nurture": Status.ACTIVE}
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.ACTIVE


def test_leaving_everything_from_the_preferences_page_unsubscribes_the_lead(stack):
    lead = stack.signup("ana@example.com")
    response = call("POST", "/preferences", preferences_token(stack, lead), b"choice=leave-all")
    assert "You're unsubscribed" in response["text"]
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.UNSUBSCRIBED
    # and the preferences page no longer offers choices
    assert 'name="choice"' not in call("GET", "/preferences", preferences_token(stack, lead))["body"]


def test_a_preferences_post_without_a_valid_choice_changes_nothing(stack):
    lead = stack.signup("ana@example.com")
    before = snapshot(stack, lead)
    response = call("POST", "/preferences", preferences_token(stack, lead), b"choice=everything-please")
    assert response["statusCode"] == 400
    assert "Please choose one of the options" in response["body"]
    assert snapshot(stack, lead) == before


# -- in the lead's language -----------------------------------------------------------------------------


def german(stack, email: str = "lena@example.com"):
    from dataclasses import replace

    lead = stack.signup(email)
    current = stack.store.get_lead(lead.lead_id)
    assert stack.store.save_lead(replace(current, locale="de-at"), current.revision)
    return lead


def test_given_a_german_lead_then_the_unsubscribe_page_is_in_german_whatever_the_browser(stack):
    lead = german(stack)
    page = call("GET", "/unsubscribe", unsubscribe_token(stack, lead))
    assert page["statusCode"] == 200
    assert '<html lang="de">' in page["body"]
    assert "Von allen E-Mails abmelden" in page["text"]
    assert "Alle E-Mails für 2 Wochen pausieren" in page["text"]
    done = call("POST", "/unsubscribe", unsubscribe_token(stack, lead), b"List-Unsubscribe=One-Click")
    assert "Sie sind abgemeldet" in done["text"]


def test_given_a_german_lead_who_pauses_then_the_date_is_written_the_german_way(stack):
    lead = german(stack)
    page = call("POST", "/preferences", preferences_token(stack, lead), b"choice=pause-30")
    assert "Ihre E-Mails sind bis zum 1. April 2026 pausiert." in page["text"]
    again = call("GET", "/preferences", preferences_token(stack, lead))
    assert "Ihre E-Mails sind bis zum 1. April 2026 pausiert." in again["text"]


def test_given_a_broken_link_in_a_german_browser_then_the_error_is_in_german(stack):
    event = http_api_event("GET", "/unsubscribe?token=nonsense", {"accept-language": "de-DE,de;q=0.9"}, b"")
    page = api.handler(event, LambdaContext())
    assert page["statusCode"] == 400
    assert "Dieser Link funktioniert nicht" in unescape(page["body"])


def test_a_lead_in_a_language_without_translations_gets_english_pages(stack):
    lead = stack.signup("ana@example.com")
    page = call("GET", "/unsubscribe", unsubscribe_token(stack, lead))
    assert '<html lang="en">' in page["body"]
    assert "Unsubscribe from all emails" in page["text"]


def test_every_text_the_pages_translate_has_its_german_translation():
    import re
    from pathlib import Path

    import ripen.web

    web = Path(ripen.web.__file__).parent
    german_table = json.loads((web / "translations" / "de.json").read_text(encoding="utf-8"))
    sources = [*sorted((web / "templates").glob("*.html")), web / "subscription.py"]
    wanted = {text for path in sources for text in re.findall(r'\b_\("([^"]+)"', path.read_text(encoding="utf-8"))}
    wanted |= set(re.findall(r'\bt\(\s*"([^"]+)"', (web / "subscription.py").read_text(encoding="utf-8")))
    assert wanted, "no translated text found: the pattern no longer matches the code"
    assert sorted(wanted - set(german_table)) == []
