"""Engagement as real traffic delivers it: a Delivery and its Open in different batches, one email
opened and clicked thousands of times, a message item that cannot take another write, soft bounces
with deliveries in between."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ripen.core.engagement import SoftBounceRule, after_soft_bounce
from ripen.core.records import SEEN_KEPT, LeadStatus, Message
from ripen.core.state import Status
from ripen.ports.store import MessageFullError
from tests.support.ses_events import event_about, sqs_batch


@pytest.fixture
def ana(stack):
    return stack.signup("ana@example.com", name="Ana Lopez")


@pytest.fixture
def case_study(stack, ana):
    return stack.sent(ana, "case-study")


def counts(stack, step="case-study"):
    totals: dict[str, int] = {}
    for row in stack.stats.rows("trial-nurture", step=step):
        for name, n in row.counts.items():
            totals[name] = totals.get(name, 0) + n
    return totals


# -- 13.3: an open judged against the delivery, whichever batch brought it -------------------------------


@pytest.mark.parametrize("batches", ["one batch", "two batches"])
def test_a_proxy_fetch_seconds_after_delivery_is_a_machine_open_whichever_batch_brings_it(
    stack, ana, case_study, batches
):
    # Given the case study reaches the mailbox 20 s after SES sent it
    delivered_at = case_study.sent_at + timedelta(seconds=20)
    delivery = event_about(case_study, "delivery", at=delivered_at)
    # and a gateway fetches its images 3 s later, with a real browser's user agent
    fetch = event_about(case_study, "open", at=delivered_at + timedelta(seconds=3))
    score = stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.score
    # When the two events arrive together, or in batches of their own (many pollers)
    if batches == "one batch":
        assert stack.ses(sqs_batch(delivery, fetch)) == set()
    else:
        assert stack.ses(sqs_batch(delivery)) == set()
        assert stack.ses(sqs_batch(fetch)) == set()
    # Then it is a machine's open either way: no person's score, no `wait_for: open`
    after = stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment
    assert after.score == pytest.approx(score + 0.2, abs=0.05)  # trial-nurture: machine_open 0.2
    assert "open:case-study" not in after.engaged
    assert counts(stack) == {"delivered": 1, "machine_opens": 1}
    assert stack.message(case_study.claim.key).activity.opened_at is None


def test_a_person_opening_a_minute_after_the_delivery_of_an_earlier_batch_counts_as_a_person(stack, ana, case_study):
    delivered_at = case_study.sent_at + timedelta(seconds=20)
    stack.ses(sqs_batch(event_about(case_study, "delivery", at=delivered_at)))
    stack.ses(sqs_batch(event_about(case_study, "open", at=delivered_at + timedelta(minutes=1))))
    assert "open:case-study" in stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.engaged
    assert counts(stack) == {"delivered": 1, "opens": 1, "opened": 1}


# -- 13.4: the dedupe keys of a message stay bounded; a complaint is never lost to its message ----------------


def test_an_email_opened_and_clicked_thousands_of_times_keeps_its_message_small_and_counts_each_once(stack, case_study):
    # Given an email forwarded to a list: 5,000 opens and clicks, each its own event
    start = case_study.sent_at + timedelta(hours=1)
    events = [
        event_about(case_study, "open" if i % 2 else "click", at=start + timedelta(seconds=7 * i)) for i in range(5000)
    ]
    for i in range(0, len(events), 10):
        assert stack.ses(sqs_batch(*events[i : i + 10])) == set()
    # When a poller delivers a batch of them again
    assert stack.ses(sqs_batch(*events[-10:])) == set()
    assert stack.ses(sqs_batch(*events[:10])) == set()
    # Then the message keeps a bounded set of event keys, and each event counted once
    activity = stack.message(case_study.claim.key).activity
    assert len(activity.seen) <= SEEN_KEPT
    assert activity.opens + activity.machine_opens == 2500
    assert activity.clicks + activity.scanner_clicks == 2500


class MessageFull:
    """The store, with one message item at DynamoDB's size limit: every write on it is refused."""

    def __init__(self, store: Any, key: str) -> None:
        self._store, self._key = store, key
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _refuse(self, key: str) -> None:
        if key == self._key:
            self.refused += 1
            raise MessageFullError(f"the message {key} cannot take another write")

    def mark_message(self, key: str, marks: Any) -> Message | None:
        self._refuse(key)
        return self._store.mark_message(key, marks)

    def save_lead(self, lead: Any, expected_revision: int, marks: Any = ()) -> bool:
        if marks:
            self._refuse(marks[0].message_key)
        return self._store.save_lead(lead, expected_revision, marks)

    def commit(self, change: Any) -> bool:
        if change.marks:
            self._refuse(change.marks[0].message_key)
        return self._store.commit(change)


@pytest.mark.parametrize("event", ["complaint", "bounce-permanent", "subscription"])
def test_a_complaint_or_bounce_on_a_message_that_cannot_take_another_write_still_suppresses_the_lead(
    stack, ana, case_study, event
):
    # Given the case study's message item is full (400 KB): DynamoDB refuses every update of it
    full = MessageFull(stack.app.engagement.store, case_study.claim.key)
    stack.app.engagement.store = stack.app.nurture.store = full
    # When the lead complains (hard-bounces, unsubscribes) about it
    failed = stack.ses(sqs_batch(event_about(case_study, event)))
    # Then the event is not sent back to be retried into the dead-letter queue
    assert failed == set()
    assert full.refused >= 1
    # and the lead is out of every sequence for good
    lead = stack.store.get_lead(ana.lead_id)
    assert lead.status is not LeadStatus.ACTIVE
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.terminal
    assert stack.metrics.counts["EngagementMarksNotWritten"] == 1


def test_an_open_on_a_message_that_cannot_take_another_write_is_dropped_not_retried_forever(stack, case_study):
    full = MessageFull(stack.app.engagement.store, case_study.claim.key)
    stack.app.engagement.store = stack.app.nurture.store = full  # the open's transaction goes through nurture
    assert stack.ses(sqs_batch(event_about(case_study, "open"))) == set()
    assert stack.metrics.counts["EngagementMarksNotWritten"] == 1


# -- 13.7: soft bounces in a row, not with deliveries in between ---------------------------------------------


STEPS = ["welcome", "first-dashboard", "case-study", "power-user-tips", "trial-ending"]


def bounced_or_delivered(stack, lead, outcomes: list[str]) -> None:
    """One email of the trial per outcome, each soft-bouncing or delivered in the order given."""
    emails = [stack.sent(lead, step) for step in STEPS[: len(outcomes)]]
    for email, outcome in zip(emails, outcomes, strict=True):
        if outcome == "bounce":
            event = event_about(email, "bounce-transient", at=email.sent_at + timedelta(hours=6))
        else:
            event = event_about(email, "delivery", at=email.sent_at + timedelta(seconds=2))
        assert stack.ses(sqs_batch(event)) == set()


def test_soft_bounces_with_deliveries_in_between_never_suppress(stack, ana):
    bounced_or_delivered(stack, ana, ["bounce", "delivery", "bounce", "delivery", "bounce"])
    lead = stack.store.get_lead(ana.lead_id)
    assert (lead.status, lead.soft_bounces) == (LeadStatus.ACTIVE, 1)
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.ACTIVE


def test_three_soft_bounces_with_no_delivery_between_suppress(stack, ana):
    bounced_or_delivered(stack, ana, ["delivery", "bounce", "bounce", "bounce"])
    lead = stack.store.get_lead(ana.lead_id)
    assert (lead.status, lead.status_reason) == (LeadStatus.SUPPRESSED, "3 soft bounces in a row")
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.SUPPRESSED


def test_the_rule_restarts_the_run_when_an_email_was_delivered_since_the_last_soft_bounce(ana):
    rule = SoftBounceRule(limit=3, window=timedelta(days=30))
    start = ana.created_at
    lead = after_soft_bounce(ana, start + timedelta(days=1), rule)
    lead = after_soft_bounce(lead, start + timedelta(days=2), rule)
    assert rule.continues(lead, start + timedelta(days=3))
    broken = after_soft_bounce(lead, start + timedelta(days=3), rule, delivered_since=True)
    assert (broken.soft_bounces, broken.status) == (1, LeadStatus.ACTIVE)
    in_a_row = after_soft_bounce(lead, start + timedelta(days=3), rule)
    assert (in_a_row.soft_bounces, in_a_row.status) == (3, LeadStatus.SUPPRESSED)
