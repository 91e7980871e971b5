"""Putting events on an EventBridge bus (the hand-off to sales); a list in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

PUT_EVENTS_BATCH = 10  # PutEvents takes at most 10 entries


@dataclass(frozen=True)
class BusEvent:
    source: str
    detail_type: str
    detail: Mapping[str, Any]
    resources: tuple[str, ...] = ()

    def entry(self, bus_name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, separators=(",", ":"), sort_keys=True),
            "EventBusName": bus_name,
        }
        if self.resources:
            entry["Resources"] = list(self.resources)
        return entry


class EventBus(Protocol):
    def put(self, events: Sequence[BusEvent]) -> list[BusEvent]:
        """Put the events on the bus; returns those it did not accept."""
        ...


class EventBridgeBus:
    def __init__(self, bus_name: str, region: str | None = None, client: Any = None) -> None:
        self.bus_name = bus_name
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from botocore.config import Config  # lazy: only a function that hands off pays for it
            from botocore.session import get_session

            config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)
            self._client = get_session().create_client("events", region_name=self.region, config=config)
        return self._client

    def put(self, events: Sequence[BusEvent]) -> list[BusEvent]:
        failed: list[BusEvent] = []
        for start in range(0, len(events), PUT_EVENTS_BATCH):
            batch = events[start : start + PUT_EVENTS_BATCH]
            response = self.client.put_events(Entries=[event.entry(self.bus_name) for event in batch])
            if response.get("FailedEntryCount"):
                failed.extend(e for e, r in zip(batch, response["Entries"], strict=True) if r.get("ErrorCode"))
        return failed


class MemoryEventBus:
    """Keeps the events. `refuse(n)` makes the next n events fail, as an unavailable bus would."""

    def __init__(self) -> None:
        self.events: list[BusEvent] = []
        self._refuse = 0
        self._lock = threading.Lock()

    def refuse(self, n: int = 1) -> None:
        self._refuse += n

    def put(self, events: Sequence[BusEvent]) -> list[BusEvent]:
        failed: list[BusEvent] = []
        with self._lock:
            for event in events:
                if self._refuse:
                    self._refuse -= 1
                    failed.append(event)
                else:
                    self.events.append(event)
        return failed

    def of_type(self, detail_type: str) -> list[BusEvent]:
        return [e for e in self.events if e.detail_type == detail_type]
