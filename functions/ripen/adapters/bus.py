"""Putting events on an EventBridge bus (the hand-off to sales)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ripen.adapters.aws import client
from ripen.ports.bus import PUT_EVENTS_BATCH, BusEvent


class EventBridgeBus:
    def __init__(self, bus_name: str, region: str | None = None, client: Any = None) -> None:
        self.bus_name = bus_name
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:  # made on first use: only a function that hands off pays for it
            self._client = client("events", self.region)
        return self._client

    def put(self, events: Sequence[BusEvent]) -> list[BusEvent]:
        failed: list[BusEvent] = []
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            batch = events[start : start + PUT_EVENTS_BATCH]
            response = self.client.put_events(Entries=[event.entry(self.bus_name) for event in batch])
            if response.get("FailedEntryCount"):
                failed.extend(e for e, r in zip(batch, response["Entries"], strict=True) if r.get("ErrorCode"))
        return failed
