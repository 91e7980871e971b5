"""The sweep on AWS's DynamoDB Local (and SQS from moto's server): paging the due indexes, two
sweeps at once, batches of 10 on a real queue API."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from ripen.adapters.queue import SqsSendQueue
from ripen.core.leads import shard_of
from ripen.core.records import Consent, Lead, MessageStatus, message_key
from ripen.ports.queue import SendJob
from ripen.ports.store import CLAIM_TIMEOUT
from ripen.services.nurture import Nurture
from ripen.services.sweep import Sweep
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local import bulk
from ripen_dev.local.dynamodb_local import free_port

pytestmark = pytest.mark.integration


class LockedQueue(MemorySendQueue):
    """The in-memory queue, safe for the threads of two sweeps at once."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def enqueue(self, jobs):
        with self._lock:
            return super().enqueue(jobs)


def readers(
    store, settings, client, catalog, clock, count: int, prefix: str = "ld_reader", sent: bool = True
) -> list[str]:
    """`count` ebook readers, stored as if they signed up now and got the ebook (or its job was
    lost, when not `sent`); returns their lead ids."""
    world = InMemoryStore()
    template = Lead("ld_template", "template@example.com", clock.now(), timezone="UTC")
    template = replace(template, consents=(Consent(clock.now(), confirmed_at=clock.now()),))
    Nurture(world, catalog, MemorySendQueue(), clock).enroll(template, "ebook-nurture")
    if sent:
        bulk.mark_sent(world, clock.now())
    ids = [f"{prefix}{i:05d}" for i in range(count)]
    enrollments, messages = bulk.replicate(store, world, "ld_template", ids)
    bulk.put_items(client, settings.enrollments_table, enrollments)
    bulk.put_items(client, settings.messages_table, messages)
    return ids


def reminder(lead_id: str) -> str:
    return message_key(lead_id, "ebook-nurture", 1, "download-reminder")


def delivery(lead_id: str) -> str:
    return message_key(lead_id, "ebook-nurture", 1, "ebook-delivery")


@pytest.fixture
def client(dynamo_settings):
    return boto3.client("dynamodb", endpoint_url=dynamo_settings.dynamodb_endpoint, region_name="us-east-1")


# -- the store's paging and postponing ---------------------------------------------------------------


def test_the_due_index_is_read_page_after_page_without_gaps_or_repeats(
    dynamo_store, dynamo_settings, client, catalog, clock
):
    ids = readers(dynamo_store, dynamo_settings, client, catalog, clock, 120)
    later = clock.now() + timedelta(days=3)
    for shard in dynamo_store.shards:
        seen, after = [], None
        while True:
            page = dynamo_store.due_enrollments(shard, later, 7, after)
            seen.extend(r.enrollment.lead_id for r in page)
            if len(page) < 7:
                break
            after = page[-1]
        expected = {i for i in ids if shard_of(i, len(dynamo_store.shards)) == shard}
        assert len(seen) == len(set(seen)) == len(expected)  # all the same due time: ties page by key
        assert set(seen) == expected


def test_a_message_is_postponed_only_by_the_first_of_two_writers(dynamo_store, dynamo_settings, client, catalog, clock):
    ids = readers(dynamo_store, dynamo_settings, client, catalog, clock, 3, sent=False)
    due = clock.now() + CLAIM_TIMEOUT
    found = [m for s in dynamo_store.shards for m in dynamo_store.due_messages(s, due, 10)]
    assert sorted(m.claim.key for m in found) == sorted(map(delivery, ids))
    assert {m.status for m in found} == {MessageStatus.CLAIMED}
    first = found[0]
    assert dynamo_store.postpone_message(first, due + CLAIM_TIMEOUT)
    assert not dynamo_store.postpone_message(first, due + CLAIM_TIMEOUT)  # read before the first write
    assert dynamo_store.get_message(first.claim.key).due_at == due + CLAIM_TIMEOUT
    assert first.claim.key not in {
        m.claim.key for s in dynamo_store.shards for m in dynamo_store.due_messages(s, due, 10)
    }


# -- two sweeps at once -----------------------------------------------------------------------------


def test_two_sweeps_at_once_claim_and_queue_each_email_once(dynamo_store, dynamo_settings, client, catalog, clock):
    # Given 120 readers whose reminder is due, and 12 readers whose ebook's job was lost
    ids = readers(dynamo_store, dynamo_settings, client, catalog, clock, 120)
    lost = readers(dynamo_store, dynamo_settings, client, catalog, clock, 12, prefix="ld_lost", sent=False)
    clock.advance(days=2, minutes=1)
    # When two sweeps run at the same moment, each with its own threads
    queues = [LockedQueue(), LockedQueue()]
    sweeps = [Sweep(dynamo_store, catalog, q, clock, page_size=10) for q in queues]
    barrier = threading.Barrier(2)
    reports = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        reports[i] = sweeps[i].run()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every reminder and every lost job was queued exactly once, by one sweep or the other
    jobs = Counter(job.message_key for q in queues for job in q.jobs)
    # (the lost readers' reminders are due too: their enrollments moved on when the ebook was claimed)
    assert set(jobs) == {reminder(i) for i in ids + lost} | {delivery(i) for i in lost}
    assert set(jobs.values()) == {1}
    assert sum(r.claimed for r in reports) == 132
    assert sum(r.lost_jobs_requeued for r in reports) == 12
    # and each enrollment moved exactly once
    assert {dynamo_store.get_enrollment(i, "ebook-nurture").revision for i in ids + lost} == {2}
    print(f"\ntwo sweeps: {[r.as_dict() for r in reports]}")


# -- a real queue API: batches of 10 ----------------------------------------------------------------


@pytest.fixture
def sqs_queue() -> Iterator[tuple[object, str]]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    sqs = boto3.client("sqs", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    url = sqs.create_queue(QueueName="ripen-send")["QueueUrl"]
    yield sqs, url
    server.stop()


def test_send_jobs_reach_sqs_in_batches_of_ten(dynamo_store, dynamo_settings, client, catalog, clock, sqs_queue):
    sqs, url = sqs_queue
    batches: list[int] = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch", lambda params, **_: batches.append(len(params["Entries"]))
    )
    ids = readers(dynamo_store, dynamo_settings, client, catalog, clock, 25)
    clock.advance(days=2, minutes=1)
    report = Sweep(dynamo_store, catalog, SqsSendQueue(url, client=sqs), clock).run()
    assert (report.claimed, report.queued, report.not_queued) == (25, 25, 0)
    assert sorted(batches, reverse=True) == [10, 10, 5]
    received = []
    while len(received) < 25:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        received.extend(SendJob.model_validate_json(m["Body"]).message_key for m in answer.get("Messages", []))
        if not answer.get("Messages"):
            break
    assert sorted(received) == sorted(map(reminder, ids))
