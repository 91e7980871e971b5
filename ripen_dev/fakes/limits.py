"""The in-memory limiter: the slots and counts `DynamoLimiter` keeps, in a dict (expired slots linger:
no window ever reads them again)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ripen.ports.limits import slots_for


class MemoryLimiter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}  # slot key -> takes counted

    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> bool:
        slots = slots_for(key, window, now)
        before = sum(self.counts.get(k, 0) for k in slots.earlier)
        count = self.counts.get(slots.current, 0)
        if before + count >= limit:
            return False
        self.counts[slots.current] = count + 1
        return True
