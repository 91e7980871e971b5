"""When an email may go out: the sequence's send window in the lead's time zone, and the frequency cap."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ripen.core.sequence import WEEKDAYS, FrequencyCap, SendWindow


@lru_cache(maxsize=512)
def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def window_zone(window: SendWindow, lead_timezone: str | None) -> ZoneInfo:
    if window.timezone == "lead":
        return zone(lead_timezone, window.default_timezone)
    return zone(window.timezone)


def next_in_window(moment: datetime, window: SendWindow | None, lead_timezone: str | None) -> datetime:
    """The first instant at or after `moment` inside the window, correct across DST changes."""
    if window is None:
        return moment
    tz = window_zone(window, lead_timezone)
    start_t, end_t = window.hours
    local = moment.astimezone(tz)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        opens = _wall_time(day, start_t, tz)
        if moment < opens:
            return opens
        if offset == 0 and moment < _wall_time(day, end_t, tz):
            return moment  # opens <= moment < closes
    raise AssertionError("a send window always has a day within a week")  # days is never empty


def _wall_time(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant a wall-clock time happens. A time skipped by a spring-forward change moves
    forward by the gap (02:30 becomes 03:30); a repeated autumn time means its first occurrence."""
    return datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)


def cap_frees_at(recent: Iterable[datetime], cap: FrequencyCap | None, moment: datetime) -> datetime:
    """The first instant at or after `moment` when one more email stays within the cap."""
    if cap is None:
        return moment
    times = sorted(recent)
    at = moment
    while True:
        in_period = [t for t in times if at - cap.per < t <= at]
        if len(in_period) < cap.max:
            return at
        at = in_period[len(in_period) - cap.max] + cap.per  # strictly later: the oldest one drops out


def next_send_time(
    moment: datetime,
    window: SendWindow | None,
    cap: FrequencyCap | None,
    recent: Iterable[datetime],
    lead_timezone: str | None,
) -> datetime:
    """Both rules together: later of the cap and the window, rechecked until both agree."""
    recent = tuple(recent)
    at = moment
    for _ in range(32):
        capped = cap_frees_at(recent, cap, at)
        windowed = next_in_window(capped, window, lead_timezone)
        if windowed == at:
            return at
        at = windowed
    return at
