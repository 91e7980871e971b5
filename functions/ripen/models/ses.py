"""Amazon SES event publishing records (eventType Send, Delivery, Bounce, ... ) as typed models.

Formats follow the SES developer guide; `mail.headers`/`commonHeaders` are absent from Rendering
Failure and DeliveryDelay records, `mail.sourceArn` from the Open/Click examples: both optional.
Extra fields are allowed everywhere, so a new SES field never makes a record unreadable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


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


class TopicPreferences(_Model):
    unsubscribe_all: bool = Field(default=False, alias="unsubscribeAll")
    topic_subscription_status: list[dict[str, Any]] = Field(default_factory=list, alias="topicSubscriptionStatus")


class Subscription(_Model):
    contact_list: str | None = Field(default=None, alias="contactList")
    timestamp: datetime
    source: str | None = None
    new_topic_preferences: TopicPreferences = Field(alias="newTopicPreferences")
    old_topic_preferences: TopicPreferences | None = Field(default=None, alias="oldTopicPreferences")


class _Record(_Model):
    mail: Mail

    @property
    def occurred_at(self) -> datetime:
        """When the event itself happened (the send time for Send/Reject/Rendering Failure)."""
        return self.mail.timestamp


class SendRecord(_Record):
    event_type: Literal["Send"] = Field(alias="eventType")
    send: dict[str, Any] = Field(default_factory=dict)


class DeliveryRecord(_Record):
    event_type: Literal["Delivery"] = Field(alias="eventType")
    delivery: Delivery

    @property
    def occurred_at(self) -> datetime:
        return self.delivery.timestamp


class BounceRecord(_Record):
    event_type: Literal["Bounce"] = Field(alias="eventType")
    bounce: Bounce

    @property
    def occurred_at(self) -> datetime:
        return self.bounce.timestamp


class ComplaintRecord(_Record):
    event_type: Literal["Complaint"] = Field(alias="eventType")
    complaint: Complaint

    @property
    def occurred_at(self) -> datetime:
        return self.complaint.timestamp


class RejectRecord(_Record):
    event_type: Literal["Reject"] = Field(alias="eventType")
    reject: Reject


class OpenRecord(_Record):
    event_type: Literal["Open"] = Field(alias="eventType")
    open: Open

    @property
    def occurred_at(self) -> datetime:
        return self.open.timestamp


class ClickRecord(_Record):
    event_type: Literal["Click"] = Field(alias="eventType")
    click: Click

    @property
    def occurred_at(self) -> datetime:
        return self.click.timestamp


class RenderingFailureRecord(_Record):
    event_type: Literal["Rendering Failure"] = Field(alias="eventType")
    failure: RenderingFailure


class DeliveryDelayRecord(_Record):
    event_type: Literal["DeliveryDelay"] = Field(alias="eventType")
    delivery_delay: DeliveryDelay = Field(alias="deliveryDelay")

    @property
    def occurred_at(self) -> datetime:
        return self.delivery_delay.timestamp


class SubscriptionRecord(_Record):
    event_type: Literal["Subscription"] = Field(alias="eventType")
    subscription: Subscription

    @property
    def occurred_at(self) -> datetime:
        return self.subscription.timestamp


SesRecord = Annotated[
    Union[
        SendRecord, DeliveryRecord, BounceRecord, ComplaintRecord, RejectRecord, OpenRecord, ClickRecord,
        RenderingFailureRecord, DeliveryDelayRecord, SubscriptionRecord,
    ],
    Field(discriminator="event_type"),
]
EVENT_TYPES = ("Send", "Delivery", "Bounce", "Complaint", "Reject", "Open", "Click", "Rendering Failure",
               "DeliveryDelay", "Subscription")
