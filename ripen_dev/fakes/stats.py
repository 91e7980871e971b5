"""Stats counted in memory."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date

from ripen.core.engagement import Bucket
from ripen.ports.stats import StatsRow, in_selection


class MemoryStats:
    def __init__(self) -> None:
        self.counts: dict[Bucket, dict[str, int]] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def add(self, counts: Mapping[Bucket, Mapping[str, int]]) -> None:
        with self._lock:
            for bucket, counters in counts.items():
                self.writes += 1
                stored = self.counts.setdefault(bucket, {})
                for name, n in counters.items():
                    stored[name] = stored.get(name, 0) + n

    def rows(
        self, sequence: str, version: int | None = None, step: str | None = None, since: date | None = None
    ) -> list[StatsRow]:
        return [
            StatsRow(bucket, dict(counters))
            for bucket, counters in sorted(self.counts.items(), key=lambda kv: (kv[0].sequence, kv[0].key))
            if bucket.sequence == sequence and in_selection(bucket, version, step, since)
        ]

    def total(self, sequence: str, name: str, step: str | None = None) -> int:
        return sum(row.counts.get(name, 0) for row in self.rows(sequence, step=step))
