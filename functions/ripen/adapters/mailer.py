"""Sending email: SES v2 in AWS, an in-memory outbox in tests and simulations.

`SesMailer` sends a complete MIME message (`Content.Raw`), so the headers ripen sets
(List-Unsubscribe, List-Unsubscribe-Post, Reply-To) travel exactly as built, and passes the
configuration set and the message tags with the call. SES errors become our own exceptions:

- TooManyRequests, LimitExceeded, Throttling (429) -> `ThrottledError`: the job goes back for later.
- SendingPaused, AccountSuspended, MailFromDomainNotVerified, NotFound -> `SendingStoppedError`:
  sending stops for a while and the alarm metric is raised.
- MessageRejected, BadRequest -> `RejectedError`: that message is marked failed, with the reason.
  A MessageRejected "Email address is not verified" that names the recipient (the SES sandbox:
  only verified recipients) -> `SandboxRejectedError`, so it is reported as the sandbox, not a failure.
- the request reached SES but no clear answer came back (a 5xx, RequestTimeout, a read timeout,
  the connection dropped after the request was written) -> `SendUncertainError`: SES may have
  accepted it, so it is not simply sent again (see `ripen.core.sending`: the message waits for
  SES's Send event, then is resent at most once).
- anything else (a connection that could not be made, an unexpected 4xx) ->
  `MailerUnavailableError`: nothing reached SES; the job goes back for later.

`SendEmail` is not idempotent, so the SES client never retries a call by itself (botocore would
retry a read timeout: a second email); ripen's own machinery decides what to retry.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from ripen.adapters.aws import client
from ripen.ports.mailer import (
    ADDRESS,
    MailerError,
    MailerUnavailableError,
    OutgoingEmail,
    RejectedError,
    SandboxRejectedError,
    SendingStoppedError,
    SendUncertainError,
    SentEmail,
    ThrottledError,
    raw_message,
    redact,
)

THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"})
STOPPED = frozenset(
    {"SendingPausedException", "AccountSuspendedException", "MailFromDomainNotVerifiedException", "NotFoundException"}
)
REJECTED = frozenset({"MessageRejected", "BadRequestException"})
# SES failed while handling the request: it may have accepted the email before failing.
UNCERTAIN = frozenset({"RequestTimeout", "RequestTimeoutException"})


def classify(code: str, message: str, status: int | None = None, recipient: str | None = None) -> MailerError:
    reason = redact(message)[:500]
    if code == "MessageRejected" and recipient and _unverified_recipient(message, recipient):
        return SandboxRejectedError(code, reason)
    if code in THROTTLED:
        return ThrottledError(code, reason)
    if code in STOPPED:
        return SendingStoppedError(code, reason)
    if code in REJECTED:
        return RejectedError(code, reason)
    if code in UNCERTAIN or (status is not None and status >= 500):
        return SendUncertainError(code, reason)
    return MailerUnavailableError(code, reason)


def _unverified_recipient(message: str, recipient: str) -> bool:
    """Whether SES refused `recipient` as an unverified identity: what the sandbox does. (An
    unverified From address gets the same words but names the sender only.)"""
    address = parseaddr(recipient)[1].lower()
    text = message.lower()
    named = {found.rstrip(".") for found in ADDRESS.findall(text)}
    return bool(address) and "not verified" in text and address in named


class SesMailer:
    """SES v2 `SendEmail` with the raw MIME message, the configuration set and the message tags."""

    def __init__(self, region: str | None = None, client: Any = None) -> None:
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:  # made on first use: only the sender pays for it
            # Never retried: a retried SendEmail whose first answer was lost is a second email.
            self._client = client("sesv2", self.region, retries=0)
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
            "Content": {"Raw": {"Data": raw_message(email)}},
            "EmailTags": [{"Name": name, "Value": value} for name, value in email.tags.items()],
        }
        if email.reply_to:
            request["ReplyToAddresses"] = [email.reply_to]
        if email.configuration_set:
            request["ConfigurationSetName"] = email.configuration_set
        return request

    def send(self, email: OutgoingEmail) -> SentEmail:
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError

        request = self.request(email)  # an email that cannot be built is rejected before any call
        try:
            response = self.client.send_email(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code, message = str(error.get("Code", "Unknown")), str(error.get("Message", ""))
            raise classify(code, message, status, email.to) from None
        except HTTPClientError as exc:  # read timeout, connection closed or reset: after the request was written
            raise SendUncertainError(type(exc).__name__, redact(str(exc))[:500]) from None
        except BotoCoreError as exc:
            raise MailerUnavailableError(type(exc).__name__, redact(str(exc))[:500]) from None
        return SentEmail(str(response["MessageId"]))
