"""The send window, checked again when the email actually goes out (issue 13.6): an email released
late (a sending pause, throttling, an in-doubt resend, a backlog in the queue) waits for the next
moment the window allows; it is never sent at night and never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ripen.core.records import MessageStatus, message_key
from ripen.services.sender import Outcome
from ripen_dev.fakes.store import InMemoryStore
from tests.support.mailstack import make_stack


def test_an_email_that_reaches_the_sender_at_night_waits_for_the_window_and_then_goes(catalog, clock):
    # Given Ana (time zone UTC) whose welcome email was decided on Monday at 09:30, inside the
    # trial's window (weekdays 09:00-17:00 in the lead's zone)
    stack = make_stack(InMemoryStore(), clock, catalog)
    ana = stack.signup("ana@example.com")
    welcome = message_key(ana.lead_id, "trial-nurture", 1, "welcome")
    # When the job only reaches the sender at 01:14 the next night (a backlog, a pause lifted)
    clock.set(datetime(2026, 3, 3, 1, 14, tzinfo=UTC))
    outcome = stack.send_queued()
    # Then nothing is sent at night: the email waits for Tuesday 09:00
    opens = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert outcome == [Outcome.DEFERRED]
    assert stack.outbox.emails == []
    held = stack.message(welcome)
    assert (held.status, held.due_at) == (MessageStatus.CLAIMED, opens)
    assert held.error == f"send window: held until {opens.isoformat()}"
    # And it goes out when the window opens
    clock.set(opens - timedelta(minutes=1))
    stack.app.sweep.run()
    assert stack.queue.drain() == []
    clock.set(opens)
    stack.app.sweep.run()
    assert stack.send_queued() == [Outcome.SENT]
    assert [e.tags["step"] for e in stack.outbox.emails] == ["welcome"]


def test_a_confirmation_is_not_held_by_the_send_window(catalog, clock):
    # Given a signup at night that waits for confirmation (transactional: the person just asked)
    clock.set(datetime(2026, 3, 3, 1, 14, tzinfo=UTC))
    stack = make_stack(InMemoryStore(), clock, catalog)
    stack.signup("ana@example.com", confirmed=False)
    # Then the confirmation goes out at once
    assert stack.send_queued() == [Outcome.SENT]
