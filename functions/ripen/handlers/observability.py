"""Logs, traces and the cold-start count, the same for every handler.

Each handler is wrapped the same way:

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event, context): ...

- `logger`: structured JSON logs (Powertools); the service name comes from POWERTOOLS_SERVICE_NAME and
  the modules' child loggers share it. Batch handlers add each record's SQS message id while they
  handle it (`for_record`): never an email address, a name or a token.
- `tracer`: X-Ray, when template.yaml's `Tracing` parameter is `Active` (the default `PassThrough`
  sets POWERTOOLS_TRACE_DISABLED=true: traces cost $5 per million and Lambda traces nearly every
  invocation of a small sender). Where Powertools would turn it off (that variable, outside Lambda,
  under `sam local`) it gets a provider that records nothing: Powertools' Tracer builds the X-Ray
  recorder even when it is off, so a function, a test or `ripen dev` with tracing off never loads it.
  Only botocore is patched: every AWS call (DynamoDB through pynamodb, SES, SQS, EventBridge,
  Secrets Manager) goes through it, and patching everything the SDK knows would import pynamodb,
  requests and more at init.
- Responses are not captured as trace metadata: the api's pages carry signed links.
- `count_cold_start`: a `ColdStart` count through the app's metrics port, flushed with the
  invocation's other figures.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

if TYPE_CHECKING:
    from ripen.ports.metrics import Metrics

COLD_START = "ColdStart"
RECORD_KEY = "sqs_message_id"  # not `message_id`: that names an email's SES id elsewhere in the logs


def tracing_off() -> bool:
    """Powertools' own rule for turning the Tracer off, read before anything loads the X-Ray SDK."""
    disabled = resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))
    return bool(disabled) or not os.getenv("LAMBDA_TASK_ROOT") or bool(os.getenv("AWS_SAM_LOCAL"))


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None: ...

    def add_subsegment(self, subsegment: Any) -> None: ...

    def remove_subsegment(self, subsegment: Any) -> None: ...

    def put_annotation(self, key: str, value: Any) -> None: ...

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None: ...


class Untraced(BaseProvider):
    """The provider when tracing is off: subsegments that record nothing, no X-Ray SDK."""

    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AbstractAsyncContextManager[BaseSegment]:
        return _no_segment_async()

    def put_annotation(self, key: str, value: Any) -> None: ...

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None: ...

    def patch(self, modules: Sequence[str]) -> None: ...

    def patch_all(self) -> None: ...


logger = Logger()
tracer = Tracer(disabled=True, provider=Untraced()) if tracing_off() else Tracer(patch_modules=("botocore",))

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


@asynccontextmanager
async def _no_segment_async() -> AsyncIterator[BaseSegment]:
    yield _NoSegment()
