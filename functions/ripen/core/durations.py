"""Durations as marketers write them: "2 days", "36 hours", "1 week", "90 minutes"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")
_AMBIGUOUS = {"month", "months", "mo", "year", "years", "y"}


class DurationError(ValueError):
    """A duration a marketer wrote that we cannot read; the message says how to fix it."""


def parse_duration(text: object) -> timedelta:
    if not isinstance(text, str):
        raise DurationError(f"a duration must be text like '2 days', not {text!r}")
    match = _PATTERN.match(text.lower())
    if not match:
        raise DurationError(f"'{text}' is not a duration; write a number and a unit, e.g. '2 days' or '36 hours'")
    amount, unit = float(match.group(1)), match.group(2)
    if unit in _AMBIGUOUS:
        raise DurationError(f"'{text}': months and years have no fixed length; write days instead, e.g. '30 days'")
    if unit not in _UNITS:
        raise DurationError(f"'{text}': unknown unit '{unit}'; use minutes, hours, days or weeks")
    delta = timedelta(**{_UNITS[unit]: amount})
    if delta <= timedelta(0):
        raise DurationError(f"'{text}' must be longer than zero")
    return delta


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for size, name in ((604800, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0 and seconds >= size:
            count = seconds // size
            return f"{count} {name}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"
