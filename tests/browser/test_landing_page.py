"""A visitor signs up on the example landing page (examples/landing-page/) in Chromium, with and
without JavaScript, against the api function served on localhost; state in DynamoDB Local, the send
queue in moto's SQS. Then they confirm from the link in the confirmation email."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape

import pytest

from ripen.core.state import Status
from ripen.ports.queue import SendJob
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.local.http import LocalHttpApi
from tests.browser.conftest import ARTIFACTS
from tests.support.capture import CaptureStack, capture_stack, example_page, installed, next_monday
from tests.support.ids import lead_id_for

pytestmark = pytest.mark.browser

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)
THANKS = "https://acme.example/trial/thanks"
THANK_YOU_PAGE = "<!doctype html><title>Thanks</title><h1>Thanks for starting your trial!</h1>"


@dataclass
class Site:
    url: str
    stack: CaptureStack
    clock: ManualClock


@pytest.fixture
def ses(moto_endpoint) -> object:
    """moto's SES (server mode): a verified sending domain and the configuration set; no mail yet."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages.clear()

    client = boto3.client("sesv2", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_email_identity(EmailIdentity="acme.example")
    if "ripen-nurture" not in client.list_configuration_sets()["ConfigurationSets"]:
        client.create_configuration_set(ConfigurationSetName="ripen-nurture")
    return client


@pytest.fixture
def site(dynamodb_endpoint, moto_endpoint, ses) -> Iterator[Site]:
    """The example page at / and the api function beside it, as `ripen serve` runs them; the sender
    beside them sends through moto's SES."""
    from ripen.adapters.mailer import SesMailer
    from ripen.handlers.api import handler

    # A Monday, 13:00 or 14:00 in Berlin (Ana's browser): inside trial-nurture's send window, 09:00-17:00 hers.
    clock = ManualClock(next_monday(12))
    server = LocalHttpApi(handler, static={"/": example_page()})
    stack = capture_stack(
        dynamodb_endpoint,
        moto_endpoint,
        clock,
        mailer=SesMailer(client=ses),
        PUBLIC_BASE_URL=server.url,
        SENDER_COMPANY="Acme",
        SENDER_POSTAL_ADDRESS="Acme Inc., 1 Example Way, Springfield",
        SES_CONFIGURATION_SET="ripen-nurture",
    )
    with installed(stack.app):
        server.start()
        try:
            yield Site(server.url, stack, clock)
        finally:
            server.stop()


@pytest.fixture
def drain_send_queue(site) -> Callable[[], list[SendJob]]:
    """The jobs on the send queue (SQS), taken off it: exactly what the sender function receives next."""
    return site.stack.drain_send_queue


def emails_sent_to(address: str) -> list[email.message.EmailMessage]:
    """What moto's SES accepted for `address`, parsed (the server runs in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    parsed = [email.message_from_string(m.raw_data, policy=email.policy.default) for m in sent]
    return [m for m in parsed if m["To"] == address]


def send(site, jobs: list[SendJob]) -> None:
    """The sender function's work on those jobs: render, send through SES, record."""
    from ripen.services.sender import Outcome

    assert [site.stack.app.sender.send(job) for job in jobs] == [Outcome.SENT] * len(jobs)


def confirm_link(message: email.message.EmailMessage) -> str:
    html = message.get_body(preferencelist=("html",)).get_content()
    links = re.findall(r'href="([^"]*/confirm\?token=[^"]+)"', html)
    assert links, "the confirmation email has no confirm link"
    return unescape(links[0])


@pytest.fixture
def visitor(browser, request) -> Callable[..., object]:
    """A phone-sized browser tab in Berlin; the acme.example thank-you page is served by the test."""
    contexts = []

    def open_tab(javascript: bool = True):
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, timezone_id="Europe/Berlin", java_script_enabled=javascript
        )
        context.route(
            "https://acme.example/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body=THANK_YOU_PAGE),
        )
        contexts.append(context)
        return context.new_page()

    yield open_tab
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^a-z0-9_-]+", "-", request.node.name.lower())
    for number, context in enumerate(contexts):
        for page in context.pages:
            page.screenshot(path=str(ARTIFACTS / f"{name}-{number}.png"), full_page=True)
        context.close()


def fill_in(page, email: str = ANA) -> None:
    page.get_by_label("Work email").fill(email)
    page.get_by_label("First name").fill("Ana")
    page.get_by_label("Company").fill("Acme Analytics")
    page.get_by_label("Yes, email me").check()


def test_with_javascript_the_page_posts_with_fetch_and_the_confirmation_is_queued(site, visitor, drain_send_queue):
    page = visitor(javascript=True)
    page.goto(f"{site.url}/?utm_source=newsletter&utm_campaign=spring-launch")
    fill_in(page)
    page.get_by_role("button", name="Start my free trial").click()
    # Then the thank-you page shows
    page.wait_for_url(THANKS)
    assert page.get_by_role("heading", name="Thanks for starting your trial!").is_visible()
    # And the lead exists, with the browser's time zone, the UTM fields and the consent record
    lead = site.stack.app.store.get_lead(ANA_ID)
    assert lead is not None
    assert (lead.email, lead.name, lead.timezone) == (ANA, "Ana", "Europe/Berlin")
    assert dict(lead.attributes) == {
        "company": "Acme Analytics",
        "utm_source": "newsletter",
        "utm_campaign": "spring-launch",
    }
    assert (lead.consent.source, lead.consent.wording, lead.consent.confirmed_at) == (
        "example-landing-page",
        "2026-03",
        None,
    )
    # And the confirmation email was claimed and its job put on the send queue at once
    jobs = drain_send_queue()
    assert [job.message_key for job in jobs] == [f"{ANA_ID}#trial-nurture#1#confirm"]
    claim = site.stack.app.store.get_message(f"{ANA_ID}#trial-nurture#1#confirm").claim
    assert (claim.kind, claim.email) == ("confirmation", "confirm")
    # And the sender sent it through SES, with a confirm link back to this site
    send(site, jobs)
    [confirmation] = emails_sent_to(ANA)
    assert confirmation["Subject"] == "Please confirm your email address"
    assert confirm_link(confirmation).startswith(f"{site.url}/confirm?token=")


def test_without_javascript_the_plain_form_posts_and_redirects_to_the_thank_you_page(site, visitor, drain_send_queue):
    page = visitor(javascript=False)
    page.goto(f"{site.url}/")
    fill_in(page)
    page.get_by_role("button", name="Start my free trial").click()
    page.wait_for_url(THANKS)
    assert page.get_by_role("heading", name="Thanks for starting your trial!").is_visible()
    lead = site.stack.app.store.get_lead(ANA_ID)
    assert (lead.email, lead.timezone, lead.consent.source) == (ANA, None, "example-landing-page")
    assert [job.message_key for job in drain_send_queue()] == [f"{ANA_ID}#trial-nurture#1#confirm"]


def test_the_confirmation_link_shows_a_button_and_only_the_button_confirms(site, visitor, drain_send_queue):
    page = visitor(javascript=True)
    page.goto(f"{site.url}/")
    fill_in(page)
    page.get_by_role("button", name="Start my free trial").click()
    page.wait_for_url(THANKS)
    send(site, drain_send_queue())
    # The link in the confirmation email Ana received
    [confirmation] = emails_sent_to(ANA)
    link = confirm_link(confirmation)
    assert link.startswith(f"{site.url}/confirm?token=")
    site.clock.advance(minutes=3)
    # Opening the link (as a mail scanner would) confirms nothing
    page.goto(link)
    assert page.get_by_role("heading", name="Confirm your subscription").is_visible()
    assert page.get_by_text("Getting started with your Acme Insights trial").is_visible()
    store = site.stack.app.store
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.status is Status.PENDING
    assert drain_send_queue() == []
    # Pressing the button does, and the first email of the sequence is queued at once
    page.get_by_role("button", name="Yes, confirm my subscription").click()
    assert page.get_by_role("heading", name="Thanks, you're confirmed!").is_visible()
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.status is Status.ACTIVE
    assert store.get_lead(ANA_ID).consent.confirmed_at == site.clock.now()
    jobs = drain_send_queue()
    assert [job.message_key for job in jobs] == [f"{ANA_ID}#trial-nurture#1#welcome"]
    send(site, jobs)
    assert [m["Subject"] for m in emails_sent_to(ANA)] == [
        "Please confirm your email address",
        "Your Acme Insights trial is ready",
    ]
    # And the link now says so, without a button
    page.goto(link)
    assert page.get_by_role("heading", name="You're already confirmed").is_visible()
    assert page.get_by_role("button").count() == 0


def test_with_javascript_problems_show_next_to_the_fields(site, visitor):
    page = visitor(javascript=True)
    page.goto(f"{site.url}/")
    fill_in(page, email="ana@localhost")  # a browser accepts it; SES could not deliver it
    page.get_by_role("button", name="Start my free trial").click()
    error = page.locator("#email-error")
    error.wait_for(state="visible")
    assert "period" in error.inner_text()
    assert page.get_by_label("Work email").get_attribute("aria-invalid") == "true"
    assert page.url == f"{site.url}/"
    assert site.stack.items("LeadsTable") == []


def test_without_javascript_problems_get_a_page_with_the_way_back(site, visitor):
    page = visitor(javascript=False)
    page.goto(f"{site.url}/")
    fill_in(page, email="ana@localhost")
    page.get_by_role("button", name="Start my free trial").click()
    assert page.get_by_role("heading", name="Please check the form").is_visible()
    assert page.get_by_text("Email address").is_visible()
    page.get_by_role("link", name="Back to the form").click()
    page.wait_for_url(f"{site.url}/")
    assert site.stack.items("LeadsTable") == []


def test_a_bot_filling_the_hidden_field_sees_the_thank_you_page_and_is_not_stored(site, visitor, drain_send_queue):
    page = visitor(javascript=False)
    page.goto(f"{site.url}/")
    fill_in(page)
    page.locator("#website").fill("https://cheap-pills.example", force=True)
    page.get_by_role("button", name="Start my free trial").click()
    page.wait_for_url(THANKS)
    assert site.stack.items("LeadsTable") == []
    assert drain_send_queue() == []
