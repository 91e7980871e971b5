"""Per sequence and step counters (sent, delivered, opened, clicked, bounced, ...) in the Stats table.

One item per bucket: partition key `sequence`, sort key `v<version>#<step>#<YYYY-MM-DD>` (the UTC
day the emails were sent, see `ripen.core.engagement.Bucket`); one number attribute per counter
(`sent`, `opened`, `link:pricing`, ...). Writers add with DynamoDB's atomic ADD, one request per
bucket per batch; readers query one sequence and sum what they need (`StatsRow`, `totals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ripen.adapters.aws import DynamoTableClient
from ripen.core.engagement import Bucket
from ripen.ports.stats import StatsRow, in_selection, sort_key_prefix


class DynamoStats(DynamoTableClient):
    """The Stats table through the low-level DynamoDB client (counter names vary: one per link name)."""

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
            "ExpressionAttributeValues": {":s": {"S": sequence}, ":p": {"S": sort_key_prefix(version, step)}},
        }
        for page in self.client.get_paginator("query").paginate(**request):
            for item in page["Items"]:
                bucket = Bucket.parse(sequence, item["bucket"]["S"])
                if bucket is None or not in_selection(bucket, version, step, since):
                    continue
                counts = {k: int(v["N"]) for k, v in item.items() if "N" in v}
                out.append(StatsRow(bucket, counts))
        return out
