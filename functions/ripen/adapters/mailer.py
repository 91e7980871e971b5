"""Sending email: SES v2 in AWS, an in-memory outbox in tests and simulations.

`SesMailer` sends a complete MIME message (`Content.Raw`), so the headers ripen sets
(List-Unsubscribe, List-Unsubscribe-Post, Reply-To) travel exactly as built, and passes the
configuration set and the message tags with the call. SES errors become our own exceptions:

- TooManyRequests, LimitExceeded, Throttling (429) -> `ThrottledError`: the job goes back for later.
- SendingPaused, AccountSuspended, MailFromDomainNotVerified, NotFound -> `SendingStoppedError`:
  sending stops for a while and the alarm metric is raised.
- MessageRejected, BadRequest -> `RejectedError`: that message is marked failed, with the reason.
- the request went out but no answer came back (read timeout, connection dropped) ->
  `SendUncertainError`: SES may have accepted it, so it is not simply sent again (see
  `ripen.core.sending`: the message waits for SES's Send event, then is resent at most once).
- anything else (5xx, a connection that could not be made) -> `MailerUnavailableError`: the job
  goes back for later.

`SendEmail` is not idempotent, so the SES client never retries a call by itself (botocore would
retry a read timeout: a second email); ripen's own machinery decides what to retry.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any, Protocol

THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"})
STOPPED = frozenset(
    {"SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException", "NotFoundException"}
)
REJECTED = frozenset({"MessageRejected", "BadRequestException"})
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
# Long List-Unsubscribe URLs must not be folded or encoded: keep header lines up to RFC 5322's limit.
_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class OutgoingEmail:
    from_: str
    to: str
    subject: str
    html: str
    text: str
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    configuration_set: str | None = None

    def mime(self) -> bytes:
        """The complete message: multipart/alternative with the text first, then the HTML."""
        message = EmailMessage(policy=_POLICY)
        message["From"] = self.from_
        message["To"] = self.to
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message["Subject"] = self.subject
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_alternative(self.html, subtype="html", charset="utf-8", cte="quoted-printable")
        return message.as_bytes()


@dataclass(frozen=True)
class SentEmail:
    message_id: str  # the id SES returned: engagement events name the message by it


class MailerError(Exception):
    """Base of what a mailer raises. `code` is the provider's error code (no personal data)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class ThrottledError(MailerError):
    """Sending too fast or over the quota right now: try again later."""


class SendingStoppedError(MailerError):
    """The account cannot send at all (paused, suspended, domain not verified, configuration
    missing): every further send would fail the same way until a person fixes it."""


class RejectedError(MailerError):
    """This one message was refused; sending it again would be refused again."""


class MailerUnavailableError(MailerError):
    """A transient failure (network, server error): try again later."""


class SendUncertainError(MailerError):
    """The request reached SES but its answer was lost: the email may or may not have been accepted."""


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> SentEmail: ...


def redact(text: str) -> str:
    """Error texts sometimes quote addresses; never keep one in a reason, a log or a metric."""
    return _ADDRESS.sub("<address>", text)


def classify(code: str, message: str) -> MailerError:
    reason = redact(message)[:500]
    if code in THROTTLED:
        return ThrottledError(code, reason)
    if code in STOPPED:
        return SendingStoppedError(code, reason)
    if code in REJECTED:
        return RejectedError(code, reason)
    return MailerUnavailableError(code, reason)


class SesMailer:
    """SES v2 `SendEmail` with the raw MIME message, the configuration set and the message tags."""

    def __init__(self, region: str | None = None, client: Any = None) -> None:
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3  # lazy: only the sender pays for the client
            from botocore.config import Config

            # One attempt: a retried SendEmail whose first answer was lost is a second email.
            config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
            self._client = boto3.client("sesv2", region_name=self.region, config=config)
        return self._client

    def max_send_rate(self) -> float | None:
        """The account's maximum send rate in this region (emails per second), from `GetAccount`;
        None when SES cannot tell (no permission, no network)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            quota = self.client.get_account().get("SendQuota", {})
        except (ClientError, BotoCoreError):
            return None
        rate = quota.get("MaxSendRate")
        return float(rate) if rate else None

    def request(self, email: OutgoingEmail) -> dict[str, Any]:
        request: dict[str, Any] = {
            "FromEmailAddress": email.from_,
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": email.mime()}},
            "EmailTags": [{"Name": name, "Value": value} for name, value in email.tags.items()],
        }
        if email.reply_to:
            request["ReplyToAddresses"] = [email.reply_to]
        if email.configuration_set:
            request["ConfigurationSetName"] = email.configuration_set
        return request

    def send(self, email: OutgoingEmail) -> SentEmail:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

        try:
            request = self.request(email)
        except (ValueError, TypeError) as exc:  # e.g. a line break in a header: never sendable
            raise RejectedError("InvalidMessage", redact(str(exc))[:500]) from None
        try:
            response = self.client.send_email(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise classify(str(error.get("Code", "Unknown")), str(error.get("Message", ""))) from None
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            raise SendUncertainError(type(exc).__name__, redact(str(exc))[:500]) from None
        except BotoCoreError as exc:
            raise MailerUnavailableError(type(exc).__name__, redact(str(exc))[:500]) from None
        return SentEmail(str(response["MessageId"]))


class OutboxMailer:
    """Keeps every email instead of sending it. `fail_with(error)` makes the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[SentEmail, OutgoingEmail]] = []
        self.attempts = 0
        self._failures: list[MailerError] = []
        self._lock = threading.Lock()

    def fail_with(self, *errors: MailerError) -> None:
        with self._lock:
            self._failures.extend(errors)

    def send(self, email: OutgoingEmail) -> SentEmail:
        with self._lock:
            self.attempts += 1
            if self._failures:
                raise self._failures.pop(0)
            sent = SentEmail(f"outbox-{uuid.uuid4().hex}")
            self.sent.append((sent, email))
            return sent

    @property
    def emails(self) -> list[OutgoingEmail]:
        return [email for _, email in self.sent]

    def to(self, address: str) -> list[OutgoingEmail]:
        return [email for email in self.emails if email.to == address]
