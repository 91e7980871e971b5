"""The send queue port: one small job per claimed message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

SQS_BATCH = 10
# SQS refuses a visibility timeout reaching 12 hours past the job's receipt; keep clear of it.
MAX_VISIBILITY = timedelta(hours=11, minutes=50)


class SendJob(BaseModel):
    """Everything else the sender needs is on the message item, so a job cannot go stale."""

    model_config = ConfigDict(frozen=True)
    message_key: str = Field(min_length=3, max_length=512)


class SendQueue(Protocol):
    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        """Queue the jobs; returns those that could not be queued (the sweep picks them up later)."""
        ...


@runtime_checkable
class JobRedelivery(Protocol):
    def defer(self, receipt_handle: str, delay: timedelta) -> None:
        """Hide a received job for `delay` before it is delivered again (instead of the queue's default)."""
        ...


def chunks(items: Sequence[SendJob], size: int) -> Iterable[Sequence[SendJob]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
