"""Send, Delivery, DeliveryDelay, Reject, Rendering Failure: events that change the message only.

All of an email's in one batch go on its message in one conditional write. Send confirms the send
(and records it when the sender crashed after SES accepted it: see `Attribution`); Reject and
Rendering Failure mean the message failed (alarm metrics).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from ripen.core.engagement import DELAYED, DELIVERED, REJECTED, RENDERING_FAILED, SENT, MessageRef, Tally
from ripen.core.records import Message
from ripen.models.ses import AnyRecord
from ripen.services.engagement.attribution import Applied, Attribution, Email, Parts, Verdict, mark
from ripen.services.engagement.metric_names import EMAILS_REJECTED, EVENTS, RENDERING_FAILURES

logger = Logger(child=True)

MESSAGE_ONLY = frozenset({"send", "delivery", "delay", "reject", "rendering_failure"})
COUNTED_AS = {
    "send": SENT,
    "delivery": DELIVERED,
    "delay": DELAYED,
    "reject": REJECTED,
    "rendering_failure": RENDERING_FAILED,
}
FAILURES = frozenset({"reject", "rendering_failure"})


class MessageEvents:
    def __init__(self, parts: Parts, attribution: Attribution) -> None:
        self.parts = parts
        self.attribution = attribution

    def apply(self, email: Email, records: Sequence[AnyRecord], tally: Tally) -> None:
        by_key = {record.key: record for record in records}
        pending = set(by_key)

        def attempt(ref: MessageRef) -> Message | None:
            return self.parts.store.mark_message(ref.key, [mark(ref, email, by_key[key]) for key in sorted(pending)])

        written = self.attribution.write(email, pending, attempt)
        if written is Verdict.UNKNOWN:
            self.attribution.unknown(email, records)
            return
        applied = pending if isinstance(written, Applied) else set()
        if len(by_key) > len(applied):
            self.attribution.duplicate(email, len(by_key) - len(applied))
        if not isinstance(written, Applied) or not applied or email.ref is None:
            return
        message = written.value
        bucket = email.bucket(message, email.ref)
        metrics = self.parts.metrics
        for key in applied:
            kind = by_key[key].kind
            tally.add(bucket, COUNTED_AS[kind])
            if kind == "reject":
                metrics.count(EMAILS_REJECTED)
            elif kind == "rendering_failure":
                metrics.count(RENDERING_FAILURES)
        if any(by_key[key].kind in FAILURES for key in applied):
            logger.warning("SES did not deliver an email it accepted", extra={"message_key": message.claim.key})
        metrics.count(EVENTS, len(applied))
