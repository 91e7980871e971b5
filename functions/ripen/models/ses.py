"""Amazon SES event publishing records (eventType Send, Delivery, Bounce, ... ) as typed models,
and the ways they reach the engagement function.

Formats follow the SES developer guide; `mail.headers`/`commonHeaders` are absent from Rendering
Failure and DeliveryDelay records, `mail.sourceArn` from the Open/Click examples: both optional.
Extra fields are allowed everywhere, so a new SES field never makes a record unreadable.

A record arrives in one of these envelopes (Powertools parser models read each one):
- an EventBridge event (`source: aws.ses`, the record in `detail`): a configuration set event
  destination to EventBridge, delivered to the function or to its queue;
- an SNS notification (the record as a JSON string in `Message`): an event destination to SNS,
  the topic delivering to the function (`Records[].Sns`) or to its queue (the notification as the
  SQS body);
- the record itself (an SNS subscription with raw message delivery to the queue).

Whatever is not a usable record (not JSON, an unknown eventType, a legacy identity notification
with `notificationType`, a record missing what it needs) raises `NotAnEventError` with a reason
that never quotes the input: the caller logs it and skips the record, it is never retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Union

from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    SnsModel,
    SnsNotificationModel,
    SqsModel,
)
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ripen.core.records import EventKind

SOURCE = "aws.ses"
EVENT_TYPES = (
    "Send",
    "Delivery",
    "Bounce",
    "Complaint",
    "Reject",
    "Open",
    "Click",
    "Rendering Failure",
    "DeliveryDelay",
    "Subscription",
)
# EventBridge detail-types of the SES email events (the rule in template.yaml lists the same).
DETAIL_TYPES = (
    "Email Sent",
    "Email Delivered",
    "Email Bounced",
    "Email Complaint Received",
    "Email Rejected",
    "Email Opened",
    "Email Clicked",
    "Email Rendering Failed",
    "Email Delivery Delayed",
    "Email Subscribed",
)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S.") + f"{at.microsecond // 1000:03d}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Header(_Model):
    name: str
    value: str


class Mail(_Model):
    timestamp: datetime
    message_id: str = Field(alias="messageId", min_length=1)
    source: str | None = None
    source_arn: str | None = Field(default=None, alias="sourceArn")
    sending_account_id: str | None = Field(default=None, alias="sendingAccountId")
    destination: list[str] = Field(default_factory=list)
    headers_truncated: bool | None = Field(default=None, alias="headersTruncated")
    headers: list[Header] | None = None
    common_headers: dict[str, Any] | None = Field(default=None, alias="commonHeaders")
    tags: dict[str, list[str]] = Field(default_factory=dict)

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name)
        return values[0] if values else None


class Recipient(_Model):
    email_address: str = Field(alias="emailAddress")
    action: str | None = None
    status: str | None = None
    diagnostic_code: str | None = Field(default=None, alias="diagnosticCode")


class Bounce(_Model):
    bounce_type: Literal["Permanent", "Transient", "Undetermined"] = Field(alias="bounceType")
    bounce_sub_type: str = Field(alias="bounceSubType")
    bounced_recipients: list[Recipient] = Field(alias="bouncedRecipients")
    timestamp: datetime
    feedback_id: str | None = Field(default=None, alias="feedbackId")


class Complaint(_Model):
    complained_recipients: list[Recipient] = Field(alias="complainedRecipients")
    timestamp: datetime
    feedback_id: str | None = Field(default=None, alias="feedbackId")
    complaint_feedback_type: str | None = Field(default=None, alias="complaintFeedbackType")
    complaint_sub_type: str | None = Field(default=None, alias="complaintSubType")


class Delivery(_Model):
    timestamp: datetime
    recipients: list[str] = Field(default_factory=list)
    processing_time_millis: int | None = Field(default=None, alias="processingTimeMillis")
    smtp_response: str | None = Field(default=None, alias="smtpResponse")


class Reject(_Model):
    reason: str


class Open(_Model):
    timestamp: datetime
    ip_address: str | None = Field(default=None, alias="ipAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")


class Click(_Model):
    timestamp: datetime
    link: str
    link_tags: dict[str, list[str]] = Field(default_factory=dict, alias="linkTags")
    ip_address: str | None = Field(default=None, alias="ipAddress")
    user_agent: str | None = Field(default=None, alias="userAgent")

    @property
    def link_name(self) -> str | None:
        """The name a template gave the link (`{ link=pricing }` becomes the SES link tag link:pricing)."""
        values = self.link_tags.get("link")
        return values[0] if values else None


class RenderingFailure(_Model):
    error_message: str = Field(alias="errorMessage")
    template_name: str | None = Field(default=None, alias="templateName")


class DeliveryDelay(_Model):
    timestamp: datetime
    delay_type: str = Field(alias="delayType")
    delayed_recipients: list[Recipient] = Field(default_factory=list, alias="delayedRecipients")
    expiration_time: datetime | None = Field(default=None, alias="expirationTime")


class TopicStatus(_Model):
    topic_name: str = Field(alias="topicName")
    subscription_status: str = Field(alias="subscriptionStatus")


class TopicPreferences(_Model):
    unsubscribe_all: bool = Field(default=False, alias="unsubscribeAll")
    topic_subscription_status: list[TopicStatus] = Field(default_factory=list, alias="topicSubscriptionStatus")


class Subscription(_Model):
    contact_list: str | None = Field(default=None, alias="contactList")
    timestamp: datetime
    source: str | None = None
    new_topic_preferences: TopicPreferences = Field(alias="newTopicPreferences")
    old_topic_preferences: TopicPreferences | None = Field(default=None, alias="oldTopicPreferences")

    @property
    def opted_out_of(self) -> list[str]:
        """Topics opted out of by this change (out now, not out before)."""
        old = self.old_topic_preferences.topic_subscription_status if self.old_topic_preferences else []
        before = {t.topic_name for t in old if t.subscription_status == "OptOut"}
        now = self.new_topic_preferences.topic_subscription_status
        return [t.topic_name for t in now if t.subscription_status == "OptOut" and t.topic_name not in before]


class _Record(_Model):
    mail: Mail
    kind: ClassVar[EventKind]

    @property
    def occurred_at(self) -> datetime:
        """When the event itself happened (the send time for Send/Reject/Rendering Failure)."""
        return self.mail.timestamp

    @property
    def key(self) -> str:
        """What makes this event itself, the same whichever way it arrived (SNS, EventBridge, a
        retry): its type and, where a message can have several, the time SES gives it."""
        return self.kind


class SendRecord(_Record):
    event_type: Literal["Send"] = Field(alias="eventType")
    send: dict[str, Any] = Field(default_factory=dict)
    kind: ClassVar[EventKind] = "send"


class DeliveryRecord(_Record):
    event_type: Literal["Delivery"] = Field(alias="eventType")
    delivery: Delivery
    kind: ClassVar[EventKind] = "delivery"

    @property
    def occurred_at(self) -> datetime:
        return self.delivery.timestamp


class BounceRecord(_Record):
    event_type: Literal["Bounce"] = Field(alias="eventType")
    bounce: Bounce
    kind: ClassVar[EventKind] = "bounce"

    @property
    def occurred_at(self) -> datetime:
        return self.bounce.timestamp

    @property
    def key(self) -> str:
        return f"bounce@{_stamp(self.bounce.timestamp)}"

    @property
    def permanent(self) -> bool:
        return self.bounce.bounce_type == "Permanent"

    @property
    def description(self) -> str:
        return f"{self.bounce.bounce_type}/{self.bounce.bounce_sub_type}"


class ComplaintRecord(_Record):
    event_type: Literal["Complaint"] = Field(alias="eventType")
    complaint: Complaint
    kind: ClassVar[EventKind] = "complaint"

    @property
    def occurred_at(self) -> datetime:
        return self.complaint.timestamp

    @property
    def key(self) -> str:
        return f"complaint@{_stamp(self.complaint.timestamp)}"


class RejectRecord(_Record):
    event_type: Literal["Reject"] = Field(alias="eventType")
    reject: Reject
    kind: ClassVar[EventKind] = "reject"


class OpenRecord(_Record):
    event_type: Literal["Open"] = Field(alias="eventType")
    open: Open
    kind: ClassVar[EventKind] = "open"

    @property
    def occurred_at(self) -> datetime:
        return self.open.timestamp

    @property
    def key(self) -> str:
        return f"open@{_stamp(self.open.timestamp)}"


class ClickRecord(_Record):
    event_type: Literal["Click"] = Field(alias="eventType")
    click: Click
    kind: ClassVar[EventKind] = "click"

    @property
    def occurred_at(self) -> datetime:
        return self.click.timestamp

    @property
    def key(self) -> str:
        link = self.click.link_name or hashlib.blake2b(self.click.link.encode(), digest_size=6).hexdigest()
        return f"click@{_stamp(self.click.timestamp)}#{link}"


class RenderingFailureRecord(_Record):
    event_type: Literal["Rendering Failure"] = Field(alias="eventType")
    failure: RenderingFailure
    kind: ClassVar[EventKind] = "rendering_failure"


class DeliveryDelayRecord(_Record):
    event_type: Literal["DeliveryDelay"] = Field(alias="eventType")
    delivery_delay: DeliveryDelay = Field(alias="deliveryDelay")
    kind: ClassVar[EventKind] = "delay"

    @property
    def occurred_at(self) -> datetime:
        return self.delivery_delay.timestamp

    @property
    def key(self) -> str:
        return f"delay@{_stamp(self.delivery_delay.timestamp)}"


class SubscriptionRecord(_Record):
    event_type: Literal["Subscription"] = Field(alias="eventType")
    subscription: Subscription
    kind: ClassVar[EventKind] = "subscription"

    @property
    def occurred_at(self) -> datetime:
        return self.subscription.timestamp

    @property
    def key(self) -> str:
        return f"subscription@{_stamp(self.subscription.timestamp)}"


SesRecord = Annotated[
    Union[
        SendRecord,
        DeliveryRecord,
        BounceRecord,
        ComplaintRecord,
        RejectRecord,
        OpenRecord,
        ClickRecord,
        RenderingFailureRecord,
        DeliveryDelayRecord,
        SubscriptionRecord,
    ],
    Field(discriminator="event_type"),
]
AnyRecord = (
    SendRecord
    | DeliveryRecord
    | BounceRecord
    | ComplaintRecord
    | RejectRecord
    | OpenRecord
    | ClickRecord
    | RenderingFailureRecord
    | DeliveryDelayRecord
    | SubscriptionRecord
)
_RECORD: TypeAdapter[AnyRecord] = TypeAdapter(SesRecord)


# -- envelopes --------------------------------------------------------------------------------------


class NotAnEventError(ValueError):
    """Input that is not a usable SES event-publishing record; `reason` never quotes the input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _problems(exc: ValidationError, tag: str | None = None) -> str:
    """Where and what, never the value (records are full of email addresses)."""
    parts = []
    for error in exc.errors(include_input=False)[:3]:
        loc = error["loc"][1:] if tag is not None and error["loc"][:1] == (tag,) else error["loc"]
        parts.append(f"{'.'.join(str(p) for p in loc)} ({error['type']})")
    return ", ".join(parts)


def parse_record(data: Any) -> AnyRecord:
    """An SES event-publishing record (what SES publishes: it has `eventType`)."""
    if not isinstance(data, dict):
        raise NotAnEventError("not a JSON object")
    if "eventType" not in data:
        if "notificationType" in data:
            raise NotAnEventError("a legacy identity notification (notificationType), not event publishing")
        raise NotAnEventError("no eventType")
    event_type = data["eventType"]
    if event_type not in EVENT_TYPES:
        shown = event_type if isinstance(event_type, str) and event_type.isascii() and len(event_type) < 40 else "?"
        raise NotAnEventError(f"unknown eventType '{shown}'")
    try:
        return _RECORD.validate_python(data)
    except ValidationError as exc:
        raise NotAnEventError(f"malformed {event_type} record: {_problems(exc, event_type)}") from None


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        raise NotAnEventError(f"{what} is not JSON") from None


def parse_envelope(data: Any) -> AnyRecord:
    """A record from an EventBridge event, an SNS notification, or the bare record."""
    if isinstance(data, dict) and "detail-type" in data:
        try:
            event = EventBridgeModel.model_validate(data)
        except ValidationError as exc:
            raise NotAnEventError(f"malformed EventBridge event: {_problems(exc)}") from None
        if event.source != SOURCE:
            raise NotAnEventError("an EventBridge event not from SES")
        if event.detail_type not in DETAIL_TYPES:
            raise NotAnEventError("an SES EventBridge event that is not about an email")
        return parse_record(event.detail)
    if isinstance(data, dict) and data.get("Type") == "Notification":
        try:
            notification = SnsNotificationModel.model_validate(data)
        except ValidationError as exc:
            raise NotAnEventError(f"malformed SNS notification: {_problems(exc)}") from None
        return parse_record(_json(str(notification.Message), "the SNS message"))
    return parse_record(data)


def parse_body(body: str) -> AnyRecord:
    """An SQS message body: an EventBridge event, an SNS notification or the record (raw delivery)."""
    return parse_envelope(_json(body, "the message body"))


@dataclass(frozen=True, slots=True)
class Received:
    """One record of an invocation: the record, or why it cannot be used. `item_id` names an SQS
    message, so a failure is reported for that message alone."""

    item_id: str | None
    record: AnyRecord | None = None
    problem: str | None = None


Source = Literal["sqs", "sns", "eventbridge"]


def received_events(event: Any) -> tuple[Source, list[Received]]:
    """The records of a Lambda invocation: an SQS batch, an SNS event, or one EventBridge event."""
    records = event.get("Records") if isinstance(event, dict) else None
    if isinstance(records, list) and records and isinstance(records[0], dict) and "Sns" in records[0]:
        return "sns", _from_sns(event)
    if isinstance(records, list):
        return "sqs", _from_sqs(event)
    return "eventbridge", [_received(None, parse_envelope, event)]


def _received(item_id: str | None, parse: Callable[[Any], AnyRecord], data: Any) -> Received:
    try:
        return Received(item_id, record=parse(data))
    except NotAnEventError as exc:
        return Received(item_id, problem=exc.reason)


def _sns_message(message: str) -> AnyRecord:
    return parse_record(_json(message, "the SNS message"))


def _from_sqs(event: dict[str, Any]) -> list[Received]:
    try:
        batch = SqsModel.model_validate(event)
    except ValidationError:
        # Read what can be read: every record with an id and a body gets its own verdict.
        out: list[Received] = []
        for raw in event["Records"]:
            if isinstance(raw, dict) and raw.get("messageId"):
                out.append(_received(str(raw["messageId"]), parse_body, str(raw.get("body"))))
            else:
                out.append(Received(None, problem="an SQS record without messageId"))
        return out
    return [_received(r.messageId, parse_body, str(r.body)) for r in batch.Records]


def _from_sns(event: dict[str, Any]) -> list[Received]:
    out: list[Received] = []
    for raw in event["Records"]:
        try:
            message = SnsModel.model_validate({"Records": [raw]}).Records[0].Sns.Message
        except ValidationError as exc:
            out.append(Received(None, problem=f"malformed SNS record: {_problems(exc)}"))
            continue
        out.append(_received(None, _sns_message, str(message)))
    return out
