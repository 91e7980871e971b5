"""The send queue: one small job per claimed message. SQS in AWS; a list in tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

SQS_BATCH = 10
MAX_VISIBILITY = timedelta(hours=12)  # SQS's limit for a message's visibility timeout


class SendJob(BaseModel):
    """Everything else the sender needs is on the message item, so a job cannot go stale."""

    model_config = ConfigDict(frozen=True)
    message_key: str = Field(min_length=3, max_length=512)


class SendQueue(Protocol):
    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        """Queue the jobs; returns those that could not be queued (the sweep picks them up later)."""
        ...


class JobRedelivery(Protocol):
    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        """Hide a received job for `delay` before it is delivered again (instead of the queue's default)."""
        ...


class MemorySendQueue:
    def __init__(self) -> None:
        self.jobs: list[SendJob] = []
        self.deferred: list[tuple[str, timedelta]] = []

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        self.jobs.extend(jobs)
        return []

    def drain(self) -> list[SendJob]:
        jobs, self.jobs = self.jobs, []
        return jobs

    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        self.deferred.append((receipt_handle, min(delay, MAX_VISIBILITY)))


class SqsSendQueue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # lazy: only functions that enqueue pay for the client

            self._client = boto3.client("sqs")
        return self._client

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        failed: list[SendJob] = []
        for batch in _chunks(jobs, SQS_BATCH):
            entries = [{"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(batch)]
            response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed.extend(batch[int(f["Id"])] for f in response.get("Failed", []))
        return failed

    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        seconds = int(min(delay, MAX_VISIBILITY).total_seconds())
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, seconds)
        )


def _chunks(items: Sequence[SendJob], size: int) -> Iterable[Sequence[SendJob]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
