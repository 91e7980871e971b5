"""Stand-ins for the SES sender (built elsewhere in ripen): each takes send jobs and records their
messages as sent the way the sender does (status `sent`, out of the due index), so scheduling
tests can run for weeks of moved clock without the claim timeout re-queuing every email."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ripen.core.engagement import MessageRef
from ripen.core.records import Message, MessageStatus
from ripen.ports.clock import Clock
from ripen.ports.queue import SendJob
from ripen_dev.fakes.store import InMemoryStore


class MemorySender:
    def __init__(self, store: InMemoryStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.jobs: Counter[str] = Counter()  # every job seen, by message key
        self.sent: dict[str, datetime] = {}

    def deliver(self, jobs: Iterable[SendJob]) -> None:
        for job in jobs:
            self.jobs[job.message_key] += 1
            message = self.store.messages[job.message_key]
            if message.status is MessageStatus.CLAIMED:
                now = self.clock.now()
                self.store.messages[job.message_key] = replace(
                    message, status=MessageStatus.SENT, due_at=None, sent_at=now
                )
                self.sent[job.message_key] = now


class DynamoSender:
    """The same on DynamoDB: reads the jobs' messages with BatchGetItem and writes them back as sent
    with BatchWriteItem (a few requests per hundred emails, so big runs stay fast)."""

    def __init__(self, client: Any, table: str, clock: Clock) -> None:
        self.client = client
        self.table = table
        self.clock = clock
        self.jobs: Counter[str] = Counter()
        self.sent: dict[str, datetime] = {}

    def deliver(self, jobs: Iterable[SendJob]) -> None:
        keys = []
        for job in jobs:
            self.jobs[job.message_key] += 1
            keys.append(job.message_key)
        now = self.clock.now()
        for start in range(0, len(keys), 100):
            wanted = [{"message_key": {"S": k}} for k in dict.fromkeys(keys[start : start + 100])]
            items = self._get(wanted)
            writes = []
            for item in items:
                if item["status"]["S"] != MessageStatus.CLAIMED.value:
                    continue
                item = {k: v for k, v in item.items() if k not in ("due_shard", "due_at")}
                item["status"] = {"S": MessageStatus.SENT.value}
                item["sent_at"] = {"S": now.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")}
                writes.append({"PutRequest": {"Item": item}})
                self.sent[item["message_key"]["S"]] = now
            for chunk in range(0, len(writes), 25):
                requests = writes[chunk : chunk + 25]
                while requests:
                    answer = self.client.batch_write_item(RequestItems={self.table: requests})
                    requests = answer.get("UnprocessedItems", {}).get(self.table, [])

    def _get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = self.client.batch_get_item(RequestItems=request)
            items.extend(answer["Responses"].get(self.table, []))
            request = answer.get("UnprocessedKeys") or {}
        return items


def take_lease(store: Any, key: str, now: datetime, lease: timedelta = timedelta(minutes=5)) -> Message:
    """Take the send lease on `key` the way the sender does (the message, lead and enrollment as
    read; a nurture email takes its place on the lead): what a sender that is about to die has done."""
    ref = MessageRef.parse(key)
    assert ref is not None
    context = store.send_context(key, ref.lead_id, ref.sequence)
    assert context.message is not None
    leased = store.lease_message(context.message, now, now + lease, context.lead)
    assert leased is not None, "the lease was not free"
    return leased
