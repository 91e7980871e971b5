"""Attack: turn the public signup form into a mail bomb (issue 14.2).

The HTTP API's shared rate was the only limit: one client posting 200 forms of 200 addresses had
ripen send 200 confirmation emails, one address signed up again and again got a confirmation each
time, and `target+N@gmail.com` reached one inbox N times. Now the emails signups cause are limited
per source IP, per mailbox and for the whole account, counted in keyed hashes; over a limit the
answer is the same and nothing is sent. An optional CAPTCHA stops bots before anything is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ripen.app import App
from ripen.core.mailbox import canonical_mailbox
from ripen.core.sequence import SequenceSettings
from ripen.services.limits import CEILING_REACHED
from ripen_dev.fakes.captcha import FakeCaptcha
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.limits import MemoryLimiter
from ripen_dev.fakes.metrics import MemoryMetrics
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import http_api_event
from tests.support.capture import Answer, installed, invoke, settings

START = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
ATTACKER = "203.0.113.66"


class World:
    def __init__(self, catalog: Any, **env: str) -> None:
        self.clock = ManualClock(START)
        self.store = InMemoryStore()
        self.queue = MemorySendQueue()
        self.limiter = MemoryLimiter()
        self.metrics = MemoryMetrics()
        self.captcha: FakeCaptcha | None = None
        self.env = env
        self.catalog = catalog

    def app(self) -> App:
        return App(
            settings(**self.env),
            store=self.store,
            queue=self.queue,
            clock=self.clock,
            catalog=self.catalog,
            metrics=self.metrics,
            limiter=self.limiter,
            captcha=self.captcha,
        )

    def post(self, email: str, ip: str = ATTACKER, **fields: Any) -> Answer:
        body = json.dumps({"email": email, "consent": True, "sequence": "trial-nurture", **fields}).encode()
        headers = {"content-type": "application/json", "accept": "application/json"}
        return invoke(http_api_event("POST", "/leads", headers, body, source_ip=ip))

    def emails_queued(self) -> int:
        """Send jobs the posts so far queued (each one email), taken off the queue."""
        return len(self.queue.drain())


@pytest.fixture
def world(catalog) -> Iterator[World]:
    w = World(catalog)
    with installed(w.app()):
        yield w


def test_200_posts_of_200_addresses_from_one_client_send_no_more_than_its_budget(world):
    # Given one client posting 200 forms of 200 different addresses within a minute
    answers = [world.post(f"victim{n}@example.com") for n in range(200)]
    # Then every post got the answer a real signup gets
    assert {(a.status, a.json["status"]) for a in answers} == {(201, "pending_confirmation")}
    # But only the per-IP budget of confirmation emails went out (10 a minute)
    assert world.emails_queued() == 10
    # And nothing is kept that would send later: the held-back signups were never stored
    assert len(world.store.leads) == len(world.store.enrollments) == len(world.store.messages) == 10
    # And over the hour that client causes at most 50, however long it keeps going
    for minute in range(1, 60):
        world.clock.set(START + timedelta(minutes=minute))
        for n in range(20):
            world.post(f"victim{minute}-{n}@example.com")
    assert world.emails_queued() == 40
    # While a person on another connection still gets their confirmation
    assert world.post("ana@example.com", ip="198.51.100.7").status == 201
    assert world.emails_queued() == 1


def test_every_address_of_one_ipv6_network_counts_as_one_client(world):
    # Given one client cycling through the addresses of its IPv6 /64
    for n in range(30):
        world.post(f"victim{n}@example.com", ip=f"2001:db8:1:2::{n + 1:x}")
    # Then it still gets only the per-IP budget
    assert world.emails_queued() == 10


def test_one_unconfirmed_address_reposted_25_times_in_30_days_gets_at_most_5_confirmations(world):
    # Given someone reposting one person's address every 29 hours for 30 days (the sweep runs meanwhile)
    caused = 0
    for n in range(25):
        world.clock.set(START + n * timedelta(hours=29))
        answer = world.post("target@example.com", ip=f"198.51.100.{n}")  # a new IP each time
        assert answer.status in (200, 201)
        assert answer.json["status"] == "pending_confirmation"
        caused += world.emails_queued()
        world.clock.advance(timedelta(hours=1))
        world.app().sweep.run()  # reminders and expiry: not caused by the form
        world.queue.drain()
    # Then the form caused at most 5 confirmation emails to that inbox
    assert caused <= 5
    assert caused >= 3  # (the person themselves could still sign up)


def test_tagged_and_dotted_gmail_variants_count_as_one_mailbox(world):
    # Given one inbox's variants, each from its own IP, all in one day
    variants = [f"target+{n}@gmail.com" for n in range(10)]
    variants += ["t.arget@gmail.com", "TARGET@googlemail.com", "ta.rg.et+x@GoogleMail.com"]
    for n, address in enumerate(variants):
        assert world.post(address, ip=f"192.0.2.{n}").status == 201
    # Then that inbox got no more than the daily mailbox budget (3)
    assert world.emails_queued() == 3


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("Target+News@Gmail.com", "target@gmail.com"),
        ("t.a.r.g.e.t@googlemail.com", "target@gmail.com"),
        ("first.last+tag@example.com", "first.last@example.com"),  # dots count outside Gmail
        ("Jane@Example.COM", "jane@example.com"),
        ("+tag@example.com", "+tag@example.com"),  # nothing before the tag: kept as it is
    ],
)
def test_the_canonical_mailbox_of_an_address(address, mailbox):
    assert canonical_mailbox(address) == mailbox


def test_the_account_wide_ceiling_stops_signup_emails_and_raises_the_alarm_metric(catalog):
    # Given a ceiling of 5 emails a day and signups from many IPs and many inboxes
    w = World(catalog, MAX_CONFIRMATIONS_PER_DAY="5")
    with installed(w.app()):
        answers = [w.post(f"person{n}@example.com", ip=f"198.51.100.{n}") for n in range(8)]
        # Then all are answered as usual, 5 emails go out, and the alarm's metric counts the rest
        assert {a.status for a in answers} == {201}
        assert w.emails_queued() == 5
        assert w.metrics.counts[CEILING_REACHED] == 3
        # And the next day signups send again
        w.clock.advance(timedelta(days=1, hours=3))
        assert w.post("later@example.com", ip="198.51.100.200").status == 201
        assert w.emails_queued() == 1


def test_with_a_captcha_a_missing_or_invalid_token_stores_nothing(world):
    # Given the CAPTCHA turned on (Turnstile), and a token its widget gave a person
    world.captcha = FakeCaptcha("solved-token")
    with installed(world.app()):
        # When a bot posts without a token, or with one the provider refuses
        missing = world.post("ana@example.com")
        invalid = world.post("ana@example.com", **{"cf-turnstile-response": "forged"})
        # Then both get 422 naming the check, and nothing is stored or sent
        for answer in (missing, invalid):
            assert answer.status == 422
            assert [e["field"] for e in answer.json["errors"]] == ["captcha"]
        assert world.store.leads == {}
        assert world.emails_queued() == 0
        # When the person posts with the solved token
        ok = world.post("ana@example.com", **{"cf-turnstile-response": "solved-token"})
        # Then they are signed up, the provider was asked with their IP, and the token is not kept
        assert ok.status == 201
        assert world.captcha.asked[-1] == ("solved-token", ATTACKER)
        [lead] = world.store.leads.values()
        assert not any("turnstile" in name for name in lead.attributes)


def test_a_form_post_with_an_unsolved_captcha_gets_an_error_page(world):
    world.captcha = FakeCaptcha("solved-token", provider="hcaptcha")
    with installed(world.app()):
        body = b"email=ana%40example.com&consent=yes&h-captcha-response=forged"
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "text/html"}
        answer = invoke(http_api_event("POST", "/leads", headers, body, source_ip=ATTACKER))
    assert answer.status == 422
    assert "text/html" in answer.headers["content-type"]
    assert "you&#39;re human" in answer.body or "you're human" in answer.body
    assert world.store.leads == {}


def test_the_limit_counters_hold_neither_the_ip_nor_the_address(world):
    # Given signups that were counted
    world.post("Victim.Name+1@gmail.com")
    world.post("jane@example.com", ip="2001:db8::1")
    # Then the stored keys are keyed hashes: no IP, no address, no mailbox in clear
    stored = " ".join(world.limiter.counts)
    assert world.limiter.counts
    for clear in (ATTACKER, "2001:db8::1", "victim", "gmail", "jane", "example.com"):
        assert clear not in stored.lower()


def test_a_sequence_that_says_nothing_about_double_opt_in_asks_for_confirmation():
    settings_ = SequenceSettings.model_validate({"name": "quiet", "from": "Acme <hi@acme.example>"})
    assert settings_.double_opt_in.enabled


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, size: int = -1) -> bytes:
        return self.body


def test_the_siteverify_check_posts_the_token_and_fails_closed(monkeypatch):
    import urllib.error
    import urllib.request
    from urllib.parse import parse_qs

    from ripen.adapters.captcha import SiteVerifyCaptcha

    asked: list[Any] = []

    def provider_says(answer: bytes | Exception):
        def urlopen(request: Any, timeout: float) -> _Answer:
            asked.append((request.full_url, parse_qs(request.data.decode()), timeout))
            if isinstance(answer, Exception):
                raise answer
            return _Answer(answer)

        monkeypatch.setattr(urllib.request, "urlopen", urlopen)

    captcha = SiteVerifyCaptcha("turnstile", "the-secret")
    provider_says(b'{"success": true}')
    assert captcha.verify("tok", "203.0.113.9")
    url, form, timeout = asked[-1]
    assert url == "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    assert form == {"secret": ["the-secret"], "response": ["tok"], "remoteip": ["203.0.113.9"]}
    assert timeout <= 5
    # A refusal, an unreadable answer, or no answer at all: refused
    provider_says(b'{"success": false, "error-codes": ["invalid-input-response"]}')
    assert not captcha.verify("tok", None)
    provider_says(b"<html>busy</html>")
    assert not captcha.verify("tok", None)
    provider_says(urllib.error.URLError("timed out"))
    assert not captcha.verify("tok", None)
    # And an empty token never reaches the provider
    calls = len(asked)
    assert not captcha.verify("", None)
    assert len(asked) == calls
