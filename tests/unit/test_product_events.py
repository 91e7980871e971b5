"""Product events (`Lead Event`) move leads as their sequences say: once per id, by when they happened,
never creating a lead, and through the events function as SQS delivers them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ripen.core.events import GOAL_REACHED, EventOutcome, LeadEvent
from ripen.core.records import Consent, Lead
from ripen.core.state import Status
from ripen.handlers import events as events_handler
from ripen.services.product_events import (
    EVENTS_APPLIED,
    EVENTS_DUPLICATE,
    EVENTS_REFUSED,
    EVENTS_UNKNOWN_LEAD,
    EVENTS_UNKNOWN_NAME,
    LEADS_CONVERTED,
    LEADS_ENROLLED_BY_EVENT,
)
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS
from tests.support.ids import lead_id_for

_ids = iter(range(1, 10_000))


def lead_event(stack, email: str | None, name: str, ago: timedelta = timedelta(0), **fields) -> LeadEvent:
    return LeadEvent(
        event_id=fields.pop("event_id", f"evt-{next(_ids)}"),
        name=name,
        occurred_at=stack.clock.now() - ago,
        email=email,
        **fields,
    )


def status(stack, email: str, sequence: str = "trial-nurture") -> Status:
    record = stack.store.get_enrollment(lead_id_for(email), sequence)
    assert record is not None
    return record.enrollment.status


def test_the_goal_event_ends_the_trial_as_a_conversion_counted_and_on_the_timeline(stack):
    # Given a trial lead who got the welcome email
    lead = stack.signup("ana@example.com")
    stack.sent(lead, "welcome")
    stack.clock.advance(days=2)
    # When the product reports the conversion
    result = stack.app.product_events.apply(lead_event(stack, "ana@example.com", "trial_converted"))
    # Then the enrollment ends as a conversion and no further email goes out
    assert result.outcome is EventOutcome.APPLIED
    assert result.converted == ["trial-nurture"]
    assert status(stack, "ana@example.com") is Status.GOAL_REACHED
    stack.clock.advance(days=20)
    assert not stack.timer(lead)
    # And it is counted against the latest email the lead got, and in the metrics
    assert (
        stack.stats.total("trial-nurture", GOAL_REACHED, step="first-dashboard")
        + stack.stats.total("trial-nurture", GOAL_REACHED, step="welcome")
        == 1
    )
    assert stack.metrics.counts[LEADS_CONVERTED] == 1
    assert stack.metrics.per_sequence[("trial-nurture", LEADS_CONVERTED)] == 1  # the per-sequence widgets
    # And the lead's history says why
    [entry] = [h for h in stack.store.history_of(lead.lead_id) if h.trigger == "event trial_converted"]
    assert "goal reached: goal 'trial_converted' reached" in entry.lines


def test_the_same_event_id_twice_is_one_event(stack):
    # Given a lead on the trial
    stack.signup("ana@example.com")
    event = lead_event(stack, "ana@example.com", "pricing_page_viewed", event_id="evt-pricing-1")
    # When the same event arrives twice
    first = stack.app.product_events.apply(event)
    second = stack.app.product_events.apply(event)
    # Then it scores once
    assert (first.outcome, second.outcome) == (EventOutcome.APPLIED, EventOutcome.DUPLICATE)
    record = stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture")
    assert record.enrollment.score == 10
    assert stack.metrics.counts[EVENTS_DUPLICATE] == 1


def test_an_event_for_an_unknown_lead_creates_nobody(stack):
    result = stack.app.product_events.apply(lead_event(stack, "nobody@example.com", "trial_converted"))
    assert result.outcome is EventOutcome.UNKNOWN_LEAD
    assert stack.store.get_lead(lead_id_for("nobody@example.com")) is None
    assert stack.metrics.counts[EVENTS_UNKNOWN_LEAD] == 1


def test_an_event_no_sequence_uses_is_accepted_counted_and_changes_nothing(stack):
    stack.signup("ana@example.com")
    before = stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture")
    result = stack.app.product_events.apply(lead_event(stack, "ana@example.com", "logged_in"))
    assert result.outcome is EventOutcome.APPLIED
    assert result.moved == []
    assert stack.metrics.counts[EVENTS_UNKNOWN_NAME] == 1
    assert stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture") == before


def test_an_event_older_than_the_ids_are_kept_is_refused(stack):
    stack.signup("ana@example.com")
    result = stack.app.product_events.apply(lead_event(stack, "ana@example.com", "trial_converted", timedelta(days=31)))
    assert result.outcome is EventOutcome.TOO_OLD
    assert status(stack, "ana@example.com") is Status.ACTIVE


def test_a_booked_demo_skips_the_pricing_pitch(stack):
    # Given a trial lead who never clicked pricing and just got the power-user tips
    lead = stack.signup("ana@example.com")
    stack.sent(lead, "power-user-tips")
    # When they book a demo
    stack.clock.advance(hours=4)
    stack.app.product_events.apply(lead_event(stack, "ana@example.com", "demo_booked"))
    # Then the sequence goes straight to the trial countdown (no pricing follow-up, ever)
    record = stack.store.get_enrollment(lead.lead_id, "trial-nurture")
    assert record.enrollment.cursor == "countdown"
    assert record.enrollment.score >= 25
    stack.sent(lead, "trial-ending")
    assert stack.store.get_message(f"{lead.lead_id}#trial-nurture#1#pricing-followup") is None


def test_attributes_in_an_event_update_the_lead_and_what_the_sequence_sees(stack):
    lead = stack.signup("ana@example.com", attributes={"company": "Fernhill"})
    event = lead_event(stack, "ana@example.com", "logged_in", attributes={"plan": "team"})
    stack.app.product_events.apply(event)
    assert stack.store.get_lead(lead.lead_id).attributes == {"company": "Fernhill", "plan": "team"}


def test_a_trigger_event_enrolls_a_confirmed_lead_of_another_sequence(stack):
    # Given a reader of the ebook sequence who confirmed their address
    stack.signup("ben@example.com", sequence="ebook-nurture", confirmed=True)
    # When they start a trial
    stack.clock.advance(days=1)
    result = stack.app.product_events.apply(lead_event(stack, "ben@example.com", "trial_started"))
    # Then the ebook sequence reached its goal, and the trial sequence began without asking again
    assert status(stack, "ben@example.com", "ebook-nurture") is Status.GOAL_REACHED
    assert result.enrolled == ["trial-nurture"]
    assert stack.metrics.counts[LEADS_ENROLLED_BY_EVENT] == 1
    assert status(stack, "ben@example.com") is Status.ACTIVE
    history = stack.store.history_of(lead_id_for("ben@example.com"))
    assert any(h.trigger == "event trial_started" and h.sequence == "trial-nurture" for h in history)


def test_a_trigger_never_skips_the_double_opt_in_of_the_sequence_it_starts(stack):
    # Given a reader of the single opt-in ebook sequence who never confirmed an address
    stack.signup("ben@example.com", sequence="ebook-nurture", confirmed=False)
    # When they start a trial (trial-nurture asks for double opt-in)
    result = stack.app.product_events.apply(lead_event(stack, "ben@example.com", "trial_started"))
    # Then they are not enrolled in it: consent for it was never confirmed
    assert result.enrolled == []
    assert stack.store.get_enrollment(lead_id_for("ben@example.com"), "trial-nurture") is None


def test_a_trigger_never_enrolls_a_lead_without_consent(stack):
    # Given a lead on record without any statement of consent (e.g. imported without one)
    now = stack.clock.now()
    stack.store.create_lead(Lead(lead_id_for("cy@example.com"), "cy@example.com", now))
    # When a trial_started event names them
    result = stack.app.product_events.apply(lead_event(stack, "cy@example.com", "trial_started"))
    # Then nobody is enrolled
    assert result.enrolled == []
    assert stack.store.get_enrollment(lead_id_for("cy@example.com"), "trial-nurture") is None


def test_a_trigger_does_not_count_as_a_new_signup_for_a_lead_already_in_the_sequence(stack):
    stack.signup("ana@example.com")
    before = stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture")
    result = stack.app.product_events.apply(lead_event(stack, "ana@example.com", "trial_started"))
    assert result.enrolled == []
    assert stack.store.get_enrollment(lead_id_for("ana@example.com"), "trial-nurture") == before


def test_a_confirmed_lead_enrolled_by_a_trigger_gets_the_first_email(stack):
    now = stack.clock.now()
    consent = Consent(given_at=now, confirmed_at=now)
    stack.store.create_lead(Lead(lead_id_for("di@example.com"), "di@example.com", now, consents=(consent,)))
    stack.app.product_events.apply(lead_event(stack, "di@example.com", "trial_started"))
    lead = stack.store.get_lead(lead_id_for("di@example.com"))
    stack.sent(lead, "welcome")


# -- the events function, as SQS delivers the events bus's rule ------------------------------------------


def sample() -> dict:
    return json.loads((EVENTS / "sqs" / "lead-events.json").read_text())


@pytest.fixture
def leads(stack):
    stack.clock.set(stack.clock.now().replace(year=2026, month=3, day=2, hour=9))
    ana = stack.signup("ana@example.com")
    ben = stack.signup("ben@example.com")
    stack.clock.set(stack.clock.now().replace(day=11, hour=12))
    return ana, ben


def test_the_events_function_applies_a_batch_once_each_and_skips_what_is_not_an_event(stack, leads):
    _, ben = leads
    # When the sample batch arrives (a conversion, a demo booking with attributes, the conversion
    # again, and an event without an id)
    answer = events_handler.handler(sample(), LambdaContext())
    # Then nothing is retried, each good event was applied once, and the bad one was counted
    assert answer == {"batchItemFailures": []}
    assert status(stack, "ana@example.com") is Status.GOAL_REACHED
    assert stack.metrics.counts[EVENTS_APPLIED] == 2
    assert stack.metrics.counts[EVENTS_DUPLICATE] == 1
    assert stack.metrics.counts[EVENTS_REFUSED] == 1
    assert stack.store.get_lead(ben.lead_id).attributes == {"company_size": "40", "role": "head-of-data"}
    assert stack.metrics.flushes == 1


def test_an_event_another_attempt_holds_comes_back_later(stack, leads):
    _ = leads
    batch = sample()
    first = batch["Records"][0]
    body = json.loads(first["body"])
    stack.app.event_ids.claim(
        body["detail"]["id"],
        stack.clock.now(),
        stack.clock.now() + timedelta(minutes=2),
        stack.clock.now() + timedelta(days=30),
    )
    answer = events_handler.handler({"Records": [first]}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert status(stack, "ana@example.com") is Status.ACTIVE


def test_a_conversion_after_an_ab_tested_email_counts_for_the_variant_the_lead_got(clock, tmp_path):
    import re
    import shutil

    from ripen.adapters.templates import load_catalog
    from ripen.app import use
    from ripen.core.experiments import chosen_email
    from ripen_dev.fakes.store import InMemoryStore
    from tests.conftest import TEMPLATES
    from tests.support.mailstack import make_stack

    # Given the trial's welcome email is an A/B test
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    folder = templates / "trial-nurture"
    (folder / "welcome-short.md").write_text((folder / "welcome.md").read_text())
    sequence_file = folder / "sequence.yaml"
    sequence_file.write_text(
        re.sub(
            r"^  - email: welcome\b.*$",
            "  - email: welcome\n    variants: {welcome: 1, welcome-short: 1}",
            sequence_file.read_text(),
            count=1,
            flags=re.MULTILINE,
        )
    )
    stack = make_stack(InMemoryStore(), clock, load_catalog(templates))
    use(stack.app)
    try:
        # When two leads who got only the welcome email convert
        for email in ("ana@example.com", "cy@example.com"):
            stack.signup(email)
            stack.app.product_events.apply(lead_event(stack, email, "trial_converted"))
        # Then each conversion counts under the variant that lead got, as its opens and clicks do
        sequence = stack.app.catalog.current("trial-nurture")
        for email in ("ana@example.com", "cy@example.com"):
            _, variant = chosen_email(lead_id_for(email), sequence, "welcome")
            assert variant in {"welcome", "welcome-short"}
        by_variant = {
            v: stack.stats.total("trial-nurture", GOAL_REACHED, step=f"welcome~{v}")
            for v in ("welcome", "welcome-short")
        }
        expected = {"welcome": 0, "welcome-short": 0}
        for email in ("ana@example.com", "cy@example.com"):
            expected[chosen_email(lead_id_for(email), sequence, "welcome")[1] or ""] += 1
        assert by_variant == expected
        assert stack.stats.total("trial-nurture", GOAL_REACHED, step="welcome") == 0
    finally:
        use(None)
