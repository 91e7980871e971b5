"""Jobs of many decisions queued in full batches (the sweep)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from aws_lambda_powertools import Logger

from ripen.ports.queue import SQS_BATCH, SendJob, SendQueue, chunks

logger = Logger(child=True)


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
        for batch in chunks(jobs, self._batch_size):
            with self._send_lock:
                try:
                    failed = self._inner.enqueue(batch)
                except Exception:
                    logger.exception("send queue unavailable; the claims will be queued again after their timeout")
                    failed = list(batch)
                self.queued += len(batch) - len(failed)
                self.not_queued.extend(failed)
