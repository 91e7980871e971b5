"""What a form post may do to a person (issue 14: attacks 1, 3, 4 and 8).

`POST /leads` is public: anyone may post any address with any name and fields. These tests post
as that anyone, through the api function where the answer matters and through the services
otherwise, and check that a post cannot make a lead sales-ready, rewrite a lead, replace their
consent record, or tell whether an address is on the list.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ripen.app import App
from ripen.core.records import Consent, Lead, LeadStatus, MessageClaim
from ripen.core.state import Resubmitted, Status
from ripen.core.validator import validate_text
from ripen.mail.render import lead_view
from ripen.services.handoffs import sales_ready_event
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from tests.support.capture import installed, post_form, post_json, settings
from tests.support.ids import lead_id_for

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)
MONDAY_MORNING = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_MORNING)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def api(store, clock, catalog) -> Iterator[App]:
    app = App(settings(), store=store, queue=MemorySendQueue(), clock=clock, catalog=catalog)
    with installed(app):
        yield app


def confirmed_signup(api: App, clock: ManualClock, email: str = ANA, **fields: str) -> None:
    """A real person signs up for the trial (double opt-in) and clicks the confirmation link."""
    assert post_json({"email": email, "consent": True, "sequence": "trial-nurture", **fields}).status == 201
    clock.advance(minutes=5)
    api.signup.confirm(lead_id_for(email), "trial-nurture")


# -- 1. pumping an address to sales-ready ------------------------------------------------------------------


def test_reposting_a_known_address_never_makes_it_sales_ready(api, store, clock):
    # Given an address someone signed up once for the single opt-in ebook (sales-ready at 40)
    post_json({"email": ANA, "consent": True, "sequence": "ebook-nurture"})
    # When an attacker posts it again and again, each a little later, with a name and fields of their own
    for _ in range(60):
        clock.advance(minutes=2)
        post_json({"email": ANA, "consent": True, "sequence": "ebook-nurture", "name": "Boss", "budget": "1000000"})
    # Then the lead is not sales-ready, nothing was handed to sales, and the posts added no score
    record = store.get_enrollment(ANA_ID, "ebook-nurture")
    assert record.enrollment.status is Status.ACTIVE
    assert record.enrollment.score == 0
    assert not [m for m in store.messages.values() if m.claim.kind == "handoff"]


def test_renewed_interest_counts_once_a_week_for_a_confirmed_lead_and_never_past_its_cap(api, store, clock):
    # Given a confirmed trial lead (sales-ready at 50; scoring.resubmit 3, capped at 6 in total)
    confirmed_signup(api, clock)
    trial = api.nurture.sequence("trial-nurture")
    # When posts say they signed up again, every day for ten weeks
    scores = []
    for _ in range(70):
        clock.advance(days=1)
        api.nurture.apply(ANA_ID, "trial-nurture", Resubmitted(confirmed=True), "resubmitted")
        record = store.get_enrollment(ANA_ID, "trial-nurture")
        scores.append(record.enrollment.score)
    # Then interest was counted on the first day and a week later, and never again
    counted = [key for key in record.enrollment.engaged if key.startswith("resubmit:") and key != "resubmit:any"]
    assert len(counted) == 2
    assert max(scores) <= trial.scoring.resubmit_cap < trial.sales_ready.score
    assert record.enrollment.status is not Status.SALES_READY


def test_a_sequence_whose_resubmits_could_reach_sales_ready_is_refused():
    # Given a sequence where what re-posts may add (resubmit_cap) reaches the sales-ready score
    yaml_text = textwrap.dedent("""\
        name: demo
        from: "Demo <hi@x.example>"
        sales_ready: {score: 10}
        scoring: {resubmit: 5, resubmit_cap: 10}
        consent: {wording: "2026-03"}
        double_opt_in: false
        steps:
          - email: welcome
        """)
    result = validate_text(yaml_text, {"welcome": "Hi!"}.get, "demo/sequence.yaml", expect_name="demo")
    # Then the validator refuses it at the cap's line, saying why
    assert result.sequence is None
    [problem] = result.problems
    assert problem.line == 4
    assert "form posts alone could make a lead sales-ready" in problem.message


def test_the_sales_ready_hand_off_carries_values_safe_for_crms_and_chat_tools():
    # Given a lead whose stored details hold what chat tools and spreadsheets would act on
    lead = Lead(
        ANA_ID,
        ANA,
        MONDAY_MORNING,
        name='=HYPERLINK("http://evil.example","Ana")',
        attributes={
            "company": "<!channel> Acme [click me](https://evil.example)\x07",
            "note": "@here " + "x" * 1000,
            "role": "+cmd|' /C calc'!A0",
            "phone": "+44 20 7946 0958",
        },
    )
    claim = MessageClaim(
        f"{ANA_ID}#trial-nurture#1#handoff",
        ANA_ID,
        "trial-nurture",
        1,
        1,
        "handoff",
        "",
        "handoff",
        MONDAY_MORNING,
        {"score": 50, "stage": "decision"},
    )
    # When the hand-off event is built
    detail = sales_ready_event(claim, lead).detail
    # Then no value starts a formula, holds markup, a link, a mention or a control character, or runs long
    attributes = dict(detail["attributes"])
    assert attributes.pop("phone") == "+44 20 7946 0958"  # a number is kept as it is
    values = [detail["name"], *attributes.values()]
    for value in values:
        assert value[:1] not in "=+-@"
        assert not set(value) & set("<>[]()|\x07")
        assert "@here" not in value
        assert "@channel" not in value
        assert "!channel" not in value
        assert len(value) <= 200
    assert detail["attributes"]["company"].startswith("channel Acme click me")
    assert detail["email"] == ANA  # the address itself is passed on as it is


# -- 3. rewriting a subscriber's profile -------------------------------------------------------------------


def test_an_anonymous_post_cannot_rewrite_a_confirmed_leads_name(api, store, clock):
    # Given Ana, confirmed, with her name, zone and company
    confirmed_signup(api, clock, name="Ana Lopez", tz="Europe/Madrid", company="Fernhill")
    # When someone posts her address a day later with a name that reads as a message, another zone and company
    clock.advance(days=1)
    post_json(
        {
            "email": ANA,
            "consent": True,
            "sequence": "trial-nurture",
            "name": "Your account is locked. Call us",
            "tz": "Pacific/Auckland",
            "company": "Call us now",
            "phone": "555",
        }
    )
    # Then her details are as she gave them; only a field she never filled is added
    lead = store.get_lead(ANA_ID)
    assert (lead.name, lead.timezone) == ("Ana Lopez", "Europe/Madrid")
    assert lead.attributes["company"] == "Fernhill"
    assert lead_view(lead)["first_name"] == "Ana"


@pytest.mark.parametrize(
    "name",
    [
        "Call 0800 123 456",
        "Ana <b>Lopez</b>",
        "http://evil.example",
        "Ana: your account is locked!",
        "Ana@evil",
        "A" * 31,
    ],
)
def test_a_name_that_is_not_a_name_is_refused(api, store, name):
    # When a post gives a name with digits, markup, a link, punctuation, or a first name over 30 letters
    answer = post_json({"email": ANA, "consent": True, "name": name})
    # Then it is refused, naming the field, and nothing is stored
    assert answer.status == 422
    assert [e["field"] for e in answer.json["errors"]] == ["name"]
    assert store.get_lead(ANA_ID) is None


def test_a_real_name_with_marks_apostrophes_hyphens_and_dots_is_accepted(api, store):
    answer = post_json({"email": ANA, "consent": True, "name": "Zoë O'Brien-Nuñez Jr."})
    assert answer.status == 201
    assert store.get_lead(ANA_ID).name == "Zoë O'Brien-Nuñez Jr."


def test_free_form_attributes_are_not_shown_in_emails_before_confirmation():
    # Given a lead created by a post nobody confirmed
    lead = Lead(ANA_ID, ANA, MONDAY_MORNING, name="Ana", attributes={"company": "Call 555 now"})
    # Then an email sees her name but none of the free-form fields
    view = lead_view(lead)
    assert view["first_name"] == "Ana"
    assert "company" not in view
    assert view["attributes"] == {}
    # ...until she confirms
    confirmed = Lead(
        ANA_ID,
        ANA,
        MONDAY_MORNING,
        attributes={"company": "Fernhill"},
        consents=(Consent(MONDAY_MORNING, confirmed_at=MONDAY_MORNING),),
    )
    assert lead_view(confirmed)["company"] == "Fernhill"


# -- 4. replacing the consent record -----------------------------------------------------------------------


def test_a_later_post_cannot_replace_the_consent_record(api, store, clock, catalog):
    # Given Ana signed up for the single opt-in ebook on its landing page
    post_json({"email": ANA, "consent": True, "sequence": "ebook-nurture", "source": "ebook-landing"})
    first = store.get_lead(ANA_ID).consents
    # When someone posts her address later, from elsewhere, claiming another wording
    clock.advance(days=3)
    post_json({"email": ANA, "consent": True, "sequence": "ebook-nurture", "source": "evil", "consent_version": "none"})
    # Then the record of her consent is still there, unchanged, as the first entry of the log
    lead = store.get_lead(ANA_ID)
    assert lead.consents[: len(first)] == first
    assert (first[0].given_at, first[0].source) == (MONDAY_MORNING, "ebook-landing")
    # and the wording is the one the sequence declares on the server, never the client's
    wording = catalog.current("ebook-nurture").consent.wording
    assert wording
    assert all(c.wording == wording for c in lead.consents)


def test_fresh_consent_after_unsubscribing_is_appended_to_the_log(api, store, clock):
    # Given Ana signed up, then unsubscribed from everything
    post_json({"email": ANA, "consent": True, "sequence": "ebook-nurture", "source": "ebook-landing"})
    lead = store.get_lead(ANA_ID)
    assert store.save_lead(replace(lead, status=LeadStatus.UNSUBSCRIBED), lead.revision)
    # When she signs up again with consent
    clock.advance(days=30)
    post_json({"email": ANA, "consent": True, "sequence": "ebook-nurture", "source": "comeback"})
    # Then both statements are kept, oldest first
    assert [c.source for c in store.get_lead(ANA_ID).consents] == ["ebook-landing", "comeback"]


# -- 8. telling whether an address is on the list ----------------------------------------------------------


def _known_in_every_way(api: App, store: InMemoryStore, clock: ManualClock) -> list[str]:
    """Addresses the list knows: enrolled, pending, suppressed and unsubscribed."""
    for email in ("enrolled@example.com", "pending@example.com", "suppressed@example.com", "gone@example.com"):
        post_json({"email": email, "consent": True, "sequence": "ebook-nurture"})
    post_json({"email": "pending@example.com", "consent": True, "sequence": "trial-nurture"})
    for email, status in (
        ("suppressed@example.com", LeadStatus.SUPPRESSED),
        ("gone@example.com", LeadStatus.UNSUBSCRIBED),
    ):
        lead = store.get_lead(lead_id_for(email))
        assert store.save_lead(replace(lead, status=status), lead.revision)
    clock.advance(days=2)
    return ["enrolled@example.com", "pending@example.com", "suppressed@example.com", "gone@example.com"]


@pytest.mark.parametrize("sequence", ["ebook-nurture", "trial-nurture"])
def test_the_answer_does_not_tell_whether_an_address_is_known(api, store, clock, sequence):
    known = _known_in_every_way(api, store, clock)
    # When the same post is made for a new address and for each known one, as JSON and as a form
    emails = ["new@example.com", *known]
    answers = [post_json({"email": email, "consent": True, "sequence": sequence}) for email in emails]
    pages = [post_form({"email": email, "consent": "on", "sequence": sequence}) for email in emails]
    # Then every answer is the same: status, headers and body (a form: the same thank-you page)
    assert answers[0].status == 201
    assert {(a.status, tuple(sorted(a.headers.items())), a.body) for a in answers} == {
        (answers[0].status, tuple(sorted(answers[0].headers.items())), answers[0].body)
    }
    assert pages[0].status == 303
    assert {(p.status, p.location, p.body) for p in pages} == {(303, pages[0].location, "")}
