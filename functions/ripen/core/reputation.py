"""The sender's reputation, judged before SES judges it: holds on sending and the circuit breaker's rule.

Pure: no I/O, no clock reads. The service (`ripen.services.reputation`) reads the counters and the
holds and writes what this module decides.

- A **hold** stops sending for every sequence (`scope` "*") or for one sequence: emails it covers
  wait (re-timed, never dropped, never failed) until it is lifted (`ripen sending resume`) or, for
  a hold with `until` (the breaker's cool-down), until then.
- The **breaker** judges rolling rates from per-hour counters of emails sent, hard bounces and
  complaints (the counters SES's own review uses: soft bounces do not count), over two windows: the
  long one SES looks at and a short one that catches a sudden burst (a bad import) within minutes.
  A window is judged only once it holds `min_sends` emails; a rate at or above its threshold trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ALL = "*"  # the scope of a hold on every sequence, and of the account's counters
OPERATOR = "operator"
BREAKER = "breaker"


@dataclass(frozen=True)
class Hold:
    """Sending held for `scope` (ALL or a sequence's name) since `since`, for `reason`."""

    scope: str
    reason: str
    by: str  # OPERATOR or BREAKER
    since: datetime
    until: datetime | None = None  # the end of the breaker's cool-down; None: until resumed
    paused_ses: bool = False  # the configuration set's sending was switched off with it
    detail: Mapping[str, str] = field(default_factory=dict)  # what drove a trip (rates, sequence)

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def covers(self, sequence: str, now: datetime) -> bool:
        return self.active(now) and self.scope in (ALL, sequence)


def covering(holds: Iterable[Hold], sequence: str, now: datetime) -> Hold | None:
    """The hold that keeps an email of `sequence` from going now (the account-wide one first)."""
    found = [h for h in holds if h.covers(sequence, now)]
    return min(found, key=lambda h: (h.scope != ALL, h.since)) if found else None


@dataclass(frozen=True)
class Counts:
    sends: int = 0
    bounces: int = 0  # hard (Permanent) bounces only: SES's bounce rate counts no others
    complaints: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.sends + other.sends, self.bounces + other.bounces, self.complaints + other.complaints)

    def __bool__(self) -> bool:
        return bool(self.sends or self.bounces or self.complaints)

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sends if self.sends else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sends if self.sends else 0.0


@dataclass(frozen=True)
class Thresholds:
    """Below SES's review thresholds (5 % bounces, 0.1 % complaints) by default."""

    bounce_rate: float = 0.03
    complaint_rate: float = 0.0005
    min_sends: int = 200  # emails a window must hold before its rates are judged
    window: timedelta = timedelta(hours=24)  # SES's view: the recent sending as a whole
    burst: timedelta = timedelta(hours=1)  # a sudden burst: a bad import, a broken form


@dataclass(frozen=True)
class Verdict:
    """Why the breaker trips for `scope`: the window and its figures."""

    scope: str
    window: str  # "24h" or "1h" (the span judged)
    counts: Counts
    rule: str  # "bounce" or "complaint"

    @property
    def reason(self) -> str:
        c = self.counts
        rate, limit = (c.bounce_rate, "bounces") if self.rule == "bounce" else (c.complaint_rate, "complaints")
        return f"{rate:.2%} {limit} over the last {self.window} ({c.sends} emails sent)"

    def detail(self) -> dict[str, str]:
        c = self.counts
        return {
            "scope": self.scope,
            "window": self.window,
            "rule": self.rule,
            "sends": str(c.sends),
            "bounces": str(c.bounces),
            "complaints": str(c.complaints),
            "bounce_rate": f"{c.bounce_rate:.4f}",
            "complaint_rate": f"{c.complaint_rate:.5f}",
        }


def hour_of(at: datetime) -> str:
    """The counter bucket of a moment: its UTC hour, `YYYY-MM-DDTHH` (sorts as time does)."""
    return at.strftime("%Y-%m-%dT%H")


def first_hour(now: datetime, span: timedelta) -> str:
    """The oldest bucket a window of `span` ending `now` reads (the current, partial hour included)."""
    return hour_of(now - span + timedelta(hours=1) - timedelta(microseconds=1))


def window_counts(hours: Mapping[str, Counts], now: datetime, span: timedelta) -> Counts:
    start, end = first_hour(now, span), hour_of(now)
    total = Counts()
    for hour, counts in hours.items():
        if start <= hour <= end:
            total = total + counts
    return total


def _label(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours}h" if hours < 48 or hours % 24 else f"{hours // 24}d"


def judge(scope: str, hours: Mapping[str, Counts], now: datetime, limits: Thresholds) -> Verdict | None:
    """Whether `scope`'s rates cross the line in either window; the short window first (a burst
    shows there before it moves the long one). None: sending may go on."""
    for span in (limits.burst, limits.window):
        counts = window_counts(hours, now, span)
        if counts.sends < limits.min_sends:
            continue
        if counts.bounce_rate >= limits.bounce_rate:
            return Verdict(scope, _label(span), counts, "bounce")
        if counts.complaint_rate >= limits.complaint_rate:
            return Verdict(scope, _label(span), counts, "complaint")
    return None


def worst(verdicts: Iterable[Verdict]) -> Verdict | None:
    """The verdict naming the sequence that drove a trip: most bounces and complaints."""
    ranked = sorted(verdicts, key=lambda v: (v.counts.bounces + v.counts.complaints, v.counts.sends), reverse=True)
    return ranked[0] if ranked else None
