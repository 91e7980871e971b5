"""Logs, traces and the cold-start count, the same for every handler.

Each handler is wrapped the same way:

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event, context): ...

- `logger`: structured JSON logs (Powertools); the service name comes from POWERTOOLS_SERVICE_NAME and
  the modules' child loggers share it. Batch handlers add each record's SQS message id while they
  handle it (`for_record`): never an email address, a name or a token.
- `tracer`: X-Ray (template.yaml: `Tracing: Active`). Powertools turns it off outside Lambda, under
  `sam local` and with POWERTOOLS_TRACE_DISABLED=true, so tests and `ripen dev` never load the X-Ray
  SDK. Only botocore is patched: every AWS call (DynamoDB through pynamodb, SES, SQS, EventBridge,
  Secrets Manager) goes through it, and patching everything the SDK knows would import pynamodb,
  requests and more at every cold start.
- Responses are not captured as trace metadata: the api's pages carry signed links.
- `count_cold_start`: a `ColdStart` count through the app's metrics port, flushed with the
  invocation's other figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Tracer

if TYPE_CHECKING:
    from ripen.ports.metrics import Metrics

COLD_START = "ColdStart"
RECORD_KEY = "sqs_message_id"  # not `message_id`: that names an email's SES id elsewhere in the logs

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))

_cold = True


def count_cold_start(metrics: Metrics) -> None:
    """Count this container's first invocation (the one that paid for the imports and the wiring)."""
    global _cold
    if _cold:
        _cold = False
        metrics.count(COLD_START)


@contextmanager
def for_record(message_id: str) -> Iterator[None]:
    """Every log line written while one SQS record is handled names that record."""
    logger.append_keys(**{RECORD_KEY: message_id})
    try:
        yield
    finally:
        logger.remove_keys([RECORD_KEY])
