"""Emails decided before the enrollment changed (issue 13.9): the last email of a sequence goes out
although the decision that claimed it also ended the sequence, and an email held by a pause goes
out after the pause instead of being lost."""

from __future__ import annotations

from datetime import timedelta

from ripen.core.records import MessageStatus, message_key
from ripen.core.state import Status
from ripen.services.sender import Outcome
from ripen_dev.fakes.store import InMemoryStore
from tests.support.mailstack import make_stack


def run_until_queued(stack, step: str, hours: int = 6, limit: int = 200) -> None:
    """Move time and sweep until the email of `step` is decided and queued (not sent yet)."""
    for _ in range(limit):
        if any(job.message_key.endswith(f"#{step}") for job in stack.queue.jobs):
            return
        stack.send_queued()
        stack.clock.advance(hours=hours)
        stack.app.sweep.run()
    raise AssertionError(f"{step} was never queued")


def test_the_last_email_goes_out_although_its_decision_also_ended_the_sequence(catalog, clock):
    # Given Ana on the last day of her trial: the decision that claims the last email ("trial-ended")
    # also ends the sequence (`exit: trial-over` follows it)
    stack = make_stack(InMemoryStore(), clock, catalog)
    ana = stack.signup("ana@example.com")
    run_until_queued(stack, "trial-ended")
    record = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert (record.enrollment.status, record.enrollment.exit_reason) == (Status.COMPLETED, "trial-over")
    # When the sender gets it
    outcome = stack.send_queued()
    # Then it goes out
    assert outcome == [Outcome.SENT]
    assert stack.outbox.emails[-1].tags["step"] == "trial-ended"


def test_an_email_held_by_a_pause_goes_out_when_the_lead_resumes(catalog, clock):
    # Given Ana's second email decided and queued, and Ana pausing for 14 days before it goes
    stack = make_stack(InMemoryStore(), clock, catalog)
    ana = stack.signup("ana@example.com")
    run_until_queued(stack, "first-dashboard")
    stack.app.preferences.pause(ana.lead_id, 14)
    key = message_key(ana.lead_id, "trial-nurture", 1, "first-dashboard")
    # When the sender gets the job: it waits for the pause's end, it is not dropped
    assert stack.send_queued() == [Outcome.DEFERRED]
    held = stack.message(key)
    assert held.status is MessageStatus.CLAIMED
    assert held.due_at > clock.now() + timedelta(days=13)
    # And when Ana resumes the next day, it goes out with the next sweep
    clock.advance(days=1)
    stack.app.preferences.resume(ana.lead_id)
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.ACTIVE
    stack.app.sweep.run()
    assert stack.send_queued() == [Outcome.SENT]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome", "first-dashboard"]


def test_an_email_held_by_a_pause_goes_out_when_the_pause_runs_out(catalog, clock):
    # Given Ana's second email held by a 14-day pause she never ends herself
    stack = make_stack(InMemoryStore(), clock, catalog)
    ana = stack.signup("ana@example.com")
    run_until_queued(stack, "first-dashboard")
    stack.app.preferences.pause(ana.lead_id, 14)
    assert stack.send_queued() == [Outcome.DEFERRED]
    # When the pause ends and the sweeps go on
    for _ in range(4 * 16):
        clock.advance(hours=6)
        stack.app.sweep.run()
        stack.send_queued()
    # Then the held email went out (once), and the sequence carried on after it
    steps = [e.tags["step"] for e in stack.outbox.emails]
    assert steps[:2] == ["welcome", "first-dashboard"]
    assert steps.count("first-dashboard") == 1
    assert len(steps) > 2
