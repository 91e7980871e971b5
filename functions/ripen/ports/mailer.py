"""The mailer port: the email to send, what came back, and the errors every mailer raises."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Protocol

ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


# Long List-Unsubscribe URLs must not be folded or encoded: keep header lines up to RFC 5322's limit.
MIME_POLICY = policy.SMTP.clone(max_line_length=998)
# Bodies are quoted-printable with lines of at most 76 characters (RFC 2045 6.7): longer lines are
# flagged by spam filters (MIME_QP_LONG_LINE) and rewrapped or refused by strict gateways.
BODY_POLICY = policy.SMTP.clone(max_line_length=76)


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
        message = EmailMessage(policy=BODY_POLICY)
        message["From"] = self.from_
        message["To"] = self.to
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message["Subject"] = self.subject
        for name, value in self.headers.items():
            if not name.lower().startswith("content-"):
                message[name] = value
        message.set_content(self.text, subtype="plain", charset="utf-8", cte="quoted-printable")
        message.add_alternative(self.html, subtype="html", charset="utf-8", cte="quoted-printable")
        for name, value in self.headers.items():  # after the content, which clears every Content-* header
            if name.lower().startswith("content-"):
                message[name] = value
        return message.as_bytes(policy=MIME_POLICY)  # headers keep their own, longer limit


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


class SandboxRejectedError(RejectedError):
    """SES refused it because the account is in the SES sandbox and the recipient is not a verified
    address: not the message's fault, and every unverified recipient is refused the same way until
    the account has production access."""


class MailerUnavailableError(MailerError):
    """A transient failure (network, server error): try again later."""


class SendUncertainError(MailerError):
    """The request reached SES but its answer was lost: the email may or may not have been accepted."""


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> SentEmail: ...


def raw_message(email: OutgoingEmail) -> bytes:
    """The MIME bytes every mailer hands over; an email that cannot be built (a line break in a
    header, say) is a `RejectedError`: it would never be sendable, so it is never retried."""
    try:
        return email.mime()
    except (ValueError, TypeError) as exc:
        raise RejectedError("InvalidMessage", redact(str(exc))[:500]) from None


def redact(text: str) -> str:
    """Error texts sometimes quote addresses; never keep one in a reason, a log or a metric."""
    return ADDRESS.sub("<address>", text)
