"""Per sequence and step counters (sent, delivered, opened, clicked, bounced, ...) in the Stats table.

One item per bucket: partition key `sequence`, sort key `v<version>#<step>#<YYYY-MM-DD>` (the UTC
day the emails were sent, see `ripen.core.engagement.Bucket`); one number attribute per counter
(`sent`, `opened`, `link:pricing`, ...). Writers add with DynamoDB's atomic ADD, one request per
bucket per batch; readers query one sequence and sum what they need (`StatsRow`, `totals`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ripen.core.engagement import Bucket


@dataclass(frozen=True)
class StatsRow:
    bucket: Bucket
    counts: Mapping[str, int] = field(default_factory=dict)


class Stats(Protocol):
    def add(self, counts: Mapping[Bucket, Mapping[str, int]]) -> None:
        """Add to the counters, atomically per bucket."""
        ...

    def rows(
        self, sequence: str, version: int | None = None, step: str | None = None, since: date | None = None
    ) -> list[StatsRow]:
        """The buckets of a sequence (of one version, one step, emails sent on or after `since`),
        ordered by version, step and day."""
        ...


def totals(rows: Iterable[StatsRow]) -> dict[tuple[int, str], dict[str, int]]:
    """Counters summed over days, per (version, step): a funnel for the reporting pages."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        sums = out.setdefault((row.bucket.version, row.bucket.step), {})
        for name, n in row.counts.items():
            sums[name] = sums.get(name, 0) + n
    return out


def _prefix(version: int | None, step: str | None) -> str:
    if version is None:
        return "v"
    return f"v{version}#" if step is None else f"v{version}#{step}#"


def _wanted(bucket: Bucket, version: int | None, step: str | None, since: date | None) -> bool:
    return (
        (version is None or bucket.version == version)
        and (step is None or bucket.step == step)
        and (since is None or bucket.day >= since.isoformat())
    )


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
            if bucket.sequence == sequence and _wanted(bucket, version, step, since)
        ]

    def total(self, sequence: str, name: str, step: str | None = None) -> int:
        return sum(row.counts.get(name, 0) for row in self.rows(sequence, step=step))


class DynamoStats:
    """The Stats table through the low-level DynamoDB client (counter names vary: one per link name)."""

    def __init__(self, table: str, region: str, endpoint: str | None = None, client: Any = None) -> None:
        self.table = table
        self.region = region
        self.endpoint = endpoint
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from pynamodb.connection import Connection  # its botocore client: no boto3 needed

            self._client = Connection(region=self.region, host=self.endpoint).client
        return self._client

    def add(self, counts: Mapping[Bucket, Mapping[str, int]]) -> None:
        for bucket, counters in sorted(counts.items()):
            if not counters:
                continue
            names = {f"#c{i}": name for i, name in enumerate(sorted(counters))}
            values = {f":c{i}": {"N": str(counters[name])} for i, name in enumerate(sorted(counters))}
            adds = ", ".join(f"#c{i} :c{i}" for i in range(len(names)))
            self.client.update_item(
                TableName=self.table,
                Key={"sequence": {"S": bucket.sequence}, "bucket": {"S": bucket.key}},
                UpdateExpression=f"ADD {adds}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def rows(
        self, sequence: str, version: int | None = None, step: str | None = None, since: date | None = None
    ) -> list[StatsRow]:
        out: list[StatsRow] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#s = :s AND begins_with(#b, :p)",
            "ExpressionAttributeNames": {"#s": "sequence", "#b": "bucket"},
            "ExpressionAttributeValues": {":s": {"S": sequence}, ":p": {"S": _prefix(version, step)}},
        }
        for page in self.client.get_paginator("query").paginate(**request):
            for item in page["Items"]:
                bucket = Bucket.parse(sequence, item["bucket"]["S"])
                if bucket is None or not _wanted(bucket, version, step, since):
                    continue
                counts = {k: int(v["N"]) for k, v in item.items() if "N" in v}
                out.append(StatsRow(bucket, counts))
        return out
