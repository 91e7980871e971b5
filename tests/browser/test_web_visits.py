"""Website visits in Chromium on `ripen dev`: a lead opens the pricing link of a trial email, lands on
acme.example's pricing page (served locally by the dev stack, with `examples/track.js`), and the page
rule of trial-nurture (`"/pricing*": pricing_page_viewed`) moves her score."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.test_dev_stack import ANA, ANA_ID, Shots, score_in, stack, tab  # noqa: F401 (fixtures)
from tests.integration.test_dev_stack import confirm, emails_of, sign_up

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _pinned_lead_id_key(monkeypatch):
    from tests.support.ids import LEAD_ID_KEY

    monkeypatch.setenv("LEAD_ID_SECRET", LEAD_ID_KEY)


def beacon_to(page, running):
    return page.expect_request(lambda r: r.url == f"{running.url}/events/web" and r.method == "POST")


def test_a_visit_from_an_email_link_to_the_pricing_page_moves_the_score(stack, tab):  # noqa: F811
    page, shot = tab, Shots(tab)
    # Given Ana three days into the trial: the case study's pricing link carries her visitor token
    confirm(stack, sign_up(stack))
    stack.move_time(timedelta(days=1))
    stack.move_time(timedelta(days=2))
    case_study = emails_of(stack)[-1]
    assert case_study.step == "case-study"
    [link] = [link for link in case_study.links if link.name == "pricing"]
    parts = urlsplit(link.href)
    assert (parts.hostname, parts.path) == ("acme.example", "/pricing")
    assert parse_qs(parts.query)["rv"], "links to the sender's website carry the visitor token"
    before = stack.running_app.store.get_enrollment(ANA_ID, "trial-nurture").enrollment.score

    # When she opens it: acme.example's pricing page, here on the dev stack
    with beacon_to(page, stack) as posted:
        page.goto(f"{stack.url}/pricing?{parts.query}")
    page.get_by_role("heading", name="Plans and pricing").wait_for()
    shot("web-visit-pricing")
    # Then the snippet posted the view with her token and the page's address, without the token in it
    body = posted.value.post_data or ""
    assert parse_qs(parts.query)["rv"][0] in body
    assert "rv=" not in page.url  # taken out of the address bar (a shared link does not carry it on)
    assert "utm_source=" in page.url  # and nothing else
    posted.value.response()  # the post is answered before the lead's page is read

    # And her lead page shows the page rule's points and the product event on her timeline
    page.goto(f"{stack.url}/_dev/leads/{ANA_ID}")
    page.get_by_role("heading", name=re.compile(ANA)).wait_for()
    assert float(score_in(page)) == pytest.approx(before + 10, abs=0.1)  # scoring.events.pricing_page_viewed
    assert "pricing_page_viewed" in page.get_by_role("list", name="Timeline").inner_text()
    shot("web-visit-score")

    # When she views pricing again in the same tab (no rv in the address now: the tab kept it)
    with beacon_to(page, stack) as again:
        page.goto(f"{stack.url}/pricing")
    again.value.response()
    # Then the view is posted, and counts once within the hour
    record = stack.running_app.store.get_enrollment(ANA_ID, "trial-nurture")
    assert record.enrollment.score == pytest.approx(before + 10, abs=0.1)
