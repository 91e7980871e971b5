"""Counting limits that hold across Lambda containers: at most `limit` takes of a key in any span of
`window`.

A window is cut into `SLOTS` slots; a take counts in the slot `now` falls in, and is allowed while the
counts of that slot and of the `SLOTS` before it stay under the limit. Those slots cover every span of
`window` that ends now, so the limit holds for any span (a little strictly: a slot's length early).
Both engines derive the slots from the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

SLOTS = 10


@dataclass(frozen=True, slots=True)
class Slots:
    """Where a take at `now` counts (`current`) and the earlier slots its window still covers."""

    current: str
    earlier: tuple[str, ...]
    expires_at: int  # epoch seconds after which no window needs the current slot


def slots_for(key: str, window: timedelta, now: datetime) -> Slots:
    seconds = max(int(window.total_seconds()), SLOTS)
    length = seconds // SLOTS
    index = int(now.timestamp()) // length
    name = f"{key}#{seconds}#"
    return Slots(
        current=f"{name}{index}",
        earlier=tuple(f"{name}{i}" for i in range(index - SLOTS, index)),
        expires_at=(index + 1) * length + seconds,
    )


class Limiter(Protocol):
    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> bool:
        """Count one take of `key` if fewer than `limit` were counted in the `window` before `now`;
        False (nothing counted) otherwise. `key` is stored as given: pass a keyed hash, never an
        address or an IP."""
        ...
