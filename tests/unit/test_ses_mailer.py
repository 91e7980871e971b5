"""The SES v2 adapter against botocore's Stubber: the request SES gets and every error class."""

from __future__ import annotations

import email
from email import policy

import boto3
import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.stub import ANY, Stubber

from ripen.adapters.mailer import SesMailer
from ripen.ports.mailer import (
    MailerUnavailableError,
    OutgoingEmail,
    RejectedError,
    SandboxRejectedError,
    SendingStoppedError,
    SendUncertainError,
    ThrottledError,
)

OUTGOING = OutgoingEmail(
    from_="Maya from Acme <maya@acme.example>",
    to="ana@example.com",
    subject="Your trial is ready",
    html="<p>Hi Ana</p>",
    text="Hi Ana\n",
    reply_to="Acme Success <success@acme.example>",
    headers={
        "List-Unsubscribe": "<https://go.acme.example/unsubscribe?token=" + "a" * 200 + ".sig>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
    tags={"lead": "ld_abc", "message": "ld_abc.trial-nurture.1.welcome"},
    configuration_set="ripen-nurture",
)


@pytest.fixture
def ses():
    client = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def test_the_request_carries_the_raw_message_configuration_set_and_tags(ses):
    client, stubber = ses
    expected = {
        "FromEmailAddress": "Maya from Acme <maya@acme.example>",
        "Destination": {"ToAddresses": ["ana@example.com"]},
        "ReplyToAddresses": ["Acme Success <success@acme.example>"],
        "Content": {"Raw": {"Data": ANY}},
        "EmailTags": [
            {"Name": "lead", "Value": "ld_abc"},
            {"Name": "message", "Value": "ld_abc.trial-nurture.1.welcome"},
        ],
        "ConfigurationSetName": "ripen-nurture",
    }
    stubber.add_response("send_email", {"MessageId": "0100018f-ses-id"}, expected)
    sent = SesMailer(client=client).send(OUTGOING)
    assert sent.message_id == "0100018f-ses-id"
    stubber.assert_no_pending_responses()


def test_long_list_unsubscribe_urls_travel_unfolded_and_unencoded():
    raw = OUTGOING.mime()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe"] == OUTGOING.headers["List-Unsubscribe"]
    line = next(x for x in raw.decode().splitlines() if x.startswith("List-Unsubscribe:"))
    assert line == "List-Unsubscribe: " + OUTGOING.headers["List-Unsubscribe"]
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_a_header_value_with_a_line_break_is_refused_before_anything_reaches_ses(ses):
    client, _ = ses  # no response queued: a call to SES would fail the test
    bad = OutgoingEmail("a@acme.example", "b@example.com", "Hi\r\nBcc: victim@example.com", "<p>x</p>", "x")
    with pytest.raises(ValueError, match=r"linefeed|carriage"):
        bad.mime()
    with pytest.raises(RejectedError) as caught:
        SesMailer(client=client).send(bad)
    assert caught.value.code == "InvalidMessage"


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("TooManyRequestsException", 429, ThrottledError),
        ("LimitExceededException", 400, ThrottledError),
        ("SendingPausedException", 400, SendingStoppedError),
        ("AccountSuspendedException", 400, SendingStoppedError),
        ("MailFromDomainNotVerifiedException", 400, SendingStoppedError),
        ("NotFoundException", 404, SendingStoppedError),
        ("MessageRejected", 400, RejectedError),
        ("BadRequestException", 400, RejectedError),
        # SES failed after the request reached it: it may have accepted the email (issue 13.8)
        ("InternalFailure", 500, SendUncertainError),
        ("ServiceUnavailable", 503, SendUncertainError),
        ("RequestTimeout", 408, SendUncertainError),
        ("AccessDeniedException", 403, MailerUnavailableError),
    ],
)
def test_each_ses_error_becomes_the_error_the_sender_acts_on(ses, code, status, raised):
    client, stubber = ses
    message = "Email address is not verified. The following identities failed the check: ana@example.com"
    stubber.add_client_error("send_email", code, message, http_status_code=status)
    with pytest.raises(raised) as caught:
        SesMailer(client=client).send(OUTGOING)
    assert caught.value.code == code
    assert "ana@example.com" not in str(caught.value)  # never an address in a reason, log or metric


@pytest.mark.parametrize(
    ("message", "raised"),
    [
        # the sandbox: SES names the recipient it would not email
        (
            "Email address is not verified. The following identities failed the check in region US-EAST-1: "
            "Ana@Example.com",
            SandboxRejectedError,
        ),
        # an unverified From address: the same words, but the sender named; a plain rejection
        (
            "Email address is not verified. The following identities failed the check in region US-EAST-1: "
            "maya@acme.example",
            RejectedError,
        ),
        ("Illegal address", RejectedError),
    ],
)
def test_only_a_recipient_refused_as_unverified_is_the_sandbox(ses, message, raised):
    # Given SES refusing the send with MessageRejected
    client, stubber = ses
    stubber.add_client_error("send_email", "MessageRejected", message, http_status_code=400)
    # When the adapter sends the email to ana@example.com
    with pytest.raises(RejectedError) as caught:
        SesMailer(client=client).send(OUTGOING)
    # Then only the refusal naming the recipient is told apart as the sandbox
    assert type(caught.value) is raised
    assert "example.com" not in caught.value.reason.lower()


class Failing:
    """A client whose SendEmail fails with a botocore error before any answer arrived."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send_email(self, **_: object) -> dict[str, str]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        # the request was written, then the connection dropped or the answer never came: in doubt
        (ConnectionClosedError(endpoint_url="https://email.us-east-1.amazonaws.com"), SendUncertainError),
        (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), SendUncertainError),
        (HTTPClientError(error="connection reset by peer"), SendUncertainError),
        # no connection was ever made: certainly not sent, try again later
        (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), MailerUnavailableError),
        (ConnectTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), MailerUnavailableError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_a_failure_after_the_request_left_is_in_doubt_and_one_before_it_is_not(error, raised):
    # Given SES's endpoint failing the way `error` does
    # When the email is sent
    with pytest.raises(raised):
        SesMailer(client=Failing(error)).send(OUTGOING)
    # Then only a failure that may hide an accepted send waits for SES's Send event (never a blind resend)
