"""The nurture function: the sweep, the sender and the engagement handler in one Lambda function
(template.yaml, NurtureFunction), each invocation handed to the one its trigger is for.

One function, not three, because the sweep's run every minute keeps its container warm: a send
job or an SES event arriving minutes or hours after the last one finds a container ready instead
of paying a cold start (INIT is billed). For a small sender, cold starts were most of the Lambda
bill (`make bench`, docs/architecture.md "What an email costs").

Which part, from the event alone (nothing is imported for the other two):
- SQS records from the send queue (its ARN names the queue SEND_QUEUE_URL names, or the body is a
  send job): the sender (`ripen.handlers.sender`).
- Other SQS records, SNS notifications, an EventBridge event from SES: engagement
  (`ripen.handlers.engagement`), which logs and skips what is not an SES event.
- Anything else, the scheduler's tick above all: the sweep (`ripen.handlers.sweep`), which sweeps
  even when the tick's input is not understood (a wrong schedule input must not stop every timer).
"""

from __future__ import annotations

import json
import os
from typing import Any

SWEEP, SENDER, ENGAGEMENT = "sweep", "sender", "engagement"
# Each part's handler module (imported where it is called, so that the static reach of this module
# in tests/support/reach.py follows them too).
PARTS = {SWEEP: "ripen.handlers.sweep", SENDER: "ripen.handlers.sender", ENGAGEMENT: "ripen.handlers.engagement"}


def part_for(event: Any, send_queue_url: str | None = None) -> str:
    """Which part an event is for (see the module's docstring)."""
    if not isinstance(event, dict):
        return SWEEP
    if "Records" in event:
        records = event["Records"]
        first = records[0] if isinstance(records, list) and records and isinstance(records[0], dict) else {}
        from_send_queue = first.get("eventSource") == "aws:sqs" and _from_send_queue(first, send_queue_url)
        return SENDER if from_send_queue else ENGAGEMENT
    return ENGAGEMENT if event.get("source") == "aws.ses" else SWEEP


def _from_send_queue(record: dict[str, Any], send_queue_url: str | None) -> bool:
    arn = str(record.get("eventSourceARN", ""))
    if send_queue_url and arn and arn.rsplit(":", 1)[-1] == send_queue_url.rstrip("/").rsplit("/", 1)[-1]:
        return True
    try:
        body = json.loads(record.get("body") or "")
    except (TypeError, ValueError):
        return False
    return isinstance(body, dict) and "message_key" in body  # a send job (ripen.ports.queue.SendJob)


def handler(event: Any, context: Any) -> Any:
    part = part_for(event, os.environ.get("SEND_QUEUE_URL"))
    if part == SENDER:
        from ripen.handlers import sender

        return sender.handler(event, context)
    if part == ENGAGEMENT:
        from ripen.handlers import engagement

        return engagement.handler(event, context)
    from ripen.handlers import sweep

    return sweep.handler(event, context)
