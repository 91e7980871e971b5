"""Product events (`Lead Event`): what a lead did in the product, as the services handle it.

The boundary (`ripen.models.events`) checks what came in; this is the checked event. The engine
sees only its name and time (`EventOccurred`); the service finds the lead, applies it once and
updates the lead's attributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# How long an event id is remembered: an event older than this could not be told from a replay,
# so it is refused (`EventOutcome.TOO_OLD`) rather than risk applying it twice.
EVENT_IDS_KEPT = timedelta(days=30)
# How long one attempt may hold an event id before another attempt may take it over (a function
# that died halfway): shorter than the events queue's visibility timeout, so a retry finds it free.
EVENT_CLAIM_LEASE = timedelta(minutes=2)
GOAL_REACHED = "goal_reached"  # the stats counter of conversions (beside sent, opened, sales_ready...)


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """One product event: exactly one of `email` (normalized) and `lead_id` names the lead."""

    event_id: str
    name: str
    occurred_at: datetime
    email: str | None = None
    lead_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)


class EventOutcome(StrEnum):
    APPLIED = "applied"  # goals, exits, scores, waits, triggers and attributes as the sequences say
    DUPLICATE = "duplicate"  # this id was applied before: nothing done again
    IN_PROGRESS = "in_progress"  # another attempt holds this id right now: try again later
    UNKNOWN_LEAD = "unknown_lead"  # no such lead: nothing created
    TOO_OLD = "too_old"  # older than the ids are kept: refused

    @property
    def accepted(self) -> bool:
        return self in (EventOutcome.APPLIED, EventOutcome.DUPLICATE)
