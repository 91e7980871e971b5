"""SES for the dev stack: every email the sender hands to SES (moto's), and the events SES would
publish about it.

The sender sends through its own code (`SesMailer`) to moto's SES v2. A hook on that boto3 client
records each accepted `SendEmail` request as it went out: the raw MIME message, the configuration
set, the message tags, and the id SES returned. moto does not publish events, so `SesEvents` does
what a configuration set's event destination does in AWS: it builds the records from the samples in
`events/ses/eventbridge/` (the exact shapes AWS sends), about this email (its SES id, headers and
tags, times from the dev clock), and puts them on the EventBridge bus the destination names, where
the rule from template.yaml takes them to the engagement queue.
"""

from __future__ import annotations

import base64
import copy
import email
import email.policy
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from functools import cached_property
from pathlib import Path
from typing import Any

from ripen.core import tags as message_tags
from ripen.ports.clock import Clock

# What the outbox can make SES report, and the sample each is built from.
SAMPLES = {
    "send": "send",
    "delivery": "delivery",
    "open": "open",
    "click": "click",
    "bounce": "bounce-permanent",
    "complaint": "complaint",
}
# The block of a record that describes the event, by eventType.
BLOCKS = {
    "Send": "send",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "Bounce": "bounce",
    "Complaint": "complaint",
}
# People take a moment: a person's open or click comes at least this long after the email arrived
# (sooner, ripen rightly takes it for a privacy proxy or a link scanner; see ripen.core.engagement).
HUMAN_DELAY = timedelta(minutes=1)
DELIVERY_TIME = timedelta(milliseconds=1800)  # what SES reports as processingTimeMillis
ACCOUNT = "123456789012"  # moto's default account
SES_SOURCE_IP = "192.0.2.10"  # documentation address: the "ses:source-ip" tag
CALLER = "ripen-dev-NurtureFunctionRole"


def to_millisecond(at: datetime) -> datetime:
    """SES reports times to the millisecond."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def stamp(at: datetime) -> str:
    """An SES timestamp: ISO 8601, milliseconds, Z."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class PublishedEvent:
    kind: str  # send, delivery, open, click, bounce, complaint
    at: datetime
    link: str | None = None


@dataclass(frozen=True)
class NamedLink:
    name: str
    href: str
    text: str


@dataclass
class OutboxEmail:
    """One email SES accepted, as the sender's request carried it."""

    ses_message_id: str
    sent_at: datetime
    source: str
    to: tuple[str, ...]
    configuration_set: str | None
    tags: dict[str, str]
    raw: bytes
    events: list[PublishedEvent] = field(default_factory=list)

    @cached_property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(name, str(value)) for name, value in self.message.items()]

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return None if value is None else str(value)

    def _part(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else ""

    @property
    def html(self) -> str:
        return self._part("html")

    @property
    def text(self) -> str:
        return self._part("plain")

    @property
    def lead_id(self) -> str | None:
        return self.tags.get(message_tags.LEAD)

    @property
    def sequence(self) -> str | None:
        return self.tags.get(message_tags.SEQUENCE)

    @property
    def step(self) -> str | None:
        return self.tags.get(message_tags.STEP)

    @property
    def kind(self) -> str | None:
        return self.tags.get(message_tags.KIND)

    @property
    def variant(self) -> str | None:
        """The email an A/B test chose, when one did."""
        return self.tags.get(message_tags.VARIANT)

    @property
    def language(self) -> str | None:
        """The translation it was written in (its Content-Language), None for the default files."""
        value = self.message.get("Content-Language")
        return str(value) if value else None

    @property
    def message_key(self) -> str | None:
        tag = self.tags.get(message_tags.MESSAGE)
        return message_tags.message_key_from_tag(tag) if tag else None

    @cached_property
    def links(self) -> list[NamedLink]:
        """The named links SES click tracking reports by name (`ses:tags="link:<name>"`), once each."""
        from ripen.mail.links import rewrite_links

        _, found = rewrite_links(self.html)
        named: dict[str, NamedLink] = {}
        for link in found:
            if link.name and link.tracked and link.name not in named:
                named[link.name] = NamedLink(link.name, link.href, link.text)
        return list(named.values())

    @property
    def unsubscribe_url(self) -> str | None:
        """The HTTPS (or local HTTP) address in List-Unsubscribe: where a one-click unsubscribe is POSTed."""
        header = self.header("List-Unsubscribe") or ""
        for part in header.split(","):
            target = part.strip().strip("<>")
            if target.startswith(("https://", "http://")):
                return target
        return None

    def happened(self, kind: str) -> bool:
        return any(event.kind == kind for event in self.events)

    def time_of(self, kind: str) -> datetime | None:
        return next((event.at for event in self.events if event.kind == kind), None)

    @property
    def arrived_at(self) -> datetime:
        return self.time_of("delivery") or self.sent_at

    # -- kept on disk with `ripen dev --persist` -------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "ses_message_id": self.ses_message_id,
            "sent_at": self.sent_at.isoformat(),
            "source": self.source,
            "to": list(self.to),
            "configuration_set": self.configuration_set,
            "tags": self.tags,
            "raw": base64.b64encode(self.raw).decode("ascii"),
            "events": [
                {"kind": e.kind, "at": e.at.isoformat(), **({"link": e.link} if e.link else {})} for e in self.events
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboxEmail:
        return cls(
            ses_message_id=data["ses_message_id"],
            sent_at=datetime.fromisoformat(data["sent_at"]),
            source=data["source"],
            to=tuple(data["to"]),
            configuration_set=data.get("configuration_set"),
            tags=dict(data["tags"]),
            raw=base64.b64decode(data["raw"]),
            events=[PublishedEvent(e["kind"], datetime.fromisoformat(e["at"]), e.get("link")) for e in data["events"]],
        )


class SentMail:
    """Every email SES accepted, in order, kept in memory (and in a JSON Lines file when given)."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self._emails: dict[str, OutboxEmail] = {}
        self._lock = threading.Lock()
        if file is not None and file.is_file():
            for line in file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    kept = OutboxEmail.from_json(json.loads(line))
                    self._emails[kept.ses_message_id] = kept

    def add(self, sent: OutboxEmail) -> None:
        with self._lock:
            self._emails[sent.ses_message_id] = sent
            self._save()

    def noted(self, sent: OutboxEmail, event: PublishedEvent) -> None:
        with self._lock:
            sent.events.append(event)
            self._save()

    def get(self, ses_message_id: str) -> OutboxEmail | None:
        return self._emails.get(ses_message_id)

    def all(self) -> list[OutboxEmail]:
        with self._lock:
            return list(self._emails.values())

    def of_lead(self, lead_id: str) -> list[OutboxEmail]:
        return [sent for sent in self.all() if sent.lead_id == lead_id]

    def __iter__(self) -> Iterator[OutboxEmail]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._emails)

    def _save(self) -> None:
        if self.file is None:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(sent.to_json(), separators=(",", ":")) for sent in self._emails.values()]
        self.file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def record_sends(client: Any, clock: Clock, on_sent: Callable[[OutboxEmail], None]) -> None:
    """Hook a boto3 SES v2 client: each `SendEmail` SES accepts becomes an `OutboxEmail` for `on_sent`,
    built from the request exactly as the sender made it."""
    key = "ripen_dev_request"

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[key] = copy.deepcopy(params)

    def accepted(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        request = context.get(key)
        if request is None or http_response.status_code >= 300 or "MessageId" not in parsed:
            return
        raw = request["Content"]["Raw"]["Data"]
        to = request.get("Destination", {}).get("ToAddresses", [])
        on_sent(
            OutboxEmail(
                ses_message_id=str(parsed["MessageId"]),
                sent_at=to_millisecond(clock.now()),
                source=str(request["FromEmailAddress"]),
                to=tuple(str(address) for address in to),
                configuration_set=request.get("ConfigurationSetName"),
                tags={str(t["Name"]): str(t["Value"]) for t in request.get("EmailTags", [])},
                raw=raw if isinstance(raw, bytes) else str(raw).encode("utf-8"),
            )
        )

    client.meta.events.register("provide-client-params.sesv2.SendEmail", remember)
    client.meta.events.register("after-call.sesv2.SendEmail", accepted)


@dataclass(frozen=True)
class Destination:
    """A configuration set's event destination to EventBridge (from template.yaml)."""

    configuration_set: str
    event_bus: str  # name or ARN
    event_types: frozenset[str]  # send, delivery, open, click, bounce, complaint, ...

    @classmethod
    def from_template(cls, resolved: dict[str, Any]) -> Destination | None:
        destination = resolved["EventDestination"]
        bridge = destination.get("EventBridgeDestination")
        if not bridge or not destination.get("Enabled", True):
            return None
        types = frozenset(str(t).lower() for t in destination.get("MatchingEventTypes", []))
        return cls(str(resolved["ConfigurationSetName"]), str(bridge["EventBusArn"]), types)


class SesEvents:
    """What SES publishes about the emails it accepted, built from the samples and put on EventBridge."""

    def __init__(
        self,
        samples: Path,
        events_client: Any,
        destinations: list[Destination],
        clock: Clock,
        mail: SentMail,
        region: str = "us-east-1",
    ) -> None:
        self.samples = samples
        self.events = events_client
        self.destinations = destinations
        self.clock = clock
        self.mail = mail
        self.region = region
        for name in SAMPLES.values():
            if not (samples / f"{name}.json").is_file():
                raise FileNotFoundError(f"{samples / name}.json: the SES event samples are missing")

    def record(self, sample: str, sent: OutboxEmail, at: datetime, **fields: Any) -> dict[str, Any]:
        """The SES event-publishing record of sample `sample` about `sent`, happening at `at`, with
        `fields` replacing keys of the event's own block (`link=...`, `linkTags=...`)."""
        event = json.loads((self.samples / f"{sample}.json").read_text(encoding="utf-8"))
        record: dict[str, Any] = event["detail"]
        mail = record["mail"]
        display_from = sent.header("From") or sent.source
        _, from_address = parseaddr(sent.source)
        domain = from_address.rpartition("@")[2]
        mail.update(
            timestamp=stamp(sent.sent_at),
            messageId=sent.ses_message_id,
            source=display_from,
            sendingAccountId=ACCOUNT,
            destination=list(sent.to),
        )
        if "sourceArn" in mail:
            mail["sourceArn"] = f"arn:aws:ses:{self.region}:{ACCOUNT}:identity/{domain}"
        if "headers" in mail:
            mail["headersTruncated"] = False
            mail["headers"] = [{"name": name, "value": value} for name, value in sent.headers]
        if "commonHeaders" in mail:
            common: dict[str, Any] = {
                "from": [display_from],
                "to": [address for _, address in getaddresses([sent.header("To") or ""])] or list(sent.to),
                "messageId": sent.ses_message_id,
                "subject": sent.subject,
            }
            if sent.header("Reply-To"):
                common["replyTo"] = [sent.header("Reply-To")]
            mail["commonHeaders"] = common
        automatic = {
            "ses:source-ip": [SES_SOURCE_IP],
            "ses:from-domain": [domain],
            "ses:caller-identity": [CALLER],
        }
        if sent.configuration_set:
            automatic["ses:configuration-set"] = [sent.configuration_set]
        mail["tags"] = {**automatic, **{name: [value] for name, value in sent.tags.items()}}
        block: dict[str, Any] = record[BLOCKS[record["eventType"]]]
        if "timestamp" in block:
            block["timestamp"] = stamp(at)
        for recipients in ("recipients",):
            if recipients in block:
                block[recipients] = list(sent.to)
        for listed in ("bouncedRecipients", "complainedRecipients"):
            if listed in block:
                example = block[listed][0]
                block[listed] = [{**example, "emailAddress": address} for address in sent.to]
        if "feedbackId" in block:
            block["feedbackId"] = f"{uuid.uuid4().hex}-000000"
        if "arrivalDate" in block:
            block["arrivalDate"] = stamp(at)
        block.update(fields)
        return {"detail-type": event["detail-type"], "detail": record}

    def publish(self, kind: str, sent: OutboxEmail, at: datetime | None = None, link: NamedLink | None = None) -> bool:
        """Put the `kind` event about `sent` on the bus of its configuration set's destination (if the
        destination takes that type, as SES would); returns whether it was published."""
        at = to_millisecond(at or self.clock.now())
        fields: dict[str, Any] = {}
        if kind == "click":
            if link is None:
                raise ValueError("a click names its link")
            fields = {"link": link.href, "linkTags": {"link": [link.name]}}
        if kind == "delivery":
            fields = {"processingTimeMillis": int((at - sent.sent_at).total_seconds() * 1000)}
        destination = next((d for d in self.destinations if d.configuration_set == sent.configuration_set), None)
        if destination is None or kind not in destination.event_types:
            return False
        built = self.record(SAMPLES[kind], sent, at, **fields)
        entry = {
            "Source": "aws.ses",
            "DetailType": built["detail-type"],
            "Detail": json.dumps(built["detail"], separators=(",", ":")),
            "Resources": [f"arn:aws:ses:{self.region}:{ACCOUNT}:configuration-set/{sent.configuration_set}"],
            "Time": at,
            "EventBusName": destination.event_bus,
        }
        answer = self.events.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the {kind} event: {answer['Entries']}")
        self.mail.noted(sent, PublishedEvent(kind, at, link.name if link else None))
        return True

    def sent(self, sent: OutboxEmail, deliver: bool = True) -> None:
        """What SES publishes as soon as it accepts an email: Send, then Delivery a moment later."""
        self.mail.add(sent)
        self.publish("send", sent, sent.sent_at)
        if deliver:
            self.publish("delivery", sent, sent.sent_at + DELIVERY_TIME)

    def human_time(self, sent: OutboxEmail) -> datetime:
        """When a person's open or click is dated: now, but not sooner than HUMAN_DELAY after the email
        arrived, nor after their previous open or click of it (links clicked within a moment of each
        other are a scanner's)."""
        earliest = [sent.arrived_at] + [e.at for e in sent.events if e.kind in ("open", "click")]
        return to_millisecond(max(self.clock.now(), max(earliest) + HUMAN_DELAY))
