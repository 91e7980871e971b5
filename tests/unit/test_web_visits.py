"""Website visits from email clicks: the visitor token (`rv`) on links to the sender's website, page
rules in the sequence, and `POST /events/web`, which turns a page view into a product event only for
a valid, unexpired token naming a live lead."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from ripen.core.links import VISIT_TOKEN_LIFETIME, Links
from ripen.core.records import LeadStatus
from ripen.core.sequence import SequenceSettings
from ripen.core.tokens import Purpose, TokenError, issue, verify
from ripen.core.validator import validate_text
from ripen.mail.links import rewrite_links, website_host
from ripen_dev.fakes.store import InMemoryStore
from tests.conftest import EVENTS
from tests.support.capture import Answer, installed, invoke
from tests.support.ids import lead_id_for
from tests.support.mailstack import make_stack

KEY = b"k" * 32
NOW = datetime(2026, 3, 11, 12, tzinfo=UTC)
SAMPLE = json.loads((EVENTS / "apigw" / "post-events-web.json").read_text())


# -- the token ------------------------------------------------------------------------------------


def test_a_visitor_token_names_the_lead_only_and_verifies_for_visits_for_30_days():
    token = Links("https://api.example", KEY, timedelta(days=7)).visit_token("lead-1", NOW)
    claims = verify(KEY, token, Purpose.VISIT, NOW + VISIT_TOKEN_LIFETIME - timedelta(seconds=1))
    assert (claims.lead_id, claims.sequence, claims.message) == ("lead-1", None, None)
    with pytest.raises(TokenError) as expired:
        verify(KEY, token, Purpose.VISIT, NOW + VISIT_TOKEN_LIFETIME)
    assert expired.value.reason == "expired"


def test_a_visitor_token_unsubscribes_nobody_and_no_other_token_counts_as_a_visit():
    visit = issue(KEY, Purpose.VISIT, "lead-1", NOW + timedelta(days=1))
    unsubscribe = issue(KEY, Purpose.UNSUBSCRIBE, "lead-1", NOW + timedelta(days=1))
    for token, purpose in ((visit, Purpose.UNSUBSCRIBE), (unsubscribe, Purpose.VISIT)):
        with pytest.raises(TokenError) as refused:
            verify(KEY, token, purpose, NOW)
        assert refused.value.reason == "wrong-purpose"


def test_a_visitor_token_signed_with_another_key_is_forged():
    token = issue(b"x" * 32, Purpose.VISIT, "lead-1", NOW + timedelta(days=1))
    with pytest.raises(TokenError) as refused:
        verify(KEY, token, Purpose.VISIT, NOW)
    assert refused.value.reason == "forged"


# -- page rules -----------------------------------------------------------------------------------


def settings(pages: dict[str, str]) -> SequenceSettings:
    return SequenceSettings.model_validate({"name": "s", "from": "A <a@acme.example>", "pages": pages})


def test_page_rules_match_the_path_by_glob_and_each_event_counts_once():
    seq = settings(
        {"/pricing*": "pricing_page_viewed", "/pricing/enterprise": "enterprise_viewed", "/p*": "pricing_page_viewed"}
    )
    assert seq.page_events("/pricing") == ("pricing_page_viewed",)
    assert seq.page_events("/pricing/enterprise") == ("pricing_page_viewed", "enterprise_viewed")
    assert seq.page_events("/blog/pricing") == ()


def test_a_page_rule_that_is_not_a_path_is_reported_at_its_line():
    # Given a rule written as a full address instead of a path
    text = (
        'name: demo\nfrom: "Demo <hi@x.example>"\ndouble_opt_in: false\npages:\n'
        '  "/pricing*": pricing_page_viewed\n  "https://acme.example/demo": demo_viewed\n'
        "steps:\n  - email: welcome\n"
    )
    # When it is validated
    result = validate_text(text, {"welcome": "Hi!"}.get, "demo/sequence.yaml", expect_name="demo")
    # Then the sequence is refused, and the problem names the rules' line and the fix
    assert result.sequence is None
    assert [(p.line, "must be a path on the website" in p.message) for p in result.problems] == [(4, True)]


def test_a_page_rule_must_name_an_event():
    with pytest.raises(ValueError, match="pages"):
        settings({"/pricing": "Pricing Page!"})


# -- links in emails ------------------------------------------------------------------------------


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


def test_tracked_links_to_the_website_and_its_subdomains_carry_the_token_and_nothing_else_does():
    html = (
        '<a href="https://acme.example/pricing?plan=team#faq">a</a>'
        '<a href="https://docs.acme.example/start">b</a>'
        '<a href="https://other.example/x">c</a>'
        '<a href="https://acme.example/x" ses:no-track>d</a>'
        '<a href="https://api.acme.example/unsubscribe?token=t">e</a>'
        '<a href="https://evilacme.example/">f</a>'
    )
    out, _ = rewrite_links(html, None, ("https://api.acme.example",), (website_host("https://www.acme.example"), "TOK"))
    assert hrefs(out) == [
        "https://acme.example/pricing?plan=team&rv=TOK#faq",
        "https://docs.acme.example/start?rv=TOK",
        "https://other.example/x",
        "https://acme.example/x",
        "https://api.acme.example/unsubscribe?token=t",
        "https://evilacme.example/",
    ]


@pytest.fixture
def stack(clock, catalog):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    built = make_stack(InMemoryStore(), clock, catalog)
    with installed(built.app):
        yield built


def pricing_link(stack, email: str) -> str:
    """The pricing link of the case-study email (trial-nurture has page rules) as the lead got it."""
    lead = stack.store.get_lead(lead_id_for(email))
    stack.sent(lead, "case-study")
    html = stack.outbox.to(email)[-1].html
    return next(h for h in hrefs(html) if urlsplit(h).path == "/pricing")


def test_emails_of_a_sequence_with_page_rules_carry_a_visitor_token_for_their_lead(stack):
    stack.signup("ana@example.com")
    link = pricing_link(stack, "ana@example.com")
    token = parse_qs(urlsplit(link).query)["rv"][0]
    assert verify(stack.app.token_key, token, Purpose.VISIT, stack.clock.now()).lead_id == lead_id_for(
        "ana@example.com"
    )


def test_emails_of_a_sequence_without_page_rules_carry_no_token(stack):
    stack.signup("ben@example.com", sequence="ebook-nurture")
    stack.send_queued()
    html = "".join(e.html for e in stack.outbox.to("ben@example.com"))
    assert html, "the ebook sequence sends a first email"
    assert "rv=" not in html


# -- POST /events/web -----------------------------------------------------------------------------


def visit(
    token: str, url: str = "https://acme.example/pricing", content_type: str = "text/plain;charset=UTF-8", body=None
) -> dict:
    changed = json.loads(json.dumps(SAMPLE))
    text = body if body is not None else json.dumps({"token": token, "url": url})
    changed["body"] = text
    changed["headers"]["content-type"] = content_type
    changed["headers"]["content-length"] = str(len(text.encode()))
    return changed


def answer(response: Answer) -> tuple[int, dict]:
    assert response.headers["content-type"] == "application/json"
    return response.status, json.loads(response.body)


def score(stack, email: str) -> float:
    return stack.store.get_enrollment(lead_id_for(email), "trial-nurture").enrollment.score


@pytest.fixture
def ana(stack):
    """Ana is in trial-nurture and holds the visitor token of her emails."""
    stack.signup("ana@example.com")
    return stack.app.links.visit_token(lead_id_for("ana@example.com"), stack.clock.now())


def test_a_visit_to_the_pricing_page_from_an_email_link_scores_like_the_page_rule_says(stack, ana):
    before = score(stack, "ana@example.com")
    code, body = answer(invoke(visit(ana)))
    assert (code, body) == (200, {"events": ["pricing_page_viewed"]})
    assert score(stack, "ana@example.com") == pytest.approx(before + 10, abs=0.05)  # scoring.events.pricing_page_viewed


def test_a_reload_within_the_hour_is_one_event_and_a_visit_an_hour_later_another(stack, ana):
    before = score(stack, "ana@example.com")
    invoke(visit(ana))
    stack.clock.advance(timedelta(minutes=1))
    invoke(visit(ana, "https://acme.example/pricing/team"))  # another page of the same rule
    assert score(stack, "ana@example.com") == pytest.approx(before + 10, abs=0.05)
    stack.clock.advance(timedelta(hours=1))
    invoke(visit(ana))
    assert score(stack, "ana@example.com") == pytest.approx(before + 20, abs=0.05)


def test_a_page_no_rule_matches_is_taken_and_changes_nothing(stack, ana):
    before = stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture")
    code, body = answer(invoke(visit(ana, "https://acme.example/blog/hello")))
    assert (code, body) == (200, {"events": []})
    assert stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture") == before


def test_a_forged_token_is_refused_and_nothing_is_applied(stack, ana):
    forged = issue(b"not-the-key" * 3, Purpose.VISIT, lead_id_for("ana@example.com"), NOW + timedelta(days=30))
    for token in (forged, ana[:-2] + "AA", "garbage"):
        code, body = answer(invoke(visit(token)))
        assert (code, body["error"]) == (403, "forged_token")
    assert score(stack, "ana@example.com") == 0


def test_an_unsubscribe_token_is_not_a_visitor_token(stack, ana):
    token = issue(stack.app.token_key, Purpose.UNSUBSCRIBE, lead_id_for("ana@example.com"), NOW + timedelta(days=30))
    code, body = answer(invoke(visit(token)))
    assert (code, body["error"]) == (403, "forged_token")


def test_an_expired_token_is_turned_away_with_410(stack, ana):
    stack.clock.advance(VISIT_TOKEN_LIFETIME)
    code, body = answer(invoke(visit(ana)))
    assert (code, body["error"]) == (410, "expired_token")
    assert "expired" in body["message"]


def test_a_token_of_a_lead_who_unsubscribed_or_is_gone_is_turned_away(stack, ana):
    lead = stack.store.get_lead(lead_id_for("ana@example.com"))
    assert stack.store.save_lead(replace(lead, status=LeadStatus.UNSUBSCRIBED), lead.revision)
    code, body = answer(invoke(visit(ana)))
    assert (code, body["error"]) == (410, "lead_gone")
    nobody = stack.app.links.visit_token(lead_id_for("nobody@example.com"), stack.clock.now())
    code, body = answer(invoke(visit(nobody)))
    assert (code, body["error"]) == (410, "lead_gone")
    assert stack.store.get_lead(lead_id_for("nobody@example.com")) is None


@pytest.mark.parametrize(
    ("body", "content_type", "code", "error"),
    [
        (
            '{"token": "t", "url": "https://acme.example/"}',
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        ("", "application/json", 400, "empty_body"),
        ("{not json", "application/json", 400, "malformed_body"),
        ('["t"]', "application/json", 400, "malformed_body"),
        ('{"url": "https://acme.example/pricing"}', "application/json", 422, "invalid_visit"),
        ('{"token": "t", "url": "/pricing"}', "application/json", 422, "invalid_visit"),
        ('{"token": "t", "url": "javascript:alert(1)"}', "application/json", 422, "invalid_visit"),
        ('{"token": "t", "url": "http://[::1"}', "application/json", 422, "invalid_visit"),
        (
            '{"token": "t", "url": "https://acme.example/' + "a" * 5000 + '"}',
            "application/json",
            413,
            "payload_too_large",
        ),
    ],
)
def test_bad_requests_get_a_clear_json_answer_and_apply_nothing(stack, ana, body, content_type, code, error):
    got, answered = answer(invoke(visit(ana, body=body, content_type=content_type)))
    assert (got, answered["error"]) == (code, error)
    assert answered["message"]
    assert score(stack, "ana@example.com") == 0
