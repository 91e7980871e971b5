"""`ripen simulate --replay`: real history played again on a (new) version of the sequence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ripen.adapters.templates import load_catalog
from ripen_dev.cli import main
from ripen_dev.simulation.history import export_lines, read_export, replay
from ripen_dev.simulation.model import email_links, load_model
from ripen_dev.simulation.simulate import simulate
from tests.conftest import REPO, TEMPLATES
from tests.support.simulation import plan_for, templates_copy

EXAMPLES = REPO / "examples" / "simulation"
EXAMPLE_EXPORT = EXAMPLES / "trial-nurture-history.jsonl"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, catalog) -> Path:
    """History of 250 simulated trial leads, in the export format."""
    trial = catalog.current("trial-nurture")
    plan = plan_for(trial, load_model(EXAMPLES / "trial-nurture.yaml"), leads=250, days=35, seed=5)
    result = simulate(plan, 1, keep_traces=True)
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    path.write_text("\n".join(export_lines(plan, result.traces)) + "\n")
    return path


def edit_trial(templates: Path, *changes: tuple[str, str]) -> None:
    path = templates / "trial-nurture" / "sequence.yaml"
    text = path.read_text()
    for old, new in [("version: 1\n", "version: 2\n"), *changes]:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)


def test_replaying_history_on_the_version_it_ran_on_gives_back_exactly_what_happened(exported, catalog):
    # Given the history of leads who went through trial-nurture v1
    export = read_export(exported)
    assert export.problems == []
    assert len(export.leads) == 250
    trial = catalog.current("trial-nurture")
    # When it is replayed on v1 itself
    result = replay(export, trial, email_links(TEMPLATES, trial))
    # Then every lead gets the same emails at the same moments and ends the same way
    assert result.changed == []
    recorded, replayed = result.sent_by_step()
    assert recorded == replayed
    assert recorded["pricing-followup"] > 0
    was, would = result.outcomes()
    assert was == would
    assert was["sales_ready"] > 0
    assert not result.lost()


def test_a_new_version_shows_which_leads_would_get_what_instead(exported, tmp_path):
    # Given v2 waits 2 days after the welcome email (v1: 1 day) and gives 5 days to click pricing (v1: 3)
    templates = templates_copy(tmp_path)
    edit_trial(
        templates,
        ("  - wait: 1 day\n", "  - wait: 2 days\n"),
        ("{click: pricing, within: 3 days}", "{click: pricing, within: 5 days}"),
    )
    v2 = load_catalog(templates).current("trial-nurture")
    assert v2.version == 2
    # When the v1 history is replayed on v2
    result = replay(read_export(exported), v2, email_links(templates, v2))
    # Then the first dashboard email goes out later for everyone who got it, and what they did with it follows it
    timing = [lead for lead in result.changed if not lead.path_differs]
    assert timing
    for lead in timing:
        was, would = dict(lead.recorded), dict(lead.replayed)
        if "first-dashboard" in was:
            assert would["first-dashboard"] > was["first-dashboard"]
    # And the CLI prints the comparison
    assert main(["simulate", "--templates", str(templates), "--replay", str(exported), "--show", "2"]) == 0


def test_a_renamed_step_keeps_its_engagement_through_the_migration(exported, tmp_path):
    # Given v2 renames the case-study step and says so in its migrations
    templates = templates_copy(tmp_path)
    edit_trial(
        templates,
        ("  - email: case-study ", "  - id: study\n    email: case-study "),
        ("steps:\n", "migrations:\n  - from: 1\n    steps: {case-study: study}\nsteps:\n"),
    )
    v2 = load_catalog(templates).current("trial-nurture")
    # When the v1 history is replayed on it
    result = replay(read_export(exported), v2, email_links(templates, v2))
    # Then pricing clicks on the case study still lead to the pricing follow-up: nothing changes but the name
    assert result.steps == {"case-study": "study"}
    assert result.changed == []
    recorded, replayed = result.sent_by_step()
    assert replayed["study"] == recorded["study"] > 0


def test_clicks_on_an_email_the_new_version_drops_move_to_the_next_email_with_that_link(exported, tmp_path):
    # Given v2 replaces the case study with the pricing follow-up (which also links to pricing)
    templates = templates_copy(tmp_path)
    edit_trial(
        templates,
        ("  - email: case-study ", "  - email: pricing-followup\n    id: case-study-offer "),
        ("links: {pricing: 20, demo: 25, case-study: 8}", "links: {pricing: 20, demo: 25}"),
    )
    v2 = load_catalog(templates).current("trial-nurture")
    export = read_export(exported)
    clicked = {
        lead.lead
        for lead in export.leads
        for e in lead.events
        if e.type == "click" and e.step == "case-study" and getattr(e, "link", None) == "pricing"
    }
    assert clicked
    # When the v1 history is replayed on it
    result = replay(export, v2, email_links(templates, v2))
    # Then those pricing clicks land on the new email and still take the pricing branch
    assert sum(lead.moved_clicks for lead in result.leads) >= len(clicked)
    for lead in result.leads:
        if lead.history.lead in clicked:
            moved = [e for e in lead.trace.events if e.kind == "click" and e.step == "case-study-offer"]
            assert "pricing" in [e.link for e in moved]
            final = lead.trace.final
            assert final is not None
            assert "pricing-followup" in [step for step, _ in lead.replayed] or final.terminal, final


def test_the_example_export_replays(capsys):
    assert main(["simulate", "--replay", str(EXAMPLE_EXPORT)]) == 0
    out = capsys.readouterr().out
    assert "replayed on trial-nurture v1" in out
    assert "Leads whose emails would change: 0 of 40" in out


def test_broken_lines_are_reported_and_skipped(exported, tmp_path, capsys):
    lines = exported.read_text().splitlines()
    lines.insert(2, "{not json")
    lines.insert(3, json.dumps({"lead": "ld_x", "signed_up_at": "2026-03-02T10:00:00"}))  # no time zone offset
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    assert main(["simulate", "--replay", str(broken)]) == 1
    captured = capsys.readouterr()
    assert f"{broken}:3: not JSON" in captured.err
    assert f"{broken}:4: signed_up_at:" in captured.err
    assert "250 leads of trial-nurture v1" in captured.out
