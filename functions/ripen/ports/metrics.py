"""Counting what matters for alarms and dashboards: CloudWatch (Powertools EMF) in AWS, a counter
in tests. Metric values carry no personal data; dimensions are fixed per function."""

from __future__ import annotations

from typing import Protocol

SERVICE = "ripen"  # the one dimension every metric carries (alarms in template.yaml match it)


class Metrics(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...

    def flush(self) -> None:
        """Publish what was counted (once per invocation)."""
        ...
