"""The events Lambda: product events (`Lead Event`) from the events queue move leads' nurture state.

Each queue message is an EventBridge event from the rule on ripen's events bus (see
`ripen.models.events`). Partial batch failures: only an event another attempt is applying right now,
or one that failed for a passing reason, is reported, and comes back after the visibility timeout.
A message that is not a valid Lead Event is logged (by field, never by value), counted and skipped:
sending it again would not make it valid. Metrics are flushed once per invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ripen.app import app
from ripen.core.events import EventOutcome
from ripen.handlers.observability import count_cold_start, for_record, logger, tracer
from ripen.models.events import InvalidLeadEventError, event_from_queue_body
from ripen.ports.errors import RetryLaterError

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    from ripen.services.product_events import EVENTS_REFUSED  # with the catalog, on the first event

    services = app()
    with for_record(record.message_id):
        try:
            event = event_from_queue_body(record.body)
        except InvalidLeadEventError as exc:
            services.metrics.count(EVENTS_REFUSED)
            logger.warning("not a valid Lead Event: skipped", extra={"problems": [p.field for p in exc.problems]})
            return
        result = services.product_events.apply(event)
        if result.outcome is EventOutcome.IN_PROGRESS:
            raise RetryLaterError("another attempt is applying this event; it comes back after the visibility timeout")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services = app()
    count_cold_start(services.metrics)
    try:
        return dict(process_partial_response(event, record_handler, processor, context))
    finally:
        services.flush_metrics()
