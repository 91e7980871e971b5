"""SES events move leads: engagement scores and branches, bounces and complaints stop all email,
the ripe lead is handed to sales once; everything counted once, whatever the wiring."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from ripen.core.engagement import Bucket
from ripen.core.records import LeadStatus, MessageStatus, message_key
from ripen.core.state import Status
from ripen.handlers import engagement
from ripen.handlers.engagement import EngagementRetryError
from ripen.services.handoffs import DETAIL_TYPE
from ripen.services.sender import Outcome
from ripen_dev.local.http import LambdaContext
from tests.support.sender import take_lease
from tests.support.ses_events import SES, event_about, sqs_batch

VIA = ["eventbridge", "sns"]


def handler(event: dict, context: object = None) -> dict:
    """The engagement Lambda as AWS invokes it: with a context object."""
    return engagement.handler(event, context or LambdaContext())


@pytest.fixture
def ana(stack):
    return stack.signup("ana@example.com", name="Ana Lopez", attributes={"company": "Fernhill"})


@pytest.fixture
def case_study(stack, ana):
    """The case-study email (day 3 of the trial), sent; it waits up to 3 days for a pricing click."""
    return stack.sent(ana, "case-study")


def enrollment(stack, lead, sequence="trial-nurture"):
    return stack.store.get_enrollment(lead.lead_id, sequence).enrollment


def counts(stack, step="case-study"):
    totals: dict[str, int] = {}
    for row in stack.stats.rows("trial-nurture", step=step):
        for name, n in row.counts.items():
            totals[name] = totals.get(name, 0) + n
    return totals


def deliver(stack, *events):
    """The events reach the engagement function through its queue (the default wiring)."""
    response = handler(sqs_batch(*events), None)
    return response["batchItemFailures"]


# -- each event type, via SNS and via EventBridge -------------------------------------------------------


@pytest.mark.parametrize("via", VIA)
def test_send_and_delivery_are_counted_on_the_email(stack, case_study, via):
    delivered_at = case_study.sent_at + timedelta(seconds=2)
    handler(event_about(case_study, "send", via, at=case_study.sent_at), None)
    handler(event_about(case_study, "delivery", via, at=delivered_at), None)
    message = stack.message(case_study.claim.key)
    assert message.activity.delivered_at == delivered_at
    assert message.activity.seen == {"send", "delivery"}
    assert counts(stack) == {"sent": 1, "delivered": 1}


@pytest.mark.parametrize("via", VIA)
def test_an_open_by_a_person_adds_to_the_score(stack, ana, case_study, via):
    before = enrollment(stack, ana).score
    history = stack.store.history_of(ana.lead_id)
    handler(event_about(case_study, "open", via), None)
    after = enrollment(stack, ana)
    assert after.score == pytest.approx(before + 1, abs=0.05)
    assert "open:case-study" in after.engaged
    assert counts(stack) == {"opens": 1, "opened": 1}
    # The open is on its email; a score alone is no transition: the history gets no line for it
    assert stack.message(case_study.claim.key).activity.opens == 1
    assert stack.store.history_of(ana.lead_id) == history


def test_a_click_that_moves_the_lead_to_another_stage_is_in_its_history(stack, ana, case_study):
    # Given Ana reads the case study; When she clicks its demo link (a stage rule: decision)
    handler(event_about(case_study, "click", linkTags={"link": ["demo"]}), None)
    # Then the enrollment moves on, and the history says why, in words
    assert enrollment(stack, ana).stage == "decision"
    entry = stack.store.history_of(ana.lead_id)[-1]
    assert entry.trigger == "engagement: click"
    assert any(line.startswith("clicked demo (+25") for line in entry.lines)
    assert any("decision" in line for line in entry.lines)


@pytest.mark.parametrize("via", VIA)
def test_a_privacy_proxy_open_counts_for_little(stack, ana, case_study, via):
    before = enrollment(stack, ana).score
    handler(event_about(case_study, "open-machine", via, at=case_study.sent_at + timedelta(minutes=30)), None)
    after = enrollment(stack, ana)
    assert after.score == pytest.approx(before + 0.2, abs=0.05)  # trial-nurture: machine_open 0.2
    assert "open:case-study" not in after.engaged  # never satisfies a wait_for on opens
    assert counts(stack) == {"machine_opens": 1}


@pytest.mark.parametrize("via", VIA)
def test_a_click_on_pricing_branches_at_once(stack, ana, case_study, via):
    # Given the case-study email waits for a pricing click; the lead clicks it the next day
    stack.clock.advance(hours=25)
    handler(event_about(case_study, "click", via, at=stack.clock.now()), None)
    # Then the sequence takes the pricing branch now, not at the next sweep
    after = enrollment(stack, ana)
    assert (after.cursor, after.stage) == ("countdown", "decision")
    assert [j.message_key for j in stack.queue.jobs] == [
        message_key(ana.lead_id, "trial-nurture", 1, "pricing-followup")
    ]
    assert counts(stack) == {"clicks": 1, "clicked": 1, "link:pricing": 1}


@pytest.mark.parametrize("via", VIA)
def test_a_scanner_click_neither_scores_nor_branches(stack, ana, case_study, via):
    before = enrollment(stack, ana)
    handler(event_about(case_study, "click-scanner", via, at=case_study.sent_at + timedelta(seconds=3)), None)
    after = enrollment(stack, ana)
    assert (after.score, after.cursor, after.wait) == (before.score, before.cursor, before.wait)
    assert stack.queue.jobs == []
    assert counts(stack) == {"scanner_clicks": 1}
    assert stack.message(case_study.claim.key).activity.scanner_clicks == 1


@pytest.mark.parametrize("via", VIA)
def test_a_hard_bounce_suppresses_the_lead_everywhere(stack, ana, case_study, via):
    stack.app.nurture.enroll(stack.store.get_lead(ana.lead_id), "ebook-nurture")
    handler(event_about(case_study, "bounce-permanent", via), None)
    lead = stack.store.get_lead(ana.lead_id)
    assert (lead.status, lead.status_reason) == (LeadStatus.SUPPRESSED, "hard bounce (Permanent/General)")
    assert enrollment(stack, ana).status is Status.SUPPRESSED
    assert enrollment(stack, ana, "ebook-nurture").status is Status.SUPPRESSED
    assert stack.message(case_study.claim.key).activity.bounce == "Permanent/General"
    assert counts(stack) == {"bounced": 1}
    assert stack.metrics.counts["LeadsSuppressed"] == 1


@pytest.mark.parametrize("via", VIA)
def test_a_soft_bounce_is_counted_on_the_lead(stack, ana, case_study, via):
    handler(event_about(case_study, "bounce-transient", via), None)
    lead = stack.store.get_lead(ana.lead_id)
    assert (lead.status, lead.soft_bounces) == (LeadStatus.ACTIVE, 1)
    assert enrollment(stack, ana).status is Status.ACTIVE
    assert counts(stack) == {"soft_bounced": 1}


@pytest.mark.parametrize("via", VIA)
def test_a_complaint_suppresses_and_unsubscribes_from_everything(stack, ana, case_study, via):
    handler(event_about(case_study, "complaint", via), None)
    lead = stack.store.get_lead(ana.lead_id)
    assert (lead.status, lead.status_reason) == (LeadStatus.SUPPRESSED, "complaint")
    assert enrollment(stack, ana).status is Status.UNSUBSCRIBED
    assert counts(stack) == {"complained": 1}


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize(("name", "metric", "counter"), [
    ("reject", "EmailsRejected", "rejected"),
    ("rendering-failure", "EmailRenderingFailures", "rendering_failed"),
])  # fmt: skip
def test_a_rejected_or_unrenderable_email_is_marked_failed_and_raises_the_alarm_metric(
    stack, case_study, via, name, metric, counter
):
    handler(event_about(case_study, name, via), None)
    message = stack.message(case_study.claim.key)
    assert message.status is MessageStatus.FAILED
    assert message.error.startswith("SES ")
    assert stack.metrics.counts[metric] == 1
    assert counts(stack) == {counter: 1}


@pytest.mark.parametrize("via", VIA)
def test_a_delivery_delay_is_counted_but_is_no_bounce(stack, ana, case_study, via):
    handler(event_about(case_study, "delivery-delay", via), None)
    assert stack.store.get_lead(ana.lead_id).soft_bounces == 0
    assert counts(stack) == {"delayed": 1}


@pytest.mark.parametrize("via", VIA)
def test_a_subscription_change_unsubscribes_from_all(stack, ana, case_study, via):
    handler(event_about(case_study, "subscription", via), None)
    assert stack.store.get_lead(ana.lead_id).status is LeadStatus.UNSUBSCRIBED
    assert enrollment(stack, ana).status is Status.UNSUBSCRIBED
    assert counts(stack) == {"unsubscribed": 1}


def test_opting_out_of_one_topic_leaves_only_the_sequence_it_names(stack, ana, case_study):
    stack.app.nurture.enroll(stack.store.get_lead(ana.lead_id), "ebook-nurture")
    new = {
        "unsubscribeAll": False,
        "topicSubscriptionStatus": [{"topicName": "trial-nurture", "subscriptionStatus": "OptOut"}],
    }
    handler(event_about(case_study, "subscription", newTopicPreferences=new), None)
    assert stack.store.get_lead(ana.lead_id).status is LeadStatus.ACTIVE
    assert enrollment(stack, ana).status is Status.UNSUBSCRIBED
    assert enrollment(stack, ana, "ebook-nurture").status is Status.ACTIVE


# -- once, whatever the wiring -----------------------------------------------------------------------


def test_the_same_click_via_sns_and_eventbridge_changes_state_once(stack, ana, case_study):
    stack.clock.advance(hours=25)
    at = stack.clock.now()
    history = len(stack.store.history_of(ana.lead_id))
    handler(event_about(case_study, "click", "eventbridge", at=at), None)
    once = enrollment(stack, ana)
    handler(event_about(case_study, "click", "sns", at=at), None)  # the same event, wired twice
    deliver(stack, event_about(case_study, "click", "sns", at=at))  # and a redelivery through the queue
    assert enrollment(stack, ana) == once
    assert len(stack.store.history_of(ana.lead_id)) == history + 1
    assert len(stack.queue.jobs) == 1
    assert counts(stack) == {"clicks": 1, "clicked": 1, "link:pricing": 1}
    assert stack.metrics.counts["EngagementDuplicates"] == 2


def test_duplicates_inside_one_batch_count_once(stack, case_study):
    send = event_about(case_study, "send", at=case_study.sent_at)
    open_ = event_about(case_study, "open")
    assert deliver(stack, send, send, open_, open_) == []
    assert counts(stack) == {"sent": 1, "opens": 1, "opened": 1}


def test_a_second_open_of_an_email_scores_again_but_counts_as_one_opened_email(stack, ana, case_study):
    handler(event_about(case_study, "open", at=case_study.sent_at + timedelta(minutes=5)), None)
    handler(event_about(case_study, "open", at=case_study.sent_at + timedelta(hours=5)), None)
    assert counts(stack) == {"opens": 2, "opened": 1}
    assert stack.message(case_study.claim.key).activity.opens == 2


# -- order and lateness ----------------------------------------------------------------------------------


def test_events_out_of_order_end_where_they_would_in_order(stack, ana, case_study):
    sent = case_study.sent_at
    open_ = event_about(case_study, "open", at=sent + timedelta(minutes=3))
    delivery = event_about(case_study, "delivery", at=sent + timedelta(seconds=2))
    send = event_about(case_study, "send", at=sent)
    for event in (open_, delivery, send):
        handler(event, None)
    assert counts(stack) == {"sent": 1, "delivered": 1, "opens": 1, "opened": 1}
    activity = stack.message(case_study.claim.key).activity
    assert (activity.delivered_at, activity.opened_at) == (sent + timedelta(seconds=2), sent + timedelta(minutes=3))
    assert len(activity.seen) == 3


def test_a_delivery_after_a_bounce_does_not_unsuppress(stack, ana, case_study):
    handler(event_about(case_study, "bounce-permanent"), None)
    handler(event_about(case_study, "delivery"), None)
    assert stack.store.get_lead(ana.lead_id).status is LeadStatus.SUPPRESSED
    assert enrollment(stack, ana).status is Status.SUPPRESSED


def test_an_open_after_an_unsubscribe_changes_the_stats_not_the_state(stack, ana, case_study):
    stack.app.preferences.unsubscribe(ana.lead_id, "unsubscribe page")
    before = enrollment(stack, ana)
    handler(event_about(case_study, "open"), None)
    handler(event_about(case_study, "click", at=case_study.sent_at + timedelta(hours=1)), None)
    assert enrollment(stack, ana) == before
    assert counts(stack) == {"opens": 1, "opened": 1, "clicks": 1, "clicked": 1, "link:pricing": 1}


def test_a_click_arriving_after_the_wait_ran_out_scores_but_does_not_branch(stack, ana, case_study):
    # the 3-day wait for a pricing click runs out: power-user-tips goes out instead
    stack.sent(ana, "power-user-tips")
    click_at = case_study.sent_at + timedelta(days=1)  # it happened in time, but arrives late
    handler(event_about(case_study, "click", at=click_at), None)
    after = enrollment(stack, ana)
    assert after.cursor != "pricing-followup"
    assert after.stage == "decision"  # the stage rule still holds: they did click pricing
    assert after.engaged["click:pricing"] == click_at


# -- the hand-off to sales ---------------------------------------------------------------------------------


def test_a_ripe_lead_is_handed_to_sales_once(stack, ana, case_study):
    stack.clock.advance(hours=25)
    handler(event_about(case_study, "click", at=stack.clock.now()), None)  # +20
    followup = stack.sent(ana, "pricing-followup")
    at = followup.sent_at + timedelta(minutes=10)
    handler(event_about(followup, "click", at=at), None)  # +20
    assert stack.bus.events == []
    demo = {"link": ["demo"]}
    click_demo = event_about(followup, "click", at=at + timedelta(minutes=2), linkTags=demo)
    handler(click_demo, None)  # +25: over 50
    handler(click_demo, None)
    [event] = stack.bus.events
    assert (event.source, event.detail_type) == ("ripen", DETAIL_TYPE)
    detail = event.detail
    assert detail["handoff_id"] == message_key(ana.lead_id, "trial-nurture", 1, "handoff")
    assert (detail["lead_id"], detail["email"], detail["name"]) == (ana.lead_id, "ana@example.com", "Ana Lopez")
    assert detail["attributes"] == {"company": "Fernhill"}
    assert (detail["stage"], detail["sequence"]) == ("decision", "trial-nurture")
    assert detail["score"] >= 50
    assert {(e["event"], e["target"]) for e in detail["engagement"]} >= {("click", "pricing"), ("click", "demo")}
    assert enrollment(stack, ana).status is Status.SALES_READY
    assert counts(stack, "pricing-followup")["sales_ready"] == 1
    # counted once, and for its sequence too (the dashboard's per-sequence widgets)
    assert stack.metrics.counts["LeadsSalesReady"] == 1
    assert stack.metrics.per_sequence[("trial-nurture", "LeadsSalesReady")] == 1
    # the outbox item is done
    outbox = stack.message(detail["handoff_id"])
    assert (outbox.status, outbox.due_at) == (MessageStatus.SENT, None)


def test_a_hand_off_the_bus_refused_is_published_later_by_the_reconciler(stack, ana, case_study):
    stack.bus.refuse(1)
    stack.clock.advance(hours=25)
    handler(event_about(case_study, "click", at=stack.clock.now()), None)
    followup = stack.sent(ana, "pricing-followup")
    for link, minutes in (("pricing", 5), ("demo", 7)):
        at = followup.sent_at + timedelta(minutes=minutes)
        handler(event_about(followup, "click", at=at, linkTags={"link": [link]}), None)
    assert stack.bus.events == []
    assert stack.metrics.counts["HandOffPublishFailed"] == 1
    # too early: the grace period is not over
    assert stack.app.handoffs.publish_pending_handoffs(stack.clock.now()) == 0
    stack.clock.advance(minutes=2)
    assert stack.app.handoffs.publish_pending_handoffs() == 1
    assert stack.app.handoffs.publish_pending_handoffs() == 0
    assert len(stack.bus.events) == 1


def test_the_sweep_publishes_a_hand_off_the_function_could_not(stack, ana, case_study):
    # Given a lead handed off while the sales bus refused the event
    stack.bus.refuse(1)
    stack.clock.advance(hours=25)
    handler(event_about(case_study, "click", at=stack.clock.now()), None)
    followup = stack.sent(ana, "pricing-followup")
    for link, minutes in (("pricing", 5), ("demo", 7)):
        at = followup.sent_at + timedelta(minutes=minutes)
        handler(event_about(followup, "click", at=at, linkTags={"link": [link]}), None)
    assert stack.bus.events == []
    # When the next sweeps run, after the grace period
    stack.clock.advance(minutes=2)
    first, second = stack.app.sweep.run(), stack.app.sweep.run()
    # Then the event goes out once
    assert (first.handoffs_published, second.handoffs_published) == (1, 0)
    assert [e.detail["lead_id"] for e in stack.bus.events] == [ana.lead_id]


# -- attribution -----------------------------------------------------------------------------------------


def test_an_event_without_the_message_tag_is_found_by_its_ses_message_id(stack, ana, case_study):
    handler(event_about(case_study, "open", tagged=False), None)
    assert counts(stack) == {"opens": 1, "opened": 1}


def test_a_tag_naming_another_message_is_corrected_by_the_ses_message_id(stack, ana, case_study):
    welcome = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "welcome"))
    wrong = event_about(welcome, "open", ses_message_id=case_study.ses_message_id)
    handler(wrong, None)
    assert stack.message(case_study.claim.key).activity.opens == 1
    assert stack.message(welcome.claim.key).activity.opens == 0


def test_events_for_unknown_messages_are_counted_and_ignored(stack, case_study):
    event = event_about(case_study, "open", ses_message_id="0100018fffffffff-not-ours-000000", tagged=False)
    assert deliver(stack, event) == []
    assert stack.metrics.counts["EngagementUnknownMessages"] == 1
    assert stack.stats.counts == {}


# -- bad input and partial batch failure ---------------------------------------------------------------


def test_bad_input_is_skipped_without_addresses_in_the_log_and_the_rest_is_applied(stack, case_study, caplog):
    batch = json.loads((SES / "sqs" / "bad-bodies.json").read_text())
    good = event_about(case_study, "delivery")
    batch["Records"][-1]["body"] = json.dumps(good)
    with caplog.at_level(logging.DEBUG):
        response = handler(batch, None)
    assert response == {"batchItemFailures": []}
    assert stack.metrics.counts["EngagementSkipped"] == 5
    assert stack.metrics.counts["EngagementUnknownMessages"] == 1  # the foreign message
    assert counts(stack) == {"delivered": 1}
    assert "@" not in caplog.text


class FlakyStore:
    """The store, failing every write on one message (as throttling would)."""

    def __init__(self, store, key):
        self._store, self._key = store, key

    def __getattr__(self, name):
        return getattr(self._store, name)

    def mark_message(self, key, marks):
        if key == self._key:
            raise RuntimeError("ProvisionedThroughputExceededException")
        return self._store.mark_message(key, marks)


def test_only_the_events_that_failed_come_back(stack, ana, case_study):
    welcome = stack.message(message_key(ana.lead_id, "trial-nurture", 1, "welcome"))
    stack.app.engagement.store = FlakyStore(stack.store, welcome.claim.key)
    batch = sqs_batch(event_about(case_study, "delivery"), event_about(welcome, "delivery"))
    response = handler(batch, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    assert counts(stack) == {"delivered": 1}
    assert stack.metrics.counts["EngagementRetried"] == 1


def test_a_direct_invocation_that_failed_raises_so_lambda_retries_it(stack, ana, case_study):
    stack.app.engagement.store = FlakyStore(stack.store, case_study.claim.key)
    with pytest.raises(EngagementRetryError):
        handler(event_about(case_study, "delivery", "sns"), None)
    stack.app.engagement.store = stack.store
    assert handler(event_about(case_study, "delivery", "sns"), None) == {}
    assert counts(stack) == {"delivered": 1}


# -- a send its sender never recorded ------------------------------------------------------------------


def test_a_send_event_records_an_email_whose_sender_crashed_after_ses_accepted_it(stack, ana):
    # Given the welcome email's sender took the lease, SES accepted it, and the sender died
    [job] = stack.queue.drain()
    now = stack.clock.now()
    leased = take_lease(stack.store, job.message_key, now)
    ses_id = "0100018f5c2d7a3b-crashed-sender-000000"
    send = event_about(leased, "send", ses_message_id=ses_id, sent_at=now, at=now)
    # When the Send event arrives while the lease is still live, it is noted on the message
    handler(send, None)
    assert stack.message(job.message_key).observed_ses_message_id == ses_id
    # and the retried job, once the lease ran out, records the send instead of sending again
    stack.clock.advance(minutes=6)
    assert stack.app.sender.send(job) is Outcome.RECORDED
    message = stack.message(job.message_key)
    assert (message.status, message.ses_message_id) == (MessageStatus.SENT, ses_id)
    assert stack.outbox.emails == []
    assert counts(stack, "welcome") == {"sent": 1}


def test_an_event_for_an_expired_lease_records_the_send_from_it(stack, ana):
    [job] = stack.queue.drain()
    now = stack.clock.now()
    leased = take_lease(stack.store, job.message_key, now)
    stack.clock.advance(minutes=10)  # the sender is long gone
    ses_id = "0100018f5c2d7a3b-expired-lease-000000"
    handler(event_about(leased, "delivery", ses_message_id=ses_id, sent_at=now), None)
    message = stack.message(job.message_key)
    assert (message.status, message.ses_message_id, message.sent_at) == (MessageStatus.SENT, ses_id, now)
    assert stack.app.sender.send(job) is Outcome.NOTHING
    assert stack.outbox.emails == []
    assert stack.metrics.counts["SendsReconciled"] == 1


def test_one_click_unsubscribes_count_against_the_email_whose_link_was_used(stack, ana, case_study):
    stack.app.preferences.unsubscribe(ana.lead_id, "one-click unsubscribe", message_key=case_study.claim.key)
    stack.app.preferences.unsubscribe(ana.lead_id, "one-click unsubscribe", message_key=case_study.claim.key)
    bucket = Bucket.of("trial-nurture", 1, "case-study", case_study.sent_at)
    assert stack.stats.counts == {bucket: {"unsubscribed": 1}}


def test_a_machine_open_in_a_sequence_that_scores_them_zero_leaves_the_enrollment_alone(stack):
    ben = stack.signup("ben@example.com", sequence="ebook-nurture")
    stack.send_queued()
    delivery = stack.message(message_key(ben.lead_id, "ebook-nurture", 1, "ebook-delivery"))
    before = stack.store.get_enrollment(ben.lead_id, "ebook-nurture")
    handler(event_about(delivery, "open-machine", at=delivery.sent_at + timedelta(minutes=2)), None)
    assert stack.store.get_enrollment(ben.lead_id, "ebook-nurture") == before  # not even a history line
    assert stack.message(delivery.claim.key).activity.machine_opens == 1
