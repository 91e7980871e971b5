"""`ripen dev` in Chromium: a visitor signs up on the landing page, and the developer follows the lead
in the outbox, confirms from the email, moves time forward, and makes the lead click pricing.

The stack runs in this process on the tests' DynamoDB Local and moto server, with the dev clock
starting on a Monday at 12:00 UTC (13:00 in Berlin, the visitor's browser): inside trial-nurture's
send window, so every step is deterministic. A screenshot of each step lands in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ripen.core.state import Status
from ripen_dev.local.devstack.stack import DevStack
from tests.browser.conftest import ARTIFACTS
from tests.support.capture import next_monday
from tests.support.devstack import dev_options
from tests.support.ids import LEAD_ID_KEY, lead_id_for

pytestmark = pytest.mark.browser

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)


@pytest.fixture(autouse=True)
def _pinned_lead_id_key(monkeypatch):
    """The dev stack takes its lead-id key from the environment: pinned, ids are known in advance."""
    monkeypatch.setenv("LEAD_ID_SECRET", LEAD_ID_KEY)


@pytest.fixture
def stack(dynamodb_endpoint, moto_endpoint) -> Iterator[DevStack]:
    options = dev_options(
        start=next_monday(12),
        dynamodb_endpoint=dynamodb_endpoint,
        moto_endpoint=moto_endpoint,
        parameters={"DueShards": "1"},  # fewer due-index queries: a fresh table's first ones are slow locally
    )
    with DevStack(options) as running:
        yield running


@pytest.fixture
def tab(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, timezone_id="Europe/Berlin")
    yield context.new_page()
    context.close()


class Shots:
    def __init__(self, page) -> None:
        self.page = page
        self.taken = 0
        ARTIFACTS.mkdir(exist_ok=True)

    def __call__(self, name: str) -> None:
        self.taken += 1
        self.page.screenshot(path=str(ARTIFACTS / f"dev-stack-{self.taken:02d}-{name}.png"), full_page=True)


def score_in(page) -> str:
    """The score column of the lead's trial-nurture row on the lead page."""
    row = page.get_by_role("table", name="Sequences").get_by_role("row").filter(has_text="trial-nurture")
    return row.get_by_role("cell").nth(4).inner_text()


def test_a_signup_walks_through_the_sequence_in_the_outbox(stack, tab):
    page, shot = tab, Shots(tab)
    # Given the landing page ripen dev serves
    page.goto(f"{stack.url}/")
    page.get_by_label("Work email").fill(ANA)
    page.get_by_label("First name").fill("Ana")
    page.get_by_label("Company").fill("Fernhill")
    page.get_by_label("Yes, email me").check()
    shot("landing-page")
    # When Ana signs up for the trial
    page.get_by_role("button", name="Start my free trial").click()
    # Then she lands on the local stand-in for acme.example's thank-you page
    page.get_by_role("heading", name="Thanks for signing up!").wait_for()
    assert "https://acme.example/trial/thanks" in page.get_by_role("main").inner_text()
    shot("thank-you")

    # And the outbox shows the confirmation email SES accepted
    page.get_by_role("link", name="open the outbox").click()
    emails = page.get_by_role("table", name="Emails sent")
    emails.get_by_role("link", name="Please confirm your email address").wait_for()
    assert page.get_by_role("table", name="Leads").get_by_role("link", name=ANA).is_visible()
    shot("outbox-confirmation")

    # When she opens it and clicks its link
    emails.get_by_role("link", name="Please confirm your email address").click()
    headers = page.get_by_role("table", name="Headers")
    assert headers.get_by_role("row", name=re.compile("^To ")).inner_text().endswith(ANA)
    assert "trial-nurture" in page.get_by_role("main").inner_text()
    shot("confirmation-email")
    page.frame_locator("iframe").get_by_role("link", name="Yes, confirm my email address").click()
    # Then the confirm page asks her to press the button, and pressing it confirms
    page.get_by_role("heading", name="Confirm your subscription").wait_for()
    page.get_by_role("button", name="Yes, confirm my subscription").click()
    page.get_by_role("heading", name="Thanks, you're confirmed!").wait_for()
    shot("confirmed")

    # And the welcome email goes out at once
    page.goto(f"{stack.outbox_url}")
    emails = page.get_by_role("table", name="Emails sent")
    emails.get_by_role("link", name="Your Acme Insights trial is ready").wait_for()
    shot("outbox-welcome")

    # When a day passes
    page.get_by_role("button", name="1 day", exact=True).click()
    # Then the next email of the sequence appears
    emails.get_by_role("link", name="Your first useful dashboard in 10 minutes").wait_for()
    shot("a-day-later")

    # When two more days pass (the custom control)
    page.get_by_label("How many").fill("2")
    page.get_by_label("unit").select_option("days")
    page.get_by_role("button", name="Move", exact=True).click()
    case_study = emails.get_by_role("link", name="How Fernhill cut churn 17% with one cohort chart")
    case_study.wait_for()
    shot("case-study-sent")

    # And Ana, on her lead page, is waiting for a click on pricing
    page.get_by_role("table", name="Leads").get_by_role("link", name=ANA).click()
    page.get_by_role("heading", name=re.compile(ANA)).wait_for()
    before = float(score_in(page))
    assert "waiting for engagement" in page.get_by_role("table", name="Sequences").inner_text()

    # When she clicks the pricing link in the case study (SES reports the click)
    page.get_by_role("link", name="email sent: “How Fernhill cut churn 17% with one cohort chart” (case-study)").click()
    page.get_by_role("button", name="Click pricing").click()
    # Then her timeline shows the click, the branch to pricing-followup, and her score went up
    page.get_by_role("heading", name=re.compile(ANA)).wait_for()
    timeline = page.get_by_role("list", name="Timeline").inner_text()
    assert "SES click on pricing: case-study" in timeline
    assert "taking the 'then' branch" in timeline
    sequences = page.get_by_role("table", name="Sequences")
    assert "pricing-followup" in sequences.inner_text()
    assert "decision" in sequences.inner_text()
    after = float(score_in(page))
    assert after == before + 20  # trial-nurture weighs a pricing click 20
    shot("pricing-click-branch")

    # And once the frequency cap allows, the pricing follow-up goes out
    page.get_by_role("button", name="Move time to the next timer").click()
    page.get_by_role("link", name=re.compile("Choosing the right Acme Insights plan")).wait_for()
    shot("pricing-followup-sent")
    record = stack.running_app.store.get_enrollment(ANA_ID, "trial-nurture")
    assert record.enrollment.status is Status.ACTIVE
    assert "pricing-followup" in record.enrollment.sent
