"""The dev stack's clock: real time plus an offset that only ever grows (the outbox moves it forward).

Every part of the stack reads this one clock, so moving it forward makes timers due, emails
older and links closer to expiry, all at once. With `ripen dev --persist` the offset is saved
beside the data, so time never runs backwards for the stored leads.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

from ripen.ports.clock import Clock, SystemClock


class DevClock:
    def __init__(self, offset: timedelta = timedelta(0), real: Clock | None = None, state: Path | None = None) -> None:
        if offset < timedelta(0):
            raise ValueError("the dev clock never runs behind real time")
        self._real = real or SystemClock()
        self._offset = offset
        self._state = state
        self._lock = threading.Lock()

    @classmethod
    def starting_at(cls, start: datetime, real: Clock | None = None) -> DevClock:
        """A clock that reads `start` now (a moment in the future: a test's fixed Monday)."""
        real = real or SystemClock()
        return cls(max(start - real.now(), timedelta(0)), real)

    @classmethod
    def kept_in(cls, state: Path, start: datetime | None = None, real: Clock | None = None) -> DevClock:
        """The clock saved in `state` (a JSON file), or a new one kept there (reading `start`, or real time)."""
        real = real or SystemClock()
        offset = max(start - real.now(), timedelta(0)) if start else timedelta(0)
        if state.is_file():
            offset = timedelta(seconds=float(json.loads(state.read_text(encoding="utf-8"))["offset_seconds"]))
        clock = cls(offset, real, state)
        clock._save()
        return clock

    @property
    def offset(self) -> timedelta:
        return self._offset

    def sleep(self, seconds: float) -> None:
        """Waits in real time (the sender's pacing): dev time runs on with real time."""
        self._real.sleep(seconds)

    def now(self) -> datetime:
        return self._real.now() + self._offset

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by `delta`; returns the new time."""
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += delta
            self._save()
        return self.now()

    def advance_to(self, when: datetime) -> datetime:
        """Move time forward to `when` if it is later than now (never back)."""
        with self._lock:
            ahead = when - self.now()
            if ahead > timedelta(0):
                self._offset += ahead
                self._save()
        return self.now()

    def _save(self) -> None:
        if self._state is not None:
            self._state.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"offset_seconds": self._offset.total_seconds()})
            self._state.write_text(text + "\n", encoding="utf-8")


def span(delta: timedelta) -> str:
    """A length of time as people say it: `3 d 4 h`, `19 h 58 min`, `2 min` (minutes only under a day)."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part) or f"{seconds} s"
