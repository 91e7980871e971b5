"""A/B variants of an email step and a holdout group, as a marketer writes them in sequence.yaml."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from ripen.core.engine import advance, new_enrollment
from ripen.core.records import MessageClaim
from ripen.core.sequence import Sequence
from ripen.core.state import Enrolled, LeadContext, SendEmail, TimerDue
from tests.support.demo_sequence import load, problems

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


VARIANTS = """\
steps:
  - email: welcome
    variants: {welcome: 50, welcome-short: 50}
  - wait: 1 day
  - email: tips
"""


def emails_of(sequence: Sequence, lead_id: str) -> list[SendEmail]:
    decision = advance(new_enrollment(lead_id, sequence, NOW), Enrolled(), sequence, NOW, LeadContext(confirmed=True))
    sent = [a for a in decision.actions if isinstance(a, SendEmail)]
    later = advance(decision.enrollment, TimerDue(), sequence, NOW.replace(day=3), LeadContext(confirmed=True))
    return sent + [a for a in later.actions if isinstance(a, SendEmail)]


def test_given_two_variants_when_2000_leads_enter_then_each_gets_about_half_and_the_other_steps_are_untouched():
    sequence = load(VARIANTS)
    firsts = Counter(emails_of(sequence, f"ld_{i}")[0].email for i in range(2000))
    assert set(firsts) == {"welcome", "welcome-short"}
    assert 900 < firsts["welcome"] < 1100, firsts
    assert [a.email for a in emails_of(sequence, "ld_7")][1:] == ["tips"]
    assert emails_of(sequence, "ld_7")[1].variant is None


def test_given_a_lead_when_its_decision_is_made_again_then_it_gets_the_same_variant_and_the_log_says_which():
    sequence = load(VARIANTS)
    first = emails_of(sequence, "ld_42")[0]
    assert all(emails_of(sequence, "ld_42")[0] == first for _ in range(5))
    assert first.variant == first.email
    decision = advance(new_enrollment("ld_42", sequence, NOW), Enrolled(), sequence, NOW, LeadContext(confirmed=True))
    expected = "sent welcome" if first.email == "welcome" else "sent welcome-short (variant of welcome)"
    assert expected in decision.log


def test_a_variants_counters_are_kept_apart_from_the_others():
    claim = MessageClaim("k", "ld_1", "demo", 1, 1, "welcome", "welcome-short", "nurture", NOW, variant="welcome-short")
    assert claim.stats_step == "welcome~welcome-short"
    assert MessageClaim("k", "ld_1", "demo", 1, 1, "tips", "tips", "nurture", NOW).stats_step == "tips"


def test_a_variant_whose_email_is_missing_is_reported_with_its_line_and_the_file_to_create():
    found = problems("steps:\n  - email: welcome\n    variants: {welcome: 1, welcome-long: 1}\n")
    assert found == [
        "demo/sequence.yaml:5: email 'welcome-long' not found (fix: create demo/welcome-long.md (or .html), "
        "or fix the name)"
    ]


def test_variants_without_the_control_or_with_a_zero_weight_are_refused_with_a_fix():
    (missing,) = problems("steps:\n  - email: welcome\n    variants: {welcome-short: 1, tips: 1}\n")
    assert "list 'welcome' (the control) in variants too" in missing
    (zero,) = problems("steps:\n  - email: welcome\n    variants: {welcome: 1, welcome-short: 0}\n")
    assert "weight must be above 0" in zero


HOLDOUT = """\
holdout: {share: 20%, keep: [welcome]}
steps:
  - email: welcome
  - wait: 1 day
  - email: tips
"""


def test_given_a_20_percent_holdout_then_a_fifth_get_only_the_kept_welcome_and_the_rest_everything():
    sequence = load(HOLDOUT)
    paths = Counter(tuple(a.email for a in emails_of(sequence, f"ld_{i}")) for i in range(2000))
    assert set(paths) == {("welcome", "tips"), ("welcome",)}
    assert 330 < paths[("welcome",)] < 470, paths


def test_a_held_out_lead_is_marked_at_enrollment_and_every_skipped_email_is_explained():
    sequence = load(HOLDOUT)
    held = next(f"ld_{i}" for i in range(1000) if [a.email for a in emails_of(sequence, f"ld_{i}")] == ["welcome"])
    decision = advance(new_enrollment(held, sequence, NOW), Enrolled(), sequence, NOW, LeadContext(confirmed=True))
    assert decision.enrollment.holdout
    assert any("in the 20% holdout" in line for line in decision.log)
    later = advance(decision.enrollment, TimerDue(), sequence, NOW.replace(day=3), LeadContext(confirmed=True))
    assert "tips not sent: in the holdout" in later.log


def test_a_holdout_keeping_an_unknown_email_step_is_refused():
    (problem,) = problems("holdout: {share: 10%, keep: [welcom]}\nsteps:\n  - email: welcome\n")
    assert "'welcom' is not an email step" in problem
    assert "did you mean 'welcome'" in problem
    (share,) = problems("holdout: {share: 60%}\nsteps:\n  - email: welcome\n")
    assert "at most 50%" in share
