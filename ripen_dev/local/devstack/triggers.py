"""Invoking the functions the way Lambda does, from what template.yaml declares.

- `QueueTrigger`: an SQS event source mapping (`AWS::Lambda::EventSourceMapping`). It receives up
  to `BatchSize` messages, hands them to the handler as one SQS event, and deletes the messages that
  succeeded: all of them, or all but the `batchItemFailures` the handler reports
  (`ReportBatchItemFailures`). A handler that raises leaves the whole batch on the queue, to come
  back after its visibility timeout.
- `ScheduleTrigger`: an EventBridge Scheduler schedule (`ScheduleV2` event): the schedule's `Input`
  with the scheduler's context attributes filled in (the scheduled time from the dev clock).
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ripen.ports.clock import Clock
from ripen_dev.local import cfn
from ripen_dev.local.http import LambdaContext, LambdaHandler

SQS_RECEIVE_MAX = 10
# What Lambda passes of a standard queue's message attributes.
_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")


def load_handler(spec: str) -> LambdaHandler:
    """The function a `Handler: module.attribute` names, imported as the Lambda runtime would."""
    module, _, attribute = spec.rpartition(".")
    handler: LambdaHandler = getattr(importlib.import_module(module), attribute)
    return handler


def context_for(template: dict[str, Any], function: str) -> LambdaContext:
    """A Lambda context with the function's name, memory and timeout from the template."""
    properties = template["Resources"][function].get("Properties", {})
    defaults = template.get("Globals", {}).get("Function", {})
    timeout = int(properties.get("Timeout", defaults.get("Timeout", 3)))
    memory = int(properties.get("MemorySize", defaults.get("MemorySize", 128)))
    return LambdaContext(
        function_name=f"ripen-dev-{function}",
        memory_limit_in_mb=memory,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:ripen-dev-{function}",
        log_group_name=f"/aws/lambda/ripen-dev-{function}",
        timeout_ms=timeout * 1000,
    )


@dataclass(frozen=True)
class Batch:
    """What one invocation of a queue's function did."""

    function: str
    received: int
    failed: int
    error: str | None = None  # the handler raised: nothing was deleted


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the SQS event Lambda builds from a received message."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: str(attributes[name]) for name in _ATTRIBUTES if name in attributes},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class QueueTrigger:
    def __init__(
        self,
        function: str,
        handler: LambdaHandler,
        context: Callable[[], LambdaContext],
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        batch_size: int = SQS_RECEIVE_MAX,
        region: str = "us-east-1",
    ) -> None:
        self.function = function
        self.handler = handler
        self.context = context
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.region = region

    def receive(self) -> list[dict[str, Any]]:
        """Up to `batch_size` messages, each once (a message seen again ends the batch)."""
        messages: dict[str, dict[str, Any]] = {}
        while len(messages) < self.batch_size:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.batch_size - len(messages)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
            )
            received = [m for m in answer.get("Messages", []) if m["MessageId"] not in messages]
            if not received:
                break
            messages.update((m["MessageId"], m) for m in received)
        return list(messages.values())

    def poll(self) -> Batch | None:
        """Receive one batch and invoke the function with it; None when the queue had nothing."""
        messages = self.receive()
        if not messages:
            return None
        event = {"Records": [sqs_record(m, self.queue_arn, self.region) for m in messages]}
        try:
            result = self.handler(event, self.context())
        except Exception as exc:  # Lambda: the batch stays, and comes back after the visibility timeout
            return Batch(self.function, len(messages), len(messages), f"{type(exc).__name__}: {exc}")
        failed = {str(f["itemIdentifier"]) for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            chunk = done[start : start + SQS_RECEIVE_MAX]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return Batch(self.function, len(messages), len(failed))

    @classmethod
    def from_template(
        cls,
        template: dict[str, Any],
        mapping: dict[str, Any],
        sqs: Any,
        queue_urls: dict[str, str],
        queue_arns: dict[str, str],
    ) -> QueueTrigger:
        """The trigger an `AWS::Lambda::EventSourceMapping` declares (its properties)."""
        function = cfn.ref_target(mapping["FunctionName"])
        queue = cfn.ref_target(mapping["EventSourceArn"])
        if function is None or queue is None or queue not in queue_urls:
            raise ValueError(f"an event source mapping this stack cannot run: {mapping}")
        return cls(
            function,
            load_handler(cfn.function_handler(template, function)),
            lambda: context_for(template, function),
            sqs,
            queue_urls[queue],
            queue_arns[f"{queue}.Arn"],
            int(mapping.get("BatchSize", SQS_RECEIVE_MAX)),
        )


class ScheduleTrigger:
    def __init__(
        self,
        function: str,
        handler: LambdaHandler,
        context: Callable[[], LambdaContext],
        input_template: str,
        clock: Clock,
        schedule_arn: str,
    ) -> None:
        self.function = function
        self.handler = handler
        self.context = context
        self.input_template = input_template
        self.clock = clock
        self.schedule_arn = schedule_arn

    def event(self) -> Any:
        values = {
            "<aws.scheduler.schedule-arn>": self.schedule_arn,
            "<aws.scheduler.scheduled-time>": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "<aws.scheduler.execution-id>": uuid.uuid4().hex[:16],
            "<aws.scheduler.attempt-number>": "1",
        }
        text = self.input_template
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return json.loads(text)

    def fire(self) -> Any:
        return self.handler(self.event(), self.context())

    @classmethod
    def from_template(cls, template: dict[str, Any], function: str, clock: Clock) -> ScheduleTrigger:
        schedule = cfn.functions_with_event(template, "ScheduleV2")[function]
        return cls(
            function,
            load_handler(cfn.function_handler(template, function)),
            lambda: context_for(template, function),
            str(schedule.get("Input") or "{}"),
            clock,
            f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/ripen-dev-{function}",
        )
