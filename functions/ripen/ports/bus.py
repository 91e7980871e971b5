"""The event bus port (the hand-off to sales)."""

from __future__ import annotations

import json
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
