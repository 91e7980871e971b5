"""What a benchmark reports: each figure with its target, and whether it was met."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    target: str
    met: bool

    def line(self) -> str:
        return f"  {self.name:56}{self.value:>8}   target {self.target:<7} {'met' if self.met else 'MISSED'}"


def print_figures(figures: list[Figure]) -> int:
    """Print each figure with its target; the exit code says whether every one was met."""
    for figure in figures:
        print(figure.line())
    return 0 if all(f.met for f in figures) else 1
