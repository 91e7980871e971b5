"""Experiments: which variant a lead gets, who is held out, and whether the difference is real.

Pure and deterministic. Assignment hashes the lead id (itself a keyed pseudonym) with the name of
the experiment, so a lead keeps its variant across retries, redeliveries and sequence versions, and
the split needs no stored state to be reproduced. The statistics use only `math`: a normal
approximation, which is what a marketer's sample sizes (hundreds per arm and up) warrant.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ripen.core.sequence import EmailStep

if TYPE_CHECKING:
    from ripen.core.sequence import Sequence as SequenceModel


def draw(lead_id: str, experiment: str) -> float:
    """A uniform number in [0, 1) fixed by the lead and the experiment's name."""
    digest = hashlib.sha256(f"ripen:experiment:{experiment}\x00{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(lead_id: str, experiment: str, weights: Mapping[str, float]) -> str:
    """The variant a lead gets: each with a chance proportional to its weight.

    Raises ValueError for no variants or a weight that is not positive.
    """
    if not weights:
        raise ValueError("an experiment needs at least one variant")
    if any(weight <= 0 for weight in weights.values()):
        raise ValueError("every variant's weight must be above 0")
    point = draw(lead_id, experiment) * sum(weights.values())
    for name, weight in weights.items():
        point -= weight
        if point < 0:
            return name
    return next(reversed(list(weights)))  # float rounding at the very top of the range


def chosen_email(lead_id: str, sequence: SequenceModel, step_id: str) -> tuple[str, str | None]:
    """The email a lead gets at an email step, and the variant when the step is an A/B test. Keyed by
    sequence and step id: the same on every retry, redelivery and version that keeps the step."""
    step = sequence.step(step_id)
    if not isinstance(step, EmailStep):
        raise ValueError(f"step '{step_id}' is not an email step")
    if not step.variants:
        return step.email, None
    variant = assign(lead_id, f"{sequence.name}/{step_id}", step.variants)
    return variant, variant


def stats_step(lead_id: str, sequence: SequenceModel | None, step_id: str) -> str:
    """The step a lead's counters go under at `step_id`: its variant apart (`step~variant`), as the
    message's own counters are (`MessageClaim.stats_step`)."""
    if sequence is None or step_id not in sequence.step_ids or not isinstance(sequence.step(step_id), EmailStep):
        return step_id
    _, variant = chosen_email(lead_id, sequence, step_id)
    return f"{step_id}~{variant}" if variant else step_id


def held_out(lead_id: str, sequence: str, share: float) -> bool:
    """Whether a new enrollment goes to the control path (decided once, at enrollment)."""
    if not 0 <= share < 1:
        raise ValueError("the holdout share is at least 0 and below 1")
    return share > 0 and draw(lead_id, f"holdout:{sequence}") < share


# -- statistics ----------------------------------------------------------------------------------


def normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def normal_quantile(p: float) -> float:
    """The z with normal_cdf(z) == p (bisection: exact to 1e-12, fast enough for a report)."""
    if not 0 < p < 1:
        raise ValueError("a quantile needs 0 < p < 1")
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if normal_cdf(middle) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: how many leads, and how many of them converted."""

    leads: int
    conversions: int

    def __post_init__(self) -> None:
        if self.leads < 0 or not 0 <= self.conversions <= self.leads:
            raise ValueError("conversions must be between 0 and the number of leads")

    @property
    def rate(self) -> float:
        return self.conversions / self.leads if self.leads else 0.0


def wilson_interval(arm: Arm, confidence: float) -> tuple[float, float]:
    """Wilson score interval of one rate (behaves at 0 and 100 %, unlike the plain one)."""
    if arm.leads == 0:
        return (0.0, 1.0)
    z = normal_quantile(0.5 + confidence / 2)
    n, p = arm.leads, arm.rate
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Lift:
    """Treatment against control: the difference of rates with its interval and a two-sided p-value."""

    control: Arm
    treatment: Arm
    confidence: float
    difference: float  # treatment rate - control rate (percentage points / 100)
    low: float  # the interval of the difference (Newcombe's hybrid Wilson method)
    high: float
    p_value: float

    @property
    def relative(self) -> float | None:
        """Lift relative to the control's rate (0.5 = 50 % more); None when the control never converts."""
        return self.difference / self.control.rate if self.control.rate else None

    @property
    def significant(self) -> bool:
        """The interval excludes no difference."""
        return self.low > 0 or self.high < 0

    def extra_conversions(self) -> float:
        """Conversions the treatment produced beyond what its leads would have done as controls."""
        return self.difference * self.treatment.leads


def lift(control: Arm, treatment: Arm, confidence: float = 0.95) -> Lift:
    if not 0 < confidence < 1:
        raise ValueError("confidence is between 0 and 1, e.g. 0.95")
    difference = treatment.rate - control.rate
    l1, u1 = wilson_interval(treatment, confidence)
    l2, u2 = wilson_interval(control, confidence)
    p1, p2 = treatment.rate, control.rate
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Lift(control, treatment, confidence, difference, low, high, _p_value(control, treatment))


def _p_value(a: Arm, b: Arm) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if a.leads == 0 or b.leads == 0:
        return 1.0
    pooled = (a.conversions + b.conversions) / (a.leads + b.leads)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / a.leads + 1 / b.leads))
    if spread == 0:
        return 1.0
    return 2 * (1 - normal_cdf(abs(b.rate - a.rate) / spread))


def sample_size(base_rate: float, relative_lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Leads needed in EACH arm to detect `relative_lift` over `base_rate` (two-sided test)."""
    if not 0 < base_rate < 1:
        raise ValueError("the base rate is between 0 and 1, e.g. 0.04 for 4 %")
    target = base_rate * (1 + relative_lift)
    if relative_lift == 0 or not 0 < target < 1:
        raise ValueError("the lift must move the rate to another value between 0 and 1")
    z_alpha, z_power = normal_quantile(1 - alpha / 2), normal_quantile(power)
    mean = (base_rate + target) / 2
    top = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(
        base_rate * (1 - base_rate) + target * (1 - target)
    )
    return math.ceil((top / (target - base_rate)) ** 2)


@dataclass(frozen=True)
class Decision:
    """What a fixed-horizon test says once every arm has its sample: a winner, or none."""

    winner: str | None
    reason: str
    p_values: Mapping[str, float]


def fixed_horizon_winner(arms: Mapping[str, Arm], control: str, min_leads: int, alpha: float = 0.05) -> Decision:
    """The rule fixed before the test starts: no look before every arm has `min_leads` (so no
    peeking bias); then the best variant wins if it beats `control` at `alpha`, Bonferroni-corrected
    for the number of comparisons. Otherwise the control stays."""
    if control not in arms:
        raise ValueError(f"the control '{control}' is not one of the variants")
    short = sorted(name for name, arm in arms.items() if arm.leads < min_leads)
    if short:
        return Decision(None, f"waiting for {min_leads} leads in every variant ({', '.join(short)} short)", {})
    challengers = [name for name in arms if name != control]
    p_values = {name: _p_value(arms[control], arms[name]) for name in challengers}
    threshold = alpha / max(1, len(challengers))
    better = [name for name in challengers if arms[name].rate > arms[control].rate and p_values[name] < threshold]
    if not better:
        return Decision(None, f"no variant beats {control} at p < {threshold:.3g}", p_values)
    best = max(better, key=lambda name: arms[name].rate)
    return Decision(best, f"{best} beats {control} at p = {p_values[best]:.3g} (< {threshold:.3g})", p_values)


def split_counts(lead_ids: Sequence[str], experiment: str, weights: Mapping[str, float]) -> dict[str, int]:
    """How many of `lead_ids` each variant gets (planning and tests)."""
    counts = dict.fromkeys(weights, 0)
    for lead_id in lead_ids:
        counts[assign(lead_id, experiment, weights)] += 1
    return counts
