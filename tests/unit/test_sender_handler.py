"""The sender Lambda on the SQS event AWS delivers (events/sqs/send-jobs.json)."""

from __future__ import annotations

import json
from datetime import timedelta

from ripen.app import use
from ripen.core.records import MessageStatus
from ripen.handlers import sender
from ripen.ports.mailer import ThrottledError
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS
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
