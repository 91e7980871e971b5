"""Emails in the lead's language: the locale from the form or the browser, a fallback chain of files,
the footer in the same language, and lint catching a half-translated sequence."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ripen.adapters.templates import find_email
from ripen.core.locales import fallback_chain, from_accept_language, normalize_locale, split_locale
from ripen_dev.cli import main
from ripen_dev.mail.lint import lint_locales
from tests.conftest import TEMPLATES


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("de", "de"),
        ("pt_BR", "pt-br"),
        ("pt-BR", "pt-br"),
        ("de-Latn-DE", "de-de"),
        ("es-419", "es-419"),
        ("", None),
        ("english please", None),
        ("x", None),
        (None, None),
    ],
)
def test_a_locale_is_read_as_language_and_region_in_lowercase(given, expected):
    assert normalize_locale(given) == expected


def test_a_regional_locale_falls_back_to_its_language_then_to_the_default():
    assert fallback_chain("pt-br") == ("pt-br", "pt")
    assert fallback_chain("de") == ("de",)
    assert fallback_chain(None) == ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de-de"),
        ("en;q=0.5, fr-CA", "fr-ca"),
        ("*", None),
        ("de;q=0", None),
        ("", None),
        ("a" * 600, None),
    ],
)
def test_the_browsers_preferred_language_is_the_highest_weighted_one(header, expected):
    assert from_accept_language(header) == expected


def test_a_file_name_tells_its_email_and_language():
    assert split_locale("welcome.de") == ("welcome", "de")
    assert split_locale("welcome.pt-br") == ("welcome", "pt-br")
    assert split_locale("welcome") == ("welcome", None)
    assert split_locale("v1.2") == ("v1.2", None)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def test_given_translations_then_each_lead_gets_the_most_specific_one_and_others_the_default(templates):
    folder = templates / "trial-nurture"
    (folder / "welcome.pt.md").write_text((folder / "welcome.md").read_text())
    (folder / "welcome.pt-br.md").write_text((folder / "welcome.md").read_text())
    assert find_email(folder, "welcome", "pt-br") == folder / "welcome.pt-br.md"
    assert find_email(folder, "welcome", "pt-pt") == folder / "welcome.pt.md"
    assert find_email(folder, "welcome", "de") == folder / "welcome.md"
    assert find_email(folder, "confirm", "pt-br") == templates / "_shared" / "confirm.md"


def test_given_a_german_lead_then_the_email_and_its_footer_are_in_german(templates):
    from datetime import timedelta

    from ripen.adapters.templates import load_catalog
    from ripen.core.links import Links
    from ripen.core.records import Lead, MessageClaim
    from ripen.mail.compose import Composer
    from ripen.mail.render import Renderer
    from ripen_dev.mail.samples import SAMPLE_BASE_URL, SAMPLE_KEY, SAMPLE_SENDER

    folder = templates / "trial-nurture"
    english = (folder / "welcome.md").read_text()
    (folder / "welcome.de.md").write_text(english.replace("Hi {{", "Hallo {{", 1))
    sequence = load_catalog(templates).current("trial-nurture")
    composer = Composer(Renderer(templates), Links(SAMPLE_BASE_URL, SAMPLE_KEY, timedelta(days=60)), SAMPLE_SENDER)
    at = datetime(2026, 3, 2, tzinfo=UTC)
    claim = MessageClaim("k", "ld_1", "trial-nurture", 1, 1, "welcome", "welcome", "nurture", at)

    german = composer.compose(claim, Lead("ld_1", "ana@example.com", at, locale="de-at"), sequence, at)
    other = composer.compose(claim, Lead("ld_1", "ana@example.com", at, locale="fr"), sequence, at)

    assert "Hallo" in german.text
    assert "Abmelden:" in german.text
    assert "E-Mail-Einstellungen" in german.html
    assert "Hallo" not in other.text
    assert "Unsubscribe:" in other.text


def test_given_a_half_translated_sequence_then_lint_names_each_missing_email(templates, capsys):
    folder = templates / "trial-nurture"
    (folder / "welcome.de.md").write_text((folder / "welcome.md").read_text())
    problems = [str(p) for p in lint_locales(templates)]
    assert "trial-nurture/welcome.de.md:1: locale 'de' has no 'case-study' email, which the default language has" in (
        " ".join(problems)
    )
    assert len(problems) == 6  # every trial-nurture email but the welcome
    assert main(["lint", str(templates)]) == 1
    assert "create trial-nurture/case-study.de.md" in capsys.readouterr().out


def test_a_language_translated_for_a_region_counts_for_the_regional_files_too(templates):
    shared = templates / "_shared"
    (shared / "confirm.pt.md").write_text((shared / "confirm.md").read_text())
    (shared / "confirm.pt-br.md").write_text((shared / "confirm.md").read_text())
    assert lint_locales(templates) == []
