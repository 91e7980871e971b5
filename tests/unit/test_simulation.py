"""`ripen simulate`: a synthetic population through a sequence, with the engine's own rules."""

from __future__ import annotations

import io
import itertools
from dataclasses import replace
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ripen_dev.cli import main
from ripen_dev.simulation.model import EngagementModel
from ripen_dev.simulation.progress import ProgressBar
from ripen_dev.simulation.simulate import SHARD_SIZE, simulate
from tests.conftest import REPO
from tests.support.simulation import model_from, one_off_sequence, plan_for

EXAMPLE_MODEL = REPO / "examples" / "simulation" / "trial-nurture.yaml"


@pytest.fixture
def trial(catalog):
    return catalog.current("trial-nurture")


@pytest.fixture(scope="module")
def example_model():
    from ripen_dev.simulation.model import load_model

    return load_model(EXAMPLE_MODEL)


def funnel_of(result):
    t = result.tally
    return (
        {step: vars(f).copy() for step, f in t.steps.items()},
        vars(t.confirmations).copy(),
        dict(t.outcomes),
        dict(t.opt_outs),
        t.sends_per_day,
        sorted(t.days_to_sales_ready),
        t.decisions,
    )


def test_the_same_seed_gives_the_same_funnel_whatever_the_number_of_workers(trial, example_model):
    # Given a plan of more than one shard of leads
    plan = plan_for(trial, example_model, leads=SHARD_SIZE + 250, days=30, seed=11)
    # When it runs twice on one worker and once on two
    first, again, parallel = simulate(plan, 1), simulate(plan, 1), simulate(plan, 2)
    # Then the funnel is the same every time, to the last lead
    assert funnel_of(first) == funnel_of(again) == funnel_of(parallel)
    assert parallel.workers == 2
    # And a different seed gives a different one
    assert funnel_of(simulate(replace(plan, seed=12), 1)) != funnel_of(first)


@pytest.mark.parametrize("sequence_name", ["trial-nurture", "ebook-nurture"])
@pytest.mark.parametrize("use_example", [False, True])
def test_the_funnel_adds_up(catalog, example_model, sequence_name, use_example):
    # Given a population with every kind of behaviour: bounces, complaints, unsubscribes, machine opens
    sequence = catalog.current(sequence_name)
    model = example_model if use_example and sequence_name == "trial-nurture" else EngagementModel()
    noisy = model.model_copy(
        update={"emails": model.emails.model_copy(update={"unsubscribe": 0.03, "complaint": 0.01})}
    )
    result = simulate(plan_for(sequence, noisy, leads=600, days=45), 1)
    t = result.tally
    # Then every identity of the books holds
    assert t.identities() == []
    for funnel in [*t.steps.values(), t.confirmations]:
        assert funnel.sent == funnel.delivered + funnel.hard_bounced + funnel.soft_bounced
        assert funnel.delivered >= funnel.opened >= funnel.clicked
    # And there was something to count in each kind
    assert t.opt_outs["unsubscribed"] > 0
    assert t.opt_outs["complained"] > 0
    assert t.opt_outs["hard-bounced"] > 0
    assert sum(f.machine_opened for f in t.steps.values()) > 0
    assert sum(t.outcomes.values()) == t.leads == 600
    assert t.emails == sum(t.sends_per_day) == sum(n * c for n, c in t.emails_per_lead.items())


def test_books_that_do_not_balance_are_caught(trial):
    # Given an honest tally
    t = simulate(plan_for(trial, leads=200, days=30), 1).tally
    assert t.identities() == []
    # When one count is off by one
    t.steps["welcome"].delivered += 1
    t.outcomes["completed"] += 1
    # Then the identities say which
    broken = t.identities()
    assert "welcome: sent" in broken
    assert "outcomes add up to the leads" in broken


def test_emails_go_out_only_in_the_send_window_and_under_the_frequency_cap(trial, example_model):
    # Given leads all over the world
    plan = plan_for(trial, example_model, leads=300, days=30)
    result = simulate(plan, 1, keep_traces=True)
    window = trial.send_window
    assert window is not None
    for trace in result.traces:
        zone = ZoneInfo(trace.timezone or window.default_timezone)
        nurture = [e for e in trace.emails if e.kind == "nurture"]
        for email in nurture:
            local = email.at.astimezone(zone)
            # Then each nurture email goes out on a weekday inside 09:00-17:00 in the lead's own zone
            assert local.weekday() < 5, (trace.lead_id, email)
            assert time(9) <= local.time() < time(17), (trace.lead_id, email)
        # And never two within the cap's 20 hours
        for a, b in itertools.pairwise(nurture):
            assert b.at - a.at >= timedelta(hours=20), (trace.lead_id, a, b)


def test_a_pricing_click_on_the_case_study_always_takes_the_pricing_branch(tmp_path, trial):
    # Given leads who open every email two hours after it arrives and always click pricing in the
    # case study, and nothing else (with a spread, some would open it after the 3-day wait_for)
    model = model_from(
        tmp_path,
        """
        machine_opens: 0%
        segments: [{name: everyone, share: 100%}]
        open_delay: {median: 2 hours, sigma: 0}
        emails: {open: 100%, click: 0%, bounce: {hard: 0%, soft: 0%}, unsubscribe: 0%, complaint: 0%}
        steps: {case-study: {links: {pricing: 100%}}}
        confirm: {share: 100%}
        goal: {share: 0%}
        """,
    )
    traces = simulate(plan_for(trial, model, leads=120, days=30), 1, keep_traces=True).traces
    # Then every lead who got the case study got the pricing follow-up next, and never the tips
    for trace in traces:
        steps = [e.step for e in trace.emails if e.kind == "nurture"]
        assert steps[:5] == ["welcome", "first-dashboard", "case-study", "pricing-followup", "trial-ending"], steps
        assert "power-user-tips" not in steps


def test_without_clicks_nobody_reaches_pricing_or_sales(tmp_path, trial):
    model = model_from(tmp_path, "emails: {click: 0%}\nmachine_opens: 0%\n")
    t = simulate(plan_for(trial, model, leads=300, days=30), 1).tally
    assert t.steps["pricing-followup"].sent == 0
    assert t.sales_ready == 0


WAIT_FOR_OPEN = """
name: opens
from: "Acme <hello@acme.example>"
double_opt_in: false
frequency_cap: off
steps:
  - email: hello
  - wait_for: {open: any, within: 2 days}
    then: thanks
    else: nudge
  - email: nudge
  - exit: quiet
  - email: thanks
"""


@pytest.mark.parametrize(("human", "machine", "expected"), [("0%", "100%", "nudge"), ("100%", "0%", "thanks")])
def test_machine_opens_never_count_as_an_open_for_a_wait_for(tmp_path, human, machine, expected):
    # Given a sequence that waits for an open, and leads whose mail app (or the lead) opens everything
    sequence = one_off_sequence(tmp_path, "opens", WAIT_FOR_OPEN, {"hello": (), "nudge": (), "thanks": ()})
    model = model_from(
        tmp_path,
        f"""
        machine_opens: {machine}
        segments: [{{name: everyone, share: 100%}}]
        open_delay: {{median: 3 hours, sigma: 0}}
        emails: {{open: "{human}", bounce: {{hard: 0%, soft: 0%}}, unsubscribe: 0%, complaint: 0%}}
        goal: {{share: 0%}}
        """,
    )
    plan = plan_for(sequence, model, leads=100, days=10, templates=tmp_path / "one-off")
    t = simulate(plan, 1).tally
    # Then only real opens take the 'then' branch
    assert t.steps[expected].sent == 100
    assert sum(f.sent for f in t.steps.values()) == 200
    if machine == "100%":
        assert t.steps["hello"].machine_opened == 100
        assert t.steps["hello"].opened == 0


def test_the_cli_prints_the_funnel_and_writes_the_report(tmp_path, capsys):
    report = tmp_path / "report.html"
    history = tmp_path / "history.jsonl"
    code = main(
        [
            "simulate",
            "--leads",
            "400",
            "--days",
            "30",
            "--model",
            str(EXAMPLE_MODEL),
            "--report",
            str(report),
            "--export-history",
            str(history),
            "--workers",
            "1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    out = captured.out
    assert "Funnel per email step" in out
    assert "case-study" in out
    assert "all emails" in out
    assert "lead-steps/s" in out
    assert "Sales-ready:" in out
    assert "Emails per lead:" in out
    assert report.read_text().startswith("<!doctype html>")
    assert len(history.read_text().splitlines()) == 401  # a header and one line per lead
    assert captured.err == ""  # no progress bar when stderr is not a terminal


def test_the_cli_explains_a_bad_model_at_its_line(tmp_path, capsys):
    model = tmp_path / "model.yaml"
    model.write_text("emails:\n  open: 30%\n  clikc: 5%\nsteps:\n  case-study: {links: {pricng: 10%}}\n")
    assert main(["simulate", "--leads", "10", "--model", str(model), "--report", ""]) == 2
    err = capsys.readouterr().err
    assert f"{model}:3: unknown key 'clikc' (fix: did you mean 'click'?)" in err


def test_the_progress_bar_draws_on_a_terminal_only():
    terminal = io.StringIO()
    bar = ProgressBar(terminal, "simulating", enabled=True)
    bar(0, 2000)
    bar(1000, 2000)
    bar(2000, 2000)
    drawn = terminal.getvalue()
    assert "50% 1,000/2,000 leads" in drawn
    assert "100% 2,000/2,000 leads" in drawn
    assert drawn.endswith("\n")
    piped = io.StringIO()
    ProgressBar(piped, "simulating")(1000, 2000)  # StringIO is not a terminal
    assert piped.getvalue() == ""
