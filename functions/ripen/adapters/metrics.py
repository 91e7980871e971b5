"""Counting what matters for alarms and dashboards: CloudWatch (Powertools EMF) in AWS, a counter
in tests. Metric values carry no personal data; dimensions are fixed per function."""

from __future__ import annotations

from collections import Counter

from ripen.ports.metrics import SEQUENCE, SERVICE


class PowertoolsMetrics:
    """Powertools Metrics: written to the log as CloudWatch embedded metrics (no API calls)."""

    def __init__(self, namespace: str, service: str = SERVICE) -> None:
        from aws_lambda_powertools import Metrics as _Metrics

        self._metrics = _Metrics(namespace=namespace, service=service)
        self._pending = False
        self._namespace = namespace
        self._service = service
        # Dimensions are per flushed document: the per-sequence counts are summed over the invocation,
        # then written as one document per sequence and name at the flush.
        self._per_sequence: Counter[tuple[str, str]] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        self._pending = True

    def count_for(self, sequence: str, name: str, value: int = 1) -> None:
        self._per_sequence[(sequence, name)] += value

    def flush(self) -> None:
        if self._pending:
            self._metrics.flush_metrics()
            self._pending = False
        if self._per_sequence:
            from aws_lambda_powertools.metrics import MetricUnit, single_metric

            for (sequence, name), value in sorted(self._per_sequence.items()):
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=value,
                    namespace=self._namespace,
                    default_dimensions={"service": self._service},
                ) as metric:
                    metric.add_dimension(name=SEQUENCE, value=sequence)
            self._per_sequence.clear()
