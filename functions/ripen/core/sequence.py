"""The sequence format: what a marketer writes in `templates/<name>/sequence.yaml`, as typed models.

Only `ripen.core.validator` builds these from YAML; everything else receives a validated `Sequence`.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import time, timedelta
from email.utils import parseaddr
from typing import Annotated, Any, ClassVar, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from ripen.core.durations import parse_duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP_KINDS = ("email", "wait", "wait_until", "wait_for", "branch", "stage", "goto", "exit")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<)?\s*(-?\d+(?:\.\d+)?)\s*$")

Duration = Annotated[timedelta, BeforeValidator(lambda v: v if isinstance(v, timedelta) else parse_duration(v))]


def _slug(value: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise ValueError(
            f"'{value}' is not a valid name; use lowercase letters, digits, '-' or '_' (e.g. 'case-study')"
        )
    return value


Slug = Annotated[str, BeforeValidator(_slug)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"'{value}' is not an IANA time zone; write one like 'Europe/Berlin' or 'UTC'") from None
    return value


TimeZoneName = Annotated[str, BeforeValidator(_zone)]


def _percent(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        value = float(value.strip()[:-1]) / 100
    number = float(value)
    if not 0 <= number < 1:
        raise ValueError(f"'{value}' must be a percentage from 0% up to (not including) 100%, e.g. '10%'")
    return number


Percent = Annotated[float, BeforeValidator(_percent)]


class Comparison(BaseModel):
    """`">= 30"`, `"< 5"`, `"== 3"`; a bare number means at least that number."""

    model_config = ConfigDict(frozen=True)
    op: Literal[">=", "<=", "==", "!=", ">", "<"]
    value: float

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, bool):
            raise ValueError("expected a number or a comparison like '>= 30'")
        if isinstance(data, (int, float)):
            return {"op": ">=", "value": data}
        if isinstance(data, str):
            match = _COMPARISON.match(data)
            if not match:
                raise ValueError(f"'{data}' is not a comparison; write e.g. '>= 30' or '< 5'")
            return {"op": match.group(1) or ">=", "value": float(match.group(2))}
        return data

    def holds(self, actual: float) -> bool:
        match self.op:
            case ">=":
                return actual >= self.value
            case "<=":
                return actual <= self.value
            case ">":
                return actual > self.value
            case "<":
                return actual < self.value
            case "==":
                return actual == self.value
            case _:
                return actual != self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


AttributeTest = Union[Comparison, str, list[str], bool]


class Condition(BaseModel):
    """A test on the lead; every key given must hold (use `any:` for either-or)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    score: Comparison | None = None
    stage: Slug | list[Slug] | None = None
    clicked: str | None = Field(default=None, description="a link name, or 'any'")
    opened: str | None = Field(default=None, description="an email step id, or 'any'")
    attribute: dict[str, AttributeTest] | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one test, e.g. {score: '>= 30'} or {clicked: pricing}")
        return self


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    kind: ClassVar[str]
    id: Slug | None = None


class WinnerRule(BaseModel):
    """How an A/B test is decided, fixed before it starts: once every variant has `min_leads`, the best
    beats the control at `confidence` (Bonferroni-corrected for several challengers), or none does."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    by: Literal["opened", "clicked", "goal", "sales_ready"] = "clicked"
    min_leads: int = Field(default=500, ge=10, description="leads per variant before the test is read")
    confidence: float = Field(default=0.95, ge=0.8, lt=1)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            return float(value.strip()[:-1]) / 100
        return value


class EmailStep(_Step):
    kind: ClassVar[str] = "email"
    email: Slug
    # An A/B test: email files of this sequence and their weights; `email` is the control, listed too.
    variants: dict[Slug, float] | None = None
    winner: WinnerRule | None = None  # the rule that decides the test (`ripen report --variants`)

    @model_validator(mode="after")
    def _variants(self) -> EmailStep:
        if self.variants is None:
            if self.winner is not None:
                raise ValueError("'winner' decides an A/B test: add 'variants' to this step, or remove 'winner'")
            return self
        if len(self.variants) < 2:
            raise ValueError("variants needs at least two emails, e.g. {welcome: 50, welcome-short: 50}")
        if any(weight <= 0 for weight in self.variants.values()):
            raise ValueError("every variant's weight must be above 0, e.g. {welcome: 50, welcome-short: 50}")
        if self.email not in self.variants:
            raise ValueError(f"list '{self.email}' (the control) in variants too, e.g. {{{self.email}: 50, ...}}")
        return self

    @property
    def emails(self) -> tuple[str, ...]:
        """Every email file this step may send."""
        return tuple(self.variants) if self.variants else (self.email,)


class WaitStep(_Step):
    kind: ClassVar[str] = "wait"
    wait: Duration


def _day(value: Any) -> int:
    match = re.match(r"^\s*day\s+(\d+)\s*$", value, re.IGNORECASE) if isinstance(value, str) else None
    day = int(match.group(1)) if match else value
    if not isinstance(day, int) or isinstance(day, bool) or day < 1:
        raise ValueError(f"'{value}' is not a day of the sequence; write e.g. 'day 11' (days after the lead entered)")
    return day


class WaitUntilStep(_Step):
    """Wait until a day counted from when the lead entered: keeps emails tied to a trial's calendar."""

    kind: ClassVar[str] = "wait_until"
    wait_until: Annotated[int, BeforeValidator(_day)]


class Signal(BaseModel):
    """One thing a lead may do: open an email, click a link, or a product event (`Lead Event`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    open: str | None = Field(default=None, description="'any' or the id of an email step")
    click: str | None = Field(default=None, description="'any' or a link name")
    event: Slug | None = Field(default=None, description="the name of a product event, e.g. demo_booked")

    @model_validator(mode="after")
    def _one_kind(self) -> Signal:
        if sum(v is not None for v in (self.open, self.click, self.event)) != 1:
            raise ValueError("each signal needs exactly one of 'open', 'click' or 'event', e.g. {event: demo_booked}")
        return self

    @property
    def key(self) -> str:
        """How the enrollment remembers it (`Enrollment.engaged`): `open:<step>`, `click:<link>`, `event:<name>`."""
        if self.open is not None:
            return f"open:{self.open}"
        return f"click:{self.click}" if self.click is not None else f"event:{self.event}"

    def __str__(self) -> str:
        if self.open is not None:
            return "open" if self.open == "any" else f"open of {self.open}"
        if self.click is not None:
            return "click" if self.click == "any" else f"click on {self.click}"
        return f"{self.event} event"


class WaitFor(BaseModel):
    """`{click: pricing, within: 5 days}`, `{event: demo_booked, within: 4 days}`, or several signals at
    once: `{any: [{click: pricing}, {event: demo_booked}], within: 5 days}` (the first one seen counts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    open: str | None = Field(default=None, description="'any' or the id of an email step")
    click: str | None = Field(default=None, description="'any' or a link name")
    event: Slug | None = Field(default=None, description="the name of a product event, e.g. demo_booked")
    any: tuple[Signal, ...] | None = Field(default=None, description="several signals; any one will do")
    within: Duration

    @model_validator(mode="after")
    def _one_signal(self) -> WaitFor:
        if sum(v is not None for v in (self.open, self.click, self.event, self.any)) != 1:
            raise ValueError(
                "wait_for needs exactly one of 'open', 'click', 'event' or 'any', e.g. {click: pricing, within: 5 days}"
            )
        if self.any == ():
            raise ValueError("'any' needs at least one signal, e.g. any: [{click: pricing}, {event: demo_booked}]")
        return self

    @property
    def signals(self) -> tuple[Signal, ...]:
        if self.any is not None:
            return self.any
        return (Signal(open=self.open, click=self.click, event=self.event),)

    def __str__(self) -> str:
        return " or ".join(str(s) for s in self.signals)


class WaitForStep(_Step):
    kind: ClassVar[str] = "wait_for"
    wait_for: WaitFor
    then: Slug | None = None
    else_: Slug | None = Field(default=None, alias="else")


class BranchCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    if_: Condition = Field(alias="if")
    goto: Slug


class BranchStep(_Step):
    kind: ClassVar[str] = "branch"
    branch: list[BranchCase] = Field(min_length=1)
    else_: Slug | None = Field(default=None, alias="else")


class StageStep(_Step):
    kind: ClassVar[str] = "stage"
    stage: Slug


class GotoStep(_Step):
    kind: ClassVar[str] = "goto"
    goto: Slug


class ExitStep(_Step):
    kind: ClassVar[str] = "exit"
    exit: str = Field(description="why the lead leaves, e.g. 'completed' or 'not-interested'")

    @field_validator("exit", mode="before")
    @classmethod
    def _reason(cls, value: Any) -> Any:
        return "completed" if value is True else value


Step = Union[EmailStep, WaitStep, WaitUntilStep, WaitForStep, BranchStep, StageStep, GotoStep, ExitStep]
STEP_MODELS: dict[str, type[_Step]] = {
    "email": EmailStep,
    "wait": WaitStep,
    "wait_until": WaitUntilStep,
    "wait_for": WaitForStep,
    "branch": BranchStep,
    "stage": StageStep,
    "goto": GotoStep,
    "exit": ExitStep,
}


class DoubleOptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    email: Slug = "confirm"
    remind_after: Duration = timedelta(days=2)
    expire_after: Duration = timedelta(days=7)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data

    @model_validator(mode="after")
    def _order(self) -> DoubleOptIn:
        if self.remind_after >= self.expire_after:
            raise ValueError("remind_after must be shorter than expire_after")
        return self


class ConsentText(BaseModel):
    """The consent text the sequence's forms show. Its `wording` version is stored with every
    statement of consent, from here and never from the form (a post could claim any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wording: str | None = Field(
        default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="e.g. '2026-03'"
    )


class SendWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    days: tuple[Weekday, ...] = WEEKDAYS
    hours: tuple[time, time] = (time(0, 0), time(23, 59, 59))
    timezone: str = Field(default="lead", description="'lead' (the lead's own zone) or an IANA zone")
    default_timezone: TimeZoneName = "UTC"

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        days = [str(day).lower()[:3] for day in value]
        if not days:
            raise ValueError("days needs at least one day, e.g. [mon, tue, wed, thu, fri]")
        return tuple(sorted(set(days), key=lambda d: WEEKDAYS.index(d) if d in WEEKDAYS else 99))

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, tuple) and all(isinstance(t, time) for t in value):
            return value
        match = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", str(value))
        if not match:
            raise ValueError(f"'{value}' is not a time range; write e.g. '09:00-17:00'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"'{value}' has an impossible time of day")
        start = time(h1, m1)
        end = time(23, 59, 59) if h2 == 24 else time(h2, m2)
        if start >= end:
            raise ValueError(f"'{value}': the window must start before it ends on the same day")
        return (start, end)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return value if value == "lead" else _zone(value)


class Goal(BaseModel):
    """A product event that ends the enrollment as a conversion (`goal_reached`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event: Slug


_EVENT_NAME_SCHEMA = {"type": "string", "pattern": _SLUG.pattern}
_GOAL_SCHEMA = {
    "type": "object",
    "properties": {"event": _EVENT_NAME_SCHEMA},
    "required": ["event"],
    "additionalProperties": False,
}
# `goal: {event: x}` or a list of them (any one ends the enrollment); always a tuple once loaded.
Goals = Annotated[
    tuple[Goal, ...],
    BeforeValidator(lambda v: [] if v is None else [v] if isinstance(v, (dict, Goal)) else v),
    WithJsonSchema(
        {
            "anyOf": [_GOAL_SCHEMA, {"type": "array", "items": _GOAL_SCHEMA}],
            "description": "a product event that ends the enrollment as a conversion, or a list of them",
        }
    ),
]


class EventTrigger(BaseModel):
    """A product event that enrolls an existing lead who consented (e.g. `trial_started`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event: Slug


class Holdout(BaseModel):
    """A control group: this share of new enrollments gets no nurture emails (but those in `keep`),
    so `ripen report --lift` can say what the sequence itself changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    share: Percent = Field(description="e.g. '10%'")
    keep: tuple[Slug, ...] = Field(default=(), description="email steps the control group still gets, e.g. [welcome]")

    @field_validator("share")
    @classmethod
    def _share(cls, value: float) -> float:
        if not 0 < value <= 0.5:
            raise ValueError("a holdout share is above 0% and at most 50%, e.g. '10%'")
        return value


class SalesReady(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    score: float = Field(gt=0)


class Scoring(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    open: float = 1
    machine_open: float = 0
    click: float = 5
    links: dict[str, float] = Field(default_factory=dict)
    events: dict[Slug, float] = Field(default_factory=dict, description="points per product event, by name")
    # Renewed interest (a confirmed lead filling in a form again): `resubmit` points, at most once
    # per `resubmit_every`, and at most `resubmit_cap` in all per run. Never a hand-off on its own.
    resubmit: float = Field(default=3, ge=0)
    resubmit_every: Duration = timedelta(days=7)
    resubmit_cap: float = Field(default=6, ge=0)
    decay_per_week: Percent = 0.0

    def click_weight(self, link: str | None) -> float:
        return self.links.get(link, self.click) if link else self.click


# Page rules: a glob on the path of a page of the sender's website (`*`, `?`, `[...]` as in fnmatch).
MAX_PAGE_RULES = 50
_PAGE_PATTERN = re.compile(r"^/[^\s?#]{0,200}$")

# The cap is checked against the lead's most recent emails, and a lead keeps this many: a larger
# `max` could never be enforced, so the validator refuses it.
RECENT_EMAILS_KEPT = 10


class FrequencyCap(BaseModel):
    """At most `max` nurture emails per lead in any `per` period, counted across all sequences."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max: int = Field(default=1, ge=1, le=RECENT_EMAILS_KEPT)
    per: Duration = timedelta(hours=24)


class Reentry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    policy: Literal["never", "after_exit"] = "never"
    cooldown: Duration = timedelta(days=30)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"policy": data} if isinstance(data, str) else data


class StageRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: Slug
    when: Condition


class Migration(BaseModel):
    """How leads on an older version move to this one; unlisted steps keep their id."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: int = Field(alias="from", ge=1)
    steps: dict[Slug, Slug] = Field(default_factory=dict)


def _sender(value: Any) -> str:
    _, address = parseaddr(str(value))
    if "@" not in address or " " in address or "\r" in str(value) or "\n" in str(value):
        raise ValueError(f"'{value}' is not a sender; write e.g. 'Acme <hello@acme.example>'")
    return str(value)


Sender = Annotated[str, BeforeValidator(_sender)]


class SequenceSettings(BaseModel):
    """Everything in sequence.yaml but the steps."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: Slug
    version: int = Field(default=1, ge=1)
    title: str | None = Field(default=None, max_length=120, description="what leads see it called")
    description: str | None = None
    from_: Sender = Field(alias="from")
    reply_to: Sender | None = None
    double_opt_in: DoubleOptIn = DoubleOptIn()  # on unless the sequence says `double_opt_in: false`
    consent_required: bool = True
    consent: ConsentText = ConsentText()
    thank_you_url: str | None = None
    send_window: SendWindow | None = None
    goal: Goals = ()
    trigger: EventTrigger | None = None
    exit_on: tuple[Slug, ...] = Field(default=(), description="product events that end the enrollment")
    pages: dict[str, Slug] = Field(
        default_factory=dict,
        description="page rules: a path on the sender's website (glob, e.g. '/pricing*') -> the product event a "
        "visit from an email link records; links to the website then carry a visitor token (`rv`)",
        json_schema_extra={"propertyNames": {"pattern": _PAGE_PATTERN.pattern}, "maxProperties": MAX_PAGE_RULES},
    )
    sales_ready: SalesReady | None = None
    holdout: Holdout | None = None
    scoring: Scoring = Scoring()
    stages: tuple[Slug, ...] = ("awareness", "consideration", "decision")
    stage_rules: tuple[StageRule, ...] = ()
    frequency_cap: FrequencyCap | None = FrequencyCap()
    reentry: Reentry = Reentry()
    migrations: tuple[Migration, ...] = ()

    @field_validator("thank_you_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s]+$", value):
            raise ValueError(f"'{value}' is not a web address; write e.g. 'https://acme.example/thanks'")
        return value

    @field_validator("pages")
    @classmethod
    def _page_rules(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_PAGE_RULES:
            raise ValueError(f"at most {MAX_PAGE_RULES} page rules; match several pages with one glob ('/docs/*')")
        for pattern in value:
            if not _PAGE_PATTERN.match(pattern):
                raise ValueError(
                    f"page rule '{pattern}' must be a path on the website starting with '/', without spaces, "
                    "query or '#' (e.g. '/pricing*')"
                )
        return value

    def page_events(self, path: str) -> tuple[str, ...]:
        """The product events a visit to `path` records: each rule whose glob matches, in order, once."""
        found: list[str] = []
        for pattern, event in self.pages.items():
            if fnmatch.fnmatchcase(path, pattern) and event not in found:
                found.append(event)
        return tuple(found)

    @field_validator("exit_on", mode="before")
    @classmethod
    def _exit_on_one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def goal_events(self) -> tuple[str, ...]:
        """The names of the product events that end the enrollment as a conversion."""
        return tuple(g.event for g in self.goal)

    @field_validator("frequency_cap", mode="before")
    @classmethod
    def _cap_off(cls, value: Any) -> Any:
        return None if value in (False, "off", "none") else value

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("stages needs at least one stage, e.g. [awareness, consideration, decision]")
        if len(set(value)) != len(value):
            raise ValueError("each stage may be listed once")
        return value


class Sequence(SequenceSettings):
    """A validated sequence. `steps` keep their YAML order; `step_ids` resolves every id."""

    steps: tuple[Step, ...]
    step_ids: tuple[str, ...]

    def index_of(self, step_id: str) -> int:
        return self.step_ids.index(step_id)

    def step(self, step_id: str) -> Step:
        return self.steps[self.index_of(step_id)]

    def next_id(self, step_id: str) -> str | None:
        index = self.index_of(step_id) + 1
        return self.step_ids[index] if index < len(self.step_ids) else None

    @property
    def watched_events(self) -> frozenset[str]:
        """Product events a `wait_for` step looks for: the enrollment remembers when they last happened."""
        names: set[str] = set()
        for step in self.steps:
            if isinstance(step, WaitForStep):
                names.update(s.event for s in step.wait_for.signals if s.event)
        return frozenset(names)

    @property
    def first_id(self) -> str:
        return self.step_ids[0]

    @property
    def display_title(self) -> str:
        return self.title or self.name.replace("-", " ").capitalize()

    @property
    def initial_stage(self) -> str:
        return self.stages[0]


def default_step_id(step: Step, index: int) -> str:
    """Email steps are named after their email; other steps after their kind and position."""
    if step.id:
        return step.id
    if isinstance(step, EmailStep):
        return step.email
    return f"{step.kind.replace('_', '-')}-{index + 1}"
