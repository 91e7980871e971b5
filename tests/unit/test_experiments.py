"""Experiments: variants split as weighted and stay put; holdouts; a lift report that neither misses a
real effect nor invents one more often than it says."""

from __future__ import annotations

import random

import pytest

from ripen.core.experiments import (
    Arm,
    assign,
    fixed_horizon_winner,
    held_out,
    lift,
    normal_quantile,
    sample_size,
    split_counts,
    wilson_interval,
)

LEADS = [f"ld_{i:024d}" for i in range(100_000)]


def test_given_100k_leads_when_split_50_50_then_each_variant_gets_half_within_one_percent() -> None:
    counts = split_counts(LEADS, "trial-nurture/welcome", {"a": 1, "b": 1})
    assert abs(counts["a"] - 50_000) < 1_000, counts  # 6 standard deviations


def test_given_weights_70_20_10_then_the_split_follows_them() -> None:
    counts = split_counts(LEADS, "trial-nurture/case-study", {"a": 70, "b": 20, "c": 10})
    assert [round(counts[v] / 1_000) for v in "abc"] == [70, 20, 10], counts


def test_given_a_lead_then_its_variant_is_the_same_on_every_retry() -> None:
    first = [assign(lead, "welcome", {"a": 1, "b": 1}) for lead in LEADS[:1000]]
    again = [assign(lead, "welcome", {"a": 1, "b": 1}) for lead in LEADS[:1000]]
    assert first == again


def test_given_two_experiments_then_their_assignments_are_independent() -> None:
    both = sum(
        assign(lead, "welcome", {"a": 1, "b": 1}) == "a" and assign(lead, "pricing", {"a": 1, "b": 1}) == "a"
        for lead in LEADS[:40_000]
    )
    assert abs(both - 10_000) < 600, both  # a quarter, as for independent coins


def test_given_a_ten_percent_holdout_then_a_tenth_of_new_leads_is_held_out_and_none_at_zero() -> None:
    held = sum(held_out(lead, "trial-nurture", 0.10) for lead in LEADS)
    assert abs(held - 10_000) < 600, held
    assert not any(held_out(lead, "trial-nurture", 0.0) for lead in LEADS[:1000])


def test_bad_experiment_settings_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="weight"):
        assign("ld_1", "x", {"a": 0, "b": 1})
    with pytest.raises(ValueError, match="holdout share"):
        held_out("ld_1", "x", 1.0)


def test_wilson_interval_matches_the_published_values() -> None:
    low, high = wilson_interval(Arm(10, 0), 0.95)
    assert low == 0
    assert high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(Arm(100, 50), 0.95)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)


def test_sample_size_for_ten_to_fifteen_percent_is_the_textbook_686_per_arm() -> None:
    assert sample_size(0.10, 0.5) == 686


def _run(rate_control: float, rate_treatment: float, leads: int, rng: random.Random) -> bool:
    control = Arm(leads, sum(rng.random() < rate_control for _ in range(leads)))
    treatment = Arm(leads, sum(rng.random() < rate_treatment for _ in range(leads)))
    return lift(control, treatment).significant


def test_given_a_real_lift_at_the_planned_sample_then_it_is_found_about_as_often_as_the_power_says() -> None:
    rng = random.Random(7)
    leads = sample_size(0.10, 0.5, power=0.8)
    found = sum(_run(0.10, 0.15, leads, rng) for _ in range(300))
    assert 0.72 <= found / 300 <= 0.88, found


def test_given_no_effect_then_false_alarms_stay_near_the_stated_five_percent() -> None:
    rng = random.Random(11)
    alarms = sum(_run(0.10, 0.10, 1_000, rng) for _ in range(1_000))
    assert 0.03 <= alarms / 1_000 <= 0.07, alarms


def test_the_lift_report_gives_relative_lift_and_extra_conversions() -> None:
    result = lift(control=Arm(1_000, 100), treatment=Arm(9_000, 1_350))
    assert result.difference == pytest.approx(0.05)
    assert result.relative == pytest.approx(0.5)
    assert result.extra_conversions() == pytest.approx(450)
    assert result.significant
    assert result.low > 0
    assert result.p_value < 0.001


def test_given_a_fixed_horizon_then_no_winner_before_every_variant_has_its_sample() -> None:
    early = fixed_horizon_winner({"a": Arm(400, 40), "b": Arm(500, 90)}, control="a", min_leads=500)
    assert early.winner is None
    assert "a short" in early.reason
    done = fixed_horizon_winner({"a": Arm(800, 80), "b": Arm(800, 140)}, control="a", min_leads=500)
    assert done.winner == "b"
    assert "beats a" in done.reason
    tie = fixed_horizon_winner({"a": Arm(800, 80), "b": Arm(800, 85), "c": Arm(800, 90)}, control="a", min_leads=500)
    assert tie.winner is None
    assert set(tie.p_values) == {"b", "c"}
