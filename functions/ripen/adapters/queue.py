"""The send queue on SQS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from ripen.adapters.aws import client
from ripen.ports.queue import MAX_VISIBILITY, SQS_BATCH, SendJob, chunks

logger = Logger(child=True)


class SqsSendQueue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:  # made on first use: only functions that enqueue pay for it
            self._client = client("sqs")
        return self._client

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        failed: list[SendJob] = []
        for batch in chunks(jobs, SQS_BATCH):
            entries = [{"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(batch)]
            response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed.extend(batch[int(f["Id"])] for f in response.get("Failed", []))
        return failed

    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        seconds = int(min(delay, MAX_VISIBILITY).total_seconds())
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=max(0, seconds)
        )
