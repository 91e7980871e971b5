"""`ripen report --lift`: did nurturing itself make the difference? Nurtured leads against the holdout.

Counts the enrollments of a sequence that started (confirmed and entered): the holdout was decided
then, for both groups alike, so the two are comparable. Outcomes: the goal, sales-ready, and either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ripen.core.experiments import Arm, Lift, lift
from ripen.core.records import EnrollmentRecord
from ripen.core.state import Status

NOT_STARTED = {Status.NEW, Status.PENDING, Status.EXPIRED}
OUTCOMES: dict[str, frozenset[Status]] = {
    "goal": frozenset({Status.GOAL_REACHED}),
    "sales_ready": frozenset({Status.SALES_READY}),
    "either": frozenset({Status.GOAL_REACHED, Status.SALES_READY}),
}
# SES's own price plus ripen's infrastructure goal, per email: what an extra email costs.
DEFAULT_COST_PER_1000 = 0.105


@dataclass(frozen=True)
class Group:
    leads: int = 0
    emails: int = 0
    reached: tuple[tuple[str, int], ...] = ()

    def arm(self, outcome: str) -> Arm:
        return Arm(self.leads, dict(self.reached).get(outcome, 0))


@dataclass(frozen=True)
class LiftReport:
    sequence: str
    confidence: float
    nurtured: Group
    held_out: Group
    cost_per_1000: float

    def outcome(self, name: str) -> Lift:
        return lift(self.held_out.arm(name), self.nurtured.arm(name), self.confidence)

    def cost_per_extra(self, name: str) -> float | None:
        """What one more conversion cost in emails: the nurtured group's extra emails over the extra
        conversions they brought. None when nurturing brought none."""
        extra = self.outcome(name).extra_conversions()
        if extra <= 0 or not self.nurtured.leads:
            return None
        per_lead = self.nurtured.emails / self.nurtured.leads - (
            self.held_out.emails / self.held_out.leads if self.held_out.leads else 0
        )
        return per_lead * self.nurtured.leads * self.cost_per_1000 / 1000 / extra

    def as_json(self) -> dict[str, Any]:
        outcomes = {}
        for name in OUTCOMES:
            result = self.outcome(name)
            outcomes[name] = {
                "nurtured_rate": result.treatment.rate,
                "held_out_rate": result.control.rate,
                "difference": result.difference,
                "interval": [result.low, result.high],
                "relative_lift": result.relative,
                "p_value": result.p_value,
                "significant": result.significant,
                "extra_conversions": result.extra_conversions(),
                "cost_per_extra_conversion": self.cost_per_extra(name),
            }
        return {
            "sequence": self.sequence,
            "confidence": self.confidence,
            "nurtured": {"leads": self.nurtured.leads, "emails": self.nurtured.emails},
            "held_out": {"leads": self.held_out.leads, "emails": self.held_out.emails},
            "outcomes": outcomes,
        }


def lift_report(
    records: Iterable[EnrollmentRecord],
    sequence: str,
    confidence: float = 0.95,
    cost_per_1000: float = DEFAULT_COST_PER_1000,
) -> LiftReport:
    leads = {True: 0, False: 0}
    emails = {True: 0, False: 0}
    reached: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for record in records:
        e = record.enrollment
        if e.sequence != sequence or e.status in NOT_STARTED or e.entered_at is None:
            continue
        leads[e.holdout] += 1
        emails[e.holdout] += len(e.sent)
        reached[e.holdout].update(name for name, statuses in OUTCOMES.items() if e.status in statuses)

    def group(held: bool) -> Group:
        return Group(leads[held], emails[held], tuple(sorted(reached[held].items())))

    return LiftReport(sequence, confidence, group(False), group(True), cost_per_1000)


def render(report: LiftReport) -> str:
    n, h = report.nurtured, report.held_out
    lines = [
        f"Nurturing lift for {report.sequence} ({report.confidence:.0%} confidence)",
        f"  nurtured  {n.leads:>8,} leads  {n.emails:>9,} emails",
        f"  held out  {h.leads:>8,} leads  {h.emails:>9,} emails",
        "",
        f"  {'outcome':<12} {'nurtured':>9} {'held out':>9} {'lift (points)':>22} {'relative':>9} {'p':>7}  cost/extra",
    ]
    if not h.leads:
        lines.append("  no held-out leads yet: add `holdout: {share: 10%}` to the sequence to measure the lift")
        return "\n".join(lines)
    for name in OUTCOMES:
        r = report.outcome(name)
        interval = f"{r.difference * 100:+.1f} [{r.low * 100:+.1f}, {r.high * 100:+.1f}]"
        relative = f"{r.relative:+.0%}" if r.relative is not None else "n/a"
        cost = report.cost_per_extra(name)
        verdict = "" if r.significant else "  (not significant)"
        lines.append(
            f"  {name:<12} {r.treatment.rate:>9.1%} {r.control.rate:>9.1%} {interval:>22} {relative:>9} "
            f"{r.p_value:>7.3f}  {'$' + format(cost, ',.2f') if cost is not None else '-'}{verdict}"
        )
    return "\n".join(lines)


def for_sequence(app: Any, sequence: str, confidence: float = 0.95) -> LiftReport:
    """The lift report of `sequence` on a stack's store (`ripen report --lift`)."""
    from ripen_dev.operate.scans import enrollments_in

    return lift_report(enrollments_in(app.store, {sequence}), sequence, confidence)
