"""Whether SES will deliver to anyone: the sweep reads the account once per container (and again
after `REREAD`), says so plainly in the log, and publishes `SesSandbox` with every run's figures.

`SesSandbox` is 1 while the account is in the SES sandbox (no production access: only verified
recipients, 200 emails a day) or SES has switched its sending off, 0 otherwise; nothing is
published while SES cannot tell (no permission, no network). The dashboard shows it; its Maximum
over a period is what an alarm would watch. A failed read never fails the sweep: it is logged and
tried again after `REREAD`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from ripen.ports.clock import Clock
from ripen.ports.metrics import Metrics
from ripen.ports.sending import PRODUCTION_ACCESS_URL, AccountState, SesAccount

logger = Logger(child=True)

SANDBOX = "SesSandbox"
# A container lives for hours: read again now and then, so production access granted shows within the hour.
REREAD = timedelta(hours=1)


class AccountCheck:
    def __init__(self, ses_account: SesAccount, clock: Clock, reread: timedelta = REREAD) -> None:
        self.ses_account = ses_account
        self.clock = clock
        self.reread = reread
        self.state: AccountState | None = None
        self.read_at: datetime | None = None

    def publish(self, metrics: Metrics) -> None:
        """Count `SesSandbox` (1 or 0) for this run, reading the account first when it is due."""
        now = self.clock.now()
        if self.read_at is None or now - self.read_at >= self.reread:
            self.read_at = now
            self.state = self._read()
        if self.state is not None:
            metrics.count(SANDBOX, 1 if blocked(self.state) else 0)

    def _read(self) -> AccountState | None:
        try:
            state = self.ses_account.account()
        except Exception as exc:  # never the sweep's failure: it only reports
            logger.warning("could not read the SES account (GetAccount)", extra={"error": type(exc).__name__})
            return None
        if state is None:
            logger.warning("could not read the SES account (GetAccount): no permission or no network")
            return None
        if not state.production_access:
            logger.warning(
                "SES account in the sandbox: only verified recipients get email (200 a day); "
                f"request production access: {PRODUCTION_ACCESS_URL}",
                extra={"sending_enabled": state.sending_enabled, "max_24_hour_send": state.max_24_hour_send},
            )
        elif not state.sending_enabled:
            logger.warning(
                "SES has switched sending off for the account: no email goes out until it is re-enabled",
                extra={"enforcement_status": state.enforcement_status},
            )
        return state


def blocked(state: AccountState) -> bool:
    """The sandbox, or sending switched off for the account."""
    return not state.production_access or not state.sending_enabled
