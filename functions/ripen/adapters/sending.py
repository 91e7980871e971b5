"""The Sending table: holds on sending and the reputation counters (low-level DynamoDB client).

Partition key `scope`, sort key `item`:
- `hold` / `*` or a sequence's name: a hold (reason, who, since, the cool-down's end). Lifting it
  marks it lifted (kept 30 days as history, then gone by TTL): nothing is ever deleted by hand.
- `count#*` or `count#<sequence>` / `YYYY-MM-DDTHH`: emails sent, hard bounces and complaints of
  that hour, added once per engagement batch (atomic ADD), gone by TTL after the longest window.

And SES's own switches: the account (`GetAccount`) and the configuration set's sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ripen.adapters.aws import DynamoTableClient, client
from ripen.core.reputation import Counts, Hold
from ripen.ports.sending import AccountState

HOLD = "hold"
COUNT = "count#"
HISTORY_KEPT = timedelta(days=30)


def _epoch(at: datetime) -> str:
    return str(int(at.timestamp()))


def _moment(value: dict[str, str] | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value["N"]), UTC)


def hold_from_item(item: Mapping[str, Any]) -> Hold:
    since = _moment(item["since"])
    assert since is not None
    return Hold(
        scope=item["item"]["S"],
        reason=item.get("reason", {}).get("S", ""),
        by=item.get("by", {}).get("S", ""),
        since=since,
        until=_moment(item.get("until")),
        paused_ses=bool(item.get("paused_ses", {}).get("BOOL", False)),
        detail={k: v["S"] for k, v in item.get("detail", {}).get("M", {}).items()},
    )


class DynamoSendingControl(DynamoTableClient):
    def holds(self) -> list[Hold]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "scope"},
            ExpressionAttributeValues={":s": {"S": HOLD}},
            ConsistentRead=True,
        )
        return [hold_from_item(item) for item in response["Items"] if "lifted_at" not in item]

    def put_hold(self, hold: Hold) -> bool:
        item: dict[str, Any] = {
            "scope": {"S": HOLD},
            "item": {"S": hold.scope},
            "reason": {"S": hold.reason[:500]},
            "by": {"S": hold.by},
            "since": {"N": _epoch(hold.since)},
            "paused_ses": {"BOOL": hold.paused_ses},
            "detail": {"M": {k: {"S": str(v)[:200]} for k, v in hold.detail.items()}},
        }
        if hold.until is not None:
            item["until"] = {"N": _epoch(hold.until)}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                # none there, or lifted, or its cool-down over: a hold in force is never replaced
                ConditionExpression="attribute_not_exists(#i) OR attribute_exists(lifted_at) OR #u <= :now",
                ExpressionAttributeNames={"#i": "item", "#u": "until"},
                ExpressionAttributeValues={":now": {"N": _epoch(hold.since)}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def lift_hold(self, scope: str, at: datetime, by: str) -> Hold | None:
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"scope": {"S": HOLD}, "item": {"S": scope}},
                UpdateExpression="SET lifted_at = :at, lifted_by = :by, expires_at = :gone",
                ConditionExpression="attribute_exists(#i) AND attribute_not_exists(lifted_at)",
                ExpressionAttributeNames={"#i": "item"},
                ExpressionAttributeValues={
                    ":at": {"N": _epoch(at)},
                    ":by": {"S": by},
                    ":gone": {"N": _epoch(at + HISTORY_KEPT)},
                },
                ReturnValues="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return hold_from_item(response["Attributes"])

    def add_counts(self, counts: Mapping[tuple[str, str], Counts], expires_at: datetime) -> None:
        for (scope, hour), c in sorted(counts.items()):
            if not c:
                continue
            self.client.update_item(
                TableName=self.table,
                Key={"scope": {"S": COUNT + scope}, "item": {"S": hour}},
                UpdateExpression="ADD sends :s, bounces :b, complaints :c SET expires_at = :e",
                ExpressionAttributeValues={
                    ":s": {"N": str(c.sends)},
                    ":b": {"N": str(c.bounces)},
                    ":c": {"N": str(c.complaints)},
                    ":e": {"N": _epoch(expires_at)},
                },
            )

    def counts(self, scope: str, since_hour: str) -> dict[str, Counts]:
        out: dict[str, Counts] = {}
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "#s = :s AND #i >= :h",
            "ExpressionAttributeNames": {"#s": "scope", "#i": "item"},
            "ExpressionAttributeValues": {":s": {"S": COUNT + scope}, ":h": {"S": since_hour}},
        }
        for page in self.client.get_paginator("query").paginate(**request):
            for item in page["Items"]:
                number = {n: int(item.get(n, {}).get("N", "0")) for n in ("sends", "bounces", "complaints")}
                out[item["item"]["S"]] = Counts(**number)
        return out


class SesAccountClient:
    """SES v2: `GetAccount`, and the configuration set's sending switch."""

    def __init__(self, region: str | None = None, client: Any = None) -> None:
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client("sesv2", self.region)
        return self._client

    def account(self) -> AccountState | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_account()
        except (ClientError, BotoCoreError):
            return None
        quota = answer.get("SendQuota", {})
        return AccountState(
            production_access=bool(answer.get("ProductionAccessEnabled", False)),
            sending_enabled=bool(answer.get("SendingEnabled", True)),
            max_24_hour_send=float(quota.get("Max24HourSend", 200.0)),
            max_send_rate=float(quota.get("MaxSendRate", 1.0)),
            sent_last_24_hours=float(quota.get("SentLast24Hours", 0.0)),
            enforcement_status=str(answer.get("EnforcementStatus", "HEALTHY")),
        )

    def set_sending(self, configuration_set: str, enabled: bool) -> None:
        self.client.put_configuration_set_sending_options(
            ConfigurationSetName=configuration_set, SendingEnabled=enabled
        )

    def sending_enabled(self, configuration_set: str) -> bool | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client.get_configuration_set(ConfigurationSetName=configuration_set)
        except (ClientError, BotoCoreError):
            return None
        return bool(found.get("SendingOptions", {}).get("SendingEnabled", True))
