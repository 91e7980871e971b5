"""Applied product-event ids in the EventIds table: one item per event id (`event_id`), `state`
claimed (until `lease_until`) or applied, removed by TTL (`expires_at`) once the id is no longer kept."""

from __future__ import annotations

from datetime import datetime

from ripen.adapters.aws import DynamoTableClient
from ripen.ports.event_ids import Claim


def _epoch(at: datetime) -> str:
    return str(int(at.timestamp()))


class DynamoEventIds(DynamoTableClient):
    def claim(self, event_id: str, now: datetime, lease_until: datetime, keep_until: datetime) -> Claim:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "event_id": {"S": event_id},
                    "state": {"S": "claimed"},
                    "lease_until": {"N": _epoch(lease_until)},
                    "expires_at": {"N": _epoch(keep_until)},
                },
                ConditionExpression="attribute_not_exists(event_id) OR (#s = :claimed AND lease_until < :now)",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={":claimed": {"S": "claimed"}, ":now": {"N": _epoch(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item", {})
            return Claim.APPLIED if old.get("state", {}).get("S") == "applied" else Claim.HELD
        return Claim.TAKEN

    def mark_applied(self, event_id: str, keep_until: datetime) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"event_id": {"S": event_id}},
            UpdateExpression="SET #s = :applied, expires_at = :exp REMOVE lease_until",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":applied": {"S": "applied"}, ":exp": {"N": _epoch(keep_until)}},
        )
