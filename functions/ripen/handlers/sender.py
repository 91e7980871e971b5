"""The sender: a batch of send jobs from SQS, one email each (the nurture function hands it the send queue's).

Partial batch failure: only the records that must come back (throttled, SES unreachable,
sending stopped, no time left to keep to the send rate) are reported; they return after the
delay the sender chose for them. A malformed record is logged and dropped. Metrics are flushed
once per invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ripen.app import app
from ripen.handlers.observability import count_cold_start, for_record, logger, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
    with for_record(record.message_id):
        app().sender.deliver(record.body, record.receipt_handle, record.message_id, remaining_ms=remaining)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics = app().metrics
    count_cold_start(metrics)
    try:
        return dict(process_partial_response(event, record_handler, processor, context))
    finally:
        metrics.flush()
