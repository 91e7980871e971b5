"""An event bus in memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ripen.ports.bus import BusEvent


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
