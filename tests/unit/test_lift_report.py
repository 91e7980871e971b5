"""`ripen report --lift`: nurtured leads against the holdout, in numbers a marketer can take to a meeting."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

from ripen.core.experiments import held_out
from ripen.core.records import EnrollmentRecord
from ripen.core.state import Enrollment, Status
from ripen_dev.operate.lift import lift_report, render

AT = datetime(2026, 3, 2, tzinfo=UTC)


def population(leads: int, nurtured_rate: float, held_rate: float, seed: int) -> list[EnrollmentRecord]:
    """Leads split by the real holdout rule (10 %); each converts with its group's chance."""
    rng = random.Random(seed)
    records = []
    for i in range(leads):
        lead_id = f"ld_{seed}_{i}"
        control = held_out(lead_id, "trial-nurture", 0.10)
        converted = rng.random() < (held_rate if control else nurtured_rate)
        status = Status.GOAL_REACHED if converted else Status.COMPLETED
        sent = ("welcome",) if control else ("welcome", "tips", "case-study", "pricing")
        enrollment = Enrollment(lead_id, "trial-nurture", 1, status=status, entered_at=AT, sent=sent, holdout=control)
        records.append(EnrollmentRecord(enrollment, revision=1))
    return records


def test_given_a_sequence_that_lifts_conversion_then_the_report_finds_it_and_prices_it():
    # Given 20,000 leads, 10 % held out; nurtured convert at 6 %, held out at 4 %
    report = lift_report(population(20_000, 0.06, 0.04, seed=1), "trial-nurture")
    goal = report.outcome("goal")
    # Then the lift is found, with an interval around the true +2 points that excludes zero
    assert goal.significant
    assert goal.low > 0
    assert goal.low < 0.02 < goal.high
    assert 1_800 < report.held_out.leads < 2_200
    # And the cost per extra conversion is the extra emails' price over the extra conversions
    extra_emails = report.nurtured.leads * 3
    expected = extra_emails * 0.105 / 1000 / goal.extra_conversions()
    assert abs(report.cost_per_extra("goal") - expected) < 1e-9
    assert "not significant" not in render(report).splitlines()[5]


def test_given_no_effect_then_the_report_says_not_significant_in_most_runs():
    flagged = sum(
        lift_report(population(3_000, 0.05, 0.05, seed=s), "trial-nurture").outcome("goal").significant
        for s in range(40)
    )
    assert flagged <= 6, flagged  # about 5 % expected: 2 of 40


def test_leads_that_never_started_and_other_sequences_are_not_counted():
    base = population(10, 0.0, 0.0, seed=3)
    pending = replace(base[0], enrollment=replace(base[0].enrollment, status=Status.PENDING))
    other = replace(base[1], enrollment=replace(base[1].enrollment, sequence="ebook-nurture"))
    report = lift_report([pending, other, *base[2:]], "trial-nurture")
    assert report.nurtured.leads + report.held_out.leads == 8


def test_without_a_holdout_the_report_says_how_to_start_one():
    report = lift_report(population(200, 0.1, 0.1, seed=4)[:0], "trial-nurture")
    assert "add `holdout: {share: 10%}`" in render(report)
