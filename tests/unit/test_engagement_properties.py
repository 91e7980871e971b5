"""Random streams of SES events (late, out of order, repeated, through either wiring) never
bring a lead back from a terminal state, never email a suppressed lead, and hand off at most once."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ripen.core.records import LeadStatus, MessageStatus
from ripen.core.state import TERMINAL
from ripen.handlers.engagement import handler
from ripen.services.sender import Outcome
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local.http import LambdaContext
from tests.support.mailstack import make_stack
from tests.support.ses_events import NAMES, event_about

LINKS = ["pricing", "demo", "case-study", "dashboard", "connect"]
# every event type, engagement more often than the events that end everything
EVENT_NAMES = [*NAMES, *["open", "click", "click", "open-machine", "delivery", "send"] * 3]

event_step = st.tuples(
    st.just("event"),
    st.integers(0, 20),  # which sent email
    st.sampled_from(EVENT_NAMES),
    st.sampled_from(["eventbridge", "sns"]),
    st.integers(0, 60 * 24 * 4),  # minutes after the send it happened
    st.sampled_from(LINKS),
)
OTHER_STEPS = {
    "replay": st.tuples(st.just("replay"), st.integers(0, 50)),  # an event delivered again, either way
    "timer": st.tuples(st.just("timer")),  # the next timer of the enrollment fires
    "unsubscribe": st.tuples(st.just("unsubscribe")),  # the lead uses the one-click link
}
KINDS = ["event"] * 8 + ["replay", "timer", "timer", "timer", "unsubscribe"]
steps = st.lists(
    st.sampled_from(KINDS).flatmap(lambda kind: event_step if kind == "event" else OTHER_STEPS[kind]),
    min_size=8,
    max_size=40,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=steps)
def test_no_event_stream_leaves_a_terminal_state_or_emails_a_suppressed_lead(clock, catalog, stream):
    from ripen.app import use

    stack = make_stack(InMemoryStore(), clock.__class__(clock.now()), catalog)
    use(stack.app)
    try:
        lead = stack.signup("ana@example.com")
        stack.send_queued()
        delivered: list[dict] = []
        ended: dict[str, tuple[str, int]] = {}
        blocked_since: int | None = None  # emails sent when the lead stopped being reachable
        for step in stream:
            match step:
                case ("event", index, name, via, minutes, link):
                    sent = [
                        m for m in stack.store.messages.values() if m.status is MessageStatus.SENT and m.ses_message_id
                    ]
                    if not sent:
                        continue
                    message = sorted(sent, key=lambda m: m.claim.key)[index % len(sent)]
                    at = min(message.sent_at + timedelta(minutes=minutes), stack.clock.now())
                    extra = {"linkTags": {"link": [link]}} if name.startswith("click") else {}
                    event = event_about(message, name, via, at=at, **extra)
                    delivered.append(event)
                    handler(event, LambdaContext())
                case ("replay", index) if delivered:
                    handler(delivered[index % len(delivered)], LambdaContext())
                case ("timer",):
                    stack.timer(lead)
                case ("unsubscribe",):
                    stack.app.preferences.unsubscribe(lead.lead_id, "unsubscribe page")
            outcomes = stack.send_queued()
            stored = stack.store.get_lead(lead.lead_id)
            assert stored is not None
            # a lead that cannot be emailed any more gets nothing, from any sequence
            if blocked_since is not None:
                assert Outcome.SENT not in outcomes
                assert stored.status is not LeadStatus.ACTIVE
            if stored.status is not LeadStatus.ACTIVE and blocked_since is None:
                blocked_since = len(stack.outbox.emails)
            # terminal enrollments stay exactly as they ended
            for record in stack.store.enrollments_of(lead.lead_id):
                e = record.enrollment
                if e.sequence in ended:
                    assert (e.status.value, e.run) == ended[e.sequence], "a terminal state was left"
                elif e.status in TERMINAL:
                    ended[e.sequence] = (e.status.value, e.run)
                assert e.score >= 0
            # one hand-off per run at most
            assert len(stack.bus.events) <= 1
            if stack.bus.events:
                assert ended.get("trial-nurture", ("",))[0] == "sales_ready"
    finally:
        use(None)
