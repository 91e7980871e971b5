"""Engagement on DynamoDB Local: what one event costs, each event applied once under races, the
hand-off made exactly once under concurrent clicks, sends its sender never recorded, stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from ripen.adapters.dynamodb import DynamoStore
from ripen.adapters.stats import DynamoStats
from ripen.core.records import LeadStatus, MessageStatus, message_key
from ripen.core.state import Status
from ripen.ports.stats import totals
from ripen.services.sender import Outcome
from ripen_dev.local.botocore_hooks import on_dynamodb_calls
from tests.integration.test_dynamo_store import race
from tests.support.mailstack import Stack, make_stack
from tests.support.sender import take_lease
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration

READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@dataclass
class Requests:
    """DynamoDB requests seen by botocore (pynamodb's clients and boto3's alike)."""

    calls: list[tuple[str, int]] = field(default_factory=list)  # operation, items written

    def handle(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        items = len(params.get("TransactItems", [])) or (1 if model.name in WRITES else 0)
        self.calls.append((model.name, items))  # model: the operation; params: the API parameters

    @property
    def reads(self) -> int:
        return sum(1 for name, _ in self.calls if name in READS)

    @property
    def writes(self) -> int:
        return sum(1 for name, _ in self.calls if name in WRITES)

    @property
    def items_written(self) -> int:
        return sum(items for name, items in self.calls if name in WRITES)

    def clear(self) -> None:
        self.calls.clear()

    def __str__(self) -> str:
        ops = Counter(name for name, _ in self.calls)
        return f"{self.writes} writes ({self.items_written} items), {self.reads} reads {dict(ops)}"


@contextmanager
def counted() -> Iterator[Requests]:
    """Every botocore client created inside counts its DynamoDB requests."""
    requests = Requests()
    with on_dynamodb_calls(("before-parameter-build.dynamodb", requests.handle)):
        yield requests


def dynamo_stack(settings, clock, catalog) -> Stack:
    stats = DynamoStats(settings.stats_table, settings.region, settings.dynamodb_endpoint)
    return make_stack(DynamoStore(settings), clock, catalog, stats=stats)


def step_counts(stack: Stack, step: str) -> dict[str, int]:
    return totals(stack.stats.rows("trial-nurture", step=step)).get((1, step), {})


# -- the "done when" -----------------------------------------------------------------------------


def test_a_pricing_click_branches_at_once_and_the_ripe_lead_is_handed_to_sales_once(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    # Given a lead in the example SaaS trial, three emails in: case-study waits for a pricing click
    ana = stack.signup("ana@example.com", name="Ana Lopez")
    case_study = stack.sent(ana, "case-study")
    stack.ses(sqs_batch(event_about(case_study, "send", at=case_study.sent_at), event_about(case_study, "open")))
    # When they click pricing the next day
    clock.advance(hours=25)
    stack.ses(sqs_batch(event_about(case_study, "click", at=clock.now())))
    # Then they branch at once: the pricing follow-up is claimed and queued, not left for the sweep
    followup = message_key(ana.lead_id, "trial-nurture", 1, "pricing-followup")
    assert [job.message_key for job in stack.queue.jobs] == [followup]
    assert stack.send_queued() == [Outcome.SENT]
    record = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert (record.enrollment.stage, record.enrollment.status) == ("decision", Status.ACTIVE)
    # And when they keep engaging with the follow-up they reach the sales-ready threshold (50)
    sent = stack.message(followup)
    clicks = [
        event_about(sent, "click", at=sent.sent_at + timedelta(minutes=m), linkTags={"link": [link]})
        for m, link in ((4, "pricing"), (6, "demo"), (7, "pricing"))
    ]
    stack.ses(sqs_batch(event_about(sent, "open", at=sent.sent_at + timedelta(minutes=3)), *clicks))
    stack.ses(sqs_batch(*clicks))  # delivered again
    # Then exactly one Lead Sales Ready event, and nurturing stops
    [handoff] = stack.bus.events
    assert handoff.detail["lead_id"] == ana.lead_id
    assert handoff.detail["email"] == "ana@example.com"
    assert handoff.detail["score"] >= 50
    assert handoff.detail["stage"] == "decision"
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.SALES_READY
    assert step_counts(stack, "pricing-followup")["sales_ready"] == 1
    assert stack.store.handoffs_due(clock.now() + timedelta(hours=1), 10) == []
    while stack.timer(ana):
        stack.send_queued()
    assert len(stack.outbox.emails) == 4  # welcome, first-dashboard, case-study, pricing-followup


def test_a_hard_bounce_stops_every_future_send(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    welcome = stack.sent(ana, "welcome")
    stack.app.nurture.enroll(stack.store.get_lead(ana.lead_id), "ebook-nurture")
    stack.timer(ana, "ebook-nurture")  # after the frequency cap, the ebook's first email is decided
    queued = stack.queue.drain()  # and queued, but not sent yet
    assert len(queued) == 1
    # When the welcome email hard-bounces
    stack.ses(sqs_batch(event_about(welcome, "bounce-permanent")))
    # Then nothing is ever sent to them again, by any sequence
    assert stack.store.get_lead(ana.lead_id).status is LeadStatus.SUPPRESSED
    for job in queued:
        assert stack.app.sender.send(job) is Outcome.SKIPPED
    for _ in range(30):
        clock.advance(days=2)
        for sequence in ("trial-nurture", "ebook-nurture"):
            stack.timer(ana, sequence)
        stack.send_queued()
    assert [e.to for e in stack.outbox.emails] == ["ana@example.com"]  # the welcome alone
    statuses = {r.enrollment.sequence: r.enrollment.status for r in stack.store.enrollments_of(ana.lead_id)}
    assert statuses == {"trial-nurture": Status.SUPPRESSED, "ebook-nurture": Status.SUPPRESSED}


# -- exactly once under races ------------------------------------------------------------------------------


def test_concurrent_clicks_hand_the_lead_to_sales_exactly_once(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    case_study = stack.sent(ana, "case-study")
    # eight different clicks, each enough with the others to cross the threshold, at the same instant
    clicks = [
        event_about(case_study, "click", at=case_study.sent_at + timedelta(minutes=10, seconds=3 * i)) for i in range(8)
    ]
    stacks = [dynamo_stack(dynamo_settings, clock, catalog) for _ in range(8)]
    failures = race(8, lambda i: stacks[i].ses(sqs_batch(clicks[i])))
    assert all(f == set() for f in failures)
    events = [e for s in stacks for e in s.bus.events]
    assert len(events) == 1
    assert stack.store.get_enrollment(ana.lead_id, "trial-nurture").enrollment.status is Status.SALES_READY
    # every click was applied once, none lost
    message = stack.message(case_study.claim.key)
    assert message.activity.clicks == 8
    assert len([k for k in message.activity.seen if k.startswith("click@")]) == 8
    handoffs = [h for h in stack.store.history_of(ana.lead_id) if any("hand off" in a for a in h.actions)]
    assert len(handoffs) == 1


def test_one_event_wired_twice_and_raced_changes_state_once(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    case_study = stack.sent(ana, "case-study")
    before = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    at = case_study.sent_at + timedelta(hours=2)
    copies = [event_about(case_study, "open", via, at=at) for via in ("eventbridge", "sns")] * 3
    stacks = [dynamo_stack(dynamo_settings, clock, catalog) for _ in copies]
    race(len(copies), lambda i: stacks[i].ses(copies[i]))
    after = stack.store.get_enrollment(ana.lead_id, "trial-nurture")
    assert after.revision == before.revision + 1  # one write of the enrollment
    assert after.enrollment.score == pytest.approx(before.enrollment.score + 1, abs=0.05)
    assert stack.message(case_study.claim.key).activity.opens == 1
    assert step_counts(stack, "case-study") == {"opens": 1, "opened": 1}


# -- sends never recorded ----------------------------------------------------------------------------------


def test_a_send_event_records_what_a_crashed_sender_did_not(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    now = clock.now()
    leased = take_lease(stack.store, job.message_key, now)
    ses_id = "0100018f5c2d7a3b-crashed-sender-000000"
    clock.advance(minutes=6)  # the sender died; its lease ran out
    stack.ses(sqs_batch(event_about(leased, "send", ses_message_id=ses_id, sent_at=now, at=now)))
    message = stack.message(job.message_key)
    assert (message.status, message.ses_message_id, message.due_at) == (MessageStatus.SENT, ses_id, None)
    assert stack.store.find_message_by_ses_id(ses_id).claim.key == job.message_key
    assert stack.store.get_lead(ana.lead_id).recent_emails == (now,)
    assert stack.app.sender.send(job) is Outcome.NOTHING
    assert stack.outbox.emails == []


def test_a_send_event_during_a_live_lease_keeps_the_next_sender_from_sending_again(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    now = clock.now()
    leased = take_lease(stack.store, job.message_key, now)
    ses_id = "0100018f5c2d7a3b-slow-sender-000000"
    stack.ses(sqs_batch(event_about(leased, "send", ses_message_id=ses_id, sent_at=now, at=now)))
    assert stack.message(job.message_key).observed_ses_message_id == ses_id
    assert step_counts(stack, "welcome") == {"sent": 1}
    clock.advance(minutes=6)  # that sender never finished; the job comes back
    assert stack.app.sender.send(job) is Outcome.RECORDED
    message = stack.message(job.message_key)
    assert (message.status, message.ses_message_id) == (MessageStatus.SENT, ses_id)
    assert stack.outbox.emails == []


def test_a_hand_off_left_unpublished_waits_in_the_outbox_until_the_reconciler_publishes_it(
    dynamo_settings, clock, catalog
):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    case_study = stack.sent(ana, "case-study")
    stack.bus.refuse(1)  # PutEvents fails right after the commit
    clicks = [
        event_about(case_study, "click", at=case_study.sent_at + timedelta(minutes=m), linkTags={"link": [link]})
        for m, link in ((3, "pricing"), (5, "demo"), (8, "pricing"))
    ]
    stack.ses(sqs_batch(*clicks))
    assert stack.bus.events == []
    key = message_key(ana.lead_id, "trial-nurture", 1, "handoff")
    assert stack.store.handoffs_due(clock.now(), 10) == []  # within its grace period
    [pending] = stack.store.handoffs_due(clock.now() + timedelta(minutes=1), 10)
    assert (pending.claim.key, pending.claim.details["stage"]) == (key, "decision")
    clock.advance(minutes=1)
    assert stack.app.handoffs.publish_pending_handoffs() == 1
    assert [e.detail["handoff_id"] for e in stack.bus.events] == [key]
    assert stack.store.handoffs_due(clock.now() + timedelta(days=1), 10) == []
    assert stack.message(key).status is MessageStatus.SENT


# -- what it costs ------------------------------------------------------------------------------------------


def test_what_each_event_costs_in_dynamodb_requests(dynamo_settings, clock, catalog, capsys):
    with counted() as requests:
        stack = dynamo_stack(dynamo_settings, clock, catalog)
        stack.signup("ana@example.com")
        [job] = stack.queue.drain()
        requests.clear()
        assert stack.app.sender.send(job) is Outcome.SENT
        # one read (message, lead and enrollment together); the lease, the email's place on the lead
        # (two single-item writes: 3 write units where one transaction of both cost 5), the
        # enrollment read again (a read unit where a transaction's condition check cost 2), the record
        assert (requests.writes, requests.reads) == (3, 2)
        sender = str(requests)
        welcome = stack.message(job.message_key)
        delivered = welcome.sent_at + timedelta(seconds=2)
        figures: dict[str, str] = {"sender (one email)": sender}

        def cost(name: str, *events: dict[str, Any]) -> Requests:
            requests.clear()
            assert stack.ses(sqs_batch(*events)) == set()
            figures[name] = str(requests)
            return Requests(list(requests.calls))

        both = cost(
            "Send + Delivery, one batch",
            event_about(welcome, "send", at=welcome.sent_at),
            event_about(welcome, "delivery", at=delivered),
        )
        assert (both.writes, both.reads) == (2, 0)  # one write on the message, one stats ADD
        human_open = cost("Open by a person", event_about(welcome, "open", at=welcome.sent_at + timedelta(minutes=9)))
        assert (human_open.writes, human_open.reads) == (2, 1)  # the enrollment, one transaction, stats
        # the transaction holds the enrollment and the open's mark: a score alone writes no history line
        assert human_open.items_written == 3
        machine = cost("Open by a proxy", event_about(welcome, "open-machine", at=delivered + timedelta(minutes=1)))
        assert (machine.writes, machine.reads) == (2, 1)
        click = cost("Click by a person", event_about(welcome, "click", at=welcome.sent_at + timedelta(minutes=10)))
        assert (click.writes, click.reads) == (2, 2)  # the message and the enrollment; one transaction
        duplicate = cost("the same Open again", event_about(welcome, "open", at=welcome.sent_at + timedelta(minutes=9)))
        assert duplicate.writes == 1  # the refused transaction; nothing counted
        delay = cost("DeliveryDelay alone", event_about(welcome, "delivery-delay"))
        assert (delay.writes, delay.reads) == (2, 0)
        # a sweep's worth of emails: their Send and Delivery events arrive together
        leads = [stack.signup(f"lead{i}@example.com") for i in range(20)]
        stack.send_queued()
        emails = [stack.message(message_key(lead.lead_id, "trial-nurture", 1, "welcome")) for lead in leads]
        events = [event_about(m, name, at=m.sent_at) for m in emails for name in ("send", "delivery")]
        batch = cost("20 emails: Send + Delivery", *events)
        assert (batch.writes, batch.reads) == (21, 0)  # one write per email, one stats ADD for the batch
    with capsys.disabled():
        print("\nDynamoDB requests (DynamoDB Local):")
        for name, figure in figures.items():
            print(f"  {name:28} {figure}")


def test_stats_are_read_back_per_step_and_day(dynamo_settings, clock, catalog):
    stack = dynamo_stack(dynamo_settings, clock, catalog)
    ana = stack.signup("ana@example.com")
    welcome = stack.sent(ana, "welcome")
    dashboard = stack.sent(ana, "first-dashboard")
    stack.ses(
        sqs_batch(
            event_about(welcome, "send", at=welcome.sent_at),
            event_about(welcome, "open"),
            event_about(dashboard, "send", at=dashboard.sent_at),
            event_about(dashboard, "click", linkTags={"link": ["dashboard"]}),
        )
    )
    rows = stack.stats.rows("trial-nurture")
    assert [(r.bucket.step, r.bucket.day) for r in rows] == [
        ("first-dashboard", dashboard.sent_at.date().isoformat()),
        ("welcome", welcome.sent_at.date().isoformat()),
    ]
    assert totals(rows) == {
        (1, "welcome"): {"sent": 1, "opens": 1, "opened": 1},
        (1, "first-dashboard"): {"sent": 1, "clicks": 1, "clicked": 1, "link:dashboard": 1},
    }
    assert stack.stats.rows("trial-nurture", since=dashboard.sent_at.date()) == rows[:1]
