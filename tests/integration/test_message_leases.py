"""Exactly one email per step on DynamoDB Local: the send lease, and what each outcome writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ripen.adapters.tables import MessageItem
from ripen.core.leads import shard_of
from ripen.core.records import HistoryEntry, MessageStatus
from ripen.ports.store import SendContext
from ripen.services.sender import LEASE, Outcome
from ripen_dev.fakes.mailer import OutboxMailer
from tests.integration.test_dynamo_store import race
from tests.support.mailstack import make_stack
from tests.support.sender import take_lease

pytestmark = pytest.mark.integration


def due_keys(store, lead_id: str) -> set[str]:
    shard = shard_of(lead_id, len(store.shards))
    return {item.message_key for item in MessageItem.due.query(shard)}


def test_senders_racing_for_one_job_call_ses_exactly_once(dynamo_store, catalog, clock):
    # Given one queued welcome email
    outbox = OutboxMailer()
    stack = make_stack(dynamo_store, clock, catalog, mailer=outbox)
    stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    # When eight sender containers get the same job at the same instant (SQS delivers at least once)
    senders = [make_stack(dynamo_store, clock, catalog, mailer=outbox).app.sender for _ in range(8)]
    outcomes = race(8, lambda i: senders[i].send(job))
    # Then SES was called once, and the message is sent once
    assert outbox.attempts == 1
    assert sorted(outcomes) == sorted([Outcome.SENT] + [Outcome.NOTHING] * 7)
    assert stack.message(job.message_key).status is MessageStatus.SENT


def context_of(store, key: str):
    lead_id, sequence = key.split("#")[:2]
    return store.send_context(key, lead_id, sequence)


def test_the_send_context_is_one_consistent_read_of_message_lead_and_enrollment(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    lead = stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    context = context_of(dynamo_store, job.message_key)
    assert context.message == dynamo_store.get_message(job.message_key)
    assert context.lead == dynamo_store.get_lead(lead.lead_id)
    assert context.record == dynamo_store.get_enrollment(lead.lead_id, "trial-nurture")
    assert context_of(dynamo_store, "ld_nobody#trial-nurture#1#welcome") == SendContext(None, None, None)


def test_only_one_of_many_lease_takers_gets_the_message(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    read = context_of(dynamo_store, job.message_key)
    now = clock.now()
    leases = race(8, lambda _: dynamo_store.lease_message(read.message, now, now + LEASE, read.lead))
    taken = [lease for lease in leases if lease is not None]
    assert len(taken) == 1
    stored = dynamo_store.get_message(job.message_key)
    assert (stored.status, stored.attempts, stored.lease_until, stored.leased_at) == (
        MessageStatus.SENDING,
        1,
        now + LEASE,
        now,
    )
    assert taken[0] == stored
    # its place under the frequency cap was taken on the lead, once
    assert dynamo_store.get_lead(read.lead.lead_id).recent_emails == (now,)
    # a live lease keeps everyone else out, and so does one that just ran out (its one resend is
    # for the sender, after the wait for SES's Send event); the lease holder can record
    assert dynamo_store.lease_message(read.message, now, now + LEASE) is None
    assert dynamo_store.lease_message(stored, now + LEASE - timedelta(seconds=1), now + LEASE) is None
    later = now + LEASE + timedelta(minutes=15)
    again = dynamo_store.lease_message(stored, later, later + LEASE)
    assert again is not None
    assert (again.attempts, again.resent_at) == (2, later)
    # the one resend only: a second takeover of the same lease is refused
    assert dynamo_store.lease_message(stored, later, later + LEASE) is None
    # and the sender that lost its lease cannot record over the new holder
    assert not dynamo_store.record_sent(taken[0], "ses-old", clock.now())
    assert dynamo_store.record_sent(again, "ses-new", later)
    assert dynamo_store.get_message(job.message_key).ses_message_id == "ses-new"


def test_a_message_ses_reported_is_never_leased_again(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    read = context_of(dynamo_store, job.message_key)
    assert dynamo_store.observe_ses_id(job.message_key, "ses-reported")
    assert dynamo_store.lease_message(read.message, clock.now(), clock.now() + LEASE, read.lead) is None
    assert dynamo_store.get_lead(read.lead.lead_id).recent_emails == ()


def test_a_sent_email_leaves_the_due_index_and_joins_the_leads_recent_emails_in_one_write(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    lead = stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    assert job.message_key in due_keys(dynamo_store, lead.lead_id)  # a claim waits in the due index
    assert stack.app.sender.send(job) is Outcome.SENT
    assert job.message_key not in due_keys(dynamo_store, lead.lead_id)
    stored = dynamo_store.get_lead(lead.lead_id)
    assert stored.recent_emails == (clock.now(),)
    assert stored.revision == lead.revision + 1


def test_a_lead_changed_after_it_was_read_refuses_the_lease(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    lead = stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    read = context_of(dynamo_store, job.message_key)
    # Another writer changes the lead between the sender's read and its lease
    current = dynamo_store.get_lead(lead.lead_id)
    assert dynamo_store.save_lead(replace(current, attributes={"company": "Fernhill"}), current.revision)
    assert dynamo_store.lease_message(read.message, clock.now(), clock.now() + LEASE, read.lead) is None
    assert dynamo_store.get_message(job.message_key).status is MessageStatus.CLAIMED
    # read again, it goes through, and the other writer's change stays
    again = context_of(dynamo_store, job.message_key)
    leased = dynamo_store.lease_message(again.message, clock.now(), clock.now() + LEASE, again.lead)
    assert leased is not None
    # a lead changed between the lease and the record does not stop the record
    current = dynamo_store.get_lead(lead.lead_id)
    assert dynamo_store.save_lead(replace(current, name="Ana"), current.revision)
    assert dynamo_store.record_sent(leased, "ses-1", clock.now())
    stored = dynamo_store.get_lead(lead.lead_id)
    assert (stored.attributes, stored.name, stored.recent_emails) == ({"company": "Fernhill"}, "Ana", (clock.now(),))
    assert dynamo_store.get_message(job.message_key).status is MessageStatus.SENT


def test_a_failed_message_and_its_history_entry_are_written_together(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    lead = stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    leased = take_lease(dynamo_store, job.message_key, clock.now())
    record = dynamo_store.get_enrollment(lead.lead_id, "trial-nurture")
    entry = HistoryEntry(
        lead.lead_id, clock.now(), "trial-nurture", record.revision, "send", "active", "welcome",
        ("email 'welcome' not sent: SES rejected it",), message_key=job.message_key,
    )  # fmt: skip
    # the same instant and revision as the enrollment's own entry: the message key keeps them apart
    assert dynamo_store.record_unsent(leased, MessageStatus.FAILED, "SES rejected it", entry)
    message = dynamo_store.get_message(job.message_key)
    assert (message.status, message.error, message.due_at) == (MessageStatus.FAILED, "SES rejected it", None)
    assert job.message_key not in due_keys(dynamo_store, lead.lead_id)
    history = dynamo_store.history_of(lead.lead_id)
    assert [h.message_key for h in history] == [None, job.message_key]
    assert history[-1].lines == ("email 'welcome' not sent: SES rejected it",)


def test_a_released_message_waits_in_the_due_index_for_its_retry(dynamo_store, catalog, clock):
    stack = make_stack(dynamo_store, clock, catalog)
    lead = stack.signup("ana@example.com")
    [job] = stack.queue.drain()
    leased = take_lease(dynamo_store, job.message_key, clock.now())
    retry_at = clock.now() + timedelta(minutes=2)
    assert dynamo_store.release_message(leased, retry_at, "TooManyRequestsException: will retry")
    message = dynamo_store.get_message(job.message_key)
    assert (message.status, message.due_at, message.lease_until) == (MessageStatus.CLAIMED, retry_at, None)
    assert job.message_key in due_keys(dynamo_store, lead.lead_id)
