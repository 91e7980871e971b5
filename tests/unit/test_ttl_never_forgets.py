"""Time to live deletes what may go, never what must be remembered: a suppression or an unsubscribe
outlives the never-confirmed lead it was written on, and a run that was never confirmed does not keep
a copy of the lead forever. The store deletes every expired item at chosen moments, as DynamoDB may
at any moment after an item's TTL passes."""

from __future__ import annotations

import pytest

from ripen.adapters import tables
from ripen.core.records import UNCONFIRMED_RUN_OUTLIVES_ITS_MESSAGES, LeadStatus, MessageStatus, message_key
from ripen.core.state import Status
from ripen.handlers import engagement
from ripen.models.signup import Limits, parse_signup
from ripen.services.signup import Capture, CaptureStatus, ConfirmStatus
from ripen_dev.fakes.store import RETENTION, InMemoryStore
from ripen_dev.local import cfn, resources
from ripen_dev.local.http import LambdaContext
from tests.conftest import REPO
from tests.support.ids import lead_id_for
from tests.support.mailstack import Stack
from tests.support.ses_events import event_about


def handler(event: dict, context: object = None) -> dict:
    """The engagement function, invoked as Lambda does (with a context)."""
    return engagement.handler(event, context or LambdaContext())


ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)
CONFIRM = message_key(ANA_ID, "trial-nurture", 1, "confirm")
TEMPLATE = REPO / "template.yaml"


def sign_up(stack: Stack, sequence: str, **fields: str) -> Capture:
    values = {"email": ANA, "consent": True, "tz": "Europe/Berlin", "sequence": sequence, **fields}
    return stack.app.signup.capture(parse_signup(values, Limits()))


def store_of(stack: Stack) -> InMemoryStore:
    assert isinstance(stack.store, InMemoryStore)
    return stack.store


def confirmation_sent_never_confirmed(stack: Stack) -> None:
    """Ana signs up for the trial (double opt-in) and gets the confirmation email; she never confirms."""
    assert sign_up(stack, "trial-nurture", company="Fernhill").status is CaptureStatus.PENDING_CONFIRMATION
    stack.send_queued()
    assert stack.message(CONFIRM).status is MessageStatus.SENT


def months_later(stack: Stack, days: int = 45) -> None:
    """Time passes, every timer fires, and time to live deletes whatever has expired."""
    stack.clock.advance(days=days)
    stack.app.sweep.run()
    stack.send_queued()
    store_of(stack).expire_items(stack.clock.now())


def emails_to_ana(stack: Stack, sequence: str | None = None) -> list[str]:
    """The steps of the emails sent to Ana (of one sequence), in the order sent."""
    sent = [m for m in store_of(stack).messages.values() if m.status is MessageStatus.SENT]
    return [
        m.claim.step
        for m in sorted(sent, key=lambda m: m.sent_at or m.claim.created_at)
        if sequence in (None, m.claim.sequence)
    ]


# -- a suppression outlives the never-confirmed lead ----------------------------------------------------


@pytest.mark.parametrize(("event", "fields"), [
    ("complaint", {}),
    ("bounce-permanent", {}),
])  # fmt: skip
def test_given_a_complaint_or_hard_bounce_on_the_confirmation_when_ttl_has_run_then_a_new_signup_gets_no_email(
    stack, event, fields
):
    # Given Ana complained about the confirmation email (or it bounced for good)
    confirmation_sent_never_confirmed(stack)
    handler(event_about(stack.message(CONFIRM), event, **fields), None)
    assert stack.store.get_lead(ANA_ID).status is LeadStatus.SUPPRESSED
    # When months pass and time to live deletes whatever has expired
    months_later(stack)
    # Then a signup for a sequence without double opt-in sends nothing at all
    capture = sign_up(stack, "ebook-nurture")
    stack.send_queued()
    assert capture.status is CaptureStatus.NOT_ENROLLED
    assert stack.queue.jobs == []
    assert emails_to_ana(stack) == ["confirm"]
    assert stack.store.get_lead(ANA_ID).status is LeadStatus.SUPPRESSED


def test_given_the_lead_was_deleted_when_a_late_complaint_arrives_then_the_address_is_suppressed_for_good(stack):
    # Given Ana never confirmed and time to live deleted her lead
    confirmation_sent_never_confirmed(stack)
    months_later(stack)
    assert stack.store.get_lead(ANA_ID) is None
    # When her complaint about the confirmation email arrives late (the message is kept longer)
    handler(event_about(stack.message(CONFIRM), "complaint", at=stack.clock.now()), None)
    months_later(stack)
    # Then no signup brings email to the address again
    assert sign_up(stack, "ebook-nurture").status is CaptureStatus.NOT_ENROLLED
    stack.send_queued()
    assert emails_to_ana(stack) == ["confirm"]


def test_given_the_lead_was_deleted_when_a_late_ses_unsubscribe_arrives_then_only_a_confirmation_is_sent(stack):
    confirmation_sent_never_confirmed(stack)
    months_later(stack)
    handler(event_about(stack.message(CONFIRM), "subscription", at=stack.clock.now()), None)
    months_later(stack)
    assert stack.store.get_lead(ANA_ID).status is LeadStatus.UNSUBSCRIBED
    assert sign_up(stack, "ebook-nurture").status is CaptureStatus.PENDING_CONFIRMATION
    stack.send_queued()
    assert emails_to_ana(stack, "ebook-nurture") == ["confirm"]


def test_given_the_lead_was_deleted_when_a_late_complaint_names_another_address_then_nothing_is_stored(stack):
    confirmation_sent_never_confirmed(stack)
    months_later(stack)
    someone_else = {"complainedRecipients": [{"emailAddress": "bo@example.com"}]}
    event = event_about(stack.message(CONFIRM), "complaint", at=stack.clock.now(), **someone_else)
    event["detail"]["mail"]["destination"] = ["bo@example.com"]
    handler(event, None)
    assert stack.store.get_lead(ANA_ID) is None
    assert stack.store.get_lead(lead_id_for("bo@example.com")) is None


# -- what time to live may delete is declared on every table ---------------------------------------------


@pytest.mark.parametrize(
    ("table", "model"),
    [
        ("LeadsTable", "leads"),
        ("EnrollmentsTable", "enrollments"),
        ("MessagesTable", "messages"),
        ("HistoryTable", "history"),
    ],
)
def test_every_ttl_attribute_the_store_writes_is_enabled_on_its_table_in_the_template(table, model):
    declared = cfn.resources_of_type(cfn.load_template(TEMPLATE), resources.TABLE)[table]
    ttl = tables.MODELS[model]._ttl_attribute()
    assert ttl is not None
    assert cfn.ttl_attribute(declared) == ttl.attr_name


# -- an unsubscribe outlives it too: only a confirmed signup brings email again -------------------------


def unsubscribe_by_link(stack: Stack) -> None:
    stack.app.preferences.unsubscribe(ANA_ID, "one-click unsubscribe", CONFIRM)


def unsubscribe_by_ses(stack: Stack) -> None:
    handler(event_about(stack.message(CONFIRM), "subscription"), None)


@pytest.mark.parametrize("unsubscribe", [unsubscribe_by_link, unsubscribe_by_ses])
def test_given_an_unsubscribe_from_the_confirmation_when_ttl_has_run_then_a_new_signup_sends_one_confirmation(
    stack, unsubscribe
):
    # Given Ana unsubscribed from the confirmation email
    confirmation_sent_never_confirmed(stack)
    unsubscribe(stack)
    assert stack.store.get_lead(ANA_ID).status is LeadStatus.UNSUBSCRIBED
    # When months pass and time to live deletes whatever has expired
    months_later(stack)
    # Then a signup for a sequence without double opt-in sends one confirmation email
    capture = sign_up(stack, "ebook-nurture", consent_version="2026-05")
    assert capture.status is CaptureStatus.PENDING_CONFIRMATION
    stack.send_queued()
    assert emails_to_ana(stack, "ebook-nurture") == ["confirm"]
    # and nothing else while it is not confirmed: a reminder, then the signup expires
    for _ in range(10):
        months_later(stack, days=1)
    assert emails_to_ana(stack, "ebook-nurture") == ["confirm", "confirm-2"]
    months_later(stack, days=60)
    assert emails_to_ana(stack, "ebook-nurture") == ["confirm", "confirm-2"]
    assert stack.store.get_lead(ANA_ID).status is LeadStatus.UNSUBSCRIBED


@pytest.mark.parametrize("unsubscribe", [unsubscribe_by_link, unsubscribe_by_ses])
def test_given_an_unsubscribed_lead_when_she_confirms_a_fresh_signup_then_the_sequence_starts(stack, unsubscribe):
    confirmation_sent_never_confirmed(stack)
    unsubscribe(stack)
    months_later(stack)
    sign_up(stack, "ebook-nurture", consent_version="2026-05")
    assert stack.app.signup.confirm(ANA_ID, "ebook-nurture").status is ConfirmStatus.CONFIRMED
    stack.send_queued()
    assert "ebook-delivery" in emails_to_ana(stack)
    # and the confirmed lead is no longer meant to expire
    months_later(stack, days=400)
    assert stack.store.get_lead(ANA_ID).status is LeadStatus.ACTIVE


# -- a run never confirmed goes too, and holds no copy of the lead meanwhile ----------------------------


def test_given_a_run_never_confirmed_when_it_expires_then_it_keeps_no_copy_of_the_lead(stack):
    confirmation_sent_never_confirmed(stack)
    months_later(stack)
    record = stack.store.get_enrollment(ANA_ID, "trial-nurture")
    assert record is not None
    assert record.enrollment.status is Status.EXPIRED
    assert (dict(record.attributes), record.timezone, record.recent_emails) == ({}, None, ())
    assert stack.store.get_lead(ANA_ID) is None  # the lead itself went with its TTL


def test_given_a_run_never_confirmed_when_its_messages_are_gone_then_time_to_live_deletes_it(stack):
    # Given a run that expired unconfirmed
    confirmation_sent_never_confirmed(stack)
    months_later(stack)
    # When the retention of its messages has passed, and the margin after
    months_later(stack, days=(RETENTION + UNCONFIRMED_RUN_OUTLIVES_ITS_MESSAGES).days)
    # Then nothing is left of it (neither the enrollment nor its messages and history)
    assert stack.store.enrollments_of(ANA_ID) == []
    assert stack.store.get_message(CONFIRM) is None
    assert stack.store.history_of(ANA_ID) == []
    # and a new signup starts over with a confirmation email, as for anyone new
    assert sign_up(stack, "trial-nurture").status is CaptureStatus.PENDING_CONFIRMATION
    stack.send_queued()
    assert emails_to_ana(stack) == ["confirm"]


def test_given_an_expired_run_whose_messages_are_still_kept_then_time_to_live_keeps_its_run_number(stack):
    # The run number names the run's messages: a new run must never reuse the keys of messages still stored.
    confirmation_sent_never_confirmed(stack)
    months_later(stack, days=RETENTION.days - 30)
    assert stack.store.get_message(CONFIRM) is not None
    assert stack.store.get_enrollment(ANA_ID, "trial-nurture") is not None
    assert sign_up(stack, "trial-nurture").status is CaptureStatus.PENDING_CONFIRMATION
    assert [j.message_key for j in stack.queue.jobs] == [message_key(ANA_ID, "trial-nurture", 2, "confirm")]


def test_given_a_confirmed_lead_then_time_to_live_never_deletes_it_or_its_enrollments(stack):
    lead = stack.signup(ANA, name="Ana Lopez")
    months_later(stack, days=RETENTION.days + 60)
    assert stack.store.get_lead(lead.lead_id) is not None
    assert [r.enrollment.sequence for r in stack.store.enrollments_of(lead.lead_id)] == ["trial-nurture"]
