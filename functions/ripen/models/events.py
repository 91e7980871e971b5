"""The boundary of product events: a `Lead Event` as backends send it, on the events bus (the
EventBridge event's `detail`, delivered through the events queue) or as the body of `POST /events`.

    {"email": "ana@example.com",            # or "lead_id": "ld_..."; exactly one
     "event": "trial_converted",            # a name as sequences write them
     "id": "evt_2026_03_05_0001",           # unique: the same id twice is one event
     "occurred_at": "2026-03-05T10:15:00Z", # when it happened (with a time zone)
     "properties": {"plan": "team"},        # optional, kept small
     "attributes": {"plan": "team"}}        # optional: set on the lead (the identify call)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ripen.core.events import LeadEvent
from ripen.models.signup import Email, attribute_name

DETAIL_TYPE = "Lead Event"
MAX_BATCH = 100  # events in one POST /events
MAX_PROPERTIES_BYTES = 4_096  # properties as JSON
MAX_EVENT_ATTRIBUTES = 20
MAX_ATTRIBUTE_VALUE = 500
_EVENT_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def _attribute_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return value


def _attributes(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    named: dict[str, Any] = {}
    for key, item in value.items():
        name = attribute_name(str(key))
        if name is None:
            raise ValueError(f"'{str(key)[:40]}' is not an attribute name: letters, digits and '_' (e.g. 'plan')")
        named[name] = item
    if len(named) > MAX_EVENT_ATTRIBUTES:
        raise ValueError(f"at most {MAX_EVENT_ATTRIBUTES} attributes in one event")
    return named


def _properties(value: Any) -> Any:
    if isinstance(value, Mapping) and len(json.dumps(value, default=str)) > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties take at most {MAX_PROPERTIES_BYTES} bytes as JSON")
    return value


AttributeValue = Annotated[str, Field(max_length=MAX_ATTRIBUTE_VALUE), BeforeValidator(_attribute_value)]


class LeadEventBody(BaseModel):
    """One product event about one lead."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per event (printable ASCII, no spaces): the same id twice is applied once.",
    )
    event: str = Field(pattern=_EVENT_NAME, description="The event's name, e.g. trial_converted.")
    email: Email | None = None
    lead_id: str | None = Field(default=None, pattern=r"^ld_[a-z2-7]{24}$", description="ripen's id of the lead")
    occurred_at: AwareDatetime = Field(description="When it happened: ISO-8601 with a time zone.")
    properties: Annotated[dict[str, Any], BeforeValidator(_properties)] = Field(default_factory=dict)
    attributes: Annotated[dict[str, AttributeValue], BeforeValidator(_attributes)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_lead(self) -> LeadEventBody:
        if (self.email is None) == (self.lead_id is None):
            raise ValueError("name the lead with exactly one of 'email' or 'lead_id'")
        return self

    def to_event(self) -> LeadEvent:
        return LeadEvent(
            event_id=self.id,
            name=self.event,
            occurred_at=self.occurred_at,
            email=self.email,
            lead_id=self.lead_id,
            properties=self.properties,
            attributes=self.attributes,
        )


class LeadEventEnvelope(BaseModel):
    """The EventBridge event a rule on the events bus delivers (the body of each queue message)."""

    model_config = ConfigDict(populate_by_name=True)
    detail_type: Literal["Lead Event"] = Field(alias="detail-type")
    source: str
    id: str
    detail: LeadEventBody


@dataclass(frozen=True, slots=True)
class EventProblem:
    """What is wrong with an event, by field, safe to show back (no value is echoed)."""

    field: str
    message: str


class InvalidLeadEventError(ValueError):
    def __init__(self, problems: list[EventProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def problems_of(error: ValidationError, skip: int = 0) -> list[EventProblem]:
    found = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in item["loc"][skip:] if not re.match(r"^function-", str(part))]
        field = ".".join(loc) or "body"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "required"
        elif item["type"] == "extra_forbidden":
            message = "not a field of a Lead Event (email, lead_id, event, id, occurred_at, properties, attributes)"
        elif item["type"] == "timezone_aware":
            message = "give a time zone, e.g. 2026-03-05T10:15:00Z"
        found.append(EventProblem(field[:60], message))
    return found


def parse_event(data: Any) -> LeadEvent:
    """One event body (already decoded JSON) as a checked event; InvalidLeadEventError otherwise."""
    try:
        return LeadEventBody.model_validate(data).to_event()
    except ValidationError as exc:
        raise InvalidLeadEventError(problems_of(exc)) from None


def event_from_queue_body(body: str) -> LeadEvent:
    """The event in one events-queue message: an EventBridge event of detail-type `Lead Event`."""
    try:
        return LeadEventEnvelope.model_validate_json(body).detail.to_event()
    except ValidationError as exc:
        raise InvalidLeadEventError(problems_of(exc)) from None


# -- POST /events: the answers ----------------------------------------------------------------------

MAX_EVENTS_BODY_BYTES = 524_288  # a batch of 100 events with their properties fits easily

ItemStatus = Literal["applied", "duplicate", "unknown_lead", "too_old", "invalid", "retry"]


class EventFieldError(BaseModel):
    field: str
    message: str


class EventItemResult(BaseModel):
    """What became of one event of the request, by its position (0 for a single event)."""

    index: int
    status: ItemStatus = Field(
        description="applied; duplicate (this id was applied before: nothing done again); unknown_lead (no such "
        "lead: nothing created); too_old (older than the 30 days ids are kept); invalid (see errors); retry "
        "(busy, or the same id is being applied right now: send it again in a moment)"
    )
    id: str | None = Field(default=None, description="the event's id, when it had a readable one")
    errors: list[EventFieldError] = Field(default_factory=list)


class EventsAnswer(BaseModel):
    """The answer to POST /events: a count per status and one result per event, in request order."""

    applied: int = 0
    duplicate: int = 0
    rejected: int = Field(default=0, description="events not applied: unknown_lead, too_old, invalid or retry")
    results: list[EventItemResult] = Field(default_factory=list)


class EventsRejected(BaseModel):
    """A request refused as a whole; nothing was applied."""

    error: Literal[
        "malformed_body", "empty_body", "unsupported_media_type", "payload_too_large", "invalid_event", "forbidden"
    ]
    message: str
    errors: list[EventFieldError] = Field(default_factory=list)
