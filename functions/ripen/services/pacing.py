"""Keeping to the SES sending rate: each sender container sends at most its share of it.

SES accepts at most the account's maximum send rate (emails per second, `GetAccount` ->
`SendQuota.MaxSendRate`). At most `SENDER_CONCURRENCY` senders run at once (the SQS event source's
maximum concurrency), so each keeps to `rate / concurrency` with a token bucket on the clock: a
send takes a token; tokens come back at that rate; the bucket holds at most one, so a container
never bursts. What the buckets of all containers let through never exceeds the account's rate;
SES throttling that happens anyway (another application on the account) is handed back to the
queue and retried, never lost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger

from ripen.ports.clock import Clock

logger = Logger(child=True)

# When SES's own figure cannot be read (no permission, no network): the rate of an account in the
# SES sandbox, the lowest there is. Set SES_MAX_SEND_RATE to say what yours is.
FALLBACK_RATE = 1.0


class Pacer:
    """At most `rate` sends per second, waiting through the clock (`Clock.sleep`)."""

    def __init__(self, rate: float, clock: Clock, burst: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError("a send rate is more than 0 per second")
        self.rate = rate
        self.clock = clock
        self.burst = max(1.0, burst)
        self._tokens = self.burst
        self._at: datetime | None = None
        self._lock = threading.Lock()

    def take(self, max_wait: float | None = None) -> float | None:
        """Take one send's token, waiting for it when none is left. Returns the seconds waited; None
        (and nothing taken) when the token would come later than `max_wait` seconds from now."""
        with self._lock:
            self._refill()
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
            if max_wait is not None and wait > max_wait:
                return None
            self._tokens -= 1  # taken now, even if it only comes back in `wait`: the next caller waits longer
        self.clock.sleep(wait)
        return wait

    def throttled(self) -> None:
        """SES said we went too fast: nothing more from this container for one interval."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)

    def _refill(self) -> None:
        now = self.clock.now()
        if self._at is not None:
            elapsed = max(0.0, (now - self._at).total_seconds())
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._at = now


def account_rate(configured: float, read: Callable[[], float | None]) -> float:
    """The account's maximum send rate: as configured (SES_MAX_SEND_RATE), else as SES says."""
    if configured > 0:
        return configured
    rate = read()
    if rate:
        logger.info("SES maximum send rate read from the account", extra={"max_send_rate": rate})
        return rate
    logger.warning(
        "SES maximum send rate could not be read (ses:GetAccount): keeping to the sandbox rate; "
        "set SES_MAX_SEND_RATE (template parameter SesMaxSendRate)",
        extra={"max_send_rate": FALLBACK_RATE},
    )
    return FALLBACK_RATE


def share_of(rate: float, concurrency: int) -> float:
    """One sender container's share of the account's rate."""
    return rate / max(1, concurrency)
