"""The DynamoDB store on AWS's own engine: conditions, transactions and the sparse due index."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from ripen.core.engine import advance, new_enrollment
from ripen.core.leads import shard_of
from ripen.core.records import Consent, EnrollmentRecord, Lead, change_for, message_key
from ripen.core.state import Engaged, Enrolled, LeadContext, Status, Stopped, TimerDue
from ripen.services.nurture import Nurture
from ripen_dev.fakes.queue import MemorySendQueue
from tests.support.ids import lead_id_for

pytestmark = pytest.mark.integration


def race(count: int, work) -> list:
    """Run `work(i)` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def started(store, sequence, clock, lead_id="ld_race"):
    record = EnrollmentRecord(new_enrollment(lead_id, sequence, clock.now()), timezone="UTC")
    decision = advance(record.enrollment, Enrolled(), sequence, clock.now(), LeadContext("UTC", confirmed=True))
    change = change_for(record, decision, sequence, "enrolled", clock.now(), None)
    assert store.commit(change)
    return store.get_enrollment(lead_id, sequence.name)


def test_two_writers_racing_on_one_enrollment_exactly_one_wins(dynamo_store, catalog, clock):
    # Given an enrollment waiting for its timer
    sequence = catalog.current("ebook-nurture")
    record = started(dynamo_store, sequence, clock)
    clock.advance(days=3)
    # When two sweeps decide the same due timer at the same moment
    decision = advance(record.enrollment, TimerDue(), sequence, clock.now(), record.lead_context())
    change = change_for(record, decision, sequence, "timer", clock.now(), record.revision)
    results = race(2, lambda _: dynamo_store.commit(change))
    # Then exactly one write lands, with one claim for the email and one history entry
    assert sorted(results) == [False, True]
    stored = dynamo_store.get_enrollment(record.enrollment.lead_id, sequence.name)
    assert stored.revision == record.revision + 1
    assert len(dynamo_store.history_of(record.enrollment.lead_id)) == 2


def test_eight_writers_with_different_decisions_exactly_one_wins(dynamo_store, catalog, clock):
    sequence = catalog.current("trial-nurture")
    record = started(dynamo_store, sequence, clock)
    links = ["pricing", "demo", "case-study", None, "pricing", "demo", None, "case-study"]

    def decide(i: int) -> bool:
        event = Engaged(kind="click", at=clock.now(), link=links[i])
        decision = advance(record.enrollment, event, sequence, clock.now(), record.lead_context())
        return dynamo_store.commit(change_for(record, decision, sequence, f"click-{i}", clock.now(), record.revision))

    assert sum(race(8, decide)) == 1


def test_a_change_whose_message_was_already_claimed_writes_nothing(dynamo_store, catalog, clock):
    sequence = catalog.current("ebook-nurture")
    record = started(dynamo_store, sequence, clock)
    # A stale decision that would send ebook-delivery again under the same key
    stale = change_for(
        replace(record, revision=record.revision),
        advance(
            new_enrollment("ld_race", sequence, clock.now()),
            Enrolled(),
            sequence,
            clock.now(),
            LeadContext("UTC", confirmed=True),
        ),
        sequence,
        "stale",
        clock.now(),
        record.revision,
    )
    assert stale.messages[0].key == message_key("ld_race", "ebook-nurture", 1, "ebook-delivery")
    assert dynamo_store.commit(stale) is False
    assert dynamo_store.get_enrollment("ld_race", sequence.name).revision == record.revision
    assert len(dynamo_store.history_of("ld_race")) == 1


def test_the_due_index_returns_only_due_enrollments_across_shards(dynamo_store, catalog, clock):
    sequence = catalog.current("ebook-nurture")
    lead_ids = [f"ld_{i:03d}" for i in range(40)]
    for lead_id in lead_ids:
        started(dynamo_store, sequence, clock, lead_id)
    # a quarter stop (unsubscribed): they must leave the index entirely
    for lead_id in lead_ids[:10]:
        record = dynamo_store.get_enrollment(lead_id, sequence.name)
        decision = advance(record.enrollment, Stopped("unsubscribed"), sequence, clock.now())
        assert dynamo_store.commit(change_for(record, decision, sequence, "stop", clock.now(), record.revision))
    assert {shard_of(i, len(dynamo_store.shards)) for i in lead_ids[10:]} != {"00"}, "spread over several shards"

    def all_due(at):
        return {r.enrollment.lead_id for s in dynamo_store.shards for r in dynamo_store.due_enrollments(s, at, 100)}

    assert all_due(clock.now()) == set()
    assert all_due(clock.now() + timedelta(days=2, minutes=1)) == set(lead_ids[10:])


def test_the_due_index_holds_only_waiting_enrollments(dynamo_store, dynamo_settings, catalog, clock):
    import boto3

    sequence = catalog.current("ebook-nurture")
    for i in range(6):
        started(dynamo_store, sequence, clock, f"ld_{i}")
    record = dynamo_store.get_enrollment("ld_0", sequence.name)
    decision = advance(record.enrollment, Stopped("suppressed"), sequence, clock.now())
    dynamo_store.commit(change_for(record, decision, sequence, "stop", clock.now(), record.revision))
    client = boto3.client("dynamodb", endpoint_url=dynamo_settings.dynamodb_endpoint, region_name="us-east-1")
    indexed = client.scan(TableName=dynamo_settings.enrollments_table, IndexName="due_keys")["Items"]
    assert len(indexed) == 5


def test_racing_signups_for_one_address_make_one_lead(dynamo_store, clock):
    email = "ana@example.com"
    lead = Lead(lead_id_for(email), email, clock.now(), consents=(Consent(given_at=clock.now()),))
    assert sorted(race(5, lambda _: dynamo_store.create_lead(lead))) == [False] * 4 + [True]
    stored = dynamo_store.get_lead(lead.lead_id)
    assert stored.email == email
    assert stored.revision == 1


def test_a_lead_saved_from_a_stale_read_is_refused(dynamo_store, clock):
    lead = Lead("ld_lead", "ana@example.com", clock.now(), attributes={"plan": "pro"})
    dynamo_store.create_lead(lead)
    fresh = dynamo_store.get_lead("ld_lead")
    assert dynamo_store.save_lead(replace(fresh, name="Ana"), fresh.revision)
    assert not dynamo_store.save_lead(replace(fresh, name="Stale"), fresh.revision)
    stored = dynamo_store.get_lead("ld_lead")
    assert (stored.name, stored.revision, dict(stored.attributes)) == ("Ana", 2, {"plan": "pro"})


def test_an_enrollment_reads_back_exactly_as_written(dynamo_store, catalog, clock):
    sequence = catalog.current("trial-nurture")
    record = started(dynamo_store, sequence, clock)
    clock.advance(minutes=7)
    decision = advance(
        record.enrollment,
        Engaged(kind="click", at=clock.now(), link="pricing"),
        sequence,
        clock.now(),
        record.lead_context(),
    )
    change = change_for(record, decision, sequence, "click", clock.now(), record.revision)
    assert dynamo_store.commit(change)
    assert dynamo_store.get_enrollment("ld_race", sequence.name) == change.record


def test_a_lead_walks_the_whole_trial_on_dynamodb(dynamo_store, catalog, clock):
    # Given the nurture service on DynamoDB Local and a confirmed lead in UTC
    queue = MemorySendQueue()
    nurture = Nurture(dynamo_store, catalog, queue, clock)
    email = "walker@example.com"
    lead = Lead(
        lead_id_for(email),
        email,
        clock.now(),
        timezone="UTC",
        consents=(Consent(given_at=clock.now(), confirmed_at=clock.now()),),
    )
    assert dynamo_store.create_lead(lead)
    nurture.enroll(lead, "trial-nurture")
    # When the clock moves from due time to due time and the sweep fires each timer
    for _ in range(40):
        due = [r for s in dynamo_store.shards for r in dynamo_store.due_enrollments(s, clock.now(), 10)]
        for record in due:
            nurture.apply_record(record, TimerDue(), "timer")
        record = dynamo_store.get_enrollment(lead.lead_id, "trial-nurture")
        if record.enrollment.terminal:
            break
        clock.set(record.enrollment.next_action_at)
    # Then every email was claimed once, in order, and the lead finished the sequence
    steps = [job.message_key.rsplit("#", 1)[1] for job in queue.jobs]
    assert steps == ["welcome", "first-dashboard", "case-study", "power-user-tips", "trial-ending", "trial-ended"]
    assert record.enrollment.status is Status.COMPLETED
    history = dynamo_store.history_of(lead.lead_id)
    assert history[-1].lines[-1] == "completed: trial-over"


def test_a_lead_stored_before_the_consent_log_reads_its_one_record_as_the_first_entry(dynamo_store, clock):
    from ripen.adapters.tables import ConsentAttribute, LeadItem

    # Given a lead item written when a lead held one consent record (the `consent` map)
    given_at = clock.now()
    LeadItem(
        "ld_old",
        email="old@example.com",
        created_at=given_at,
        consent=ConsentAttribute(given_at=given_at, method="form", source="landing", wording="2025-01"),
    ).save()
    # When it is read, and saved again with a fresh statement
    lead = dynamo_store.get_lead("ld_old")
    assert lead.consents == (Consent(given_at, "form", "landing", "2025-01"),)
    fresh = Consent(given_at + timedelta(days=1), "form", "comeback", "2026-03")
    assert dynamo_store.save_lead(lead.with_consent(fresh), lead.revision)
    # Then the old record stays first in the log, and the fresh one follows it
    assert [c.source for c in dynamo_store.get_lead("ld_old").consents] == ["landing", "comeback"]
