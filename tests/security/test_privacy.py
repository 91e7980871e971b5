"""Attack: reading a person's address or name out of the logs, the metrics or the SES tags.

A scripted journey through every handler (signups accepted and refused, double opt-in, emails sent,
opens, clicks, a hand-off to sales, bounces, a complaint, unsubscribe and preferences, a malformed
event, an oversized body) with every logger at DEBUG; then every log line, everything written to
stdout/stderr, every metric name and every SES tag is searched for the address, its local part and
the name. CloudWatch, metrics and SES event destinations keep data far longer, and far more widely
readable, than the tables that are allowed to hold it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ripen.app import use
from ripen.core.leads import normalize_email
from ripen.core.records import message_key
from ripen.handlers import api, engagement, sweep
from ripen.handlers.observability import logger as powertools_logger
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LambdaContext, http_api_event
from tests.support.ids import lead_id_for
from tests.support.mailstack import Stack, make_stack
from tests.support.ses_events import event_about, sqs_batch

SAMPLE_ADDRESS = "ana@example.com"  # the recipient in events/ses samples, replaced by each person's
PEOPLE = {
    "trial": ("Zephyrine.Quill+trial@privacy-test.example", "Zephyrine Quillfeather"),
    "ebook": ("oswin.marchbanks@privacy-test.example", "Oswin Marchbanks"),
    "bounce": ("thaddeus.brightwater@privacy-test.example", "Thaddeus Brightwater"),
    "refused": ("ignatius.pemberton@@privacy-test", "Ignatius Pemberton"),
    "honeypot": ("cornelius.fairweather@privacy-test.example", "Cornelius Fairweather"),
    "too-big": ("bartholomew.ashdown@privacy-test.example", "Bartholomew Ashdown"),
}
BROWSER = "text/html,application/xhtml+xml"


class Everything(logging.Handler):
    """Every record any logger emits, as CloudWatch would store it and with all its extras."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(powertools_logger.registered_formatter.format(record))
        self.lines.append(record.getMessage())
        self.lines.append(repr(record.__dict__))


@pytest.fixture
def captured() -> Iterator[Everything]:
    handler = Everything()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.addHandler(handler)
        each.setLevel(logging.DEBUG)
    yield handler
    for each, level in zip(loggers, levels, strict=True):
        each.removeHandler(handler)
        each.setLevel(level)


@pytest.fixture
def stack(clock, catalog) -> Iterator[Stack]:
    built = make_stack(InMemoryStore(), clock, catalog)
    api.resolver.cache_clear()
    use(built.app)
    yield built
    use(None)
    api.resolver.cache_clear()


def call(method: str, target: str, body: bytes = b"", content_type: str | None = None, accept: str = BROWSER) -> dict:
    headers = {"accept": accept, **({"content-type": content_type} if content_type else {})}
    return api.handler(http_api_event(method, target, headers, body), LambdaContext())


def ok(response: dict) -> None:
    assert response["statusCode"] < 400, response


def post_form(path: str, fields: dict[str, str]) -> dict:
    return call("POST", path, urlencode(fields).encode(), "application/x-www-form-urlencoded")


def link_in(text: str, path: str) -> str:
    return next(word for word in re.split(r"[\s()<>\"]", text) if f"{path}?token=" in word)


def token_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def ses_about(message, name: str, address: str, **fields) -> dict:
    """An SES event about `message`, naming its recipient everywhere SES does (destination, headers)."""
    event = event_about(message, name, **fields)
    return json.loads(json.dumps(event).replace(SAMPLE_ADDRESS, address))


def journey(stack: Stack) -> None:
    trial_email, trial_name = PEOPLE["trial"]
    # a JSON signup (double opt-in), its confirmation email, and the confirm button
    signup = {"email": trial_email, "name": trial_name, "consent": True, "sequence": "trial-nurture"}
    ok(call("POST", "/leads", json.dumps(signup).encode(), "application/json", "*/*"))
    stack.send_queued()
    [confirmation] = stack.outbox.to(trial_email.lower()) or stack.outbox.to(trial_email)
    token = token_in(link_in(confirmation.text, "/confirm"))
    ok(call("GET", f"/confirm?token={token}"))
    ok(post_form("/confirm", {"token": token}))
    # the same person signs up again (known: nothing sent twice)
    ok(call("POST", "/leads", json.dumps(signup).encode(), "application/json", "*/*"))
    # emails, opens and clicks, up to a hand-off to sales
    trial = stack.store.get_lead(lead_id_for(normalize_email(trial_email)))
    case_study = stack.sent(trial, "case-study")
    batch = [ses_about(case_study, name, trial_email) for name in ("send", "delivery", "open", "open-machine")]
    engagement.handler(sqs_batch(*batch), LambdaContext())
    stack.clock.advance(hours=25)
    engagement.handler(ses_about(case_study, "click", trial_email, at=stack.clock.now()), LambdaContext())
    followup = stack.sent(trial, "pricing-followup")
    at = followup.sent_at + timedelta(minutes=10)
    engagement.handler(ses_about(followup, "bounce-transient", trial_email, at=at), LambdaContext())
    engagement.handler(ses_about(followup, "click", trial_email, at=at), LambdaContext())
    demo = ses_about(followup, "click", trial_email, at=at + timedelta(minutes=2), linkTags={"link": ["demo"]})
    engagement.handler(demo, LambdaContext())
    assert stack.bus.events, "the journey reached a hand-off"
    # a form signup (single opt-in), its email, the preferences and unsubscribe pages, a complaint
    ebook_email, ebook_name = PEOPLE["ebook"]
    form = {"email": ebook_email, "name": ebook_name, "consent": "yes", "sequence": "ebook-nurture"}
    ok(post_form("/leads", form))
    ebook = stack.store.get_lead(lead_id_for(normalize_email(ebook_email)))
    [delivery] = [stack.sent(ebook, "ebook-delivery", sequence="ebook-nurture")]
    text = stack.outbox.to(ebook_email)[-1].text
    preferences, unsubscribe = link_in(text, "/preferences"), link_in(text, "/unsubscribe")
    path = urlsplit(preferences)
    ok(call("GET", f"{path.path}?{path.query}"))
    ok(post_form(f"{path.path}?{path.query}", {"choice": "pause-14"}))
    assert post_form(f"{path.path}?{path.query}", {"choice": "bogus"})["statusCode"] == 400
    path = urlsplit(unsubscribe)
    ok(call("GET", f"{path.path}?{path.query}"))
    ok(post_form(f"{path.path}?{path.query}", {"List-Unsubscribe": "One-Click"}))
    engagement.handler(ses_about(delivery, "complaint", ebook_email), LambdaContext())
    # a hard bounce
    bounce_email, bounce_name = PEOPLE["bounce"]
    bounced = stack.signup(bounce_email, sequence="ebook-nurture", name=bounce_name)
    sent = stack.sent(bounced, "ebook-delivery", sequence="ebook-nurture")
    engagement.handler(ses_about(sent, "bounce-permanent", bounce_email), LambdaContext())
    # refused signups: invalid fields, a filled honeypot, a body over the limit, a broken token
    refused_email, refused_name = PEOPLE["refused"]
    refused = {"email": refused_email, "name": refused_name, "consent": False, "sequence": "black-friday"}
    assert call("POST", "/leads", json.dumps(refused).encode(), "application/json", "*/*")["statusCode"] == 422
    assert post_form("/leads", {**refused, "consent": "yes"})["statusCode"] == 422
    honeypot_email, honeypot_name = PEOPLE["honeypot"]
    trap = {"email": honeypot_email, "name": honeypot_name, "consent": "yes", "website": "http://spam.example"}
    ok(post_form("/leads", trap))
    big_email, big_name = PEOPLE["too-big"]
    huge = {"email": big_email, "name": big_name, "consent": "yes", "padding": "x" * 20_000}
    assert post_form("/leads", huge)["statusCode"] == 413
    assert post_form(f"/confirm?token={big_email}", {"token": big_email})["statusCode"] == 400
    # a malformed SES event that carries an address, and the sweep that runs every minute
    broken = sqs_batch(ses_about(sent, "open", bounce_email))
    broken["Records"][0]["body"] = broken["Records"][0]["body"][:-40]
    engagement.handler(broken, LambdaContext())
    stack.clock.advance(days=20)
    sweep.handler({}, LambdaContext())
    stack.send_queued()
    stack.app.handoffs.publish_pending_handoffs()
    assert message_key(trial.lead_id, "trial-nurture", 1, "handoff") in {
        e.detail["handoff_id"] for e in stack.bus.events
    }


def needles() -> set[str]:
    """Each address, its local part and the name (and each part of it), lower-cased."""
    found: set[str] = set()
    for email, name in PEOPLE.values():
        found |= {email.lower(), email.split("@")[0].lower(), name.lower(), *name.lower().split()}
    return found


def test_given_a_whole_journey_when_everything_is_logged_at_debug_then_no_address_or_name_leaks(stack, captured, capfd):
    journey(stack)
    output = capfd.readouterr()
    tags = [f"{name}={value}" for email in stack.outbox.emails for name, value in email.tags.items()]
    haystacks = {
        "log records": "\n".join(captured.lines),
        "stdout": output.out,
        "stderr": output.err,
        "metrics": "\n".join(stack.metrics.counts),
        "SES tags": "\n".join(tags),
    }
    assert captured.lines, "the journey logged nothing: the capture is broken"
    assert tags, "no email was sent: the capture is broken"
    leaks = {(where, needle) for where, text in haystacks.items() for needle in needles() if needle in text.lower()}
    assert leaks == set()
