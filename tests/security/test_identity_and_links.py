"""Identity and links (issue 14: attacks 5, 7 and 9): lead ids that only the stack can compute,
confirmation links bound to their signup, and unsubscribe links that keep working through time and
key rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from pydantic import ValidationError

from ripen.app import use
from ripen.config import Settings
from ripen.core.records import LeadStatus
from ripen.handlers import api
from ripen.models.signup import SignupForm
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LambdaContext, http_api_event
from tests.support.mailstack import ENV, KEY, make_stack

FORM = "application/x-www-form-urlencoded"
ANA = "ana@example.com"


def call(method: str, path: str, token: str, body: dict[str, str] | None = None) -> dict:
    fields = urlencode(body or {}).encode()
    headers = {"content-type": FORM} if body is not None else {}
    response = api.handler(
        http_api_event(method, f"{path}?{urlencode({'token': token})}", headers, fields), LambdaContext()
    )
    response["text"] = unescape(response.get("body") or "")
    return response


def confirm(token: str) -> dict:
    """Pressing the confirm page's button (POST /confirm with the link's token in the form)."""
    body = urlencode({"token": token}).encode()
    event = http_api_event("POST", "/confirm", {"content-type": FORM}, body)
    response = api.handler(event, LambdaContext())
    response["text"] = unescape(response.get("body") or "")
    return response


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def sign_up(stack, email: str = ANA, sequence: str = "trial-nurture") -> str:
    form = SignupForm.model_validate({"email": email, "sequence": sequence, "consent": True})
    return stack.app.signup.capture(form).lead_id


def confirmation_link(stack, email: str = ANA) -> str:
    """The confirm link of the newest confirmation email to `email` (sending what is queued)."""
    stack.send_queued()
    links = [m for e in stack.outbox.to(email) for m in re.findall(r"https?://\S+/confirm\?token=[\w.%-]+", e.text)]
    assert links, "no confirmation email was sent"
    return token_of(links[-1])


def unsubscribe_link(stack, email: str = ANA) -> str:
    stack.send_queued()
    email_sent = stack.outbox.to(email)[-1]
    header = dict(email_sent.headers)["List-Unsubscribe"]
    return token_of(re.search(r"<(https?://[^>]+)>", header).group(1))


def unkeyed_ids(address: str) -> set[str]:
    """What anyone can compute from an address: the plain SHA-256 forms of an id."""
    ids = set()
    for text in (address, f"ripen:lead:{address}"):
        digest = hashlib.sha256(text.encode()).digest()
        ids |= {
            "ld_" + base64.b32encode(digest).decode().lower().rstrip("=")[:24],
            hashlib.sha256(text.encode()).hexdigest(),
        }
    return ids


# -- 5. re-identifying people from logs -------------------------------------------------------------


def test_a_guess_list_of_addresses_cannot_be_matched_to_lead_ids(clock, catalog):
    # Given the same address signing up on two stacks, each with its own lead-id secret
    first = make_stack(InMemoryStore(), clock, catalog, env={"LEAD_ID_SECRET": "a" * 40})
    second = make_stack(InMemoryStore(), clock, catalog, env={"LEAD_ID_SECRET": "b" * 40})
    seen = sign_up(first)  # the id logs, SES tags, history and hand-offs carry
    # When someone hashes a list of guessed addresses the way anyone can
    guesses = set().union(*(unkeyed_ids(a) for a in ("bo@example.com", ANA, "jane@example.com")))
    # Then no guess matches the id: it is a pseudonym only a stack with the secret can compute
    assert seen.startswith("ld_")
    assert seen not in guesses
    # and the same address is another pseudonym under another key
    assert sign_up(second) != seen
    # while one stack always names the address the same way (racing signups meet on one lead)
    assert sign_up(first) == seen


# -- 7. old confirmation links re-subscribe someone who unsubscribed ---------------------------------


def test_an_old_confirmation_link_cannot_resubscribe_someone_who_unsubscribed(stack):
    # Given Ana confirmed her signup and later unsubscribed
    lead_id = sign_up(stack)
    old_link = confirmation_link(stack)
    assert confirm(old_link)["statusCode"] == 200
    stack.clock.advance(timedelta(hours=1))
    assert call("POST", "/unsubscribe", unsubscribe_link(stack), {"List-Unsubscribe": "One-Click"})["statusCode"] == 200
    assert stack.store.get_lead(lead_id).status is LeadStatus.UNSUBSCRIBED
    # and someone (anyone can fill in a public form) signs her address up again, with consent
    stack.clock.advance(timedelta(hours=1))
    sign_up(stack)
    # When the confirmation link from her first signup is used (a scanner, a forwarded email)
    answer = confirm(old_link)
    # Then it is no longer valid, and she stays unsubscribed
    assert answer["statusCode"] == 410
    assert "no longer valid" in answer["text"]
    assert stack.store.get_lead(lead_id).status is LeadStatus.UNSUBSCRIBED
    assert stack.store.get_lead(lead_id).unsubscribed_at is not None
    # while the link the new signup sent still confirms it
    assert confirm(confirmation_link(stack))["statusCode"] == 200
    assert stack.store.get_lead(lead_id).status is LeadStatus.ACTIVE


def test_a_confirmation_link_for_another_run_is_refused(stack):
    # Given Ana confirmed, then left the series (her address stays subscribed to the others)
    lead_id = sign_up(stack)
    old_link = confirmation_link(stack)
    assert confirm(old_link)["statusCode"] == 200
    stack.app.preferences.leave(lead_id, "trial-nurture")
    # and a new signup for the series waits for its own confirmation (run 2)
    stack.clock.advance(timedelta(hours=1))
    sign_up(stack)
    assert stack.store.get_enrollment(lead_id, "trial-nurture").enrollment.run == 2
    # When the link of the first run is used again
    answer = confirm(old_link)
    # Then it confirms nothing
    assert answer["statusCode"] == 410
    assert "no longer valid" in answer["text"]
    assert stack.store.get_enrollment(lead_id, "trial-nurture").enrollment.status.value == "pending"


# -- 9. unsubscribe links stop working ---------------------------------------------------------------


def test_an_unsubscribe_link_works_long_after_other_links_expire(stack):
    # Given an email with its unsubscribe link, and a preferences link of the same day
    lead = stack.signup(ANA)
    stack.sent(lead, "welcome")
    token = unsubscribe_link(stack)
    preferences = token_of(stack.app.links.preferences(lead.lead_id, "trial-nurture", stack.clock.now()))
    # When the person finds the email and unsubscribes 400 days later
    stack.clock.advance(timedelta(days=400))
    assert call("GET", "/preferences", preferences)["statusCode"] == 410  # other links do expire
    page = call("GET", "/unsubscribe", token)
    answer = call("POST", "/unsubscribe", token, {"List-Unsubscribe": "One-Click"})
    # Then the page opens and the one-click unsubscribe works
    assert page["statusCode"] == 200
    assert answer["statusCode"] == 200
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.UNSUBSCRIBED


def test_a_preferences_link_from_an_unsubscribe_link_never_outlives_it(stack):
    # Given an unsubscribe link valid for the usual 60 days
    lead = stack.signup(ANA)
    stack.sent(lead, "welcome")
    token = unsubscribe_link(stack)
    # When its page is opened on day 50, offering preference choices
    stack.clock.advance(timedelta(days=50))
    page = call("GET", "/unsubscribe", token)
    preferences = re.search(r'action="preferences\?token=([^"]+)"', page["body"]).group(1)
    # Then the preferences token it gave ends with the unsubscribe link's 60 days, not 60 days later
    stack.clock.advance(timedelta(days=11))
    answer = call("POST", "/preferences", unescape(preferences), {"choice": "resume"})
    assert answer["statusCode"] == 410
    # and the page of an unsubscribe link past its 60 days offers only unsubscribing
    later = call("GET", "/unsubscribe", token)
    assert later["statusCode"] == 200
    assert "preferences?token=" not in later["body"]


def test_links_signed_with_a_retired_but_accepted_key_still_work_after_rotation(clock, catalog, stack):
    # Given a link signed while the secret was one plain key
    lead = stack.signup(ANA)
    stack.sent(lead, "welcome")
    old_token = unsubscribe_link(stack)
    # When the operator rotates to a key ring that still accepts the old key
    new_key = "n" * 48
    ring = json.dumps({"current": "k2", "keys": {"k1": KEY, "k2": new_key}})
    rotated = make_stack(stack.store, clock, catalog, env={"TOKEN_SECRET": ring})
    use(rotated.app)
    # Then the old link still works, and new links are signed with the new key
    assert call("GET", "/unsubscribe", old_token)["statusCode"] == 200
    new_token = token_of(rotated.app.links.unsubscribe(lead.lead_id, "trial-nurture", clock.now()))
    retired = make_stack(
        stack.store, clock, catalog, env={"TOKEN_SECRET": json.dumps({"current": "k2", "keys": {"k2": new_key}})}
    )
    use(retired.app)
    assert call("GET", "/unsubscribe", new_token)["statusCode"] == 200
    # and once the old key is retired from the ring, its links stop working
    assert call("POST", "/unsubscribe", old_token, {"List-Unsubscribe": "One-Click"})["statusCode"] == 400
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.ACTIVE
    use(stack.app)


def test_link_lifetime_below_30_days_is_refused():
    # Given an operator setting links to last one day (CAN-SPAM asks for 30)
    env = {**ENV, "LINK_LIFETIME_DAYS": "1"}
    # When the settings are read, Then they are refused
    with pytest.raises(ValidationError, match="LINK_LIFETIME_DAYS"):
        Settings.from_env(env)
    assert Settings.from_env({**ENV, "LINK_LIFETIME_DAYS": "30"}).link_lifetime_days == 30
