"""The documentation stays true: the README is a short front door whose links, configuration table
and example sequence hold; the guides' links land; the runbook covers every alarm; the repository
carries its license and its update policy."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from ripen.config import Settings
from ripen_dev.cli import main as ripen
from ripen_dev.local import cfn
from tests.conftest import REPO

README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(path: Path) -> str:
    """The text of a Markdown file without its code: links in examples are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text()))


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file (lowercase, punctuation dropped,
    spaces to hyphens, repeats numbered)."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading[1].strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_relative_link_in_the_readme_and_the_guides_lands_on_a_file_and_heading_that_exist():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(prose(doc)):
            if re.match(r"[a-z]+:", target):  # https:, mailto: ...
                continue
            path, _, anchor = target.partition("#")
            destination = (doc.parent / path).resolve() if path else doc
            if not destination.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_stays_a_front_door_that_names_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) < 300
    # .ci/run runs the README's test command
    assert "make test" in text
    assert "make dev" in text
    for guide in ("docs/marketer-guide.md", "docs/operator-guide.md", "docs/architecture.md"):
        assert f"]({guide})" in text, guide


def test_every_setting_the_code_reads_is_in_the_readme_configuration_table():
    table = section(README.read_text(), "## Configuration")
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z_]+)`", cell)}
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    assert aliases <= documented, f"missing from the README's configuration table: {sorted(aliases - documented)}"


def test_every_template_parameter_is_in_the_operator_guide_parameter_table():
    table = section((REPO / "docs" / "operator-guide.md").read_text(), "### Template parameters")
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", table, re.M))
    names = {name for pair in documented for name in pair if name}
    parameters = set(cfn.load_template(REPO / "template.yaml")["Parameters"])
    assert parameters <= names, f"parameters without a row: {sorted(parameters - names)}"


def test_the_runbook_says_what_to_do_for_every_alarm_the_template_raises():
    runbook = section((REPO / "docs" / "operator-guide.md").read_text(), "## Runbook")
    headings = " ".join(re.findall(r"^### (.+)$", runbook, re.M))
    alarms = cfn.resources_of_type(cfn.load_template(REPO / "template.yaml"), "AWS::CloudWatch::Alarm")
    assert alarms
    missing = [name for name in alarms if name not in headings]
    assert not missing, f"alarms without a runbook entry: {missing}"


def test_the_readme_example_sequence_passes_ripen_lint(tmp_path, capsys):
    # Given the example sequence and email from the README, next to the shipped layouts and partials
    example = section(README.read_text(), "## How to write a sequence")
    (sequence_yaml, email_md) = re.findall(r"```(?:yaml|markdown)\n(.*?)```", example, re.S)
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    folder = templates / yaml.safe_load(sequence_yaml)["name"]
    folder.mkdir()
    (folder / "sequence.yaml").write_text(sequence_yaml)
    (folder / "recording.md").write_text(email_md)
    for other in ("case-study", "demo-offer"):  # the emails the README does not show
        (folder / f"{other}.md").write_text(f'---\nsubject: "{other}"\npreheader: "More"\n---\nHello.\n')
    # When ripen lint checks the folder, Then it finds nothing to fix
    assert ripen(["lint", str(templates)]) == 0, capsys.readouterr().out


def test_dependabot_proposes_weekly_updates_of_the_python_dependencies_and_the_actions():
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) == {"uv", "github-actions"}
    for update in updates.values():
        assert update["directory"] == "/"
        assert update["schedule"]["interval"] == "weekly"


def test_the_license_is_the_apache_license_2_0_the_package_declares():
    text = (REPO / "LICENSE").read_text().strip()
    assert text.startswith("Apache License")
    assert "Version 2.0, January 2004" in text.splitlines()[1]
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (REPO / "pyproject.toml").read_text()
