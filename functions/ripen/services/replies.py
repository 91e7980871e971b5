"""Replies stop the sequence: an answer to an email ripen sent becomes a `replied` product event.

SES receiving on the reply domain notifies the replies function (see `ripen.models.replies`). The
email answered is found by the SES message ids in its `In-Reply-To` / `References` headers (the
messages table's `by_ses_id` index), and its lead gets a `replied` event through the same path as
every product event (`ProductEvents.apply`): applied once per inbound email (its SES id is the event
id, so a redelivered notification is one event), at the time the reply arrived. A sequence may
`exit_on: [replied]` (a person answered: a human takes over).

A reply that answers nothing ripen sent (a new email to the reply address, a mail client that drops
the headers, a message the index does not show yet) is counted and logged without any address, and
is never an error: there is nothing another attempt could find.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from ripen.core.events import EventOutcome, LeadEvent
from ripen.models.replies import ReceivingNotification
from ripen.ports.metrics import Metrics
from ripen.ports.store import Store
from ripen.services.product_events import ProductEvents

logger = Logger(child=True)

REPLIED = "replied"  # the product event a reply records
REPLIES_MATCHED = "RepliesMatched"
REPLIES_UNMATCHED = "RepliesUnmatched"  # answers no email ripen sent (or names none): counted, not an error


@dataclass(frozen=True)
class ReplyResult:
    outcome: EventOutcome | None  # None: the reply answers no email ripen sent
    lead_id: str | None = None


class Replies:
    def __init__(self, store: Store, product_events: ProductEvents, metrics: Metrics) -> None:
        self.store = store
        self.product_events = product_events
        self.metrics = metrics

    def record(self, notification: ReceivingNotification) -> ReplyResult:
        lead_id = self._lead_answered(notification)
        if lead_id is None:
            self.metrics.count(REPLIES_UNMATCHED)
            logger.info(
                "a reply that answers no email ripen sent: counted",
                extra={"reply_headers": bool(notification.answered_ses_ids())},
            )
            return ReplyResult(None)
        self.metrics.count(REPLIES_MATCHED)
        event = LeadEvent(
            event_id=f"reply-{notification.inbound_id}",
            name=REPLIED,
            occurred_at=notification.received_at,
            lead_id=lead_id,
        )
        result = self.product_events.apply(event)
        return ReplyResult(result.outcome, lead_id)

    def _lead_answered(self, notification: ReceivingNotification) -> str | None:
        for ses_id in notification.answered_ses_ids():
            message = self.store.find_message_by_ses_id(ses_id)
            if message is not None:
                return message.claim.lead_id
        return None
