"""`ripen lint` and the Gmail/Yahoo bulk-sender rules: a From not aligned with the SES identity fails;
what only hurts placement (image-only, link shorteners, an empty text part, too many links) warns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ripen_dev.cli import main
from ripen_dev.mail.lint import aligned, identity_from_samconfig, lint_bulk_sender, lint_emails
from tests.conftest import REPO, TEMPLATES

WELCOME = "trial-nurture/welcome.md"
BODY_START = "Hi {{ lead.first_name"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def rewrite_body(templates: Path, body: str) -> None:
    path = templates / WELCOME
    source = path.read_text()
    path.write_text(source[: source.index(BODY_START)] + body)


def warnings_of(templates: Path) -> list[str]:
    return [f"{w.file}:{w.line}: {w.message}" for w in lint_bulk_sender(templates, identity="acme.example").warnings]


def test_the_example_templates_follow_the_bulk_sender_rules(capsys):
    findings = lint_bulk_sender(TEMPLATES, identity=identity_from_samconfig(REPO / "samconfig.toml"))
    assert (findings.errors, findings.warnings) == ([], [])
    assert main(["lint", str(TEMPLATES), "--identity", "acme.example"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_identity_comes_from_samconfig_when_not_given():
    assert identity_from_samconfig(REPO / "samconfig.toml") == "acme.example"
    assert identity_from_samconfig(REPO / "no-such.toml") is None


@pytest.mark.parametrize(
    ("address", "identity", "ok"),
    [
        ("Maya <maya@acme.example>", "acme.example", True),
        ("Maya <maya@ACME.example>", "acme.example", True),
        ("Maya <maya@mail.acme.example>", "acme.example", False),  # ripen's policy: *@identity only
        ("Maya <maya@acme-mail.example>", "acme.example", False),
        ("Maya <maya@acme.example>", "maya@acme.example", True),
        ("Maya <news@acme.example>", "maya@acme.example", False),
    ],
)
def test_a_from_address_is_aligned_only_with_its_own_identity(address, identity, ok):
    assert aligned(address, identity) is ok


def test_a_sequence_sending_from_another_domain_fails_at_its_from_line(templates, capsys):
    # Given the identity acme.example and a sequence whose From is at another domain
    path = templates / "trial-nurture" / "sequence.yaml"
    path.write_text(path.read_text().replace("maya@acme.example", "maya@acme-mail.example"))
    # When lint runs
    code = main(["lint", str(templates), "--identity", "acme.example"])
    # Then it fails, at the sequence's from: line, naming the identity and the fix
    out = capsys.readouterr().out
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if text.startswith("from:"))
    assert code == 1
    assert f"trial-nurture/sequence.yaml:{line}: From 'maya@acme-mail.example' is not aligned" in out
    assert "(fix: send from an address at acme.example)" in out


def test_an_email_whose_own_from_is_not_aligned_fails_at_that_line(templates):
    path = templates / WELCOME
    own_from = '---\nfrom: "Maya <maya@elsewhere.example>"\nsubject:'
    path.write_text(path.read_text().replace("---\nsubject:", own_from, 1))
    [error] = lint_bulk_sender(templates, identity="acme.example").errors
    assert (error.file, error.line) == (WELCOME, 2)


def test_a_missing_postal_address_fails(templates):
    # (the footer check: every email's HTML and text show the postal address)
    footer = templates / "_partials" / "footer.txt"
    footer.write_text(footer.read_text().replace("{{ sender.postal_address }}", ""))
    assert any("lacks the postal address" in p.message for p in lint_emails(templates))


def test_an_image_only_email_warns_and_still_passes(templates, capsys):
    rewrite_body(templates, '![Spring sale](https://acme.example/sale.png)\n\n<img src="https://acme.example/b.png">\n')
    found = warnings_of(templates)
    assert any("mostly images (2 image(s)" in w for w in found)
    assert any("text version has almost nothing" in w for w in found)
    assert main(["lint", str(templates), "--identity", "acme.example"]) == 0
    assert f"{WELCOME}:5: warning: the email is mostly images" in capsys.readouterr().err


def test_a_link_shortener_warns_at_its_line(templates):
    path = templates / WELCOME
    path.write_text(path.read_text().replace("https://acme.example/app/sources/new", "https://bit.ly/3xYz"))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if "bit.ly" in text)
    assert f"{WELCOME}:{line}: warning: bit.ly is a link shortener" in "\n".join(warnings_of(templates))


def test_more_links_than_allowed_warn(templates):
    links = "\n".join(f"[Page {i}](https://acme.example/p{i})" for i in range(16))
    rewrite_body(templates, "Hi there, here is everything we wrote this month for you to read.\n\n" + links + "\n")
    assert any("16 links (more than 15)" in w for w in warnings_of(templates))
    few = lint_bulk_sender(templates, identity="acme.example", max_links=20).warnings
    assert not any("links (more than" in w.message for w in few)


def test_warnings_are_github_annotations_in_ci(templates, capsys):
    rewrite_body(templates, "![Spring sale](https://acme.example/sale.png)\n")
    assert main(["lint", str(templates), "--identity", "acme.example", "--format", "github"]) == 0
    [annotation] = [line for line in capsys.readouterr().out.splitlines() if "mostly images" in line]
    assert annotation.startswith("::warning file=")
    assert "welcome.md,line=5::" in annotation
