"""The engine's vocabulary: enrollment state, triggers that move it, and the actions it asks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal


class Status(StrEnum):
    NEW = "new"  # created, not yet started
    PENDING = "pending"  # waiting for double opt-in
    ACTIVE = "active"
    PAUSED = "paused"  # the lead asked for a break
    COMPLETED = "completed"
    GOAL_REACHED = "goal_reached"
    SALES_READY = "sales_ready"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    EXPIRED = "expired"  # never confirmed

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {Status.COMPLETED, Status.GOAL_REACHED, Status.SALES_READY, Status.UNSUBSCRIBED, Status.SUPPRESSED, Status.EXPIRED}
)


class Wait(StrEnum):
    TIMER = "timer"  # a `wait:` step
    ENGAGEMENT = "engagement"  # a `wait_for:` step, until its timeout
    WINDOW = "window"  # an email held for the send window
    CAP = "cap"  # an email held by the frequency cap
    CONFIRMATION = "confirmation"  # double opt-in reminder or expiry
    PAUSE = "pause"  # paused by the lead until a date


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One lead in one sequence. `run` counts re-entries; `sent` holds the steps emailed in this run."""

    lead_id: str
    sequence: str
    version: int
    run: int = 1
    status: Status = Status.NEW
    cursor: str | None = None
    wait: Wait | None = None
    next_action_at: datetime | None = None
    since: datetime | None = None
    score: float = 0.0
    score_at: datetime | None = None
    stage: str = ""
    sent: tuple[str, ...] = ()
    last_email_at: datetime | None = None
    engaged: Mapping[str, datetime] = field(default_factory=dict)
    confirmations: int = 0
    last_confirmation_at: datetime | None = None
    entered_at: datetime | None = None
    exit_reason: str | None = None
    ended_at: datetime | None = None
    held_wait: Wait | None = None
    held_until: datetime | None = None
    holdout: bool = False  # in the sequence's control group: gets only the emails its holdout keeps

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class LeadContext:
    """What the engine may know about the lead beyond this enrollment."""

    timezone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    recent_emails: tuple[datetime, ...] = ()  # nurture emails across all sequences, for the frequency cap
    confirmed: bool = False  # consent already proven (double opt-in done before)
    reconfirm: bool = False  # ask for double opt-in even where the sequence does not: the lead had unsubscribed


# -- triggers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolled:
    pass


@dataclass(frozen=True, slots=True)
class Confirmed:
    pass


@dataclass(frozen=True, slots=True)
class TimerDue:
    pass


@dataclass(frozen=True, slots=True)
class Engaged:
    """A human or machine open or click on one of this enrollment's emails."""

    kind: Literal["open", "click"]
    at: datetime
    step: str | None = None
    link: str | None = None
    machine: bool = False  # privacy-proxy open or security-scanner click


@dataclass(frozen=True, slots=True)
class Resubmitted:
    """The lead filled in a form again. Renewed interest counts only when their consent is confirmed:
    anyone can post an address."""

    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class GoalReached:
    event: str


@dataclass(frozen=True, slots=True)
class EventOccurred:
    """A product event (`Lead Event`) about the lead: a goal, an exit, points, or a `wait_for` signal,
    as the sequence says. `at` is when it happened (`occurred_at`), not when it arrived."""

    name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Stopped:
    """The lead opted out or must not be emailed again (hard bounce, complaint)."""

    reason: Literal["unsubscribed", "suppressed"]


@dataclass(frozen=True, slots=True)
class Paused:
    until: datetime


@dataclass(frozen=True, slots=True)
class Resumed:
    pass


@dataclass(frozen=True, slots=True)
class ExitRequested:
    reason: str = "manual"


@dataclass(frozen=True, slots=True)
class MovedTo:
    step: str


Trigger = (
    Enrolled
    | Confirmed
    | TimerDue
    | Engaged
    | Resubmitted
    | GoalReached
    | EventOccurred
    | Stopped
    | Paused
    | Resumed
    | ExitRequested
    | MovedTo
)


# -- actions ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendEmail:
    step: str
    email: str
    variant: str | None = None  # the email an A/B test chose (None: the step has no variants)


@dataclass(frozen=True, slots=True)
class SendConfirmation:
    number: int  # 1 for the first, then reminders and re-sends

    @property
    def step(self) -> str:
        return "confirm" if self.number == 1 else f"confirm-{self.number}"


@dataclass(frozen=True, slots=True)
class HandOff:
    score: float
    stage: str


Action = SendEmail | SendConfirmation | HandOff


@dataclass(frozen=True, slots=True)
class Decision:
    enrollment: Enrollment
    actions: tuple[Action, ...] = ()
    log: tuple[str, ...] = field(default=())
    changed: bool = False
