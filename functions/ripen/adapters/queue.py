"""The send queue: one small job per claimed message. SQS in AWS; a list in tests."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

logger = Logger(child=True)

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


class BatchingSendQueue:
    """Collects the jobs of many decisions (from several threads) and hands them to `inner` in full
    batches of 10, one SQS request per batch; `flush()` sends the rest. A batch the queue refuses,
    or a request that fails, is counted in `not_queued`, never raised: its messages are claimed
    and stored, so the sweep queues them again once their claim times out."""

    def __init__(self, inner: SendQueue, batch_size: int = SQS_BATCH) -> None:
        self._inner = inner
        self._batch_size = batch_size
        self._pending: list[SendJob] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one request at a time: the client is created on first use
        self.queued = 0
        self.not_queued: list[SendJob] = []

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        with self._lock:
            self._pending.extend(jobs)
            full = len(self._pending) - len(self._pending) % self._batch_size
            ready, self._pending = self._pending[:full], self._pending[full:]
        self._send(ready)
        return []

    def flush(self) -> None:
        with self._lock:
            ready, self._pending = self._pending, []
        self._send(ready)

    def _send(self, jobs: Sequence[SendJob]) -> None:
        for batch in _chunks(jobs, self._batch_size):
            with self._send_lock:
                try:
                    failed = self._inner.enqueue(batch)
                except Exception:
                    logger.exception("send queue unavailable; the claims will be queued again after their timeout")
                    failed = list(batch)
                self.queued += len(batch) - len(failed)
                self.not_queued.extend(failed)


def _chunks(items: Sequence[SendJob], size: int) -> Iterable[Sequence[SendJob]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
