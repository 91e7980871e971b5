"""The mailer as the sender uses it: SES v2 (on moto's server) and the outbox the unit tests use accept
and refuse the same emails, so a unit test passing on the outbox says something about SES."""

from __future__ import annotations

import email
import uuid
from email import policy
from typing import Any

import pytest

from ripen.ports.mailer import OutgoingEmail, RejectedError, SentEmail

EMAIL = OutgoingEmail(
    from_="Maya from Acme <maya@acme.example>",
    to="ana@example.com",
    subject="Your trial is ready",
    html="<p>Hi Ana</p>",
    text="Hi Ana\n",
    headers={"List-Unsubscribe": "<https://go.acme.example/unsubscribe?token=t>"},
    tags={"lead": "ld_abc", "step": "welcome"},
)


class Ses:
    """The SES v2 adapter on moto, the sending domain verified; `raw()` is what SES was given."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        from ripen.adapters.mailer import SesMailer

        self.client = boto3.client("sesv2", endpoint_url=endpoint, region_name="us-east-1")
        self.client.create_email_identity(EmailIdentity="acme.example")
        self.requests: list[dict[str, Any]] = []
        self.client.meta.events.register("provide-client-params.sesv2.SendEmail", self._keep)
        self.mailer = SesMailer(client=self.client)

    def _keep(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(params)

    def raw(self) -> list[bytes]:
        return [r["Content"]["Raw"]["Data"] for r in self.requests]


class Outbox:
    def __init__(self) -> None:
        from ripen_dev.fakes.mailer import OutboxMailer

        self.mailer = OutboxMailer()

    def raw(self) -> list[bytes]:
        return [sent.mime() for sent in self.mailer.emails]


@pytest.fixture(params=["outbox", pytest.param("ses", marks=pytest.mark.integration)])
def mail(request: pytest.FixtureRequest):
    return Outbox() if request.param == "outbox" else Ses(request.getfixturevalue("moto_endpoint"))


def test_a_sent_email_gets_an_id_of_its_own_that_engagement_events_will_name(mail):
    # When two emails are sent
    first, second = mail.mailer.send(EMAIL), mail.mailer.send(EMAIL)
    # Then each has an id, and they differ (SES events are matched to messages by it)
    assert isinstance(first, SentEmail)
    assert first.message_id
    assert first.message_id != second.message_id
    # And what was handed over is the complete message, with the headers ripen set
    parsed = email.message_from_bytes(mail.raw()[0], policy=policy.default)
    assert parsed["List-Unsubscribe"] == EMAIL.headers["List-Unsubscribe"]
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_a_header_with_a_line_break_is_refused_and_nothing_is_sent(mail):
    # Given an email whose subject would smuggle in a Bcc header
    bad = OutgoingEmail(EMAIL.from_, EMAIL.to, f"Hi\r\nBcc: {uuid.uuid4().hex}@example.com", EMAIL.html, EMAIL.text)
    # When it is sent, then it is refused as a rejection (never retried), and nothing went out
    with pytest.raises(RejectedError):
        mail.mailer.send(bad)
    assert mail.raw() == []
