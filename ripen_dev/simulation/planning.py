"""How long an experiment must run: the sample each group needs to detect a lift, at the simulated
conversion rate and volume. Printed by `ripen simulate` for a sequence with a holdout or variants."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ripen.core.experiments import sample_size
from ripen.core.sequence import EmailStep, Sequence


@dataclass(frozen=True)
class ExperimentPlan:
    experiment: str  # "holdout" or "<step> variants"
    share: float  # of the leads the smallest group gets
    base_rate: float  # conversions (goal or sales-ready) per confirmed lead, as simulated
    lift: float  # the relative lift to detect
    leads_per_group: int | None  # None: no conversions simulated, no base rate to plan from
    days: float | None  # at the simulated confirmed leads per day

    def as_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "smallest_group_share": self.share,
            "base_rate": self.base_rate,
            "relative_lift": self.lift,
            "leads_per_group": self.leads_per_group,
            "days": self.days,
        }

    def line(self) -> str:
        if self.leads_per_group is None or self.days is None:
            return f"  {self.experiment}: no conversions in the simulation, so no rate to plan from"
        return (
            f"  {self.experiment}: {self.leads_per_group:,} leads per group to detect a {self.lift:.0%} lift "
            f"on a {self.base_rate:.1%} conversion rate (95 % confidence, 80 % power): about "
            f"{math.ceil(self.days):,} days at this volume"
        )


def plans(sequence: Sequence, confirmed: int, converted: int, days: int, lift: float) -> list[ExperimentPlan]:
    """One plan per experiment in the sequence (empty when it has none)."""
    experiments: list[tuple[str, float]] = []
    if sequence.holdout is not None:
        experiments.append(("holdout", sequence.holdout.share))
    for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True):
        if isinstance(step, EmailStep) and step.variants:
            experiments.append((f"{step_id} variants", min(step.variants.values()) / sum(step.variants.values())))
    base = converted / confirmed if confirmed else 0.0
    per_day = confirmed / days if days else 0.0
    found = []
    for name, share in experiments:
        if not 0 < base < 1 or not 0 < base * (1 + lift) < 1 or per_day <= 0:
            found.append(ExperimentPlan(name, share, base, lift, None, None))
            continue
        needed = sample_size(base, lift)
        found.append(ExperimentPlan(name, share, base, lift, needed, needed / (per_day * share)))
    return found
