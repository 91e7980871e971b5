"""`ripen simulate` tells how long an experiment must run before it can tell a lift from noise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ripen.adapters.templates import load_catalog
from ripen_dev.cli import main
from ripen_dev.simulation.planning import plans
from tests.conftest import TEMPLATES


@pytest.fixture
def with_holdout(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    sequence = tmp_path / "templates" / "trial-nurture" / "sequence.yaml"
    sequence.write_text(sequence.read_text(encoding="utf-8") + "\nholdout: {share: 10%, keep: [welcome]}\n")
    return tmp_path / "templates"


def test_given_a_10_percent_holdout_at_100_leads_a_day_then_686_per_group_takes_about_69_days(with_holdout):
    sequence = load_catalog(with_holdout).current("trial-nurture")
    (plan,) = plans(sequence, confirmed=1_000, converted=100, days=10, lift=0.5)
    assert (plan.experiment, plan.leads_per_group) == ("holdout", 686)
    assert plan.days == pytest.approx(68.6)
    assert "686 leads per group to detect a 50% lift on a 10.0% conversion rate" in plan.line()


def test_given_no_conversions_then_the_plan_says_there_is_no_rate_to_plan_from(with_holdout):
    sequence = load_catalog(with_holdout).current("trial-nurture")
    (plan,) = plans(sequence, confirmed=500, converted=0, days=10, lift=0.2)
    assert plan.leads_per_group is None
    assert "no rate to plan from" in plan.line()


def test_given_a_sequence_without_experiments_then_there_is_nothing_to_plan():
    sequence = load_catalog(TEMPLATES).current("trial-nurture")
    assert plans(sequence, confirmed=1_000, converted=100, days=10, lift=0.2) == []


def test_simulate_plays_the_holdout_and_prints_its_plan(with_holdout, capsys):
    code = main(
        [
            "simulate",
            "--templates",
            str(with_holdout),
            "--leads",
            "400",
            "--days",
            "20",
            "--workers",
            "1",
            "--report",
            "",
            "--json",
            "--detect-lift",
            "50%",
        ]
    )
    figures = json.loads(capsys.readouterr().out)
    assert code == 0
    (plan,) = figures["experiments"]
    assert plan["experiment"] == "holdout"
    assert plan["relative_lift"] == 0.5
    assert plan["smallest_group_share"] == 0.1
