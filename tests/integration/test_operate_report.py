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
