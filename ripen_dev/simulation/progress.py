"""A progress bar on stderr while a simulation runs: only on a terminal (quiet in CI and pipes)."""

from __future__ import annotations

import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO, label: str, enabled: bool | None = None) -> None:
        self.stream = stream
        self.label = label
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.perf_counter()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        filled = WIDTH * done // total if total else WIDTH
        if filled == self._last and done != total:
            return
        self._last = filled
        elapsed = time.perf_counter() - self.started
        bar = "█" * filled + "░" * (WIDTH - filled)
        percent = 100 * done // total if total else 100
        self.stream.write(f"\r{self.label} {bar} {percent:3d}% {done:,}/{total:,} leads {elapsed:5.1f} s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
