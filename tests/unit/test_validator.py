"""The validator rejects each kind of mistake with the file, the line and a concrete fix."""

from __future__ import annotations

import textwrap

import pytest

from ripen.adapters.templates import load_catalog
from ripen.core.validator import LoadResult, validate_text
from tests.conftest import TEMPLATES

EMAILS = {
    "welcome": "Hi! [Plans](https://x.example/pricing){ link=pricing }",
    "followup": "More. [Book a demo](https://x.example/demo){ link=demo }",
    "last": "Bye.",
    "confirm": "Please confirm: {{ confirm_url }}",  # double opt-in is on unless a sequence turns it off
}


def check(yaml_text: str) -> LoadResult:
    return validate_text(textwrap.dedent(yaml_text), EMAILS.get, "demo/sequence.yaml", expect_name="demo")


def only_problem(result: LoadResult) -> tuple[int, str, str]:
    assert result.sequence is None
    assert len(result.problems) == 1, [str(p) for p in result.problems]
    p = result.problems[0]
    return p.line, p.message, p.fix or ""


HEADER = """\
name: demo
from: "Demo <hi@x.example>"
"""


def test_a_valid_sequence_loads_with_step_ids():
    result = check(
        HEADER
        + """\
steps:
  - email: welcome
  - wait: 2 days
  - wait_for: {click: pricing, within: 3 days}
    then: followup
  - email: last
  - exit: done
  - email: followup
"""
    )
    assert result.problems == []
    assert result.sequence is not None
    assert result.sequence.step_ids == ("welcome", "wait-2", "wait-for-3", "last", "exit-5", "followup")


def test_an_unknown_key_is_named_with_its_line_and_a_suggestion():
    line, message, fix = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait: 2 days
    wiat: 3 days
"""
        )
    )
    assert line == 6
    assert "unknown key 'wiat'" in message
    assert "did you mean 'wait'" in fix


def test_an_unknown_step_kind_suggests_the_closest():
    line, message, fix = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wiat: 2 days
"""
        )
    )
    assert line == 5
    assert "has no step kind" in message
    assert "'wait'" in fix


def test_a_bad_duration_says_how_to_write_one():
    line, message, _ = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait: 2 fortnights
"""
        )
    )
    assert line == 5
    assert "unknown unit 'fortnights'" in message


def test_months_are_refused_because_they_have_no_fixed_length():
    _, message, _ = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait: 1 month
"""
        )
    )
    assert "write days instead" in message


def test_a_missing_email_template_names_the_file_to_create():
    line, message, fix = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait: 1 day
  - email: case-study
"""
        )
    )
    assert line == 6
    assert "email 'case-study' not found" in message
    assert "create demo/case-study.md" in fix


def test_a_dangling_goto_is_reported_with_a_suggestion():
    line, message, fix = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait: 1 day
  - goto: folowup
  - email: followup
"""
        )
    )
    assert line == 6
    assert "'folowup' is not a step" in message
    assert "did you mean 'followup'" in fix


def test_an_unreachable_step_is_reported_where_it_is():
    line, message, _ = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - exit: done
  - email: followup
"""
        )
    )
    assert line == 6
    assert "'followup' can never be reached" in message


def test_a_loop_without_a_wait_is_refused():
    result = check(
        HEADER
        + """\
steps:
  - id: top
    email: welcome
  - branch:
      - if: {score: ">= 5"}
        goto: done
    else: top
  - id: done
    exit: finished
"""
    )
    assert result.sequence is None
    assert any("loop with no wait" in p.message and p.line == 4 for p in result.problems), result.problems


def test_a_sequence_that_can_never_end_is_refused():
    result = check(
        HEADER
        + """\
steps:
  - id: top
    email: welcome
  - wait: 7 days
  - goto: top
"""
    )
    assert result.sequence is None
    assert any("can never finish" in p.message for p in result.problems), result.problems
    assert all("loop with no wait" not in p.message for p in result.problems)


def test_a_wait_for_on_a_link_no_email_names_is_refused():
    line, message, fix = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait_for: {click: pricng, within: 2 days}
"""
        )
    )
    assert line == 5
    assert "no email in this sequence has a link named 'pricng'" in message
    assert "did you mean 'pricing'" in fix


def test_an_undeclared_stage_is_refused():
    line, message, _ = only_problem(
        check(
            HEADER
            + """\
stages: [awareness, decision]
steps:
  - email: welcome
  - stage: consideration
"""
        )
    )
    assert line == 6
    assert "stage 'consideration' is not declared" in message


def test_a_missing_required_setting_is_named():
    result = validate_text("name: demo\nsteps:\n  - email: welcome\n", EMAILS.get, "demo/sequence.yaml", "demo")
    assert result.sequence is None
    assert any("'from' is required" in p.message for p in result.problems)


def test_a_step_id_used_twice_is_refused():
    line, message, _ = only_problem(
        check(
            HEADER
            + """\
steps:
  - email: welcome
  - wait: 1 day
  - email: welcome
"""
        )
    )
    assert line == 6
    assert "step id 'welcome' is used twice" in message


def test_yaml_syntax_errors_point_at_the_line():
    result = check(HEADER + "steps:\n  - email: [welcome\n  - wait: 1 day\n")
    assert result.sequence is None
    assert result.problems[0].line in (4, 5)
    assert "YAML syntax error" in result.problems[0].message


def test_a_duplicated_key_is_refused():
    line, message, _ = only_problem(check(HEADER + "name: other\nsteps:\n  - email: welcome\n"))
    assert line == 3
    assert "appears twice" in message


def test_a_bad_send_window_is_explained():
    line, message, _ = only_problem(
        check(
            HEADER
            + """\
send_window: {days: [mon], hours: "17:00-09:00", timezone: lead}
steps:
  - email: welcome
"""
        )
    )
    assert line == 3
    assert "must start before it ends" in message


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CET+1"])
def test_an_unknown_time_zone_is_refused(zone: str):
    _, message, _ = only_problem(
        check(
            HEADER
            + f"""\
send_window: {{timezone: "{zone}"}}
steps:
  - email: welcome
"""
        )
    )
    assert "IANA time zone" in message


def test_the_folder_name_must_match_the_sequence_name():
    result = validate_text(HEADER + "steps:\n  - email: welcome\n", EMAILS.get, "x/sequence.yaml", "other")
    assert any("does not match its folder 'other'" in p.message for p in result.problems)


def test_problems_print_as_file_line_message():
    result = check(HEADER + "steps:\n  - email: nope\n")
    assert str(result.problems[0]).startswith("demo/sequence.yaml:4: email 'nope' not found (fix: ")


def test_the_example_sequences_validate():
    catalog = load_catalog(TEMPLATES)
    assert catalog.problems == []
    assert {"trial-nurture", "ebook-nurture"} <= set(catalog.names())


def test_a_frequency_cap_larger_than_the_emails_a_lead_keeps_is_refused():
    # Given a sequence whose cap allows 11 emails a week (a lead keeps only its 10 most recent)
    result = check(
        HEADER
        + """\
frequency_cap: {max: 11, per: 7 days}
steps:
  - email: welcome
"""
    )
    # Then the validator refuses it at its line, instead of a cap that is silently never enforced
    line, message, _ = only_problem(result)
    assert line == 3
    assert "10" in message
