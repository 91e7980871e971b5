"""The sender against real engines: DynamoDB Local for state, moto's SES (server mode) for sending."""

from __future__ import annotations

import email
import urllib.request
from collections.abc import Iterator
from email import policy
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer
from moto.ses.models import ses_backends

from ripen.adapters.mailer import SesMailer
from ripen.adapters.tables import MessageItem
from ripen.core.records import MessageStatus, message_key
from ripen.services.sender import Outcome
from tests.support.mailstack import make_stack

pytestmark = pytest.mark.integration
REGION = "us-east-1"


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
    client.create_configuration_set(ConfigurationSetName="ripen-nurture")
    requests: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: requests.append(params))
    client.requests = requests  # what went over the wire, for the assertions
    return client


def sent_by_moto() -> list[Any]:
    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_the_sender_sends_through_ses_with_headers_and_tags_and_records_the_ses_id(dynamo_store, catalog, clock, ses):
    # Given a verified sending domain and a lead who just entered the trial
    ses.create_email_identity(EmailIdentity="acme.example")
    stack = make_stack(dynamo_store, clock, catalog, mailer=SesMailer(client=ses))
    lead = stack.signup("ana@example.com", name="Ana Lopez")
    # When the sender works through the queue
    assert stack.send_queued() == [Outcome.SENT]
    # Then SES got one raw message with the compliance headers
    [raw] = sent_by_moto()
    parsed = email.message_from_string(raw.raw_data, policy=policy.default)
    assert parsed["Subject"] == "Your Acme Insights trial is ready"
    assert parsed["From"] == "Maya from Acme <maya@acme.example>"
    assert parsed["To"] == "ana@example.com"
    assert parsed["List-Unsubscribe"].startswith("<https://go.acme.example/unsubscribe?token=")
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # with the configuration set and the message tags in the request
    [request] = ses.requests
    assert request["ConfigurationSetName"] == "ripen-nurture"
    key = message_key(lead.lead_id, "trial-nurture", 1, "welcome")
    assert {t["Name"]: t["Value"] for t in request["EmailTags"]}["message"] == key.replace("#", ".")
    # And the message item holds the id SES returned, findable the way engagement events look it up
    message = stack.message(key)
    assert (message.status, message.ses_message_id) == (MessageStatus.SENT, raw.id)
    [found] = list(MessageItem.by_ses_id.query(raw.id))
    assert found.message_key == key
    assert stack.store.get_lead(lead.lead_id).recent_emails == (clock.now(),)


def test_a_message_ses_rejects_is_failed_with_the_reason(dynamo_store, catalog, clock, ses):
    # Given a sending domain that was never verified
    stack = make_stack(dynamo_store, clock, catalog, mailer=SesMailer(client=ses))
    lead = stack.signup("ana@example.com")
    # When the sender tries
    assert stack.send_queued() == [Outcome.FAILED]
    # Then nothing went out and the message says why, for good
    assert sent_by_moto() == []
    message = stack.message(message_key(lead.lead_id, "trial-nurture", 1, "welcome"))
    assert message.status is MessageStatus.FAILED
    assert message.error.startswith("SES rejected it (MessageRejected): Did not have authority to send from email")
    assert "maya@acme.example" not in message.error
    assert message.due_at is None  # out of the due index: the sweep will not pick it up again
