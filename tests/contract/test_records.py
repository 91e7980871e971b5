"""Leads, enrollments, their history and engagement marks as any store keeps them: revisions decide
races, the due index holds only waiting enrollments. Each case runs on both engines."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ripen.core.records import Change, EventMark, LeadStatus, MessageStatus
from ripen.core.state import Status
from ripen.ports.store import SendContext
from tests.contract import given


def test_a_lead_is_created_once_and_saved_only_at_the_revision_read(store, clock):
    lead = given.lead(store, "ld_ana", clock.now())
    assert lead.revision == 1
    assert store.create_lead(replace(lead, name="Someone else")) is False
    assert store.save_lead(replace(lead, name="Ana"), lead.revision)
    assert store.save_lead(replace(lead, name="Stale"), lead.revision) is False
    stored = store.get_lead("ld_ana")
    assert (stored.name, stored.revision) == ("Ana", 2)
    assert store.get_lead("ld_nobody") is None


def test_an_unsubscribe_keeps_its_time_on_the_lead(store, clock):
    # (confirmation links issued before it confirm nothing: issue 14)
    lead = given.lead(store, "ld_ana", clock.now())
    left = replace(lead, status=LeadStatus.UNSUBSCRIBED, unsubscribed_at=clock.now() + timedelta(minutes=5))
    assert store.save_lead(left, lead.revision)
    assert store.get_lead("ld_ana").unsubscribed_at == clock.now() + timedelta(minutes=5)


def test_an_enrollment_is_created_once_and_moves_only_from_the_revision_read(store, clock):
    at = clock.now()
    record = given.enrollment("ld_ana", at, due=at + timedelta(days=1))
    assert store.commit(Change(record, None, history=given.history("ld_ana", at, 1)))
    assert store.commit(Change(record, None)) is False  # created already
    moved = replace(record, revision=2, enrollment=replace(record.enrollment, cursor="tips"))
    assert store.commit(Change(moved, 1, history=given.history("ld_ana", at, 2, trigger="timer")))
    assert store.commit(Change(replace(moved, revision=3), 1)) is False  # a writer still at revision 1
    stored = store.get_enrollment("ld_ana", given.SEQUENCE)
    assert (stored.revision, stored.enrollment.cursor) == (2, "tips")
    assert [h.trigger for h in store.history_of("ld_ana")] == ["enrolled", "timer"]


def test_of_racing_writers_on_one_enrollment_exactly_one_lands(store, clock):
    at = clock.now()
    record = given.enrollment("ld_ana", at, due=at)
    assert store.commit(Change(record, None))
    changes = [
        Change(replace(record, revision=2, enrollment=replace(record.enrollment, cursor=f"step-{i}")), 1)
        for i in range(6)
    ]
    assert sum(given.race(6, lambda i: store.commit(changes[i]))) == 1
    assert store.get_enrollment("ld_ana", given.SEQUENCE).revision == 2


def test_enrollments_are_read_by_lead_and_by_keys(store, clock):
    at = clock.now()
    for lead_id, sequence in [("ld_ana", "b-seq"), ("ld_ana", "a-seq"), ("ld_bo", "a-seq")]:
        record = given.enrollment(lead_id, at)
        record = replace(record, enrollment=replace(record.enrollment, sequence=sequence))
        assert store.commit(Change(record, None))
    assert [r.key for r in store.enrollments_of("ld_ana")] == [("ld_ana", "a-seq"), ("ld_ana", "b-seq")]
    keys = [("ld_bo", "a-seq"), ("ld_ana", "b-seq"), ("ld_bo", "a-seq"), ("ld_nobody", "a-seq")]
    assert sorted(r.key for r in store.get_enrollments(keys)) == [("ld_ana", "b-seq"), ("ld_bo", "a-seq")]
    assert store.get_enrollments([]) == []


def test_the_due_index_holds_only_waiting_enrollments_oldest_first_page_by_page(store, clock):
    # Given enrollments waiting on timers, one not waiting, and one that ended
    at = clock.now()
    lead_ids = [f"ld_{i:02d}" for i in range(12)]
    for i, lead_id in enumerate(lead_ids):
        assert store.commit(Change(given.enrollment(lead_id, at, due=at + timedelta(minutes=i)), None))
    assert store.commit(Change(given.enrollment("ld_idle", at), None))
    ended = given.enrollment("ld_done", at, due=at, status=Status.COMPLETED)
    assert store.commit(Change(ended, None))
    # When the sweep reads every shard, a page of 2 at a time, at the sixth minute
    found = []
    for shard in store.shards:
        page = store.due_enrollments(shard, at + timedelta(minutes=5), 2)
        while page:
            times = [r.enrollment.next_action_at for r in page]
            assert times == sorted(times)
            found += page
            page = store.due_enrollments(shard, at + timedelta(minutes=5), 2, after=page[-1])
    # Then it sees exactly the six due, each once
    assert sorted(r.enrollment.lead_id for r in found) == lead_ids[:6]


def test_history_is_appended_with_its_change_and_read_in_order(store, clock):
    at = clock.now()
    record = given.enrollment("ld_ana", at)
    assert store.commit(Change(record, None, history=given.history("ld_ana", at, 1)))
    later = at + timedelta(hours=1)
    moved = replace(record, revision=2)
    assert store.commit(Change(moved, 1, history=given.history("ld_ana", later, 2, trigger="click")))
    entries = store.history_of("ld_ana")
    assert entries == [given.history("ld_ana", at, 1), given.history("ld_ana", later, 2, trigger="click")]
    assert store.history_of("ld_nobody") == []


def test_the_send_context_reads_message_lead_and_enrollment_together(store, clock):
    lead = given.lead(store, "ld_ana", clock.now())
    message = given.claimed(store, "ld_ana", clock.now())
    context = store.send_context(message.claim.key, "ld_ana", given.SEQUENCE)
    assert context == SendContext(message, lead, store.get_enrollment("ld_ana", given.SEQUENCE))
    assert store.send_context("ld_nobody#x#1#y", "ld_nobody", "x") == SendContext(None, None, None)


def mark(message, key: str, kind="open", ses_id="ses-1", **more) -> EventMark:
    return EventMark(message.claim.key, ses_id, key, kind, message.sent_at + timedelta(minutes=5), **more)


def test_an_engagement_event_is_written_once_and_only_on_the_message_it_names(store, clock):
    sent = given.sent(store, "ld_ana", clock.now())
    marked = store.mark_message(sent.claim.key, [mark(sent, "open-1"), mark(sent, "click-1", "click", link="demo")])
    assert marked == store.get_message(sent.claim.key)
    activity = marked.activity
    assert (activity.seen, activity.opens, activity.clicks, activity.last_click_link) == (
        frozenset({"open-1", "click-1"}),
        1,
        1,
        "demo",
    )
    assert store.mark_message(sent.claim.key, [mark(sent, "open-1")]) is None  # counted once
    assert store.mark_message(sent.claim.key, [mark(sent, "open-2", ses_id="ses-other")]) is None
    assert store.get_message(sent.claim.key).activity == activity


def test_a_reject_reported_by_ses_fails_the_message(store, clock):
    sent = given.sent(store, "ld_ana", clock.now())
    rejected = store.mark_message(sent.claim.key, [mark(sent, "reject-1", "reject", detail="Bad content")])
    assert (rejected.status, rejected.error, rejected.due_at) == (MessageStatus.FAILED, "Bad content", None)


def test_a_lead_saved_with_marks_writes_both_or_neither(store, clock):
    lead = given.lead(store, "ld_ana", clock.now())
    sent = given.sent(store, "ld_ana", clock.now())
    bounced = replace(lead, soft_bounces=1)
    assert store.save_lead(bounced, lead.revision, [mark(sent, "bounce-1", "bounce", detail="Transient/General")])
    assert store.get_message(sent.claim.key).activity.bounce == "Transient/General"
    # the same event again: neither the lead nor the message changes
    again = store.get_lead("ld_ana")
    assert store.save_lead(replace(again, soft_bounces=2), again.revision, [mark(sent, "bounce-1", "bounce")]) is False
    assert store.get_lead("ld_ana").soft_bounces == 1


def test_an_experiment_is_kept_the_holdout_on_the_enrollment_and_the_variant_on_its_message(store, clock):
    # Given a lead in the holdout whose welcome step is an A/B test
    at = clock.now()
    record = given.enrollment("ld_ana", at)
    record = replace(record, enrollment=replace(record.enrollment, holdout=True))
    claim = replace(given.claim("ld_ana", at), email="welcome-short", variant="welcome-short")
    # When both are written and read back
    assert store.commit(Change(record, None, messages=(claim,)))
    # Then neither is lost: the report can tell the groups and the variants apart
    assert store.get_enrollment("ld_ana", given.SEQUENCE).enrollment.holdout is True
    message = store.get_message(claim.key)
    assert (message.claim.variant, message.claim.stats_step) == ("welcome-short", "welcome~welcome-short")


def test_an_operator_report_reads_every_enrollment_of_one_sequence_and_none_of_another(store, clock):
    from ripen_dev.operate.scans import enrollments_in

    at = clock.now()
    for lead_id in ("ld_ana", "ld_ben", "ld_cy"):
        assert store.commit(Change(given.enrollment(lead_id, at), None))
    other = given.enrollment("ld_ana", at)
    other = replace(other, enrollment=replace(other.enrollment, sequence="other-nurture"))
    assert store.commit(Change(other, None))
    found = sorted(r.enrollment.lead_id for r in enrollments_in(store, {given.SEQUENCE}))
    assert found == ["ld_ana", "ld_ben", "ld_cy"]
    assert [r.enrollment.sequence for r in enrollments_in(store, {"other-nurture"})] == ["other-nurture"]


def test_a_leads_language_is_kept_with_the_lead(store, clock):
    lead = replace(given.lead(store, "ld_ana", clock.now()), locale="pt-br")
    assert store.save_lead(lead, lead.revision)
    assert store.get_lead("ld_ana").locale == "pt-br"
