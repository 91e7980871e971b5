"""The hand-off reaches EventBridge (moto, server mode): a rule on the sales bus sees a
`Lead Sales Ready` event with the lead, the score, the stage and the engagement that led there."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ripen.adapters.bus import EventBridgeBus
from ripen.core.records import HANDOFF_GRACE, Lead, Message, MessageClaim, MessageStatus, handoff_claim
from ripen.core.state import Enrollment, HandOff, Status
from ripen.ports.bus import BusEvent
from ripen.services.handoffs import DETAIL_TYPE, SOURCE, HandOffs
from ripen_dev.fakes.metrics import MemoryMetrics
from ripen_dev.fakes.store import InMemoryStore
from tests.support.ids import lead_id_for

pytestmark = pytest.mark.integration
REGION = "us-east-1"
BUS = "ripen-sales"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture
def sales_queue(moto_url: str) -> str:
    """The sales bus with a rule sending every Lead Sales Ready event to a queue (as a CRM rule would)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    events, sqs = client("events", moto_url), client("sqs", moto_url)
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="crm")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
    events.put_rule(Name="to-crm", EventBusName=BUS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="to-crm", EventBusName=BUS, Targets=[{"Id": "crm", "Arn": queue_arn}])
    return queue_url


def received(moto_url: str, queue_url: str) -> list[dict[str, Any]]:
    messages = client("sqs", moto_url).receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_a_hand_off_is_put_on_the_sales_bus_once_and_marked_published(moto_url, sales_queue, clock):
    # Given an enrollment that just became sales-ready, with its outbox item stored
    store = InMemoryStore()
    lead = Lead(lead_id_for("ana@example.com"), "ana@example.com", clock.now(), name="Ana Lopez",
                attributes={"company": "Fernhill", "role": "cto"})  # fmt: skip
    assert store.create_lead(lead)
    ready = Enrollment(
        lead.lead_id, "trial-nurture", 1, status=Status.SALES_READY, stage="decision",
        engaged={"click:pricing": clock.now(), "click:any": clock.now(), "open:case-study": clock.now()},
    )  # fmt: skip
    claim = handoff_claim(ready, HandOff(score=51.3, stage="decision"), clock.now())
    store.messages[claim.key] = claimed(claim)
    bus = EventBridgeBus(BUS, REGION, client=client("events", moto_url))
    handoffs = HandOffs(store, bus, clock, MemoryMetrics())
    # When it is published
    assert handoffs.publish([claim]) == 1
    # Then the rule on the sales bus got one event naming the lead, the score and the stage
    [event] = received(moto_url, sales_queue)
    assert (event["source"], event["detail-type"]) == ("ripen", "Lead Sales Ready")
    detail = event["detail"]
    assert detail["handoff_id"] == f"{lead.lead_id}#trial-nurture#1#handoff"
    assert (detail["lead_id"], detail["email"], detail["name"]) == (lead.lead_id, "ana@example.com", "Ana Lopez")
    assert (detail["score"], detail["stage"], detail["sequence"]) == (51.3, "decision", "trial-nurture")
    assert detail["attributes"] == {"company": "Fernhill", "role": "cto"}
    assert {(e["event"], e["target"]) for e in detail["engagement"]} == {("click", "pricing"), ("open", "case-study")}
    # and the outbox item is done: the reconciler finds nothing to publish again
    assert store.get_message(claim.key).status is MessageStatus.SENT
    assert handoffs.publish_pending_handoffs(clock.now() + timedelta(hours=1)) == 0
    assert received(moto_url, sales_queue) == []


def test_a_lead_forgotten_before_its_hand_off_is_dropped(moto_url, sales_queue, clock):
    store = InMemoryStore()
    ready = Enrollment("ld_gone", "trial-nurture", 1, status=Status.SALES_READY, stage="decision")
    claim = handoff_claim(ready, HandOff(score=60, stage="decision"), clock.now())
    store.messages[claim.key] = claimed(claim)
    handoffs = HandOffs(store, EventBridgeBus(BUS, REGION, client=client("events", moto_url)), clock, MemoryMetrics())
    assert handoffs.publish_pending_handoffs(clock.now() + timedelta(minutes=5)) == 0
    message = store.get_message(claim.key)
    assert (message.status, message.error) == (MessageStatus.FAILED, "the lead no longer exists")
    assert received(moto_url, sales_queue) == []


def test_put_events_goes_out_in_batches_of_ten(moto_url, sales_queue):
    events_client = client("events", moto_url)
    calls: list[int] = []
    events_client.meta.events.register(
        "before-parameter-build.events.PutEvents", lambda params, **_: calls.append(len(params["Entries"]))
    )
    bus = EventBridgeBus(BUS, REGION, client=events_client)
    events = [BusEvent(SOURCE, DETAIL_TYPE, {"handoff_id": f"h{i}", "n": i}) for i in range(12)]
    assert bus.put(events) == []
    assert calls == [10, 2]
    got: list[dict[str, Any]] = []
    while batch := received(moto_url, sales_queue):
        got += batch
    assert sorted(e["detail"]["n"] for e in got) == list(range(12))


def claimed(claim: MessageClaim) -> Message:
    """The outbox item as the commit that made the enrollment sales-ready stores it."""
    return Message(claim=claim, due_at=claim.created_at + HANDOFF_GRACE)
