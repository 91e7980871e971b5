"""The `ripen` command as a tool: version, help, machine-readable output, CI annotations, the editor schema,
the Mermaid graph, and what it says when an optional dependency is missing."""

from __future__ import annotations

import json
import re
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest
import yaml

from ripen.adapters.templates import load_catalog
from ripen_dev.cli import main, parser
from ripen_dev.schema import SCHEMA_FILE, schema_text, sequence_schema
from tests.conftest import REPO, TEMPLATES

SEQUENCE_FILES = sorted([*TEMPLATES.glob("*/sequence.yaml"), *TEMPLATES.glob("*/versions/*.yaml")])


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def with_typo(templates: Path) -> Path:
    """The trial nurture with `wait_for` misspelt at a known line; returns the file."""
    sequence = templates / "trial-nurture" / "sequence.yaml"
    sequence.write_text(sequence.read_text().replace("  - wait_for: {click: pricing", "  - wait_fro: {click: pricing"))
    return sequence


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


# -- version and help ---------------------------------------------------------------------------------


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"ripen {version('ripen')}\n"


def test_plain_ripen_prints_the_help_with_every_command_not_a_traceback(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ripen")
    for command in ("lint", "preview", "simulate", "preview-lead", "graph", "schema", "openapi", "serve", "dev"):
        assert re.search(rf"^\s+{command}\s", out, re.M), command


def test_every_command_help_says_what_it_is_for_and_shows_examples(capsys):
    commands = next(a for a in parser()._actions if a.dest == "command").choices
    assert commands
    for name in commands:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        description = out.split("\n\n")[1]
        assert not description.startswith(("positional arguments", "options")), f"{name} has no description"
        examples = out.split("examples:\n", 1)
        assert len(examples) == 2, f"{name} --help has no examples"
        assert all(line.startswith("  ripen ") for line in examples[1].strip("\n").splitlines()), name


# -- lint: JSON and GitHub annotations ------------------------------------------------------------------


def test_lint_json_is_a_list_of_problems_with_file_line_message_and_fix(templates, capsys):
    # Given a sequence with a misspelt step kind
    sequence = with_typo(templates)
    # When it is linted with --json
    assert main(["lint", str(templates), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    # Then each problem is an object a script can use, and the exit code is the text one's
    assert problems == [
        {
            "file": str(sequence),
            "line": line_of(sequence, "wait_fro:"),
            "message": "step 7 has no step kind",
            "fix": "did you mean 'wait_for'?",
        }
    ]


def test_lint_json_of_valid_templates_is_an_empty_list(capsys):
    assert main(["lint", str(TEMPLATES), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_lint_for_github_prints_an_error_annotation_at_the_file_and_line(templates, capsys):
    sequence = with_typo(templates)
    assert main(["lint", str(templates), "--format", "github"]) == 1
    out = capsys.readouterr().out
    file = str(sequence).replace(":", "%3A").replace(",", "%2C")
    line = line_of(sequence, "wait_fro:")
    assert out == f"::error file={file},line={line}::step 7 has no step kind (fix: did you mean 'wait_for'?)\n"


def test_a_github_annotation_escapes_what_would_end_or_split_it(templates, capsys):
    # Given a percentage over 100% (the message holds '%'), in a folder whose name holds a comma
    moved = templates.parent / "a,b"
    templates.rename(moved)
    sequence = moved / "trial-nurture" / "sequence.yaml"
    sequence.write_text(sequence.read_text().replace("decay_per_week: 10%", "decay_per_week: 120%"))
    # When it is linted for GitHub
    assert main(["lint", str(moved), "--format", "github"]) == 1
    [annotation] = capsys.readouterr().out.splitlines()
    # Then neither the comma nor the percent sign can be read as the command's own syntax
    file = f"{moved}/trial-nurture/sequence.yaml".replace(":", "%3A").replace(",", "%2C")
    assert annotation.startswith(f"::error file={file},line={line_of(sequence, 'decay_per_week')}::")
    assert "from 0%25 up to (not including) 100%25" in annotation
    assert re.fullmatch(r"[^%]*(%(25|2C|3A)[^%]*)*", annotation)


def test_a_github_annotation_keeps_a_message_on_one_line():
    from ripen_dev.cli import _github

    assert _github("line one\r\nline two: 5%") == "line one%0D%0Aline two: 5%25"
    assert _github("C:\\a,b", property_value=True) == "C%3A\\a%2Cb"


# -- simulate and preview-lead: JSON --------------------------------------------------------------------


def test_simulate_json_gives_the_funnel_per_email_step(capsys):
    code = main(["simulate", "--leads", "200", "--days", "30", "--workers", "1", "--report", "", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (result["sequence"], result["leads"], result["days"], result["seed"]) == ("trial-nurture", 200, 30, 1)
    steps = result["steps"]
    assert list(steps)[:3] == ["welcome", "first-dashboard", "case-study"]
    assert steps["welcome"]["sent"] >= steps["welcome"]["delivered"] >= steps["welcome"]["opened"] > 0
    assert result["all_emails"]["sent"] == sum(step["sent"] for step in steps.values())
    assert sum(result["outcomes"].values()) == 200
    assert result["funnel_problems"] == []


def test_preview_lead_json_lists_the_emails_and_decisions(capsys):
    assert main(["preview-lead", "--script", "opens everything; clicks pricing on day 3", "--json"]) == 0
    walk = json.loads(capsys.readouterr().out)
    steps = [email["step"] for email in walk["emails"]]
    # A click on pricing in the case study goes straight to the pricing follow-up
    assert steps[steps.index("case-study") + 1] == "pricing-followup"
    assert "power-user-tips" not in steps
    assert all(email["subject"] for email in walk["emails"])
    assert any(entry.get("lead", {}).get("link") == "pricing" for entry in walk["journal"])
    assert walk["after"]["stage"] == "decision"


# -- the JSON Schema of sequence.yaml ------------------------------------------------------------------


def test_the_committed_schema_is_the_one_the_model_generates():
    committed = (REPO / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), "schema/sequence.schema.json is stale: run `ripen schema --out` on it"


def test_ripen_schema_writes_the_schema(tmp_path):
    out = tmp_path / "sequence.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == schema_text()


@pytest.mark.parametrize("path", SEQUENCE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_example_sequence_points_editors_at_the_schema_and_validates_against_it(path):
    # The first line tells the YAML language server where the schema is, relative to the file
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, f"{path} does not start with the schema comment"
    assert (path.parent / match.group(1)).resolve() == (REPO / SCHEMA_FILE).resolve()
    jsonschema.Draft202012Validator(sequence_schema()).validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_the_schema_describes_every_step_kind_and_top_level_key():
    schema = sequence_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"name", "from", "steps", "send_window", "scoring", "stage_rules", "frequency_cap"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) == {"name", "from", "steps"}
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["properties"]["steps"]["items"]["anyOf"]}
    assert kinds == {"EmailStep", "WaitStep", "WaitUntilStep", "WaitForStep", "BranchStep", "StageStep"} | {
        "GotoStep",
        "ExitStep",
    }


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("reply_to:", "replyto:"),  # an unknown key
        ("  - wait: 1 day", "  - wait: 1 month"),  # months have no fixed length
        ("  - wait: 1 day", "  - wait: 1 day\n    email: welcome"),  # two kinds in one step
        ("decay_per_week: 10%", "decay_per_week: 120%"),
        ('hours: "09:00-17:00"', "hours: nine to five"),
        ("name: trial-nurture", "name: Trial Nurture"),
    ],
)
def test_the_schema_underlines_what_the_validator_refuses(old, new):
    source = (TEMPLATES / "trial-nurture" / "sequence.yaml").read_text(encoding="utf-8")
    assert old in source
    broken = yaml.safe_load(source.replace(old, new, 1))
    assert list(jsonschema.Draft202012Validator(sequence_schema()).iter_errors(broken))


def test_the_schema_takes_the_shorthands_the_validator_takes():
    source = yaml.safe_load((TEMPLATES / "trial-nurture" / "sequence.yaml").read_text(encoding="utf-8"))
    source |= {"double_opt_in": True, "reentry": "never", "frequency_cap": "off", "scoring": {"decay_per_week": 0.1}}
    source["send_window"] |= {"days": "Monday"}
    source["steps"] += [{"exit": True}, {"wait_until": 20}, {"wait": "90 Minutes"}]
    source["stage_rules"][0]["when"] = {"score": 10}
    jsonschema.Draft202012Validator(sequence_schema()).validate(source)


# -- graph ----------------------------------------------------------------------------------------------


def test_graph_draws_every_step_of_the_trial_nurture_with_then_and_else_labelled(capsys):
    assert main(["graph", "trial-nurture"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    trial = load_catalog(TEMPLATES).current("trial-nurture")
    for step_id in trial.step_ids:
        assert f'"{step_id}<br/>' in out, f"{step_id} is not drawn"
    node = {step_id: f"s{i + 1}" for i, step_id in enumerate(trial.step_ids)}
    wait_for = node["wait-for-7"]
    assert f'{wait_for} -->|"then: clicks pricing"| {node["pricing-followup"]}' in out
    assert f'{wait_for} -->|"else: not within 3 days"| {node["power-user-tips"]}' in out
    assert f'-->|"if stage decision"| {node["pricing-followup"]}' in out
    assert f'-->|"else"| {node["countdown"]}' in out
    # and the product-event wait after the power-user tips: a booked demo goes straight to the countdown
    demo = node["wait-for-9"]
    assert f'{demo}{{{{"wait-for-9<br/>wait up to 2 days for a demo_booked event"}}}}' in out
    assert f'{demo} -->|"then: demo_booked"| {node["countdown"]}' in out


def test_graph_of_an_unknown_sequence_names_the_ones_there_are(capsys):
    assert main(["graph", "trial-nurtur"]) == 2
    assert "choose one of: ebook-nurture, trial-nurture" in capsys.readouterr().err


# -- optional dependencies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("module", "package"), [("moto.server", "moto[server]"), ("boto3", "boto3")])
def test_dev_without_its_optional_dependencies_says_what_to_install(monkeypatch, capsys, module, package):
    # Given a machine where the dev stack's dependency does not import
    monkeypatch.setitem(sys.modules, module, None)
    # When the developer runs `ripen dev`
    code = main(["dev"])
    # Then one line says what to install, and nothing started
    assert code == 1
    captured = capsys.readouterr()
    assert captured.err == f"ripen dev needs {package}: pip install 'ripen[dev]'\n"
    assert captured.out == ""


def test_preview_screenshots_without_playwright_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    assert main(["preview", str(TEMPLATES), "--out", str(tmp_path / "out"), "--screenshots"]) == 1
    assert capsys.readouterr().err == "ripen preview --screenshots needs playwright: pip install 'ripen[dev]'\n"
    assert not (tmp_path / "out").exists()
