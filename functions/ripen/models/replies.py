"""Amazon SES email receiving notifications (`notificationType: Received`) as a typed model: a reply to
an email ripen sent, arriving on the reply domain.

The receipt rule in template.yaml publishes the notification without the email's content (a Stop
action with a topic: an "alert" notification, `mail` with its headers and no `content`), so neither
the body nor a size limit is involved. Shape: the SES developer guide, "Contents of notifications for
Amazon SES email receiving"; samples in events/ses/receiving/ and events/sns/. Extra fields are
allowed everywhere, so a new SES field never makes a notification unreadable.

Only what matching needs is read: the inbound mail's id (one reply, one event), its timestamp, and
the `In-Reply-To` / `References` headers that carry the Message-ID of the email answered. SES gives
the emails it sends the Message-ID `<SES-MESSAGE-ID@email.amazonses.com>` (`@eu-west-1.amazonses.com`
and other region forms exist): the part before `@` is the SES message id ripen recorded.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# A Message-ID SES gave an email it sent: `<id@email.amazonses.com>` or `<id@REGION.amazonses.com>`.
_SES_MESSAGE_ID = re.compile(r"<([^<>@\s]+)@(?:[a-z0-9-]+\.)*amazonses\.com>", re.IGNORECASE)
REPLY_HEADERS = ("in-reply-to", "references")


class NotAReplyError(ValueError):
    """Not an SES receiving notification ripen can read (the reason never quotes the input)."""


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class MailHeader(_Open):
    name: str
    value: str


class ReceivedMail(_Open):
    timestamp: datetime
    message_id: str = Field(alias="messageId", min_length=1)
    headers_truncated: bool = Field(default=False, alias="headersTruncated")
    headers: list[MailHeader] = Field(default_factory=list)


class ReceivingNotification(_Open):
    notification_type: Literal["Received"] = Field(alias="notificationType")
    mail: ReceivedMail

    @property
    def inbound_id(self) -> str:
        """The id SES gave the inbound email: the same on a redelivery of the notification."""
        return self.mail.message_id

    @property
    def received_at(self) -> datetime:
        return self.mail.timestamp

    def answered_ses_ids(self) -> list[str]:
        """SES message ids of the emails this one answers: `In-Reply-To` first, then `References`
        from the latest to the oldest (a thread's last message is the one answered), no repeats."""
        found: list[str] = []
        for wanted in REPLY_HEADERS:
            for header in self.mail.headers:
                if header.name.lower() != wanted:
                    continue
                ids = _SES_MESSAGE_ID.findall(header.value)
                for ses_id in reversed(ids) if wanted == "references" else ids:
                    if ses_id not in found:
                        found.append(ses_id)
        return found


def notification_from_json(text: str) -> ReceivingNotification:
    """The notification in an SNS message; NotAReplyError for anything else."""
    try:
        return ReceivingNotification.model_validate_json(text)
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) or "(body)" for error in exc.errors()})
        raise NotAReplyError(f"not an SES receiving notification: {', '.join(fields)}") from None
