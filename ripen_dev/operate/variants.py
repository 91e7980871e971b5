"""`ripen report --variants`: each A/B test of a sequence, variant by variant, and what its rule decides.

Opens and clicks come from the Stats table (each variant's counters apart: step `welcome~welcome-short`);
goals and sales-ready are downstream, from the enrollments: every lead who got the step, grouped by
the variant the keyed assignment gave them (`ripen.core.experiments.chosen_email`, the engine's own
rule), and what became of them. The rule is the one in sequence.yaml (`winner:`), fixed before the test
started; without one the report shows the figures and no decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ripen.core.engagement import CLICKED, LINK_PREFIX, OPENED, SENT
from ripen.core.experiments import Arm, Decision, chosen_email, fixed_horizon_winner
from ripen.core.records import EnrollmentRecord
from ripen.core.sequence import EmailStep, Sequence, WinnerRule
from ripen.core.state import Status

OUTCOMES = {"goal": Status.GOAL_REACHED, "sales_ready": Status.SALES_READY}


@dataclass(frozen=True)
class VariantFigures:
    variant: str
    sent: int = 0
    opened: int = 0  # emails opened by a person
    clicked: int = 0  # emails clicked by a person
    links: Mapping[str, int] = field(default_factory=dict)
    leads: int = 0  # leads who got the step in this variant
    goal: int = 0
    sales_ready: int = 0

    def arm(self, by: str) -> Arm:
        if by in OUTCOMES:
            return Arm(self.leads, min(self.leads, getattr(self, by)))
        return Arm(self.sent, min(self.sent, getattr(self, by)))


@dataclass(frozen=True)
class StepTest:
    step: str
    control: str
    variants: list[VariantFigures]
    rule: WinnerRule | None
    decision: Decision | None

    def _decision(self) -> dict[str, Any] | None:
        if self.decision is None:
            return None
        d = self.decision
        return {"winner": d.winner, "reason": d.reason, "p_values": dict(d.p_values)}

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "control": self.control,
            "rule": self.rule.model_dump() if self.rule else None,
            "variants": [vars(v) | {"links": dict(v.links)} for v in self.variants],
            "decision": (
                {
                    "winner": self.decision.winner,
                    "reason": self.decision.reason,
                    "p_values": dict(self.decision.p_values),
                }
                if self.decision
                else None
            ),
        }


def variant_tests(
    sequence: Sequence, funnel: Mapping[tuple[int, str], Mapping[str, int]], records: Iterable[EnrollmentRecord]
) -> list[StepTest]:
    """Every A/B-tested email step of `sequence` (its current version), with figures and decision."""
    steps = [
        (step_id, step)
        for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True)
        if isinstance(step, EmailStep) and step.variants
    ]
    leads: dict[str, Counter[str]] = {step_id: Counter() for step_id, _ in steps}
    reached: dict[str, Counter[str]] = {step_id: Counter() for step_id, _ in steps}
    for record in records:
        e = record.enrollment
        if e.sequence != sequence.name or e.version != sequence.version:
            continue
        for step_id, _ in steps:
            if step_id in e.sent:
                _, variant = chosen_email(e.lead_id, sequence, step_id)
                leads[step_id][variant or ""] += 1
                for name, status in OUTCOMES.items():
                    reached[step_id][f"{variant}:{name}"] += e.status is status
    tests = []
    for step_id, step in steps:
        figures = []
        for variant in step.variants or {}:
            counters = funnel.get((sequence.version, f"{step_id}~{variant}"), {})
            figures.append(
                VariantFigures(
                    variant,
                    sent=counters.get(SENT, 0),
                    opened=counters.get(OPENED, 0),
                    clicked=counters.get(CLICKED, 0),
                    links={k.removeprefix(LINK_PREFIX): v for k, v in counters.items() if k.startswith(LINK_PREFIX)},
                    leads=leads[step_id][variant],
                    goal=reached[step_id][f"{variant}:goal"],
                    sales_ready=reached[step_id][f"{variant}:sales_ready"],
                )
            )
        rule = step.winner
        decision = None
        if rule is not None:
            arms = {f.variant: f.arm(rule.by) for f in figures}
            decision = fixed_horizon_winner(arms, step.email, rule.min_leads, 1 - rule.confidence)
        tests.append(StepTest(step_id, step.email, figures, rule, decision))
    return tests


def for_sequence(app: Any, sequence_name: str, since: date | None = None) -> list[StepTest]:
    from ripen.ports.stats import funnel_of
    from ripen_dev.operate.scans import enrollments_in

    sequence = app.catalog.current(sequence_name)
    funnel = funnel_of(app.stats, sequence_name, since)
    return variant_tests(sequence, funnel, enrollments_in(app.store, {sequence_name}))


def render(sequence: str, tests: list[StepTest]) -> str:
    if not tests:
        return f"{sequence} has no A/B test: add `variants:` to an email step (see the marketer guide)"
    lines = [f"A/B tests in {sequence}"]
    for test in tests:
        rule = test.rule
        said = (
            f"rule: most {rule.by.replace('_', '-')}, read at {rule.min_leads:,} per variant, "
            f"{rule.confidence:.0%} confidence"
            if rule
            else "no rule: add `winner: {by: clicked, min_leads: 500}` to the step before the test starts"
        )
        lines += ["", f"  {test.step} ({said})"]
        lines.append(
            f"    {'variant':<24}{'sent':>8}{'opened':>8}{'clicked':>8}{'leads':>8}{'goal':>7}{'sales-ready':>12}"
        )
        for v in test.variants:
            name = v.variant + (" (control)" if v.variant == test.control else "")
            lines.append(
                f"    {name:<24}{v.sent:>8,}{v.opened:>8,}{v.clicked:>8,}{v.leads:>8,}{v.goal:>7,}{v.sales_ready:>12,}"
            )
        if test.decision is not None:
            verdict = f"winner: {test.decision.winner}" if test.decision.winner else "no winner yet"
            lines.append(f"    {verdict}: {test.decision.reason}")
            if test.decision.winner:
                lines.append(
                    f"    to promote it, make it the step's email: `- email: {test.decision.winner}` (without variants)"
                )
    return "\n".join(lines)
