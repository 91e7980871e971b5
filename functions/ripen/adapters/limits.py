"""The limiter on the Limits table: one item per key and slot (`limit_key`), its count raised with
DynamoDB's atomic ADD under a condition on the count, gone by TTL (`expires_at`) once no window
reads it. Every container counts in the same items, so the limits hold however many run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ripen.adapters.aws import DynamoTableClient
from ripen.ports.limits import slots_for


class DynamoLimiter(DynamoTableClient):
    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> bool:
        slots = slots_for(key, window, now)
        room = limit - self._counted(slots.earlier)
        if room <= 0:
            return False
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"limit_key": {"S": slots.current}},
                UpdateExpression="ADD #c :one SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(#c) OR #c < :room",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":room": {"N": str(room)},
                    ":exp": {"N": str(slots.expires_at)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _counted(self, keys: tuple[str, ...]) -> int:
        """The takes counted in earlier slots (past slots no longer change: one consistent read each)."""
        total = 0
        pending: list[dict[str, Any]] = [{"limit_key": {"S": k}} for k in keys]
        while pending:
            answer = self.client.batch_get_item(
                RequestItems={
                    self.table: {
                        "Keys": pending,
                        "ConsistentRead": True,
                        "ProjectionExpression": "#c",
                        "ExpressionAttributeNames": {"#c": "count"},
                    }
                }
            )
            total += sum(int(item["count"]["N"]) for item in answer["Responses"].get(self.table, []) if "count" in item)
            pending = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return total
