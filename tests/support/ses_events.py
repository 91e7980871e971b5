"""SES events for tests, built from the project's samples in events/ses/ (the shapes AWS sends).

`event_about(message, "click", ...)` takes the sample and makes it about `message`: its SES id,
the tags the sender set, the send time, and the event's own time, user agent, link, ...
"""

from __future__ import annotations

import hashlib
import json
import uuid
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any, Literal

from ripen.core import tags
from ripen.core.records import Message
from tests.conftest import EVENTS

SES = EVENTS / "ses"
Via = Literal["eventbridge", "sns"]
NAMES = (
    "send",
    "delivery",
    "bounce-permanent",
    "bounce-transient",
    "complaint",
    "open",
    "open-machine",
    "click",
    "click-scanner",
    "reject",
    "rendering-failure",
    "delivery-delay",
    "subscription",
)
# the block of each event type that carries its own time (Send, Reject, Rendering Failure have none)
BLOCK = {
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Open": "open",
    "Click": "click",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
    "Send": "send",
    "Reject": "reject",
    "Rendering Failure": "failure",
}


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def sample(name: str, via: Via = "eventbridge") -> dict[str, Any]:
    return json.loads((SES / via / f"{name}.json").read_text())


def record_of(event: dict[str, Any]) -> dict[str, Any]:
    """The SES record inside an EventBridge event or an SNS event."""
    if "detail" in event:
        return event["detail"]
    return json.loads(event["Records"][0]["Sns"]["Message"])


def wrap(record: dict[str, Any], name: str, via: Via, at: datetime | None = None) -> dict[str, Any]:
    event = sample(name, via)
    if via == "eventbridge":
        event["detail"] = record
        event["id"] = str(uuid.uuid4())
        if at is not None:
            event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        sns = event["Records"][0]["Sns"]
        sns["Message"] = json.dumps(record, separators=(",", ":"))
        sns["MessageId"] = str(uuid.uuid4())
    return event


def event_about(
    message: Message,
    name: str,
    via: Via = "eventbridge",
    at: datetime | None = None,
    sent_at: datetime | None = None,
    ses_message_id: str | None = None,
    tagged: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """The sample `name` about `message`, sent at `sent_at` (its recorded send time), happening at
    `at` (a moment after the send), with `fields` replacing keys of the event's own block
    (`userAgent=...`, `linkTags={"link": ["demo"]}`, `bounceType="Transient"`, ...)."""
    claim = message.claim
    record = deepcopy(record_of(sample(name, via)))
    ses_id = ses_message_id or message.ses_message_id or message.observed_ses_message_id or "unknown-ses-id"
    sent = sent_at or message.sent_at or claim.created_at
    when = at or sent + timedelta(minutes=5)
    mail = record["mail"]
    mail["messageId"] = ses_id
    mail["timestamp"] = stamp(sent)
    if "commonHeaders" in mail:
        mail["commonHeaders"]["messageId"] = ses_id
    for key in (tags.LEAD, tags.SEQUENCE, tags.STEP, tags.MESSAGE, tags.KIND):
        mail["tags"].pop(key, None)
    if tagged:
        values = tags.message_tags(claim.lead_id, claim.sequence, claim.step, claim.key, claim.kind)
        mail["tags"].update({k: [v] for k, v in values.items()})
    block = record[BLOCK[record["eventType"]]]
    if "timestamp" in block:
        block["timestamp"] = stamp(when)
    block.update(fields)
    return wrap(record, name, via, when)


def sqs_batch(*events: dict[str, Any]) -> dict[str, Any]:
    """The events as an SQS batch delivers them (EventBridge events or SNS notifications as bodies)."""
    template = json.loads((SES / "sqs" / "eventbridge-bodies.json").read_text())["Records"][0]
    records = []
    for event in events:
        if "Records" in event:  # an SNS event: SNS gives the queue the notification itself
            sns = event["Records"][0]["Sns"]
            payload: dict[str, Any] = {
                "Type": "Notification",
                "MessageId": sns["MessageId"],
                "TopicArn": sns["TopicArn"],
                "Message": sns["Message"],
                "Timestamp": sns["Timestamp"],
                "SignatureVersion": sns["SignatureVersion"],
                "Signature": sns["Signature"],
                "SigningCertURL": sns["SigningCertUrl"],
                "UnsubscribeURL": sns["UnsubscribeUrl"],
            }
        else:
            payload = event
        body = json.dumps(payload, separators=(",", ":"))
        record = deepcopy(template)
        record.update(messageId=str(uuid.uuid4()), body=body, md5OfBody=hashlib.md5(body.encode()).hexdigest())
        records.append(record)
    return {"Records": records}
