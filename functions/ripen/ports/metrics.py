"""Counting what matters for alarms and dashboards: CloudWatch (Powertools EMF) in AWS, a counter
in tests. Metric values carry no personal data; dimensions are fixed per function."""

from __future__ import annotations

from typing import Protocol

SERVICE = "ripen"  # the one dimension every metric carries (alarms in template.yaml match it)
SEQUENCE = "Sequence"  # the dimension of the per-sequence counts (`count_for`): the dashboard's per-sequence widgets


class Metrics(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...

    def count_for(self, sequence: str, name: str, value: int = 1) -> None:
        """Count `name` for one sequence too (dimension `Sequence`, beside `service`). Each
        sequence x name is a custom metric of its own in CloudWatch (a cost): kept to a few names."""
        ...

    def flush(self) -> None:
        """Publish what was counted (once per invocation)."""
        ...
