"""Counting what matters for alarms and dashboards: CloudWatch (Powertools EMF) in AWS, a counter
in tests. Metric values carry no personal data; dimensions are fixed per function."""

from __future__ import annotations

from ripen.ports.metrics import SERVICE


class PowertoolsMetrics:
    """Powertools Metrics: written to the log as CloudWatch embedded metrics (no API calls)."""

    def __init__(self, namespace: str, service: str = SERVICE) -> None:
        from aws_lambda_powertools import Metrics as _Metrics

        self._metrics = _Metrics(namespace=namespace, service=service)
        self._pending = False

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        self._pending = True

    def flush(self) -> None:
        if self._pending:
            self._metrics.flush_metrics()
            self._pending = False
