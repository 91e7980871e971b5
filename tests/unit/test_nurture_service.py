"""Enrolling and moving leads through the service, with the in-memory store and queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ripen.core.records import Consent, Lead
from ripen.core.state import GoalReached, Status, Stopped, TimerDue
from ripen.services.nurture import Nurture, UnknownSequenceError
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from tests.support.ids import lead_id_for


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def queue() -> MemorySendQueue:
    return MemorySendQueue()


@pytest.fixture
def nurture(store, queue, catalog, clock) -> Nurture:
    return Nurture(store, catalog, queue, clock)


def lead(clock, email="ana@example.com", confirmed=True, tz="UTC") -> Lead:
    consent = Consent(given_at=clock.now(), confirmed_at=clock.now() if confirmed else None)
    return Lead(lead_id_for(email), email, clock.now(), timezone=tz, consents=(consent,))


def test_enrolling_queues_the_first_email_at_once(nurture, queue, store, clock):
    outcome = nurture.enroll(lead(clock), "ebook-nurture")
    assert outcome.applied
    assert [j.message_key for j in queue.jobs] == [f"{lead(clock).lead_id}#ebook-nurture#1#ebook-delivery"]
    assert store.get_message(queue.jobs[0].message_key).claim.email == "ebook-delivery"
    assert store.history_of(lead(clock).lead_id)[0].lines[-1].startswith("waiting")


def test_signing_up_twice_gives_one_enrollment_and_sends_nothing_twice(nurture, queue, store, clock):
    nurture.enroll(lead(clock), "ebook-nurture")
    clock.advance(minutes=1)
    again = nurture.enroll(lead(clock), "ebook-nurture")
    assert again.applied  # counted as engagement
    assert len(queue.jobs) == 1
    assert len(store.enrollments_of(lead(clock).lead_id)) == 1
    assert store.get_enrollment(lead(clock).lead_id, "ebook-nurture").enrollment.score == 3


def test_an_unconfirmed_lead_gets_the_confirmation_first(nurture, queue, clock):
    nurture.enroll(lead(clock, confirmed=False), "trial-nurture")
    assert queue.jobs[0].message_key.endswith("#trial-nurture#1#confirm")


def test_an_unknown_sequence_is_refused(nurture, clock):
    with pytest.raises(UnknownSequenceError):
        nurture.enroll(lead(clock), "no-such-sequence")


def test_a_finished_lead_reenters_only_after_the_cooldown(nurture, store, queue, clock):
    person = lead(clock)
    nurture.enroll(person, "trial-nurture")
    nurture.apply(person.lead_id, "trial-nurture", GoalReached("trial_converted"), "goal")
    clock.advance(days=10)
    assert not nurture.enroll(person, "trial-nurture").applied
    clock.advance(days=90)
    outcome = nurture.enroll(person, "trial-nurture")
    assert outcome.applied
    assert outcome.record.enrollment.run == 2
    assert queue.jobs[-1].message_key == f"{person.lead_id}#trial-nurture#2#welcome"


def test_an_unsubscribed_lead_is_not_reenrolled_silently(nurture, clock):
    person = lead(clock)
    nurture.enroll(person, "trial-nurture")
    nurture.apply_everywhere(person.lead_id, Stopped("unsubscribed"), "unsubscribe")
    clock.advance(days=400)
    outcome = nurture.enroll(person, "trial-nurture")
    assert not outcome.applied
    assert outcome.reason == "already unsubscribed"


def test_a_lost_race_is_decided_again_on_fresh_state(nurture, store, clock, monkeypatch):
    person = lead(clock)
    nurture.enroll(person, "ebook-nurture")
    clock.advance(days=3)
    real_commit = store.commit
    calls = []

    def commit_losing_once(change):
        calls.append(change)
        if len(calls) == 1:
            return False  # another writer got there first
        return real_commit(change)

    monkeypatch.setattr(store, "commit", commit_losing_once)
    outcome = nurture.apply(person.lead_id, "ebook-nurture", TimerDue(), "timer")
    assert outcome.applied
    assert len(calls) == 2


def test_an_enrollment_on_a_version_that_is_gone_is_reported(nurture, store, clock, catalog):
    from dataclasses import replace

    from ripen.services.nurture import SequenceVersionMissingError

    person = lead(clock)
    nurture.enroll(person, "ebook-nurture")
    record = store.get_enrollment(person.lead_id, "ebook-nurture")
    store.enrollments[record.key] = replace(record, enrollment=replace(record.enrollment, version=7))
    clock.advance(days=3)
    with pytest.raises(SequenceVersionMissingError, match="ebook-nurture v7"):
        nurture.apply(person.lead_id, "ebook-nurture", TimerDue(), "timer")


def test_due_enrollments_are_found_per_shard_and_only_when_due(nurture, store, clock):
    people = [lead(clock, email=f"p{i}@example.com") for i in range(20)]
    for p in people:
        nurture.enroll(p, "ebook-nurture")
    assert sum(len(store.due_enrollments(s, clock.now(), 100)) for s in store.shards) == 0
    clock.advance(days=2, minutes=1)
    due = [r for s in store.shards for r in store.due_enrollments(s, clock.now(), 100)]
    assert len(due) == 20
    assert all(r.enrollment.status is Status.ACTIVE for r in due)
    assert timedelta(0) < clock.now() - max(r.enrollment.next_action_at for r in due) < timedelta(hours=1)
