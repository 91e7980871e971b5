"""Metrics counted in memory."""

from __future__ import annotations

from collections import Counter


class MemoryMetrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.per_sequence: Counter[tuple[str, str]] = Counter()  # (sequence, name)
        self.flushes = 0

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] += value

    def count_for(self, sequence: str, name: str, value: int = 1) -> None:
        self.per_sequence[(sequence, name)] += value

    def flush(self) -> None:
        self.flushes += 1
