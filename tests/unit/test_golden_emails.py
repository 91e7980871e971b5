"""Golden files: every email of the example sequences, rendered exactly as a lead receives it.

A change to an email, the layout, a partial or the renderer shows up here as a diff to review.
When the change is intended, regenerate the files and commit them with it:

    RIPEN_UPDATE_GOLDEN=1 uv run pytest tests/unit/test_golden_emails.py

Files: `tests/golden/<sequence>/<step>.html` and `.txt` for the sample lead with every optional
field, `<step>.minimal.txt` for the one with none (where every `default()` shows). Links carry
fixed stand-in tokens, so the files only change when the content does.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from ripen.adapters.templates import load_catalog
from ripen.mail.render import EmailContext, Renderer, lead_view
from ripen_dev.mail.preview import emails_in_order
from ripen_dev.mail.samples import SAMPLE_LEADS, SAMPLE_SENDER
from tests.conftest import REPO, TEMPLATES

GOLDEN = REPO / "tests" / "golden"
BASE = "https://go.acme.example"
UPDATE = os.environ.get("RIPEN_UPDATE_GOLDEN") == "1"


def _emails() -> list[tuple[str, str, str, str]]:
    catalog = load_catalog(TEMPLATES)
    return [
        (name, step, email, kind)
        for name in catalog.names()
        for step, email, kind in emails_in_order(catalog.current(name))
    ]


EMAILS = _emails()


def compare(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run RIPEN_UPDATE_GOLDEN=1 uv run pytest {Path(__file__).name}"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(), str(path), "rendered", lineterm="")
        pytest.fail("rendered email differs from its golden file:\n" + "\n".join(list(diff)[:60]))


@pytest.mark.parametrize(("sequence", "step", "email", "kind"), EMAILS, ids=[f"{s}/{t}" for s, t, _, _ in EMAILS])
def test_every_example_email_renders_exactly_as_reviewed(catalog, sequence, step, email, kind):
    renderer = Renderer(TEMPLATES, own_url=BASE)
    path = renderer.find(sequence, email)
    assert path is not None
    title = catalog.current(sequence).display_title
    token = f"{sequence}.{step}"
    for sample in ("full", "minimal"):
        context = EmailContext(
            lead=lead_view(SAMPLE_LEADS[sample]),
            sender=SAMPLE_SENDER,
            sequence_name=sequence,
            sequence_title=title,
            unsubscribe_url=f"{BASE}/unsubscribe?token=unsubscribe.{token}",
            preferences_url=f"{BASE}/preferences?token=preferences.{token}",
            confirm_url=f"{BASE}/confirm?token=confirm.{token}" if kind == "confirmation" else None,
        )
        rendered = renderer.render(path, context, email_name=email)
        if sample == "full":
            compare(GOLDEN / sequence / f"{step}.html", rendered.html)
            compare(GOLDEN / sequence / f"{step}.txt", f"Subject: {rendered.subject}\n\n{rendered.text}")
        else:
            compare(GOLDEN / sequence / f"{step}.minimal.txt", f"Subject: {rendered.subject}\n\n{rendered.text}")


def test_every_golden_file_belongs_to_an_email_that_still_exists():
    expected = {
        GOLDEN / sequence / f"{step}{suffix}"
        for sequence, step, _, _ in EMAILS
        for suffix in (".html", ".txt", ".minimal.txt")
    }
    stale = sorted(set(GOLDEN.rglob("*.*")) - expected)
    if UPDATE:
        for path in stale:
            path.unlink()
        return
    assert not stale, f"golden files without an email (delete them): {stale}"
