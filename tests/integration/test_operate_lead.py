"""`ripen lead show|export|forget` on DynamoDB Local, on stack state the real services made: a scripted
lead's story, the GDPR export, and an erasure that leaves nothing a scan of every table can find, yet
keeps an opt-out so the person is never emailed again."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ripen.core.leads import lead_id_for
from ripen.core.records import LeadStatus
from ripen.models.signup import Limits, parse_signup
from ripen.services.signup import CaptureStatus
from ripen_dev.cli import main
from ripen_dev.operate.lead import export, forget, held, story, story_text
from tests.support.ids import LEAD_ID_KEY
from tests.support.mailstack import Stack
from tests.support.operate import operated_stack, scan_every_table, tables_mentioning
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA, LEAD_ID_KEY.encode())


def signed_up(stack: Stack, email: str = ANA, consent: bool = True) -> CaptureStatus:
    """A signup through the form's path: the signup service, with the signup limits counting."""
    form = parse_signup({"email": email, "name": "Ana", "consent": consent, "sequence": "trial-nurture"}, Limits())
    limits = stack.app.signup_limits
    assert limits is not None
    return stack.app.signup.capture(form, admit=limits.admission("192.0.2.10", form.email)).status


def scripted_lead(stack: Stack) -> None:
    """Ana signs up, confirms, gets the welcome email, opens it and clicks its dashboard link."""
    assert signed_up(stack) is CaptureStatus.PENDING_CONFIRMATION
    stack.send_queued()  # the confirmation
    stack.clock.advance(minutes=3)
    stack.app.signup.confirm(ANA_ID, "trial-nurture")
    lead = stack.store.get_lead(ANA_ID)
    assert lead is not None
    welcome = stack.sent(lead, "welcome")
    later = welcome.sent_at + timedelta(minutes=30)
    stack.ses(
        sqs_batch(
            event_about(welcome, "send"),
            event_about(welcome, "delivery"),
            event_about(welcome, "open", at=later),
            event_about(welcome, "click", at=later + timedelta(minutes=1)),
        )
    )


def test_the_story_of_a_scripted_lead_shows_consent_enrollment_and_every_email_with_its_events(
    dynamo_settings, clock, catalog
):
    stack = operated_stack(dynamo_settings, clock, catalog)
    # Given Ana's scripted signup, confirmation, welcome email, open and click
    scripted_lead(stack)
    # When the operator looks her up
    s = story(stack.app, held(stack.app, "  Ana@Example.com "))
    # Then her consent shows when it was given and confirmed
    [consent] = s["consents"]
    assert consent["method"] == "form"
    assert consent["confirmed_at"] == "2026-03-02T09:33:00+00:00"
    # And her enrollment its state, stage and next timer
    [enrollment] = s["enrollments"]
    assert enrollment["sequence"] == "trial-nurture"
    assert enrollment["status"] == "active"
    assert enrollment["score"] > 0
    assert enrollment["stage"]
    assert enrollment["next_timer"]
    # And the timeline each email with its subject and SES events, in order
    emails = [t for t in s["timeline"] if t["kind"] != "decision"]
    assert [(e["step"], e["status"]) for e in emails] == [("confirm", "sent"), ("welcome", "sent")]
    assert emails[1]["subject"]
    assert [ev["type"] for ev in emails[1]["events"]] == [
        "send",
        "delivery",
        "open",
        "click",
    ]
    # And each decision with its reasons, the click's score change among them
    decisions = [t for t in s["timeline"] if t["kind"] == "decision"]
    assert [d["trigger"] for d in decisions][:2] == ["signup", "confirmed"]
    assert any(d["score_changes"] for d in decisions)
    assert all(d["reasons"] for d in decisions)
    text = story_text(s)
    assert "welcome" in text
    assert "because" in text
    assert "next timer" in text


def test_the_export_holds_everything_stored_about_the_person(dynamo_settings, clock, catalog):
    stack = operated_stack(dynamo_settings, clock, catalog)
    scripted_lead(stack)
    data = export(held(stack.app, ANA))
    assert data["lead"]["email"] == ANA
    assert data["lead"]["name"] == "Ana"
    assert {m["claim"]["step"] for m in data["messages"]} == {"confirm", "welcome"}
    assert len(data["history"]) >= 3
    assert data["enrollments"][0]["enrollment"]["sequence"] == "trial-nurture"
    json.dumps(data)  # plain data throughout


def test_forget_leaves_nothing_any_table_scan_finds_yet_an_unsubscribe_outlives_it(dynamo_settings, clock, catalog):
    stack = operated_stack(dynamo_settings, clock, catalog)
    # Given Ana's story, and her unsubscribing from everything
    scripted_lead(stack)
    stack.app.preferences.unsubscribe(ANA_ID, "link")
    assert tables_mentioning(dynamo_settings, ANA, ANA_ID)  # (the scan does find what is there)
    # When the operator erases her
    report = forget(stack.app, ANA)
    # Then no table holds her address, her name or her lead id
    assert report["found"]
    assert report["deleted"] >= 6
    assert report["kept"] == "unsubscribed"
    assert report["limit_counters_deleted"] >= 1
    assert tables_mentioning(dynamo_settings, ANA, "Ana", ANA_ID, "example.com") == {}
    # And only the keyed hash of her opt-out stays
    [kept] = scan_every_table(dynamo_settings)["LeadsTable"]
    assert kept["lead_id"]["S"].startswith("erased#er_")
    assert kept["status"]["S"] == "unsubscribed"


def test_forget_again_or_of_an_unknown_address_is_safe_and_writes_nothing(dynamo_settings, clock, catalog):
    stack = operated_stack(dynamo_settings, clock, catalog)
    scripted_lead(stack)
    forget(stack.app, ANA)
    before = scan_every_table(dynamo_settings)
    # When it runs again, and for an address never seen
    again, unknown = forget(stack.app, ANA), forget(stack.app, "nobody@example.com")
    # Then both say nothing was held, and nothing changed
    assert (again["found"], again["deleted"], again["kept"]) == (False, 0, None)
    assert (unknown["found"], unknown["deleted"], unknown["kept"]) == (False, 0, None)
    assert scan_every_table(dynamo_settings) == before


def test_a_complaint_keeps_the_address_suppressed_after_forget_even_with_fresh_consent(dynamo_settings, clock, catalog):
    stack = operated_stack(dynamo_settings, clock, catalog)
    scripted_lead(stack)
    welcome = stack.message(f"{ANA_ID}#trial-nurture#1#welcome")
    stack.ses(sqs_batch(event_about(welcome, "complaint")))
    assert forget(stack.app, ANA)["kept"] == "suppressed"
    assert signed_up(stack, consent=True) is CaptureStatus.NOT_ENROLLED
    assert stack.app.store.get_lead(ANA_ID) is None
    assert stack.queue.drain() == []


def test_an_unsubscribed_person_forgotten_comes_back_only_through_a_new_confirmation(dynamo_settings, clock, catalog):
    stack = operated_stack(dynamo_settings, clock, catalog)
    scripted_lead(stack)
    stack.app.preferences.unsubscribe(ANA_ID, "link")
    forget(stack.app, ANA)
    stack.clock.advance(days=2)
    # When she signs up again with fresh consent
    assert signed_up(stack, consent=True) is CaptureStatus.PENDING_CONFIRMATION
    # Then she gets a confirmation email and nothing else until she confirms
    assert [job.message_key.rsplit("#", 1)[1] for job in stack.queue.drain()] == ["confirm"]
    lead = stack.app.store.get_lead(ANA_ID)
    assert lead is not None
    assert lead.status is LeadStatus.UNSUBSCRIBED


def test_the_commands_find_the_tables_through_the_functions_environment(
    dynamo_settings, clock, catalog, monkeypatch, capsys
):
    stack = operated_stack(dynamo_settings, clock, catalog)
    scripted_lead(stack)
    for name, value in stack.app.settings.model_dump(by_alias=True).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    assert main(["lead", "show", ANA, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lead_id"] == ANA_ID
    assert main(["lead", "show", "not an address"]) == 1
    assert capsys.readouterr().err.startswith("ripen: not an email address")
    assert main(["lead", "forget", ANA]) == 0
    assert "erased" in capsys.readouterr().out
    assert main(["lead", "forget", ANA]) == 0
    assert "nothing held" in capsys.readouterr().out
