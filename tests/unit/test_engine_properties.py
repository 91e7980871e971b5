"""Properties of the engine over generated sequences and trigger streams."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ripen.core.engine import advance, new_enrollment
from ripen.core.sequence import Sequence
from ripen.core.state import (
    Confirmed,
    Engaged,
    Enrolled,
    ExitRequested,
    GoalReached,
    LeadContext,
    Paused,
    Resubmitted,
    Resumed,
    SendEmail,
    Stopped,
    TimerDue,
    Trigger,
)
from ripen.core.validator import validate_text
from ripen.core.windows import next_in_window

LINKS = ("pricing", "demo", "docs")
EMAIL_SOURCE = " ".join(f"[{n}](https://x.example/{n}){{ link={n} }}" for n in LINKS)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney", None)


@st.composite
def sequences(draw: st.DrawFn) -> Sequence:
    count = draw(st.integers(min_value=2, max_value=12))
    kinds = draw(
        st.lists(
            st.sampled_from(["email", "email", "wait", "wait_until", "wait_for", "branch", "stage", "exit", "goto"]),
            min_size=count,
            max_size=count,
        )
    )
    kinds[0] = "email"
    steps: list[dict[str, object]] = []
    for i, kind in enumerate(kinds):
        sid = f"s{i}"

        def forward(i: int = i) -> str:
            return f"s{draw(st.integers(min_value=i + 1, max_value=count - 1))}"

        last = i == count - 1
        if kind == "email":
            steps.append({"id": sid, "email": f"e{i}"})
        elif kind == "wait":
            steps.append({"id": sid, "wait": f"{draw(st.integers(1, 96))} hours"})
        elif kind == "wait_until":
            steps.append({"id": sid, "wait_until": f"day {draw(st.integers(1, 20))}"})
        elif kind == "wait_for":
            signal = draw(st.sampled_from([{"open": "any"}, {"click": "any"}, *({"click": n} for n in LINKS)]))
            step: dict[str, object] = {"id": sid, "wait_for": {**signal, "within": f"{draw(st.integers(1, 7))} days"}}
            if not last and draw(st.booleans()):
                step["then"] = forward()
            # A backward 'else' makes a retry loop that always contains this wait.
            if i > 0 and draw(st.integers(0, 4)) == 0:
                step["else"] = f"s{draw(st.integers(0, i - 1))}"
            steps.append(step)
        elif kind == "branch" and not last:
            cond = draw(
                st.sampled_from(
                    [
                        {"score": ">= 5"},
                        {"clicked": "pricing"},
                        {"stage": "decision"},
                        {"attribute": {"plan": "pro"}},
                        {"opened": "any"},
                    ]
                )
            )
            steps.append({"id": sid, "branch": [{"if": cond, "goto": forward()}]})
        elif kind == "stage":
            steps.append({"id": sid, "stage": draw(st.sampled_from(["awareness", "consideration", "decision"]))})
        elif kind == "goto" and not last:
            steps.append({"id": sid, "goto": forward()})
        else:
            steps.append({"id": sid, "exit": "done"})
    doc: dict[str, object] = {
        "name": "gen",
        "from": "Gen <g@x.example>",
        "double_opt_in": draw(st.booleans()),
        "scoring": {"open": 1, "click": 4, "links": {"pricing": 10}, "decay_per_week": "10%"},
        "stage_rules": [{"stage": "decision", "when": {"clicked": "pricing"}}],
        "frequency_cap": draw(st.sampled_from(["off", {"max": 1, "per": "20 hours"}, {"max": 2, "per": "1 day"}])),
        "steps": steps,
    }
    if draw(st.booleans()):
        doc["send_window"] = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "09:00-17:00", "timezone": "lead"}
    if draw(st.booleans()):
        doc["sales_ready"] = {"score": draw(st.integers(5, 40))}
    if draw(st.booleans()):
        doc["goal"] = {"event": "converted"}
    result = validate_text(
        yaml.safe_dump(doc, sort_keys=False),
        lambda name: EMAIL_SOURCE if name.startswith("e") or name == "confirm" else None,
        "gen/sequence.yaml",
        "gen",
    )
    # Forward jumps may leave a step unreachable; such drafts are not sequences, so draw another.
    assume(result.sequence is not None)
    assert result.sequence is not None
    return result.sequence


def triggers() -> st.SearchStrategy[tuple[float, Trigger | str]]:
    """(hours to move the clock, trigger); "due" means: jump to the next due time and fire the timer."""
    engagement = st.builds(
        lambda kind, link, machine: ("engaged", kind, link, machine),
        st.sampled_from(["open", "click"]),
        st.sampled_from([*LINKS, None]),
        st.booleans(),
    )
    other = st.sampled_from(
        [
            Confirmed(),
            Resubmitted(),
            GoalReached("converted"),
            Resumed(),
            TimerDue(),
            ExitRequested("manual"),
            Stopped("unsubscribed"),
            "pause",
        ]
    )
    return st.tuples(
        st.floats(min_value=0, max_value=72, allow_nan=False),
        st.one_of(st.just("due"), st.just("due"), st.just("due"), engagement, other),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(
    sequence=sequences(),
    stream=st.lists(triggers(), min_size=1, max_size=60),
    zone=st.sampled_from(ZONES),
    confirmed=st.booleans(),
)
def test_engine_invariants_hold_for_any_sequence_and_any_trigger_stream(sequence, stream, zone, confirmed):
    now = START
    lead = LeadContext(timezone=zone, attributes={"plan": "pro"}, confirmed=confirmed)
    enrollment = new_enrollment("ld_prop", sequence, now)
    decision = advance(enrollment, Enrolled(), sequence, now, lead)
    sent_steps: list[str] = []
    send_times: list[datetime] = []

    def check(before_terminal: bool, d, fired: bool = False) -> None:
        nonlocal lead
        e = d.enrollment
        sends = [a for a in d.actions if isinstance(a, SendEmail)]
        if before_terminal:
            assert d.actions == (), "a terminal enrollment acted"
            assert e == previous, "a terminal enrollment moved"
        for send in sends:
            assert send.step not in sent_steps, f"step {send.step} sent twice"
            sent_steps.append(send.step)
            # Sent only inside the send window (in the lead's zone)
            assert next_in_window(now, sequence.send_window, zone) == now
            # ... and within the frequency cap
            cap = sequence.frequency_cap
            if cap:
                assert sum(1 for t in send_times if now - cap.per < t <= now) < cap.max
            send_times.append(now)
            lead = replace(lead, recent_emails=(*lead.recent_emails, now))
        # Every enrollment either has ended or waits with a next action time
        assert e.terminal or e.next_action_at is not None, f"stuck in {e.status} at {e.cursor}"
        if fired and d.changed and not e.terminal:
            assert e.next_action_at > now, "a fired timer left the enrollment due again at once"

    previous = enrollment
    check(False, decision)
    for hours, trigger in stream:
        previous = decision.enrollment
        was_terminal = previous.terminal
        if trigger == "due":
            if previous.next_action_at is None:
                continue
            now = max(now, previous.next_action_at)
            trigger = TimerDue()
        else:
            now = now + timedelta(hours=hours)
            if trigger == "pause":
                trigger = Paused(until=now + timedelta(days=3))
            elif isinstance(trigger, tuple):
                _, kind, link, machine = trigger
                trigger = Engaged(
                    kind=kind, at=now, step=sent_steps[-1] if sent_steps else None, link=link, machine=machine
                )
        # A timer never fires early: before the due time nothing changes
        if isinstance(trigger, TimerDue) and previous.next_action_at and now < previous.next_action_at:
            assert not advance(previous, trigger, sequence, now, lead).changed
        decision = advance(previous, trigger, sequence, now, lead)
        assert decision == advance(previous, trigger, sequence, now, lead), "the engine is not deterministic"
        check(was_terminal, decision, fired=isinstance(trigger, TimerDue))
