"""Per sequence and step counters (sent, delivered, opened, clicked, bounced, ...) in the Stats table.

One item per bucket: partition key `sequence`, sort key `v<version>#<step>#<YYYY-MM-DD>` (the UTC
day the emails were sent, see `ripen.core.engagement.Bucket`); one number attribute per counter
(`sent`, `opened`, `link:pricing`, ...). Writers add with DynamoDB's atomic ADD, one request per
bucket per batch; readers query one sequence and sum what they need (`StatsRow`, `totals`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from ripen.core.engagement import Bucket


@dataclass(frozen=True)
class StatsRow:
    bucket: Bucket
    counts: Mapping[str, int] = field(default_factory=dict)


class Stats(Protocol):
    def add(self, counts: Mapping[Bucket, Mapping[str, int]]) -> None:
        """Add to the counters, atomically per bucket."""
        ...

    def rows(
        self, sequence: str, version: int | None = None, step: str | None = None, since: date | None = None
    ) -> list[StatsRow]:
        """The buckets of a sequence (of one version, one step, emails sent on or after `since`),
        ordered by version, step and day."""
        ...


def totals(rows: Iterable[StatsRow]) -> dict[tuple[int, str], dict[str, int]]:
    """Counters summed over days, per (version, step): a funnel for the reporting pages."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        sums = out.setdefault((row.bucket.version, row.bucket.step), {})
        for name, n in row.counts.items():
            sums[name] = sums.get(name, 0) + n
    return out


def sort_key_prefix(version: int | None, step: str | None) -> str:
    if version is None:
        return "v"
    return f"v{version}#" if step is None else f"v{version}#{step}#"


def in_selection(bucket: Bucket, version: int | None, step: str | None, since: date | None) -> bool:
    return (
        (version is None or bucket.version == version)
        and (step is None or bucket.step == step)
        and (since is None or bucket.day >= since.isoformat())
    )


def funnel_of(stats: Stats, sequence: str, since: date | None = None) -> dict[tuple[int, str], dict[str, int]]:
    """The one reader of the Stats table for reports: counters summed over the send days from `since`,
    per (version, step). Counter names are the writers' (`ripen.core.engagement`: `SENT`, `OPENED`,
    `LINK_PREFIX` + link name, ...); a counter never written is absent (read it as 0)."""
    return totals(stats.rows(sequence, since=since))
