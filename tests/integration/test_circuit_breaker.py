"""The circuit breaker on real engines (DynamoDB Local for state and the Sending table, moto's SES
for sending): a bad import of 1,000 addresses with 8 % hard bounces trips it before 5 % of the
account's emails bounce; every queued email is held; after the list is cleaned and sending resumed,
every held email goes out once and none is lost. Prints the figures the README quotes."""

from __future__ import annotations

import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from ripen.adapters.mailer import SesMailer
from ripen.adapters.sending import DynamoSendingControl, SesAccountClient
from ripen.app import use
from ripen.core.records import MessageStatus, message_key
from ripen.core.reputation import ALL, OPERATOR, Counts, hour_of
from ripen.handlers import engagement as engagement_handler
from ripen.ports.errors import RetryLaterError
from ripen.services.reputation import resume
from ripen.services.sender import Outcome
from ripen_dev.local import cfn, resources
from ripen_dev.local.http import LambdaContext
from ripen_dev.local.ses_account import install
from tests.conftest import REPO
from tests.support.mailstack import Stack, make_stack
from tests.support.ses_events import event_about, sqs_batch

pytestmark = pytest.mark.integration
REGION = "us-east-1"
IMPORTED = 1_000
PER_TICK = 50  # emails a sender gets through in 5 seconds at SES's 14 per second, roughly
CONFIGURATION_SET = "ripen-nurture"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ses(moto_url: str) -> Any:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    client = boto3.client(
        "sesv2", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    client.create_email_identity(EmailIdentity="acme.example")
    install(client)
    return client


@pytest.fixture
def sending_table(dynamodb_endpoint: str) -> DynamoSendingControl:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name=REGION)
    template = cfn.load_template(REPO / "template.yaml")
    only = {"Resources": {"SendingTable": template["Resources"]["SendingTable"]}}
    names = resources.create_tables(client, only, prefix=f"t{uuid.uuid4().hex[:8]}-", expire_items=False)
    return DynamoSendingControl(names["SendingTable"], REGION, dynamodb_endpoint)


def bounces(i: int) -> bool:
    return i % 25 < 2  # 8 % of the import: 80 addresses


def sent_by_moto() -> Counter[str]:
    messages = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return Counter(to for m in messages for to in set(m.destinations))  # raw: the envelope and the To header


def deliver_events(stack: Stack, events: list[dict[str, Any]]) -> None:
    """SES's events reach the engagement function in SQS batches of up to 100, as deployed."""
    for start in range(0, len(events), 100):
        result = engagement_handler.handler(sqs_batch(*events[start : start + 100]), LambdaContext())
        assert result["batchItemFailures"] == []


def test_a_bad_import_trips_the_breaker_before_ses_would_review_and_resuming_loses_nothing(
    dynamo_store, catalog, clock, ses, sending_table, capsys
):
    stack = make_stack(
        dynamo_store,
        clock,
        catalog,
        mailer=SesMailer(client=ses),
        sending=sending_table,
        ses_account=SesAccountClient(REGION, client=ses),
    )
    use(stack.app)
    try:
        # Given an account with a healthy last day: 4,000 emails, 0.5 % hard bounces (as counted then)
        for ago in range(1, 21):
            at = clock.now() - timedelta(hours=ago)
            kept = clock.now() + timedelta(days=8)
            sending_table.add_counts({(ALL, hour_of(at)): Counts(sends=200, bounces=1)}, kept)
        # and a bad import: 1,000 addresses into the trial sequence, 8 % of them bouncing hard
        leads = [stack.signup(f"imported{i}@example.com") for i in range(IMPORTED)]
        bad = {lead.lead_id for i, lead in enumerate(leads) if bounces(i)}
        key = {lead.lead_id: message_key(lead.lead_id, "trial-nurture", 1, "welcome") for lead in leads}

        # When the senders work through the queue, 50 emails per 5 seconds, SES reporting each send
        # at once and each bounce 5 seconds later, the engagement function counting every batch
        sent_before_trip, handed_back, tripped_after = 0, 0, None
        bounces_due: list[Any] = []
        while stack.queue.jobs or bounces_due:
            jobs, stack.queue.jobs = stack.queue.jobs[:PER_TICK], stack.queue.jobs[PER_TICK:]
            sent_now = []
            for job in jobs:
                try:
                    outcome = stack.app.sender.send(job)
                except RetryLaterError:  # SES refused (sending switched off): handed back to the queue
                    handed_back += 1
                    continue
                if outcome is Outcome.SENT:
                    sent_now.append(stack.message(job.message_key))
            sent_before_trip += len(sent_now)
            events = [event_about(m, "send", at=clock.now()) for m in sent_now]
            events += [event_about(m, "bounce-permanent", at=clock.now()) for m in bounces_due]
            deliver_events(stack, events)
            bounces_due = [m for m in sent_now if m.claim.lead_id in bad]
            if tripped_after is None and sending_table.holds():
                tripped_after = sent_before_trip
            clock.advance(seconds=5)

        # Then the breaker tripped, account-wide, naming the sequence, and switched SES sending off
        [hold] = sending_table.holds()
        assert (hold.scope, hold.by, hold.paused_ses) == (ALL, "breaker", True)
        assert hold.detail["sequence"] == "trial-nurture"
        assert ses.get_configuration_set(ConfigurationSetName=CONFIGURATION_SET)["SendingOptions"] == {
            "SendingEnabled": False
        }
        assert stack.metrics.counts["SendingBreakerTripped"] == 1
        # before 5 % of the account's emails bounced (the last 24 hours, as SES would count them)
        day = sum(sending_table.counts(ALL, hour_of(clock.now() - timedelta(hours=23))).values(), Counts())
        assert day.bounce_rate < 0.05
        by_address = sent_by_moto()
        bounced_import = sum(1 for lead in leads if lead.lead_id in bad and by_address[lead.email])

        # and for the next half hour every email stays held: nothing sent, nothing failed
        held_outcomes = Counter()
        for _ in range(30):
            stack.app.sweep.run()
            for job in stack.queue.drain():
                try:
                    held_outcomes[stack.app.sender.send(job)] += 1
                except RetryLaterError:
                    held_outcomes["handed back"] += 1
            clock.advance(minutes=1)
        assert Outcome.SENT not in held_outcomes
        assert Outcome.FAILED not in held_outcomes
        statuses = Counter(stack.message(k).status for k in key.values())
        held = statuses[MessageStatus.CLAIMED]
        assert statuses[MessageStatus.SENT] == sent_before_trip
        assert held + sent_before_trip == IMPORTED

        # When the operator takes the rest of the bad addresses out of the sequence, and resumes
        removed = 0
        for lead in leads:
            if lead.lead_id in bad and stack.message(key[lead.lead_id]).status is MessageStatus.CLAIMED:
                assert stack.app.preferences.leave(lead.lead_id, "trial-nurture").changed
                removed += 1
        assert resume(sending_table, stack.app.ses_account, CONFIGURATION_SET, ALL, clock.now(), OPERATOR)
        # Then SES sending is on again, and within the next 20 minutes every held email is sent or skipped
        assert ses.get_configuration_set(ConfigurationSetName=CONFIGURATION_SET)["SendingOptions"] == {
            "SendingEnabled": True
        }
        sent_after = 0
        for _ in range(20):
            stack.app.sweep.run()
            for job in stack.queue.drain():
                if stack.app.sender.send(job) is Outcome.SENT:
                    sent_after += 1
            clock.advance(minutes=1)
        statuses = Counter(stack.message(k).status for k in key.values())
        lost = IMPORTED - statuses[MessageStatus.SENT] - statuses[MessageStatus.SKIPPED]
        # every good address got its email exactly once, no one got two, nothing is lost
        by_address = sent_by_moto()
        assert max(by_address.values()) == 1
        assert all(by_address[lead.email] == 1 for lead in leads if lead.lead_id not in bad)
        assert statuses[MessageStatus.SKIPPED] == removed
        assert sent_after == held - removed
        assert lost == 0
        assert sending_table.holds() == []
    finally:
        use(None)

    with capsys.disabled():
        print(
            f"\ncircuit breaker, bad import of {IMPORTED} with 8% hard bounces: tripped after {tripped_after} sent "
            f"({bounced_import} of them bounced); sent before the hold reached every sender: {sent_before_trip}; "
            f"account's 24-hour bounce rate at the trip {day.bounce_rate:.2%}; held: {held} "
            f"({handed_back} handed back by SES's switch); removed by the operator: {removed}; "
            f"sent after resume: {sent_after}; lost: {lost}"
        )
