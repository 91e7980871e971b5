"""The ids of the product events applied: each `Lead Event` id is applied once, whichever door it came
through and however often it is delivered.

An attempt first claims the id (a conditional write); it holds it until `lease_until`, then marks it
applied. An attempt that died halfway loses its claim when the lease runs out, so the retry (the queue's
redelivery, the caller's new request) can take it over: applying an event again is harmless (goals end
a run once, the engine counts a scored event at the same instant once, a trigger never enrolls twice).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Claim(StrEnum):
    TAKEN = "taken"  # this attempt applies it
    APPLIED = "applied"  # applied before
    HELD = "held"  # another attempt holds a live claim


class EventIds(Protocol):
    def claim(self, event_id: str, now: datetime, lease_until: datetime, keep_until: datetime) -> Claim:
        """Take `event_id` unless it was applied or another attempt's lease on it runs past `now`."""
        ...

    def mark_applied(self, event_id: str, keep_until: datetime) -> None:
        """The event was applied: no attempt may take it again until `keep_until` (then TTL removes it)."""
        ...
