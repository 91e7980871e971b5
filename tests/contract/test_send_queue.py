"""The send queue as the nurture service and the sweep use it: SQS (on moto's server) and the memory
queue the unit tests use take and deliver the same jobs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ripen.ports.queue import MAX_VISIBILITY, SendJob


class Sqs:
    """The SQS adapter, with a reader that receives what it queued, as Lambda's event source would."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        from ripen.adapters.queue import SqsSendQueue

        self.client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        url = self.client.create_queue(QueueName=f"send-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.queue = SqsSendQueue(url, self.client)

    def received(self) -> list[tuple[SendJob, str]]:
        found = []
        while batch := self.client.receive_message(QueueUrl=self.queue.queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            found += [(SendJob.model_validate_json(m["Body"]), m["ReceiptHandle"]) for m in batch]
        return found


class Memory:
    def __init__(self) -> None:
        from ripen_dev.fakes.queue import MemorySendQueue

        self.queue = MemorySendQueue()

    def received(self) -> list[tuple[SendJob, str]]:
        return [(job, f"receipt-{i}") for i, job in enumerate(self.queue.drain())]


@pytest.fixture(params=["memory", pytest.param("sqs", marks=pytest.mark.integration)])
def send_queue(request: pytest.FixtureRequest):
    return Memory() if request.param == "memory" else Sqs(request.getfixturevalue("moto_endpoint"))


def test_every_queued_job_is_delivered_once_whatever_the_batch_size(send_queue):
    # Given more jobs than one SQS batch holds
    jobs = [SendJob(message_key=f"ld_{i:02d}#trial-nurture#1#welcome") for i in range(23)]
    # When they are queued
    assert send_queue.queue.enqueue(jobs) == []
    # Then each is delivered, once, as it was queued
    assert sorted(job.message_key for job, _ in send_queue.received()) == [j.message_key for j in jobs]
    assert send_queue.received() == []


@pytest.mark.parametrize("delay", [timedelta(hours=1), MAX_VISIBILITY + timedelta(hours=1)], ids=["1h", "13h"])
def test_a_deferred_job_is_hidden_not_lost(send_queue, delay):
    # (This case found that deferring by a full 12 hours is refused by SQS: the cap is now below it.)
    assert send_queue.queue.enqueue([SendJob(message_key="ld_ana#trial-nurture#1#welcome")]) == []
    [(_, receipt)] = send_queue.received()
    send_queue.queue.defer(receipt, delay)
    assert send_queue.received() == []
