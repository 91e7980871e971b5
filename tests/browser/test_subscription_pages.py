"""The unsubscribe and preference pages in Chromium, on a phone-sized screen, as a lead uses them."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from ripen.app import use
from ripen.core.records import LeadStatus
from ripen.core.state import Status
from ripen.handlers import api
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LocalHttpApi
from tests.conftest import TEMPLATES
from tests.support.mailstack import BASE_URL, Stack, make_stack

pytestmark = pytest.mark.browser
PHONE_WIDTH = 390


@pytest.fixture
def stack(clock, catalog) -> Iterator[Stack]:
    built = make_stack(InMemoryStore(), clock, catalog)
    use(built.app)
    yield built
    use(None)


@pytest.fixture
def site(stack) -> Iterator[str]:
    with LocalHttpApi(api.handler) as url:
        yield url


def links_in_welcome(stack: Stack, site: str) -> tuple[str, str]:
    """The unsubscribe and preferences links of the email the lead really got, pointed at this server."""
    stack.send_queued()
    text = next(e.text for e in stack.outbox.emails if e.tags["step"] == "welcome")
    unsubscribe = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Unsubscribe: "))
    preferences = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Email preferences: "))
    return unsubscribe.replace(BASE_URL, site), preferences.replace(BASE_URL, site)


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH


def test_a_lead_unsubscribes_from_the_link_in_their_email(page, stack, site):
    lead = stack.signup("ana@example.com")
    unsubscribe, _ = links_in_welcome(stack, site)
    # When the lead opens the link: a page asks, nothing happens yet
    page.goto(unsubscribe)
    expect(page.get_by_role("heading", name="Unsubscribe from Acme Insights emails?")).to_be_visible()
    assert fits_the_phone(page)
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.ACTIVE
    # When they press the button
    page.get_by_role("button", name="Unsubscribe from all emails").click()
    # Then they see it is done, and it is
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    expect(page.get_by_role("status").first).to_be_visible()
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.UNSUBSCRIBED
    assert page.get_by_role("link", name="Visit our website").get_attribute("href") == "https://acme.example"


def test_a_lead_pauses_instead_using_only_the_keyboard(page, stack, site):
    lead = stack.signup("ana@example.com")
    unsubscribe, _ = links_in_welcome(stack, site)
    page.goto(unsubscribe)
    # Every choice is a labelled radio button inside a named group
    group = page.get_by_role("group", name="Or get fewer emails instead")
    assert group.get_by_role("radio").count() == 4
    # Tab to the first choice, pick "1 month" with the arrow keys, tab to its button, press Enter
    page.get_by_role("radio", name="Pause all emails for 2 weeks").focus()
    page.keyboard.press("ArrowDown")
    assert page.get_by_role("radio", name="Pause all emails for 1 month").is_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Save my choice"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Paused")).to_be_visible()
    [record] = stack.store.enrollments_of(lead.lead_id)
    assert record.enrollment.status is Status.PAUSED
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.ACTIVE


def test_the_preferences_page_leaves_one_sequence_and_keeps_the_rest(page, stack, site):
    lead = stack.signup("ana@example.com", sequence="trial-nurture")
    stack.app.nurture.enroll(stack.store.get_lead(lead.lead_id), "ebook-nurture")
    _, preferences = links_in_welcome(stack, site)
    page.goto(preferences)
    expect(page.get_by_role("heading", name="Your email preferences")).to_be_visible()
    assert fits_the_phone(page)
    page.get_by_label("Stop only the emails about “Getting started with your Acme Insights trial”").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(page.get_by_text("You won't get any more emails about")).to_be_visible()
    statuses = {r.enrollment.sequence: r.enrollment.status for r in stack.store.enrollments_of(lead.lead_id)}
    assert statuses == {"trial-nurture": Status.UNSUBSCRIBED, "ebook-nurture": Status.ACTIVE}


def test_an_expired_link_explains_itself_and_changes_nothing(page, stack, site):
    # (An unsubscribe link never expires for unsubscribing: tests/security; the preferences link does.)
    lead = stack.signup("ana@example.com")
    _, preferences = links_in_welcome(stack, site)
    stack.clock.advance(days=61)
    page.goto(preferences)
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_visible()
    assert fits_the_phone(page)
    assert stack.store.get_lead(lead.lead_id).status is LeadStatus.ACTIVE


def test_pages_are_readable_and_easy_to_tap_on_a_phone(page, stack, site):
    stack.signup("ana@example.com")
    unsubscribe, preferences = links_in_welcome(stack, site)
    for url in (unsubscribe, preferences):
        page.goto(url)
        assert page.evaluate("document.documentElement.lang") == "en"
        assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
        for button in page.get_by_role("button").all():
            assert button.bounding_box()["height"] >= 44  # touch target size
        assert fits_the_phone(page)


def test_ripen_preview_takes_a_phone_screenshot_of_every_email(tmp_path):
    # Run as CI runs it: the command line, in its own process (it drives its own Chromium)
    out = tmp_path / "preview"
    command = [sys.executable, "-m", "ripen_dev.cli", "preview", str(TEMPLATES), "--out", str(out), "--screenshots"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    pngs = sorted(out.glob("*/*.png"))
    assert len(pngs) == 15
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width == PHONE_WIDTH
        assert height > 600  # the whole email, not just the first screen
    assert 'src="trial-nurture/welcome.png"' in (out / "index.html").read_text()
