"""`ripen report` on DynamoDB Local: its numbers equal a scripted scenario's emails and SES events,
counted by the real engagement function into the Stats table."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from ripen.core.records import message_key
from ripen_dev.operate import report as reporting
from tests.support.operate import operated_stack
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration


def test_the_report_counts_what_the_scripted_emails_and_events_were(dynamo_settings, clock, catalog, tmp_path):
    stack = operated_stack(dynamo_settings, clock, catalog)
    # Given three leads who got the welcome email
    ana, ben, cy = (stack.signup(f"{n}@example.com", name=n.title()) for n in ("ana", "ben", "cy"))
    welcomes = [stack.sent(lead, "welcome") for lead in (ana, ben, cy)]
    a, b, c = welcomes
    later = a.sent_at + timedelta(hours=2)
    # And SES said: all sent and delivered; Ana opened and clicked the dashboard link twice; Ben's open was a
    # privacy proxy's; Cy complained
    stack.ses(
        sqs_batch(
            *(event_about(w, "send") for w in welcomes),
            *(event_about(w, "delivery") for w in welcomes),
            event_about(a, "open", at=later),
            event_about(a, "click", at=later + timedelta(minutes=1), linkTags={"link": ["dashboard"]}),
            event_about(a, "click", at=later + timedelta(minutes=2), linkTags={"link": ["dashboard"]}),
            event_about(b, "open-machine"),
            event_about(c, "complaint", at=later),
        )
    )
    # When the operator asks for the report
    built = reporting.build(stack.app, "trial-nurture", since=date(2026, 3, 1), source="test")
    data = reporting.as_json(built)
    [sequence] = data["sequences"]
    [welcome] = [s for s in sequence["steps"] if s["step"] == "welcome"]
    # Then the welcome step's numbers are the scenario's
    assert {k: welcome[k] for k in ("sent", "delivered", "opened", "machine_opens", "clicked", "complained")} == {
        "sent": 3,
        "delivered": 3,
        "opened": 1,
        "machine_opens": 1,
        "clicked": 1,
        "complained": 1,
    }
    assert welcome["clicked_links"] == {"dashboard": 2}
    assert sequence["totals"]["sent"] == 3
    # And the enrollments: Cy's complaint stopped hers
    assert sequence["enrollments"] == {"active": 2, "unsubscribed": 1}
    assert data["emails"] == 3
    assert data["cost"]["ses_per_1000"] == 0.1
    # And nothing is counted before the period
    empty = reporting.as_json(reporting.build(stack.app, "trial-nurture", since=date(2026, 3, 3), source="test"))
    assert empty["sequences"][0]["steps"] == []
    # And the HTML report draws the funnel with the simulation report's charts
    page = reporting.write_html(built, tmp_path / "report.html").read_text()
    assert "<svg" in page
    assert "trial-nurture: sent, delivered, opened, clicked per email step" in page
    assert message_key(ana.lead_id, "trial-nurture", 1, "welcome") not in json.dumps(data)


def test_the_command_prints_the_report_and_writes_the_html(
    dynamo_settings, clock, catalog, monkeypatch, capsys, tmp_path
):
    stack = operated_stack(dynamo_settings, clock, catalog)
    for name, value in stack.app.settings.model_dump(by_alias=True).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    from ripen_dev.cli import main

    assert main(["report", "--json", "--html", str(tmp_path / "r.html")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["sequence"] for s in data["sequences"]] == ["ebook-nurture", "trial-nurture"]
    assert (tmp_path / "r.html").is_file()
    assert main(["report", "--sequence", "nope"]) == 1
    assert capsys.readouterr().err.startswith("ripen: no sequence 'nope'")
    assert main(["report"]) == 0
    assert "hand-offs to sales: 0" in capsys.readouterr().out


def test_the_lift_report_compares_nurtured_and_held_out_leads_read_from_dynamodb(
    dynamo_settings, clock, catalog, monkeypatch, capsys
):
    from dataclasses import replace

    from ripen.core.records import Change
    from ripen.core.state import Status
    from tests.contract import given

    stack = operated_stack(dynamo_settings, clock, catalog)
    for name, value in stack.app.settings.model_dump(by_alias=True).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    # Given 30 nurtured leads (9 converted, 4 emails each) and 10 held out (1 converted, 1 email each)
    at = clock.now()
    for i in range(40):
        held = i >= 30
        converted = i < 9 or i == 30
        record = given.enrollment(f"ld_lift{i:02d}", at)
        enrollment = replace(
            record.enrollment,
            status=Status.GOAL_REACHED if converted else Status.COMPLETED,
            entered_at=at,
            sent=("welcome",) if held else ("welcome", "first-dashboard", "case-study", "trial-ending"),
            holdout=held,
        )
        assert stack.app.store.commit(Change(replace(record, enrollment=enrollment), None))
    from ripen_dev.cli import main

    # When the operator asks for the lift
    assert main(["report", "--lift", "--sequence", "trial-nurture", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # Then the groups and their goal rates are the scenario's, with the difference's interval
    assert data["nurtured"] == {"leads": 30, "emails": 120}
    assert data["held_out"] == {"leads": 10, "emails": 10}
    goal = data["outcomes"]["goal"]
    assert (goal["nurtured_rate"], goal["held_out_rate"]) == (0.3, 0.1)
    assert goal["interval"][0] < 0.2 < goal["interval"][1]
    # And the text report says so in words, and --lift without a sequence is one clear line
    assert main(["report", "--lift", "--sequence", "trial-nurture"]) == 0
    assert "Nurturing lift for trial-nurture" in capsys.readouterr().out
    assert main(["report", "--lift"]) == 1
    assert "give --sequence NAME" in capsys.readouterr().err


def test_the_variants_report_reads_each_variants_counters_and_outcomes_from_dynamodb(
    dynamo_settings, clock, monkeypatch, capsys, tmp_path
):
    import re
    import shutil
    from dataclasses import replace

    from ripen.adapters.templates import load_catalog
    from ripen.core.engagement import Bucket
    from ripen.core.experiments import chosen_email
    from ripen.core.records import Change
    from ripen.core.state import Status
    from ripen_dev.cli import main
    from tests.conftest import TEMPLATES
    from tests.contract import given

    # Given trial-nurture's welcome is an A/B test decided by clicks after 100 sends per variant
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    folder = templates / "trial-nurture"
    (folder / "welcome-short.md").write_text((folder / "welcome.md").read_text())
    sequence_file = folder / "sequence.yaml"
    sequence_file.write_text(
        re.sub(
            r"^  - email: welcome\b.*$",
            "  - email: welcome\n    variants: {welcome: 1, welcome-short: 1}\n"
            "    winner: {by: clicked, min_leads: 100}",
            sequence_file.read_text(),
            count=1,
            flags=re.MULTILINE,
        )
    )
    catalog = load_catalog(templates)
    sequence = catalog.current("trial-nurture")
    stack = operated_stack(dynamo_settings, clock, catalog)
    for name, value in stack.app.settings.model_dump(by_alias=True).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("TEMPLATES_DIR", str(templates))
    # And the engagement function counted 200 sends per variant: the short one clicked twice as often
    day = clock.now()
    stack.stats.add(
        {
            Bucket.of("trial-nurture", sequence.version, "welcome~welcome", day): {"sent": 200, "clicked": 20},
            Bucket.of("trial-nurture", sequence.version, "welcome~welcome-short", day): {"sent": 200, "clicked": 45},
        }
    )
    # And 20 leads got the welcome step, the first four converted
    for i in range(20):
        record = given.enrollment(f"ld_var{i:02d}", day)
        status = Status.GOAL_REACHED if i < 4 else Status.ACTIVE
        enrollment = replace(record.enrollment, version=sequence.version, status=status, sent=("welcome",))
        assert stack.app.store.commit(Change(replace(record, enrollment=enrollment), None))
    # When the operator reads the A/B tests
    assert main(["report", "--variants", "--sequence", "trial-nurture", "--json"]) == 0
    [test] = json.loads(capsys.readouterr().out)["tests"]
    # Then each variant's counters, leads and goals are there, and the rule names the winner
    by = {v["variant"]: v for v in test["variants"]}
    assert (by["welcome"]["sent"], by["welcome"]["clicked"]) == (200, 20)
    assert (by["welcome-short"]["sent"], by["welcome-short"]["clicked"]) == (200, 45)
    assert by["welcome"]["leads"] + by["welcome-short"]["leads"] == 20
    short_goals = sum(chosen_email(f"ld_var{i:02d}", sequence, "welcome")[1] == "welcome-short" for i in range(4))
    assert by["welcome-short"]["goal"] == short_goals
    assert test["decision"]["winner"] == "welcome-short"
    assert main(["report", "--variants"]) == 1
    assert "give --sequence NAME" in capsys.readouterr().err
