"""`ripen lint` on emails and layouts, and `ripen preview`: what a marketer sees in CI."""

from __future__ import annotations

import email
import shutil
from email import policy
from pathlib import Path

import pytest

from ripen_dev.cli import main
from ripen_dev.mail.lint import lint_emails
from tests.conftest import TEMPLATES


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def edit(path: Path, old: str, new: str) -> None:
    source = path.read_text()
    assert old in source
    path.write_text(source.replace(old, new))


def test_the_example_templates_pass(capsys):
    assert lint_emails(TEMPLATES) == []
    assert main(["lint", str(TEMPLATES)]) == 0
    assert "emails and layouts checked" in capsys.readouterr().out


def test_email_problems_are_reported_as_file_line_message_at_the_line_to_fix(templates, capsys):
    welcome = templates / "trial-nurture" / "welcome.md"
    edit(welcome, 'preheader: "Three steps to your first real numbers, about 15 minutes from now"\n', "")
    edit(welcome, 'Hi {{ lead.first_name | default("there") }},', "Hi {{ lead.first_name }},")
    edit(welcome, "(https://acme.example/app/sources/new)", "(acme.example/app/sources/new)")
    case_study = templates / "trial-nurture" / "case-study.md"
    edit(case_study, 'subject: "How Fernhill cut churn 17% with one cohort chart"', f'subject: "{"Long " * 20}"')
    # When the marketer runs lint
    assert main(["lint", str(templates)]) == 1
    out = capsys.readouterr().out.splitlines()
    # Then each problem names the file and the line to fix
    expected = [
        f"{welcome}:2: the email has no preheader",
        f"{welcome}:{line_of(welcome, 'Hi {{ lead.first_name }},')}: undefined value: 'dict object' has no attribute "
        "'first_name' (for a lead with no optional fields)",
        f"{welcome}:{line_of(welcome, 'acme.example/app/sources/new')}: 'acme.example/app/sources/new",
        f"{case_study}:2: the subject is 99 characters",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in out), f"no line starting {start!r} in:\n" + "\n".join(out)
    assert any("(fix: some leads lack this value" in line for line in out)


def test_an_unknown_front_matter_key_gets_a_suggestion(templates):
    welcome = templates / "trial-nurture" / "welcome.md"
    edit(welcome, "preheader:", "preheadr:")
    [problem] = lint_emails(templates)
    assert (problem.file, problem.line, problem.message) == (
        "trial-nurture/welcome.md",
        3,
        "unknown front matter key 'preheadr'",
    )
    assert problem.fix == "did you mean 'preheader'?"


def test_confirm_url_in_a_nurture_email_is_an_error_with_a_hint(templates):
    welcome = templates / "trial-nurture" / "welcome.md"
    edit(welcome, "Tomorrow I'll show you", "[Confirm]({{ confirm_url }}) Tomorrow I'll show you")
    problems = lint_emails(templates)
    assert {(p.file, p.line) for p in problems} == {("trial-nurture/welcome.md", line_of(welcome, "confirm_url"))}
    assert problems[0].fix == "confirm_url exists only in the double opt-in confirmation email"


def test_a_layout_without_the_compliance_footer_fails(templates):
    edit(templates / "_layouts" / "default.html", '{% include localized("_partials/footer.html") %}', "")
    problems = lint_emails(templates)
    assert {p.file for p in problems} == {"_layouts/default.html"}  # reported once, on the layout
    assert sorted(p.message for p in problems) == [
        "layout 'default': the HTML version lacks the postal address ({{ sender.postal_address }})",
        "layout 'default': the HTML version lacks the preferences link ({{ preferences_url }})",
        "layout 'default': the HTML version lacks the unsubscribe link ({{ unsubscribe_url }})",
    ]


def test_a_text_layout_without_the_footer_or_a_layout_without_text_version_fails(templates):
    edit(templates / "_layouts" / "default.txt", '{% include localized("_partials/footer.txt") %}', "")
    assert {p.file for p in lint_emails(templates)} == {"_layouts/default.txt"}
    (templates / "_layouts" / "default.txt").unlink()
    [problem] = lint_emails(templates)
    assert problem.message == "layout 'default' has no text version"


def test_an_email_whose_own_layout_lacks_the_footer_fails(templates):
    shutil.copy(templates / "_layouts" / "default.txt", templates / "_layouts" / "bare.txt")
    (templates / "_layouts" / "bare.html").write_text("<html><body>{{ body }}</body></html>\n")
    edit(templates / "trial-nurture" / "welcome.md", "---\nHi", "layout: bare\n---\nHi")
    files = {p.file for p in lint_emails(templates)}
    assert files == {"_layouts/bare.html"}


def test_an_email_asking_for_a_missing_layout_fails_at_its_layout_line(templates):
    welcome = templates / "trial-nurture" / "welcome.md"
    edit(welcome, "---\nHi", "layout: fancy\n---\nHi")
    problems = lint_emails(templates)
    assert {(p.file, p.line) for p in problems} == {("trial-nurture/welcome.md", line_of(welcome, "layout: fancy"))}
    assert "layout 'fancy' not found" in problems[0].message


def test_a_link_name_that_ses_cannot_report_is_refused(templates):
    welcome = templates / "trial-nurture" / "welcome.md"
    edit(welcome, "{ link=connect }", '{ link="Connect Now" }')
    problems = [p for p in lint_emails(templates) if p.file == "trial-nurture/welcome.md"]
    assert [p.message for p in problems] == [
        "link name 'Connect Now' may use only lowercase letters, digits, '-' and '_'"
    ]


def test_an_email_gmail_would_clip_is_refused(templates):
    welcome = templates / "trial-nurture" / "welcome.md"
    edit(welcome, "Tomorrow I'll show you", "Long story. " * 9000 + "\n\nTomorrow I'll show you")
    [problem] = lint_emails(templates)
    assert problem.file == "trial-nurture/welcome.md"
    assert "Gmail clips emails over 102 KB" in problem.message


def test_preview_renders_every_email_of_every_sequence_with_an_index(tmp_path, capsys):
    out = tmp_path / "preview"
    assert main(["preview", str(TEMPLATES), "--out", str(out)]) == 0
    assert "15 email(s) rendered" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    for sequence, steps in {
        "trial-nurture": [
            "confirm",
            "welcome",
            "first-dashboard",
            "case-study",
            "power-user-tips",
            "pricing-followup",
            "trial-ending",
            "trial-ended",
        ],
        "ebook-nurture": [
            "ebook-delivery",
            "download-reminder",
            "key-takeaways",
            "webinar-invite",
            "customer-story",
            "trial-offer",
            "breakup",
        ],
    }.items():
        for step in steps:
            for suffix in (".html", ".txt", ".eml"):
                assert (out / sequence / f"{step}{suffix}").is_file()
            assert f'href="{sequence}/{step}.html"' in index
    message = email.message_from_bytes((out / "trial-nurture" / "welcome.eml").read_bytes(), policy=policy.default)
    assert message["Subject"] == "Your Acme Insights trial is ready"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hi Ana," in (out / "trial-nurture" / "welcome.txt").read_text()


def test_preview_for_a_given_sample_lead(tmp_path):
    lead = tmp_path / "lead.yaml"
    lead.write_text("email: kim@example.com\nname: Kim Park\nattributes: {company: Larkspur}\n")
    out = tmp_path / "preview"
    assert main(["preview", str(TEMPLATES), "--out", str(out), "--lead", str(lead)]) == 0
    text = (out / "trial-nurture" / "welcome.txt").read_text()
    assert text.startswith("Hi Kim,")
    assert "live for Larkspur" in text


def test_preview_reports_an_email_that_does_not_render(templates, tmp_path, capsys):
    edit(templates / "trial-nurture" / "welcome.md", '{{ lead.first_name | default("there") }}', "{{ lead.nickname }}")
    assert main(["preview", str(templates), "--out", str(tmp_path / "p")]) == 1
    assert "trial-nurture/welcome: does not render" in capsys.readouterr().err
