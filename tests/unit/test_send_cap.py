"""The frequency cap, checked again when the email goes out: two sequences of one lead deciding at
the same instant cannot both email the lead; the second email waits for the next allowed slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ripen.core.records import MessageStatus, message_key
from ripen.core.state import Wait
from ripen.services.nurture import Nurture
from ripen.services.sender import Outcome
from ripen_dev.fakes.store import InMemoryStore
from tests.support.mailstack import make_stack
from tests.support.ses_events import event_about

CAP = timedelta(hours=20)  # trial-nurture: at most 1 email per 20 hours


class SameInstant:
    """The store as a decision made at the same instant as another one sees it: the lead's other
    enrollment (being written right now) is not there yet."""

    def __init__(self, store) -> None:
        self._store = store

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def enrollments_of(self, lead_id: str):
        return []


def two_sequences_at_once(stack):
    """A lead who enters the trial and the ebook sequences at the same instant: both first emails
    are decided, claimed and queued, neither decision seeing the other's."""
    lead = stack.signup("ana@example.com")
    blind = Nurture(SameInstant(stack.store), stack.app.catalog, stack.queue, stack.clock)
    assert blind.enroll(stack.store.get_lead(lead.lead_id), "ebook-nurture").applied
    trial = message_key(lead.lead_id, "trial-nurture", 1, "welcome")
    ebook = message_key(lead.lead_id, "ebook-nurture", 1, "ebook-delivery")
    return lead, trial, ebook


def test_two_sequences_deciding_at_once_send_one_email_now_and_the_other_at_the_next_allowed_slot(catalog, clock):
    stack = make_stack(InMemoryStore(), clock, catalog)
    lead, trial, ebook = two_sequences_at_once(stack)
    assert [job.message_key for job in stack.queue.jobs] == [trial, ebook]
    # When the sender gets both jobs
    assert stack.send_queued() == [Outcome.SENT, Outcome.DEFERRED]
    # Then the trial's welcome went out; the ebook waits until the cap (20 hours) and the ebook's
    # send window (08:00-18:00 in the lead's zone, UTC) both allow it: Tuesday 08:00
    next_slot = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    held = stack.message(ebook)
    assert (held.status, held.due_at) == (MessageStatus.CLAIMED, next_slot)
    assert held.error == f"frequency cap: held until {next_slot.isoformat()}"
    assert [e.tags["sequence"] for e in stack.outbox.emails] == ["trial-nurture"]
    assert stack.metrics.counts["EmailsDeferred"] == 1
    # never dropped: the sweep queues it when its slot comes, and it goes out then
    clock.set(next_slot - timedelta(minutes=1))
    stack.app.sweep.run()
    assert stack.queue.drain() == []
    clock.set(next_slot)
    stack.app.sweep.run()
    assert stack.send_queued() == [Outcome.SENT]
    assert [e.tags["sequence"] for e in stack.outbox.emails] == ["trial-nurture", "ebook-nurture"]
    assert stack.store.get_lead(lead.lead_id).recent_emails == (datetime(2026, 3, 2, 9, 30, tzinfo=UTC), next_slot)


def test_a_confirmation_the_lead_just_asked_for_is_not_held_by_the_cap(catalog, clock):
    # Given a lead who got the ebook a minute ago, then unsubscribed
    stack = make_stack(InMemoryStore(), clock, catalog)
    lead = stack.signup("ana@example.com", sequence="ebook-nurture")
    assert stack.send_queued() == [Outcome.SENT]
    clock.advance(minutes=1)
    stack.app.preferences.unsubscribe(lead.lead_id, "unsubscribe page")
    # When they sign up for the trial with fresh consent (confirmation by email first)
    lead = stack.store.get_lead(lead.lead_id)
    assert stack.app.nurture.enroll(lead, "trial-nurture", reconsent=True).applied
    # Then the confirmation goes out at once, cap or not
    assert stack.send_queued() == [Outcome.SENT]
    assert stack.outbox.emails[-1].tags["kind"] == "confirmation"


def test_a_step_timed_for_the_moment_the_cap_frees_goes_out_then_though_the_last_email_sat_in_the_queue(catalog, clock):
    # Given Ana, in the trial since Monday 13:00, whose case study sat 40 seconds in the send queue
    clock.set(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    stack = make_stack(InMemoryStore(), clock, catalog)
    ana = stack.signup("ana@example.com")
    stack.sent(ana, "first-dashboard")
    case_study_key = message_key(ana.lead_id, "trial-nurture", 1, "case-study")
    while case_study_key not in [job.message_key for job in stack.queue.jobs]:
        assert stack.timer(ana)
    decided = clock.now()
    clock.advance(seconds=40)
    assert stack.send_queued() == [Outcome.SENT]
    # When she clicks pricing an hour later, the follow-up waits for the cap: 20 hours after the case study
    clock.advance(hours=1)
    stack.ses(event_about(stack.message(case_study_key), "click", at=clock.now()))
    waiting = stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment
    assert (waiting.cursor, waiting.wait, waiting.next_action_at) == ("pricing-followup", Wait.CAP, decided + CAP)
    # When that moment comes
    assert stack.timer(ana)
    # Then the follow-up goes out at once: the sender counts the case study from the same moment
    # the sequence's timer did, not 40 seconds later (which would hold it once more)
    assert stack.send_queued() == [Outcome.SENT]
    assert stack.outbox.emails[-1].tags["step"] == "pricing-followup"
    assert stack.metrics.counts.get("EmailsDeferred", 0) == 0
