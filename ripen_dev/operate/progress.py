"""A progress bar on stderr for operator commands that take more than a second: only on a terminal
(never in a pipe, a log or a test), shown once the work has run a second, redrawn at most 10 times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

SHOW_AFTER = 1.0  # seconds: quicker work shows nothing
REDRAW_EVERY = 0.1
WIDTH = 30


class Progress:
    def __init__(self, what: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.on = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._drawn = False

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.on:
            return
        now = time.monotonic()
        if now - self.started < SHOW_AFTER or now - self._drawn_at < REDRAW_EVERY:
            return
        self._drawn_at = now
        self._drawn = True
        self.stream.write("\r" + self.line(now - self.started))
        self.stream.flush()

    def line(self, seconds: float) -> str:
        rate = f"{self.done / seconds:,.0f}/s" if seconds > 0 else ""
        if self.total:
            filled = int(WIDTH * min(self.done, self.total) / self.total)
            bar = "#" * filled + "-" * (WIDTH - filled)
            return f"{self.what} [{bar}] {self.done:,}/{self.total:,} {rate}"
        return f"{self.what}: {self.done:,} {rate}"

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * (len(self.line(1.0)) + 8) + "\r")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
