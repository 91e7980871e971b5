"""Engagement: SES events (opens, clicks, bounces, ...) move leads' nurture state (a part of the nurture function).

It takes the events however they are wired (see `ripen.models.ses`):
- SQS (the default in template.yaml): each body an EventBridge event from the SES event
  destination's rule, or an SNS notification from a topic subscribed to the queue. Partial
  batch failure: only the records that failed for a passing reason are reported, and come back.
- SNS (the function subscribed to a topic) or EventBridge (a rule targeting the function)
  directly: these invocations are asynchronous, so a genuine failure raises and Lambda retries
  the whole event; applying it again is harmless (each event changes state once).
Records that are not usable SES events are logged and skipped, never retried. Metrics are
flushed once per invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ripen.app import app
from ripen.handlers.observability import count_cold_start, for_record, logger, tracer
from ripen.models.ses import received_events

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class EngagementRetryError(Exception):
    """Some events of this invocation could not be applied now; they must be delivered again."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services = app()
    count_cold_start(services.metrics)
    try:
        source, received = received_events(event)
        failed = services.engagement.process(received)
        if services.breaker is not None:  # the reputation counters, once per batch (ripen.services.reputation)
            services.breaker.after_batch(received, failed)
        if source != "sqs":
            if failed:
                raise EngagementRetryError(f"{len(failed)} event(s) to retry")
            return {}
        if not received:
            return {"batchItemFailures": []}

        def record_handler(record: SQSRecord) -> None:
            if record.message_id in failed:
                with for_record(record.message_id):
                    logger.info("SES event not applied; it comes back after the visibility timeout")
                raise EngagementRetryError("applying this event failed; it comes back after the visibility timeout")

        return dict(process_partial_response(event, record_handler, processor, context))
    finally:
        services.metrics.flush()
