"""The hand-off to sales: each `Lead Sales Ready` event carries a stable id, and the reconciler does
not publish again what was already published (issue 13.10)."""

from __future__ import annotations

from datetime import timedelta

from ripen.core.records import MessageStatus
from ripen.handlers import engagement
from ripen_dev.local.http import LambdaContext
from tests.support.ses_events import event_about


def handler(event: dict) -> dict:
    return engagement.handler(event, LambdaContext())


def ready_for_sales_while_the_bus_is_down(stack):
    """Ana clicks pricing and demo: over the sales-ready score while the bus refuses the event."""
    ana = stack.signup("ana@example.com", name="Ana Lopez", attributes={"company": "Fernhill"})
    case_study = stack.sent(ana, "case-study")
    stack.bus.refuse(1)
    stack.clock.advance(hours=25)
    handler(event_about(case_study, "click", at=stack.clock.now()))
    followup = stack.sent(ana, "pricing-followup")
    for link, minutes in (("pricing", 5), ("demo", 7)):
        at = followup.sent_at + timedelta(minutes=minutes)
        handler(event_about(followup, "click", at=at, linkTags={"link": [link]}))
    assert stack.bus.events == []
    return ana


def test_a_stale_index_read_does_not_publish_a_hand_off_twice(stack, monkeypatch):
    # Given a hand-off waiting in the outbox, as the (eventually consistent) due index lists it
    ready_for_sales_while_the_bus_is_down(stack)
    stack.clock.advance(minutes=2)
    listed = stack.store.handoffs_due(stack.clock.now(), 100)
    assert len(listed) == 1
    # When one sweep publishes it, and a second sweep reads the index before it caught up
    assert stack.app.handoffs.publish_pending_handoffs() == 1
    monkeypatch.setattr(stack.store, "handoffs_due", lambda now, limit: listed)
    published_again = stack.app.handoffs.publish_pending_handoffs()
    # Then the second sweep sees it is already published and sales gets one event
    assert published_again == 0
    assert len(stack.bus.events) == 1
    assert stack.store.get_message(listed[0].claim.key).status is MessageStatus.SENT


def test_every_sales_ready_event_names_its_lead_and_run_for_consumers_to_deduplicate(stack):
    # Given a hand-off published by the reconciler after the bus refused it at first
    ana = ready_for_sales_while_the_bus_is_down(stack)
    stack.clock.advance(minutes=2)
    stack.app.handoffs.publish_pending_handoffs()
    [event] = stack.bus.events
    # Then its id is the same whichever path published it: lead, sequence and run
    assert event.detail["handoff_id"] == f"{ana.lead_id}#trial-nurture#1#handoff"
    assert (event.detail["lead_id"], event.detail["run"]) == (ana.lead_id, 1)
