"""The sender Lambda on the SQS event AWS delivers (events/sqs/send-jobs.json)."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest

from ripen.app import use
from ripen.core.records import MessageStatus
from ripen.handlers import nurture, observability, sender
from ripen.ports.mailer import ThrottledError
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local import cfn
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS, REPO
from tests.support.mailstack import make_stack


def send_jobs() -> dict:
    return json.loads((EVENTS / "sqs" / "send-jobs.json").read_text())


def test_a_batch_sends_every_job_and_drops_the_malformed_one(stack):
    # Given the two leads the sample jobs are for
    stack.signup("ana@example.com", sequence="trial-nurture")
    stack.signup("ben@example.com", sequence="ebook-nurture")
    stack.queue.drain()
    # When the sender Lambda gets the batch (two jobs and a malformed record)
    response = sender.handler(send_jobs(), LambdaContext())
    # Then both emails go out, nothing is reported for retry, and metrics are published
    assert response == {"batchItemFailures": []}
    assert sorted(e.to for e in stack.outbox.emails) == ["ana@example.com", "ben@example.com"]
    assert stack.metrics.flushes == 1


def test_only_the_throttled_record_is_reported_and_it_comes_back_after_a_short_delay(stack):
    stack.signup("ana@example.com", sequence="trial-nurture")
    stack.signup("ben@example.com", sequence="ebook-nurture")
    stack.queue.drain()
    event = send_jobs()
    stack.outbox.fail_with(ThrottledError("TooManyRequestsException", "Maximum sending rate exceeded."))
    response = sender.handler(event, LambdaContext())
    first = event["Records"][0]
    assert response == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert stack.queue.deferred == [(first["receiptHandle"], timedelta(seconds=60))]
    assert [e.to for e in stack.outbox.emails] == ["ben@example.com"]
    assert stack.message(json.loads(first["body"])["message_key"]).status is MessageStatus.CLAIMED


def test_a_job_whose_message_is_unknown_is_acknowledged_not_retried(stack):
    response = sender.handler(send_jobs(), LambdaContext())  # no such leads or messages
    assert response == {"batchItemFailures": []}
    assert stack.outbox.attempts == 0


def test_a_job_whose_turn_under_the_send_rate_comes_after_the_invocation_ends_goes_back(catalog, clock):
    # Given a sender allowed one email every two seconds, and an invocation with 6 seconds left
    built = make_stack(InMemoryStore(), clock, catalog, env={"SES_MAX_SEND_RATE": "0.5", "SENDER_CONCURRENCY": "1"})
    use(built.app)
    try:
        built.signup("ana@example.com", sequence="trial-nurture")
        built.signup("ben@example.com", sequence="ebook-nurture")
        built.queue.drain()
        event = send_jobs()
        response = sender.handler(event, LambdaContext(timeout_ms=6_000))
    finally:
        use(None)
    # Then the first email goes out and the second, whose turn is 2 s away (5 s are kept in hand
    # for the call to SES and the record), comes back after its turn
    second = event["Records"][1]
    assert response == {"batchItemFailures": [{"itemIdentifier": second["messageId"]}]}
    assert [e.to for e in built.outbox.emails] == ["ana@example.com"]
    assert built.queue.deferred == [(second["receiptHandle"], timedelta(seconds=2))]


@pytest.fixture
def logs() -> Iterator[list[dict]]:
    """Every line the function logs, as JSON, as it would reach CloudWatch."""
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(observability.logger.registered_formatter)
    observability.logger.addHandler(capture)
    lines: list[dict] = []
    yield lines
    logging.getLogger(observability.logger.service).removeHandler(capture)


def read(stream_lines: list[dict]) -> list[dict]:
    handler = logging.getLogger(observability.logger.service).handlers[-1]
    assert isinstance(handler, logging.StreamHandler)
    stream_lines[:] = [json.loads(line) for line in handler.stream.getvalue().splitlines()]
    return stream_lines


def test_a_line_logged_while_a_job_is_handled_names_its_sqs_message_and_not_the_lead(stack, logs):
    # Given a batch with a malformed record, which the sender logs as it drops it
    stack.signup("ana@example.com", sequence="trial-nurture")
    stack.queue.drain()
    event = send_jobs()
    # When the sender Lambda handles the batch
    sender.handler(event, LambdaContext(function_name="ripen-dev-NurtureFunction"))
    lines = read(logs)
    # Then the drop is logged with that record's SQS message id and the invocation's context
    [dropped] = [line for line in lines if line["message"].startswith("send job dropped")]
    assert dropped[observability.RECORD_KEY] == event["Records"][2]["messageId"]
    assert dropped["function_name"] == "ripen-dev-NurtureFunction"
    # and no line names the lead by address, and the key is gone once the record is done
    assert "ana@example.com" not in json.dumps(lines)
    assert observability.RECORD_KEY not in observability.logger.get_current_keys()


def test_the_first_invocation_of_a_container_is_counted_as_a_cold_start_and_the_next_is_not(stack, monkeypatch):
    monkeypatch.setattr(observability, "_cold", True)  # a fresh container
    sender.handler(send_jobs(), LambdaContext())
    sender.handler(send_jobs(), LambdaContext())
    assert stack.metrics.counts[observability.COLD_START] == 1
    assert stack.metrics.flushes == 2


def test_every_handler_is_traced_and_tracing_stays_off_outside_lambda(stack):
    # Given the handlers of every function template.yaml declares
    functions = cfn.resources_of_type(cfn.load_template(REPO / "template.yaml"), "AWS::Serverless::Function")
    handlers = [function["Handler"] for function in functions.values()]
    # (the nurture function hands each invocation to one of its parts' handlers, which are those checked)
    handlers = [h for h in handlers if h != "ripen.handlers.nurture.handler"]
    handlers += [f"{module}.handler" for module in nurture.PARTS.values()]
    for handler in handlers:
        module_name, _, name = handler.rpartition(".")
        source = inspect.getsource(importlib.import_module(module_name))
        # Then each is wrapped the same way: the Lambda context in its logs, an X-Ray subsegment
        wrapped = re.search(
            r"@logger\.inject_lambda_context\([^\n]*clear_state=True\)\n"
            r"@tracer\.capture_lambda_handler\(capture_response=False\)\n"
            rf"def {name}\(",
            source,
        )
        assert wrapped, handler
        assert "count_cold_start(" in source, handler
    # And here, outside Lambda, the tracer is off and the X-Ray SDK was never imported
    sender.handler(send_jobs(), LambdaContext())
    assert observability.tracer.disabled
    assert "aws_xray_sdk.core" not in sys.modules


def test_in_lambda_the_tracer_records_to_xray_and_patches_only_botocore():
    # Given the environment Lambda gives a function (and tracing not turned off)
    probe = (
        "import sys; from ripen.handlers import observability as o; "
        "print(o.tracer.disabled, type(o.tracer.provider).__module__, "
        "sorted(m for m in sys.modules if m.startswith('aws_xray_sdk.ext.') and m.endswith('.patch')))"
    )
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO / "functions")},
        check=True,
    )
    # Then the tracer is on, with the X-Ray recorder, and only botocore (every AWS call) is patched
    assert done.stdout.split(" ", 2)[:2] == ["False", "aws_xray_sdk.core.async_recorder"]
    assert "aws_xray_sdk.ext.botocore.patch" in done.stdout
    assert "pynamodb" not in done.stdout


def test_with_tracing_off_subsegments_record_nothing_in_sync_and_async_code():
    import asyncio

    from ripen.handlers.observability import Untraced

    # Given the provider the handlers use where tracing is off (tests, ripen dev, sam local)
    provider = Untraced()

    async def in_async_code() -> str:
        async with provider.in_subsegment_async("render") as segment:
            segment.put_annotation("step", "welcome")
            return type(segment).__name__

    # Then both kinds of subsegment are accepted and record nothing (no X-Ray SDK loaded)
    with provider.in_subsegment("render") as segment:
        segment.put_annotation("step", "welcome")
    assert asyncio.run(in_async_code()) == type(segment).__name__
