"""A change that lands while the sender is busy with an email (issue 13.2): between its read of the
message, lead and enrollment and its lease there is rendering and the wait for the send rate
(seconds). A leave, a pause, a hand-off to sales, a per-sequence opt-out or a complaint landing
then must still stop the email: the lease holds only if nothing the decision read has changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ripen.core.records import Lead, LeadStatus, Message, MessageStatus, message_key
from ripen.core.state import Resubmitted, Status
from ripen.services.sender import Outcome
from ripen_dev.fakes.store import InMemoryStore
from tests.support.mailstack import Stack, make_stack
from tests.support.ses_events import event_about


class ChangesBeforeTheLease(InMemoryStore):
    """The in-memory store, letting one change land just before the sender's first lease: after
    the sender read and decided, before its lease is written."""

    def __init__(self) -> None:
        super().__init__()
        self.change: Callable[[], None] | None = None

    def lease_message(
        self,
        message: Message,
        now: datetime,
        lease_until: datetime,
        lead: Lead | None = None,
    ) -> Message | None:
        change, self.change = self.change, None
        if change is not None:
            change()
        return super().lease_message(message, now, lease_until, lead)


@pytest.fixture
def gap() -> ChangesBeforeTheLease:
    return ChangesBeforeTheLease()


@pytest.fixture
def stack(gap, clock, catalog) -> Stack:
    return make_stack(gap, clock, catalog)


def second_email_queued(stack: Stack) -> tuple[Lead, Message]:
    """Ana got the welcome email; her second one (first-dashboard) is decided and queued."""
    ana = stack.signup("ana@example.com")
    welcome = stack.sent(ana, "welcome")
    stack.timer(ana)
    key = message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard")
    assert [job.message_key for job in stack.queue.jobs] == [key]
    return ana, welcome


def enrollment_of(stack: Stack, lead: Lead):
    record = stack.store.get_enrollment(lead.lead_id, "trial-nurture")
    assert record is not None
    return record.enrollment


def test_a_lead_who_leaves_the_sequence_while_their_email_is_being_sent_does_not_get_it(stack, gap):
    # Given Ana's second email queued
    ana, _ = second_email_queued(stack)
    # When she leaves the sequence while the sender is rendering it
    gap.change = lambda: stack.app.preferences.leave(ana.lead_id, "trial-nurture")
    outcome = stack.send_queued()
    # Then it is not sent: the sender reads again and skips it, saying why
    assert outcome == [Outcome.SKIPPED]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]
    message = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard"))
    assert (message.status, message.error) == (MessageStatus.SKIPPED, "the lead left the sequence (unsubscribed)")


def test_a_lead_who_pauses_while_their_email_is_being_sent_gets_it_after_the_pause(stack, gap, clock):
    # Given Ana's second email queued
    ana, _ = second_email_queued(stack)
    # When she pauses for 14 days while the sender is rendering it
    gap.change = lambda: stack.app.preferences.pause(ana.lead_id, 14)
    outcome = stack.send_queued()
    # Then it waits for the pause's end instead of going out now
    assert outcome == [Outcome.DEFERRED]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]
    held = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard"))
    assert held.status is MessageStatus.CLAIMED
    assert held.due_at >= clock.now() + timedelta(days=14)


def test_a_lead_handed_to_sales_while_their_email_is_being_sent_does_not_get_it(stack, gap):
    # Given Ana's second email queued
    ana, welcome = second_email_queued(stack)

    # When her clicks on the welcome email make her sales-ready while the sender is rendering it
    def clicks() -> None:
        stack.clock.advance(seconds=2)  # the email was decided before: rendering takes a moment
        for minutes, link in enumerate(("pricing", "demo", "case-study")):
            at = stack.clock.now() + timedelta(minutes=minutes)
            stack.ses(event_about(welcome, "click", at=at, linkTags={"link": [link]}))

    gap.change = clicks
    outcome = stack.send_queued()
    # Then sales has her, and nurturing stopped with the email not sent
    assert enrollment_of(stack, ana).status is Status.SALES_READY
    assert outcome == [Outcome.SKIPPED]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]
    message = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard"))
    assert message.status is MessageStatus.SKIPPED
    assert message.error.startswith("the enrollment ended (sales_ready")


def test_a_lead_who_opts_out_of_the_sequence_while_their_email_is_being_sent_does_not_get_it(stack, gap):
    # Given Ana's second email queued
    ana, welcome = second_email_queued(stack)
    # When she opts out of this sequence's topic (SES subscription preferences) meanwhile
    topics = {
        "unsubscribeAll": False,
        "topicSubscriptionStatus": [{"topicName": "trial-nurture", "subscriptionStatus": "OptOut"}],
    }
    gap.change = lambda: stack.ses(event_about(welcome, "subscription", newTopicPreferences=topics))
    outcome = stack.send_queued()
    # Then she stays a subscriber, out of this sequence only, and the email is not sent
    assert stack.store.get_lead(ana.lead_id).status is LeadStatus.ACTIVE
    assert outcome == [Outcome.SKIPPED]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]


def second_confirmation_queued(stack: Stack) -> tuple[Lead, Message]:
    """Ana signed up without confirming, got the confirmation, and an hour later signed up again:
    a second confirmation is decided and queued."""
    ana = stack.signup("ana@example.com", confirmed=False)
    assert stack.send_queued() == [Outcome.SENT]
    first = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "confirm"))
    stack.clock.advance(hours=2)
    assert stack.app.nurture.apply(ana.lead_id, "trial-nurture", Resubmitted(), "resubmitted").applied
    assert len(stack.queue.jobs) == 1
    return ana, first


def test_a_complaint_about_the_first_confirmation_stops_the_second_one_being_sent(stack, gap):
    # Given a second confirmation queued for Ana
    ana, first = second_confirmation_queued(stack)
    # When she complains about the first one while the sender is rendering the second
    gap.change = lambda: stack.ses(event_about(first, "complaint"))
    outcome = stack.send_queued()
    # Then the second is never sent: she is suppressed for good
    assert stack.store.get_lead(ana.lead_id).status is LeadStatus.SUPPRESSED
    assert outcome == [Outcome.SKIPPED]
    assert len(stack.outbox.emails) == 1


def test_a_confirmation_is_not_sent_once_the_lead_is_suppressed_while_it_is_being_sent(stack, gap):
    # Given a second confirmation queued for Ana
    ana, _ = second_confirmation_queued(stack)

    # When only her lead changes meanwhile (suppressed; her enrollment not stopped yet)
    def suppressed() -> None:
        lead = stack.store.get_lead(ana.lead_id)
        assert stack.store.save_lead(replace(lead, status=LeadStatus.SUPPRESSED), lead.revision)

    gap.change = suppressed
    outcome = stack.send_queued()
    # Then the confirmation is not sent
    assert outcome == [Outcome.SKIPPED]
    assert len(stack.outbox.emails) == 1


def test_a_confirmation_is_not_sent_again_once_the_lead_confirmed_while_it_was_being_sent(stack, gap):
    # Given a second confirmation queued for Ana
    ana, _ = second_confirmation_queued(stack)
    # When she clicks the first one's confirm link while the sender is rendering the second
    gap.change = lambda: stack.app.signup.confirm(ana.lead_id, "trial-nurture")
    outcome = stack.send_queued()
    # Then the second is skipped (already confirmed) and her welcome email is the next to go out
    assert enrollment_of(stack, ana).status is Status.ACTIVE
    assert outcome == [Outcome.SKIPPED]
    assert [e.tags["kind"] for e in stack.outbox.emails] == ["confirmation"]
    assert stack.send_queued() == [Outcome.SENT]
    assert [e.tags["step"] for e in stack.outbox.emails][-1] == "welcome"


class ChangesJustAfterTheLease(InMemoryStore):
    """The in-memory store, letting one change land just after the sender's first lease is written,
    before SES is called (the lease itself no longer reads the enrollment: the sender does, after)."""

    def __init__(self) -> None:
        super().__init__()
        self.change: Callable[[], None] | None = None

    def lease_message(
        self, message: Message, now: datetime, lease_until: datetime, lead: Lead | None = None
    ) -> Message | None:
        leased = super().lease_message(message, now, lease_until, lead)
        change, self.change = self.change, None
        if leased is not None and change is not None:
            change()
        return leased


def test_a_lead_who_leaves_just_after_the_lease_is_taken_does_not_get_the_email(clock, catalog):
    # Given Ana's second email queued, and a sender about to lease it
    late = ChangesJustAfterTheLease()
    stack = make_stack(late, clock, catalog)
    ana, _ = second_email_queued(stack)
    # When she leaves the sequence just after the lease is written, before SES is called
    late.change = lambda: stack.app.preferences.leave(ana.lead_id, "trial-nurture")
    outcome = stack.send_queued()
    # Then it is not sent: the sender reads the enrollment again, gives the lease back and skips it
    assert outcome == [Outcome.SKIPPED]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]
    message = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard"))
    assert (message.status, message.error) == (MessageStatus.SKIPPED, "the lead left the sequence (unsubscribed)")


def test_a_lead_who_pauses_just_after_the_lease_is_taken_gets_the_email_after_the_pause(clock, catalog):
    # Given Ana's second email queued, and a sender about to lease it
    late = ChangesJustAfterTheLease()
    stack = make_stack(late, clock, catalog)
    ana, _ = second_email_queued(stack)
    # When she pauses for 14 days just after the lease is written
    late.change = lambda: stack.app.preferences.pause(ana.lead_id, 14)
    outcome = stack.send_queued()
    # Then it waits for the pause's end: given back, claimed, due after the pause
    assert outcome == [Outcome.DEFERRED]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]
    held = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard"))
    assert held.status is MessageStatus.CLAIMED
    assert held.due_at >= clock.now() + timedelta(days=14)
