"""`ripen export-history` on DynamoDB Local: a scripted lead's run, written in the format `ripen
simulate --replay` reads, and replayed by it."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest

from ripen_dev.cli import main
from ripen_dev.operate import history_export
from ripen_dev.simulation.history import read_export
from tests.conftest import TEMPLATES
from tests.support.operate import operated_stack
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration


def test_a_scripted_lead_is_exported_as_simulate_replay_reads_it(dynamo_settings, clock, catalog, tmp_path, capsys):
    stack = operated_stack(dynamo_settings, clock, catalog)
    # Given Ana two emails in, who opened the first and clicked its dashboard link; and Ben, whose welcome bounced
    ana, ben = stack.signup("ana@example.com"), stack.signup("ben@example.com")
    welcome = stack.sent(ana, "welcome")
    bens = stack.sent(ben, "welcome")
    later = welcome.sent_at + timedelta(hours=1)
    stack.ses(
        sqs_batch(
            event_about(welcome, "open", at=later),
            event_about(welcome, "click", at=later + timedelta(minutes=1), linkTags={"link": ["dashboard"]}),
            event_about(bens, "bounce-permanent"),
        )
    )
    stack.sent(ana, "first-dashboard")
    # When the history of the trial nurture is exported
    out = io.StringIO()
    assert history_export.export(stack.app, "trial-nurture", out) == 2
    path = tmp_path / "history.jsonl"
    path.write_text(out.getvalue(), encoding="utf-8")
    # Then it reads as the replay's format, with Ana's emails and events and Ben's bounce
    export = read_export(path)
    assert export.problems == []
    assert export.header.sequence == "trial-nurture"
    runs = {lead.lead: lead for lead in export.leads}
    a, b = runs[ana.lead_id], runs[ben.lead_id]
    assert [e.step for e in a.emails] == ["welcome", "first-dashboard"]
    assert [(ev.type, ev.step) for ev in a.events] == [("open", "welcome"), ("click", "welcome")]
    assert a.events[1].link == "dashboard"
    assert [(ev.type, ev.permanent) for ev in b.events] == [("bounce", True)]
    assert b.outcome.status == "suppressed"
    assert "example.com" not in out.getvalue()
    # And `ripen simulate --replay` replays it
    assert main(["simulate", "--replay", str(path), "--templates", str(TEMPLATES), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["leads"] == 2


def test_the_command_writes_the_export_to_a_file(dynamo_settings, clock, catalog, monkeypatch, capsys, tmp_path):
    stack = operated_stack(dynamo_settings, clock, catalog)
    stack.sent(stack.signup("ana@example.com"), "welcome")
    for name, value in stack.app.settings.model_dump(by_alias=True).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    out = tmp_path / "h.jsonl"
    assert main(["export-history", "--sequence", "trial-nurture", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"file": str(out), "sequence": "trial-nurture", "leads": 1}
    assert len(read_export(out).leads) == 1
    assert main(["export-history", "--sequence", "nope"]) == 1
    assert capsys.readouterr().err.startswith("ripen: no sequence 'nope'")
