"""The engagement model file: defaults, resolution per step and stage, and errors at their line."""

from __future__ import annotations

import pytest

from ripen_dev.simulation.model import DEFAULT_EMAILS, ModelError, Odds, check_model, email_links, load_model
from tests.conftest import REPO, TEMPLATES
from tests.support.simulation import model_from


@pytest.fixture
def trial(catalog):
    return catalog.current("trial-nurture")


def test_the_example_model_fits_the_trial_sequence(trial):
    path = REPO / "examples" / "simulation" / "trial-nurture.yaml"
    model = load_model(path)
    assert check_model(model, trial, email_links(TEMPLATES, trial), str(path)) == []
    assert {s.name for s in model.segments} == {"evaluating", "exploring", "tyre-kicking"}


def test_odds_resolve_from_defaults_to_emails_to_stage_to_step_and_scale_by_segment(tmp_path, trial):
    model = model_from(
        tmp_path,
        """
        emails: {open: 30%, click: 5%, unsubscribe: 1%}
        stages: {decision: {open: 50%, links: {pricing: 40%}}}
        steps: {trial-ending: {links: {pricing: 10%}}}
        """,
    )
    odds = Odds(model, email_links(TEMPLATES, trial))
    # A step with nothing of its own: the emails' figures, for its own links only
    assert odds.of("case-study", "consideration", 1.0).open == 0.30
    assert dict(odds.of("case-study", "consideration", 1.0).clicks) == {"case-study": 0.05, "pricing": 0.05}
    # The stage overrides the emails, the step overrides the stage
    assert odds.of("case-study", "decision", 1.0).open == 0.50
    assert dict(odds.of("case-study", "decision", 1.0).clicks)["pricing"] == 0.40
    assert dict(odds.of("trial-ending", "decision", 1.0).clicks) == {"pricing": 0.10}
    # A segment scales opens and clicks, capped at 100%; opt-outs are not scaled
    eager = odds.of("case-study", "decision", 3.0)
    assert eager.open == 1.0
    assert dict(eager.clicks)["pricing"] == pytest.approx(1.0)
    assert eager.unsubscribe == 0.01
    # What no layer says falls back to the built-in default
    assert DEFAULT_EMAILS.bounce is not None
    assert odds.of("welcome", "awareness", 1.0).hard_bounce == DEFAULT_EMAILS.bounce.hard


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("emails:\n  open: 30%\n  clikc: 5%\n", 3, "unknown key 'clikc' (fix: did you mean 'click'?)"),
        ("machine_opens: 140%\n", 1, "'140%' is not between 0% and 100%"),
        ("timezones: {Europe/Berlin: 50%, America/New_York: 40%}\n", 1, "add up to 90.0%; they must add up to 100%"),
        ("timezones: {Mars/Olympus: 100%}\n", 1, "'Mars/Olympus' is not an IANA time zone"),
        ("open_delay: {median: 3 months}\n", 1, "months and years have no fixed length"),
        ("signups:\n  over: soon\n", 2, "'soon' is not a duration"),
        ("emails: [open]\n", 1, "valid dictionary"),
    ],
)
def test_a_model_that_does_not_read_names_the_line_and_the_fix(tmp_path, text, line, message):
    path = tmp_path / "model.yaml"
    path.write_text(text)
    with pytest.raises(ModelError) as error:
        load_model(path)
    assert any(p.line == line and message in str(p) for p in error.value.problems), error.value.problems


def test_names_the_sequence_does_not_have_are_refused(tmp_path, trial):
    model = model_from(
        tmp_path,
        """
        stages: {decison: {open: 50%}}
        steps:
          case-studdy: {open: 40%}
          welcome: {links: {pricing: 20%}}
        emails: {links: {demoo: 10%}}
        """,
    )
    problems = [str(p) for p in check_model(model, trial, email_links(TEMPLATES, trial), "model.yaml")]
    assert any("has no stage 'decison' (fix: did you mean 'decision'?)" in p for p in problems)
    assert any("has no email step 'case-studdy' (fix: did you mean 'case-study'?)" in p for p in problems)
    assert any("steps.welcome.links" in p and "has no link 'pricing'" in p for p in problems)
    assert any("has no link 'demoo' (fix: did you mean 'demo'?)" in p for p in problems)
