"""Where sending holds and the reputation counters live (the Sending table), and the SES account's
own switches (quota, sandbox, the configuration set's sending)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ripen.core.reputation import Counts, Hold

# Where an account in the SES sandbox asks for production access.
PRODUCTION_ACCESS_URL = "https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html"


class SendingControl(Protocol):
    def holds(self) -> list[Hold]:
        """Every hold in force or waiting for its cool-down to pass (lifted ones are history)."""
        ...

    def put_hold(self, hold: Hold) -> bool:
        """Hold `hold.scope`; False (and nothing written) when a hold on that scope is in force already."""
        ...

    def lift_hold(self, scope: str, at: datetime, by: str) -> Hold | None:
        """Lift the hold on `scope`; the hold lifted, or None when there was none."""
        ...

    def add_counts(self, counts: Mapping[tuple[str, str], Counts], expires_at: datetime) -> None:
        """Add to the per (scope, hour) counters, atomically per counter item."""
        ...

    def counts(self, scope: str, since_hour: str) -> dict[str, Counts]:
        """`scope`'s counters per hour, from `since_hour` on."""
        ...


@dataclass(frozen=True)
class AccountState:
    """What SES says of the account in this region (sesv2 `GetAccount`)."""

    production_access: bool  # False: the SES sandbox (verified recipients only, 200 a day)
    sending_enabled: bool
    max_24_hour_send: float
    max_send_rate: float
    sent_last_24_hours: float
    enforcement_status: str = "HEALTHY"

    @property
    def quota_left(self) -> float:
        if self.max_24_hour_send < 0:  # -1: no quota
            return float("inf")
        return max(0.0, self.max_24_hour_send - self.sent_last_24_hours)


class SesAccount(Protocol):
    def account(self) -> AccountState | None:
        """The account's state; None when SES cannot tell (no permission, no network)."""
        ...

    def set_sending(self, configuration_set: str, enabled: bool) -> None:
        """Switch the configuration set's sending on or off (PutConfigurationSetSendingOptions)."""
        ...

    def sending_enabled(self, configuration_set: str) -> bool | None:
        """Whether the configuration set may send (GetConfigurationSet); None when unknown."""
        ...
