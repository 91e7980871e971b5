"""`ripen report --variants`: each A/B test, variant by variant, and what the rule fixed before it started decides."""

from __future__ import annotations

from datetime import UTC, datetime

from ripen.core.experiments import chosen_email
from ripen.core.records import EnrollmentRecord
from ripen.core.sequence import Sequence
from ripen.core.state import Enrollment, Status
from ripen_dev.operate.variants import render, variant_tests
from tests.support.demo_sequence import load, problems

AT = datetime(2026, 3, 2, tzinfo=UTC)


TEST = """\
steps:
  - email: welcome
    variants: {welcome: 50, welcome-short: 50}
    winner: {by: goal, min_leads: 400, confidence: 95%}
  - email: tips
"""


def leads(sequence: Sequence, count: int, rates: dict[str, float]) -> list[EnrollmentRecord]:
    """`count` leads who got the welcome step; each variant's leads convert at its rate (evenly spread)."""
    seen: dict[str, int] = {}
    records = []
    for i in range(count):
        lead_id = f"ld_v{i}"
        _, variant = chosen_email(lead_id, sequence, "welcome")
        assert variant is not None
        n = seen[variant] = seen.get(variant, 0) + 1
        converted = (n * rates[variant]) % 1 < rates[variant]
        status = Status.GOAL_REACHED if converted else Status.COMPLETED
        enrollment = Enrollment(lead_id, "demo", 1, status=status, entered_at=AT, sent=("welcome", "tips"))
        records.append(EnrollmentRecord(enrollment, revision=1))
    return records


def test_given_a_variant_that_converts_better_then_the_rule_names_it_with_the_figures_that_decided_it():
    sequence = load(TEST)
    funnel = {
        (1, "welcome~welcome"): {"sent": 600, "opened": 300, "clicked": 60, "link:pricing": 70},
        (1, "welcome~welcome-short"): {"sent": 590, "opened": 310, "clicked": 90},
    }
    [test] = variant_tests(sequence, funnel, leads(sequence, 1200, {"welcome": 0.05, "welcome-short": 0.12}))
    by = {v.variant: v for v in test.variants}
    assert (by["welcome"].sent, by["welcome"].clicked, dict(by["welcome"].links)) == (600, 60, {"pricing": 70})
    assert by["welcome"].leads + by["welcome-short"].leads == 1200
    assert by["welcome-short"].goal / by["welcome-short"].leads > by["welcome"].goal / by["welcome"].leads
    assert test.decision is not None
    assert test.decision.winner == "welcome-short"
    assert "beats welcome at p =" in test.decision.reason
    text = render("demo", [test])
    assert "winner: welcome-short" in text
    assert "`- email: welcome-short`" in text


def test_before_every_variant_has_its_sample_there_is_no_winner_however_good_it_looks():
    sequence = load(TEST)
    [test] = variant_tests(sequence, {}, leads(sequence, 300, {"welcome": 0.02, "welcome-short": 0.3}))
    assert test.decision is not None
    assert test.decision.winner is None
    assert "waiting for 400 leads in every variant" in test.decision.reason


def test_with_no_real_difference_the_control_stays():
    sequence = load(TEST)
    [test] = variant_tests(sequence, {}, leads(sequence, 2000, {"welcome": 0.08, "welcome-short": 0.08}))
    assert test.decision is not None
    assert test.decision.winner is None


def test_a_test_without_a_rule_shows_its_figures_and_says_how_to_fix_a_rule():
    sequence = load(TEST.replace("    winner: {by: goal, min_leads: 400, confidence: 95%}\n", ""))
    [test] = variant_tests(sequence, {}, leads(sequence, 50, {"welcome": 0.1, "welcome-short": 0.1}))
    assert test.decision is None
    assert "add `winner: {by: clicked, min_leads: 500}`" in render("demo", [test])
    assert "has no A/B test" in render("demo", [])


def test_a_winner_rule_on_a_step_without_variants_is_refused_with_its_line():
    [problem] = problems("steps:\n  - email: welcome\n    winner: {by: clicked}\n")
    assert problem.startswith("demo/sequence.yaml:5:")
    assert "'winner' decides an A/B test" in problem
