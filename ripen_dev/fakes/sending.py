"""The Sending table and SES's account switches, in memory."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from ripen.core.reputation import Counts, Hold
from ripen.ports.sending import AccountState


@dataclass
class _Kept:
    hold: Hold
    lifted_at: datetime | None = None
    lifted_by: str | None = None


class MemorySendingControl:
    def __init__(self) -> None:
        self._holds: dict[str, _Kept] = {}
        self.lifted: list[tuple[Hold, datetime, str]] = []  # history, as the table keeps it
        self.hours: dict[tuple[str, str], Counts] = {}
        self.reads = 0  # hold reads: the sender's cache keeps them to one per period
        self.writes = 0  # counter writes: one per (scope, hour) per batch
        self._lock = threading.Lock()

    def holds(self) -> list[Hold]:
        with self._lock:
            self.reads += 1
            return [k.hold for k in self._holds.values() if k.lifted_at is None]

    def put_hold(self, hold: Hold) -> bool:
        with self._lock:
            kept = self._holds.get(hold.scope)
            if kept is not None and kept.lifted_at is None and kept.hold.active(hold.since):
                return False
            self._holds[hold.scope] = _Kept(hold)
            return True

    def lift_hold(self, scope: str, at: datetime, by: str) -> Hold | None:
        with self._lock:
            kept = self._holds.get(scope)
            if kept is None or kept.lifted_at is not None:
                return None
            kept.lifted_at, kept.lifted_by = at, by
            self.lifted.append((kept.hold, at, by))
            return kept.hold

    def add_counts(self, counts: Mapping[tuple[str, str], Counts], expires_at: datetime) -> None:
        with self._lock:
            for key, c in counts.items():
                if c:
                    self.writes += 1
                    self.hours[key] = self.hours.get(key, Counts()) + c

    def counts(self, scope: str, since_hour: str) -> dict[str, Counts]:
        with self._lock:
            return {hour: c for (s, hour), c in sorted(self.hours.items()) if s == scope and hour >= since_hour}


class MemorySesAccount:
    """GetAccount and the configuration sets' sending switches, as SES keeps them."""

    def __init__(self, state: AccountState | None = None) -> None:
        self.state = state or AccountState(
            production_access=True,
            sending_enabled=True,
            max_24_hour_send=50_000,
            max_send_rate=14,
            sent_last_24_hours=0,
        )
        self.sending: dict[str, bool] = {}
        self.switches: list[tuple[str, bool]] = []

    def account(self) -> AccountState | None:
        return self.state

    def sent(self, n: int = 1) -> None:
        self.state = replace(self.state, sent_last_24_hours=self.state.sent_last_24_hours + n)

    def set_sending(self, configuration_set: str, enabled: bool) -> None:
        self.sending[configuration_set] = enabled
        self.switches.append((configuration_set, enabled))

    def sending_enabled(self, configuration_set: str) -> bool | None:
        return self.sending.get(configuration_set, True)
