"""`ripen preview-lead`: one lead, one behaviour script, the exact emails and moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ripen.core.state import Status
from ripen_dev.cli import main
from ripen_dev.simulation.lead_preview import NurtureRunner, sample_lead
from ripen_dev.simulation.model import email_links
from ripen_dev.simulation.play import EngineRunner, LeadLoop, LeadTrace
from ripen_dev.simulation.script import (
    Clicks,
    Converts,
    OpensEverything,
    ProductEvent,
    ScriptedBehaviour,
    ScriptError,
    parse_script,
)
from tests.conftest import TEMPLATES

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def trial(catalog):
    return catalog.current("trial-nurture")


@pytest.fixture
def links(trial):
    return email_links(TEMPLATES, trial)


def test_a_script_reads_into_typed_statements(trial, links):
    script = parse_script("opens everything; clicks pricing on day 3, clicks demo after power-user-tips", trial, links)
    assert script.statements == (
        OpensEverything(),
        Clicks("pricing", day=3),
        Clicks("demo", step="power-user-tips"),
    )


def test_a_script_may_include_product_events(trial, links):
    script = parse_script("books a demo on day 4; event pricing_page_viewed on day 2; converts on day 9", trial, links)
    assert script.statements == (
        ProductEvent("demo_booked", 4),
        ProductEvent("pricing_page_viewed", 2),
        Converts(9),
    )


def test_a_product_event_the_sequence_does_nothing_with_is_named_with_the_ones_it_uses(trial, links):
    with pytest.raises(ScriptError) as error:
        parse_script("event logged_in on day 2", trial, links)
    [problem] = error.value.problems
    assert "trial-nurture does nothing with the event 'logged_in'" in problem
    assert "demo_booked" in problem
    assert "trial_converted" in problem


def test_a_lead_who_books_a_demo_skips_the_pricing_pitch_and_one_who_converts_gets_nothing_more(capsys):
    # Given a lead who opens everything and books a demo on day 7 (while the sequence waits for one)
    assert main(["preview-lead", "--script", "opens everything; books a demo on day 7", "--timezone", "UTC"]) == 0
    out = capsys.readouterr().out
    # Then the demo takes the 'then' branch: no pricing follow-up
    assert "(the lead books a demo)" in out
    assert "demo_booked event seen: taking the 'then' branch" in out
    assert "pricing-followup" not in out.split("What happened:")[0]
    # And a lead who converts on day 9 ends the trial as a conversion, with no email after it
    assert main(["preview-lead", "--script", "opens everything; converts on day 9", "--timezone", "UTC"]) == 0
    out = capsys.readouterr().out
    assert "goal reached: goal 'trial_converted' reached" in out
    assert "trial-ending" not in out.split("What happened:")[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clicks pricng on day 3", "no email of trial-nurture has a link named 'pricng' (did you mean 'pricing'?)"),
        ("opens welcom", "trial-nurture has no email 'welcom' (did you mean 'welcome'?)"),
        ("clicks demo after welcome", "the email 'welcome' has no link named 'demo' (its links: connect)"),
        ("click pricing day 3", "is not a statement a script knows (did you mean 'clicks pricing on day 3'?)"),
        ("opens everything after two days", "'two days' is not a duration"),
        ("opens nothing; opens everything", "'opens nothing' contradicts another 'opens' statement"),
    ],
)
def test_a_script_that_does_not_read_says_what_to_write(trial, links, text, message):
    with pytest.raises(ScriptError) as error:
        parse_script(text, trial, links)
    assert any(message in problem for problem in error.value.problems), error.value.problems


def test_the_goal_and_confirmation_statements_need_a_sequence_that_has_them(catalog):
    ebook = catalog.current("ebook-nurture")  # no double opt-in
    with pytest.raises(ScriptError, match="does not ask leads to confirm"):
        parse_script("never confirms", ebook, email_links(TEMPLATES, ebook))


SCRIPTS = [
    "does nothing",
    "opens everything; clicks pricing on day 3",
    "opens everything after 20 minutes; clicks demo every time",
    "machine opens everything; opens case-study; clicks pricing after case-study",
    "clicks connect; clicks pricing on day 9; converts on day 13",
    "opens everything; unsubscribes on day 4",
    "bounces on first-dashboard",
    "complains after case-study",
    "confirms after 3 days; opens everything",
    "never confirms",
    "opens everything; books a demo on day 7",
    "event pricing_page_viewed on day 2; opens everything; converts on day 9",
    "opens everything; clicks pricing every time; clicks demo every time; clicks case-study every time",
]


@pytest.mark.parametrize("text", SCRIPTS)
@pytest.mark.parametrize("timezone", ["Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo"])
def test_the_simulation_engine_and_the_nurture_service_agree_on_every_email(catalog, trial, links, text, timezone):
    # Given one lead and one behaviour
    lead = sample_lead(timezone, datetime(2026, 3, 6, 16, 45))  # a Friday afternoon, before a DST change
    horizon = lead.created_at + timedelta(days=30)
    script = parse_script(text, trial, links)

    def play(runner):
        trace = LeadTrace(lead.lead_id, lead.created_at, lead.timezone)
        behaviour = ScriptedBehaviour(script, links, "trial_converted")
        return LeadLoop(trial, runner, behaviour).play(trace, horizon)

    # When it plays through the pure engine (as `ripen simulate` does) and through the nurture service
    # on the in-memory store (as production does)
    fast = play(EngineRunner(trial, lead.lead_id, lead.created_at, timezone))
    real = play(NurtureRunner(catalog, trial, lead))
    # Then the lead gets the same emails at the same moments and ends in the same state
    assert fast.emails == real.emails
    assert fast.events == real.events
    assert fast.final == real.final
    assert fast.handed_off_at == real.handed_off_at


def test_preview_lead_shows_the_emails_dates_and_decisions_in_the_leads_zone(capsys):
    code = main(
        [
            "preview-lead",
            "--sequence",
            "trial-nurture",
            "--script",
            "opens everything; clicks pricing on day 3",
            "--timezone",
            "Europe/Berlin",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    emails = out.split("Emails (")[1].split("What happened:")[0]
    # The emails, in order, with the lead's local time and the rendered subject
    lines = [line.split()[6] for line in emails.strip().splitlines()[1:]]
    assert lines == [
        "confirm",
        "welcome",
        "first-dashboard",
        "case-study",
        "pricing-followup",
        "trial-ending",
        "trial-ended",
    ]
    assert "day  0  Mon 2026-03-02 10:10 CET  welcome            Your Acme Insights trial is ready" in emails
    assert "day  3  Thu 2026-03-05 10:10 CET  case-study" in emails
    # And the decisions: the click on pricing takes the branch at once
    assert "(the lead clicks pricing in case-study)" in out
    assert "click on pricing seen: taking the 'then' branch" in out
    assert "moved to stage decision" in out


def test_a_lead_who_never_confirms_gets_a_reminder_and_then_nothing(capsys):
    assert main(["preview-lead", "--script", "never confirms", "--timezone", "America/New_York"]) == 0
    out = capsys.readouterr().out
    assert "Emails (2):" in out
    assert "confirm-2" in out
    assert "expired (never confirmed)" in out


def test_a_bad_script_is_refused_with_the_fix(capsys):
    assert main(["preview-lead", "--script", "clicks pricng on day 3"]) == 2
    assert "did you mean 'pricing'?" in capsys.readouterr().err


def test_demo_is_preview_lead_with_clicks(capsys):
    assert main(["demo", "--sequence", "trial-nurture", "--click", "pricing"]) == 0
    out = capsys.readouterr().out
    assert "behaviour: clicks pricing" in out
    assert "pricing-followup" in out


def test_the_sample_lead_signs_up_at_local_time_in_its_zone():
    lead = sample_lead("Europe/Berlin", None)
    assert lead.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    assert lead.timezone == "Europe/Berlin"
    assert not lead.confirmed


def test_unsubscribing_stops_the_emails(catalog, trial, links):
    lead = sample_lead("Europe/Berlin", None)
    script = parse_script("opens everything; unsubscribes on day 4", trial, links)
    trace = LeadTrace(lead.lead_id, lead.created_at, lead.timezone)
    runner = NurtureRunner(catalog, trial, lead)
    LeadLoop(trial, runner, ScriptedBehaviour(script, links)).play(trace, lead.created_at + timedelta(days=30))
    assert trace.final is not None
    assert trace.final.status is Status.UNSUBSCRIBED
    assert [e.step for e in trace.emails] == ["confirm", "welcome", "first-dashboard", "case-study"]
    unsubscribe = next(e for e in trace.events if e.kind == "unsubscribe")
    assert unsubscribe.step == "case-study"
    assert unsubscribe.at == lead.created_at + timedelta(days=4)
