"""A message item at DynamoDB's 400 KB limit (keys piled up before they were bounded): its events
are dropped and counted, never retried into the dead-letter queue, and a complaint about it still
suppresses the lead (DynamoDB Local)."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import UpdateError

from ripen.adapters.tables import MessageItem
from ripen.core.records import LeadStatus
from ripen.ports.store import MessageFullError
from tests.contract.test_records import mark
from tests.integration.test_engagement_dynamo import dynamo_stack
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration


def fill(key: str) -> None:
    """Pile keys on the message until DynamoDB refuses another byte or so."""
    n, refused = 0, None
    for width in (2000, 200, 20):
        while True:
            keys = {f"legacy-{n + i:07d}-".ljust(width, "x") for i in range(10 if width > 20 else 1)}
            try:
                MessageItem(key).update(actions=[MessageItem.seen.add(keys)])
            except UpdateError as exc:
                refused = exc.cause_response_code
                break
            n += len(keys)
        assert refused == "ValidationException"  # the item size limit, nothing else


def test_a_complaint_about_a_message_at_the_size_limit_still_suppresses_the_lead(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    welcome = stack.sent(ana, "welcome")
    fill(welcome.claim.key)
    # the store says why it cannot write: no retry would help
    open_event = event_about(welcome, "open")
    assert stack.ses(sqs_batch(open_event)) == set()
    assert stack.metrics.counts["EngagementMarksNotWritten"] == 1
    # When the lead complains about that email
    assert stack.ses(sqs_batch(event_about(welcome, "complaint"))) == set()
    # Then they are suppressed and out of the sequence, though the message could not take the mark
    lead = stack.store.get_lead(ana.lead_id)
    assert (lead.status, lead.status_reason) == (LeadStatus.SUPPRESSED, "complaint")
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.terminal
    assert stack.metrics.counts["EngagementMarksNotWritten"] == 2
    assert stack.message(welcome.claim.key).activity.complained_at is None


def test_the_store_names_a_full_message_instead_of_a_failure_worth_retrying(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    welcome = stack.sent(ana, "welcome")
    fill(welcome.claim.key)
    with pytest.raises(MessageFullError):
        stack.store.mark_message(
            welcome.claim.key, [mark(welcome, "complaint@1", "complaint", ses_id=welcome.ses_message_id)]
        )
