"""The in-memory event ids: what `DynamoEventIds` keeps, in a dict, to the second like its item."""

from __future__ import annotations

from datetime import datetime

from ripen.ports.event_ids import Claim


class MemoryEventIds:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, object]] = {}  # event id -> state, lease_until, expires_at

    def claim(self, event_id: str, now: datetime, lease_until: datetime, keep_until: datetime) -> Claim:
        old = self.items.get(event_id)
        if old is not None:
            if old["state"] == "applied":
                return Claim.APPLIED
            if int(str(old["lease_until"])) >= int(now.timestamp()):
                return Claim.HELD
        self.items[event_id] = {
            "state": "claimed",
            "lease_until": int(lease_until.timestamp()),
            "expires_at": int(keep_until.timestamp()),
        }
        return Claim.TAKEN

    def mark_applied(self, event_id: str, keep_until: datetime) -> None:
        self.items[event_id] = {"state": "applied", "expires_at": int(keep_until.timestamp())}

    def forget_expired(self, now: datetime) -> None:
        """What DynamoDB's TTL may do at any moment after an item's `expires_at`."""
        self.items = {k: v for k, v in self.items.items() if int(str(v["expires_at"])) > int(now.timestamp())}
