"""The replies Lambda: SES receiving notifications (SNS) of replies to ripen's emails record a
`replied` product event for the lead answered (see `ripen.services.replies`).

SNS invokes the function asynchronously, one notification per record. A notification that is not an
SES receiving notification is logged (by field, never by value), counted and skipped. Only an event
another attempt is applying right now raises, so Lambda's asynchronous retry brings it back.
Metrics are flushed once per invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SnsModel

from ripen.app import app
from ripen.core.events import EventOutcome
from ripen.handlers.observability import count_cold_start, for_record, logger, tracer
from ripen.models.replies import NotAReplyError, notification_from_json
from ripen.ports.errors import RetryLaterError

REPLIES_REFUSED = "RepliesRefused"  # not an SES receiving notification


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services = app()
    count_cold_start(services.metrics)
    try:
        outcomes: list[str] = []
        for record in SnsModel.model_validate(event).Records:
            with for_record(record.Sns.MessageId):
                try:
                    if not isinstance(record.Sns.Message, str):
                        raise NotAReplyError("not an SES receiving notification: Message")
                    notification = notification_from_json(record.Sns.Message)
                except NotAReplyError as exc:
                    services.metrics.count(REPLIES_REFUSED)
                    logger.warning("not an SES receiving notification: skipped", extra={"reason": str(exc)})
                    outcomes.append("refused")
                    continue
                result = services.replies.record(notification)
                if result.outcome is EventOutcome.IN_PROGRESS:
                    raise RetryLaterError("another attempt is applying this reply; Lambda's retry brings it back")
                outcomes.append(str(result.outcome) if result.outcome else "unmatched")
        return {"outcomes": outcomes}
    finally:
        services.flush_metrics()
