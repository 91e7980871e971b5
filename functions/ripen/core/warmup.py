"""Warming up a new sending identity: a daily allowance that grows day by day (e.g. 50, 100, 200, ...).

Pure. Mailbox providers trust a new domain or IP by its history: a sudden volume from a stranger
looks like spam. The ramp's day 1 is `start` (a UTC date); on day N at most `allowances[N-1]`
emails go out; after the last day there is no limit. Emails beyond the day's allowance wait for the
next day and are released oldest first (`release_at`), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

RELEASE_SPREAD = timedelta(hours=1)  # held emails come due over the new day's first hour, oldest first
ORDER_HORIZON = timedelta(days=7)  # creation times this far back keep their order; older ones go first


def parse_schedule(text: str) -> tuple[int, ...]:
    """'50,100,200' -> (50, 100, 200); '' -> () (no warm-up). Each allowance is a positive number."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    allowances = tuple(int(p) for p in parts)
    if any(a <= 0 for a in allowances):
        raise ValueError("every daily allowance of the warm-up is more than 0")
    return allowances


@dataclass(frozen=True)
class Ramp:
    start: date
    allowances: tuple[int, ...]

    def day(self, today: date) -> int:
        """Which day of the ramp `today` is (1 on the start day; before it, day 1 too)."""
        return max(1, (today - self.start).days + 1)

    def allowance(self, today: date) -> int | None:
        """Emails allowed on `today`; None once the ramp is over (no limit)."""
        n = self.day(today)
        return self.allowances[n - 1] if n <= len(self.allowances) else None

    def over(self, today: date) -> bool:
        return self.allowance(today) is None


def day_start(at: datetime) -> datetime:
    return datetime.combine(at.astimezone(UTC).date(), time(0), tzinfo=UTC)


def release_at(now: datetime, created_at: datetime) -> datetime:
    """When an email held beyond today's allowance comes due again: in the next day's first hour, the
    older the email the earlier (so the sweep hands them back oldest first)."""
    tomorrow = day_start(now) + timedelta(days=1)
    oldest = tomorrow - ORDER_HORIZON
    share = min(1.0, max(0.0, (created_at - oldest) / ORDER_HORIZON))
    return tomorrow + RELEASE_SPREAD * share
