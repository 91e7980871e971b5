"""The hand-off to sales: a `Lead Sales Ready` event on the sales bus, exactly once per run.

The engine decides a hand-off (`HandOff`) when a lead's score reaches the sequence's
`sales_ready` threshold; the transaction that makes the enrollment sales-ready also writes an
outbox item (a message of kind `handoff`, key `<lead>#<sequence>#<run>#handoff`), so there is one
per run whatever happens next. Right after the commit the event is put on the bus and the item
is marked published. If the function dies in between, the item stays in the `handoff` partition
of the Messages `due` index and `publish_pending_handoffs` (called by the sweep every minute)
publishes it after a one-minute grace, after a consistent read confirms it is still unpublished
(the index lags behind the table). Delivery is still at least once (a function can die between
the put and the record): consumers dedupe on `detail.handoff_id`, which is stable: the lead, the
sequence and the run (`<lead_id>#<sequence>#<run>#handoff`), whichever path published it.

The event (source `ripen`, detail-type `Lead Sales Ready`):

    {"handoff_id": "ld_...#trial-nurture#1#handoff", "lead_id": "ld_...", "email": "ana@example.com",
     "name": "Ana Lopez", "attributes": {"company": "Fernhill"}, "score": 52.4, "stage": "decision",
     "sequence": "trial-nurture", "version": 1, "run": 1, "sales_ready_at": "2026-03-05T14:02:11+00:00",
     "engagement": [{"event": "click", "target": "pricing", "at": "..."}, ...]}

The name and attributes came from a public form: the event carries them as plain text that CRMs,
spreadsheets and chat tools show as it is (`for_crm`): no control characters, no markup or link
syntax (`<>[]()|` and the like), no mentions (`@here`, `<!channel>`), nothing a spreadsheet would
run as a formula (a leading `=+-@`), at most 200 characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from ripen.core.records import Lead, Message, MessageClaim, MessageStatus
from ripen.ports.bus import BusEvent, EventBus
from ripen.ports.clock import Clock
from ripen.ports.metrics import Metrics
from ripen.ports.store import Store

logger = Logger(child=True)

SOURCE = "ripen"
DETAIL_TYPE = "Lead Sales Ready"
PUBLISHED = "HandOffsPublished"
PUBLISH_FAILED = "HandOffPublishFailed"


MAX_VALUE_LENGTH = 200
_MARKUP = re.compile(r"[<>\[\](){}|`*~\\]")  # HTML, markdown and Slack link syntax
_MENTION = re.compile(r"(?<!\w)[@!#]+(?=\w)")  # @here, !channel, #general: not an address's @
_FORMULA = "=+-@"  # what a spreadsheet runs when a cell starts with it
_NUMBER = re.compile(r"^[+-]?\d[\d .-]*$")  # a signed number or a phone number: nothing to run


def for_crm(value: str) -> str:
    """A form's text made plain for the tools a hand-off reaches."""
    text = unicodedata.normalize("NFC", value)
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)
    text = " ".join(_MENTION.sub("", _MARKUP.sub(" ", text)).split())
    if not _NUMBER.match(text):
        text = text.lstrip(_FORMULA + " ")
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 1].rstrip() + "…"
    return text


def sales_ready_event(claim: MessageClaim, lead: Lead) -> BusEvent:
    details = dict(claim.details)
    detail: dict[str, Any] = {
        "handoff_id": claim.key,
        "lead_id": lead.lead_id,
        "email": lead.email,
        "name": for_crm(lead.name) if lead.name else None,
        "attributes": {key: for_crm(value) for key, value in lead.attributes.items()},
        "score": details.get("score"),
        "stage": details.get("stage"),
        "sequence": claim.sequence,
        "version": claim.version,
        "run": claim.run,
        "sales_ready_at": details.get("sales_ready_at"),
        "engagement": list(details.get("engagement", [])),
    }
    return BusEvent(SOURCE, DETAIL_TYPE, detail)


class HandOffs:
    def __init__(self, store: Store, bus: EventBus, clock: Clock, metrics: Metrics) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.metrics = metrics

    def publish(self, claims: Sequence[MessageClaim]) -> int:
        """Publish hand-offs just committed; never raises (what fails waits for the reconciler)."""
        published = 0
        for claim in claims:
            try:
                published += self._publish(claim)
            except Exception:  # the outbox keeps it: publish_pending_handoffs tries again
                self.metrics.count(PUBLISH_FAILED)
                logger.exception("hand-off not published; it will be retried", extra={"handoff_id": claim.key})
        return published

    def publish_pending_handoffs(self, now: datetime | None = None, limit: int = 100) -> int:
        """Publish every hand-off still waiting after its grace period (the function that made it
        died before publishing, or the bus refused it). For the sweep; returns how many went out."""
        due = self.store.handoffs_due(now or self.clock.now(), limit)
        # The index lags behind its table: a hand-off another run just published may still be
        # listed. One consistent read each (pending hand-offs are rare) keeps republishing rare.
        still_waiting = [m for m in due if _waiting(self.store.get_message(m.claim.key))]
        return self.publish([m.claim for m in still_waiting])

    def _publish(self, claim: MessageClaim) -> bool:
        lead = self.store.get_lead(claim.lead_id)
        if lead is None:
            self.store.record_handoff(claim.key, self.clock.now(), error="the lead no longer exists")
            logger.warning("hand-off dropped: the lead is gone", extra={"handoff_id": claim.key})
            return False
        if self.bus.put([sales_ready_event(claim, lead)]):
            self.metrics.count(PUBLISH_FAILED)
            logger.warning("the sales bus refused the hand-off; it will be retried", extra={"handoff_id": claim.key})
            return False
        self.store.record_handoff(claim.key, self.clock.now())
        self.metrics.count(PUBLISHED)
        logger.info("lead handed off to sales", extra={"handoff_id": claim.key, "sequence": claim.sequence})
        return True


def _waiting(message: Message | None) -> bool:
    return message is not None and message.status is MessageStatus.CLAIMED
