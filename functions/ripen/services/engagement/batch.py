"""A batch of SES events: grouped by email, each email's events applied by their step, the stats
written once at the end."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from ripen.core.engagement import Rules, SoftBounceRule, Tally, ref_from_tags
from ripen.models.ses import (
    AnyRecord,
    BounceRecord,
    ClickRecord,
    ComplaintRecord,
    DeliveryRecord,
    OpenRecord,
    Received,
    SubscriptionRecord,
)
from ripen.ports.clock import Clock
from ripen.ports.metrics import Metrics
from ripen.ports.stats import Stats
from ripen.ports.store import MessageFullError, Store
from ripen.services.engagement.attribution import Attribution, Email, Parts
from ripen.services.engagement.message_events import MESSAGE_ONLY, MessageEvents
from ripen.services.engagement.metric_names import MARKS_NOT_WRITTEN, RETRIED, SKIPPED, STATS_NOT_WRITTEN
from ripen.services.engagement.opens_clicks import OpensClicks
from ripen.services.engagement.suppression import Suppression
from ripen.services.nurture import Nurture

logger = Logger(child=True)


class Engagement:
    def __init__(
        self,
        store: Store,
        nurture: Nurture,
        stats: Stats,
        metrics: Metrics,
        clock: Clock,
        rules: Rules | None = None,
        soft_bounces: SoftBounceRule | None = None,
        *,
        lead_id_key: bytes,
    ) -> None:
        self.parts = Parts(
            store, nurture, metrics, clock, rules or Rules(), soft_bounces or SoftBounceRule(), lead_id_key
        )
        self.stats = stats
        attribution = Attribution(self.parts)
        self.message_events = MessageEvents(self.parts, attribution)
        self.opens_clicks = OpensClicks(self.parts, attribution)
        self.suppression = Suppression(self.parts, attribution)

    @property
    def store(self) -> Store:
        return self.parts.store

    @store.setter
    def store(self, store: Store) -> None:
        self.parts.store = store  # every step reads it from the shared parts

    @property
    def metrics(self) -> Metrics:
        return self.parts.metrics

    def process(self, received: Sequence[Received]) -> set[str | None]:
        """Apply a batch of events. Returns the item ids of the events that failed for a reason
        that may pass (the store throttled, the message kept changing): only those come back.
        Unusable input was logged and skipped, never retried."""
        tally = Tally()
        failed: set[str | None] = set()
        emails: dict[str, list[tuple[Received, AnyRecord]]] = {}
        for item in received:
            if item.record is None:
                self.metrics.count(SKIPPED)
                logger.warning("SES event skipped", extra={"reason": item.problem, "item_id": item.item_id})
                continue
            emails.setdefault(item.record.mail.message_id, []).append((item, item.record))
        for ses_id, items in emails.items():
            items.sort(key=lambda pair: pair[1].occurred_at)
            done: set[int] = set()
            try:
                self._apply_email(ses_id, [record for _, record in items], tally, done)
            except Exception as exc:
                left = [item for i, (item, _) in enumerate(items) if i not in done]
                self.metrics.count(RETRIED, len(left))
                logger.warning(
                    "SES events will come back",
                    extra={"ses_message_id": ses_id, "events": len(left), "error": type(exc).__name__},
                    exc_info=True,
                )
                failed.update(item.item_id for item in left)
        self._write_stats(tally)
        return failed

    def _apply_email(self, ses_id: str, records: list[AnyRecord], tally: Tally, done: set[int]) -> None:
        """Apply one email's events in the order they happened; `done` gathers the indexes of the
        ones applied (or found applied), so a failure sends back only the rest."""
        ref = next((r for r in (ref_from_tags(record.mail.tags) for record in records) if r), None)
        email = Email(ses_id, records[0].mail.timestamp, ref)
        for record in records:
            if isinstance(record, DeliveryRecord):
                email.delivered_at = min(email.delivered_at or record.occurred_at, record.occurred_at)
            if isinstance(record, ClickRecord):
                email.clicks.append((record.occurred_at, record.click.link_name, record.key))
        # Send and Delivery (and the other message-only events) in one write
        message_only = [i for i, record in enumerate(records) if record.kind in MESSAGE_ONLY]
        if message_only:
            try:
                self.message_events.apply(email, [records[i] for i in message_only], tally)
            except MessageFullError:
                self._dropped(email, [records[i] for i in message_only])
            done.update(message_only)
        for i, record in enumerate(records):
            if i in done:
                continue
            try:
                match record:
                    case OpenRecord():
                        self.opens_clicks.open(email, record, tally)
                    case ClickRecord():
                        self.opens_clicks.click(email, record, tally)
                    case BounceRecord() | ComplaintRecord() | SubscriptionRecord():
                        self.suppression.apply(email, record, tally)
            except MessageFullError:
                self._dropped(email, [record])
            done.add(i)

    def _dropped(self, email: Email, records: list[AnyRecord]) -> None:
        """Events whose message item cannot take another write: no retry would write them."""
        self.metrics.count(MARKS_NOT_WRITTEN, len(records))
        logger.error(
            "SES events dropped: their message cannot take another write",
            extra={"ses_message_id": email.ses_id, "events": [r.kind for r in records]},
        )

    def _write_stats(self, tally: Tally) -> None:
        """The batch's counters, one atomic ADD per bucket. The state is committed and each event
        marked by now: a failure here loses only these counters (alarmed on), never an event."""
        if not tally:
            return
        try:
            self.stats.add(tally.counts)
        except Exception:
            self.metrics.count(STATS_NOT_WRITTEN)
            logger.exception("stats not written", extra={"buckets": len(tally.counts)})
