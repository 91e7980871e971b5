"""The send queue in memory: a list of jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from aws_lambda_powertools import Logger

from ripen.ports.queue import MAX_VISIBILITY, SendJob

logger = Logger(child=True)


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
