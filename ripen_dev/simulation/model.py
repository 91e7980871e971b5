"""The engagement model: how a synthetic population behaves with the emails (`ripen simulate --model`).

A YAML (or JSON) file; every key is optional and falls back to the built-in default below.
Probabilities are written as `35%` or `0.35`; durations as the sequences write them (`3 hours`).
The odds for one email are resolved key by key: built-in defaults, then `emails`, then
`stages.<the lead's stage when it was sent>`, then `steps.<the step id>`; a lead's segment then
scales its open and click odds (capped at 100%). See docs/marketer-guide.md, "Simulating a sequence".
"""

from __future__ import annotations

import difflib
import math
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from ripen.adapters.templates import find_email
from ripen.core.emails import link_names
from ripen.core.sequence import Duration, EmailStep, Sequence, Slug
from ripen.core.validator import Problem
from ripen.core.yamlsource import YamlSourceError, load_yaml

UNKNOWN_ZONE = "unknown"  # the signup form sent no time zone: the send window's default_timezone applies
SHARE_TOLERANCE = 0.005


def _probability(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a probability like '35%' or 0.35")
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("%"):
        try:
            number = float(text[:-1]) / 100
        except ValueError:
            raise ValueError(f"'{value}' is not a percentage; write e.g. '35%'") from None
    else:
        try:
            number = float(text)
        except (TypeError, ValueError):
            raise ValueError(f"'{value}' is not a probability; write e.g. '35%' or 0.35") from None
    if not 0 <= number <= 1:
        raise ValueError(f"'{value}' is not between 0% and 100%")
    return number


Probability = Annotated[float, BeforeValidator(_probability)]


class Delay(BaseModel):
    """A lognormal delay: half of the draws fall below `median`; `sigma` is its spread (0: always the median)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    median: Duration
    sigma: float = Field(default=1.0, ge=0, le=4)

    def draw(self, rng: random.Random) -> timedelta:
        seconds = self.median.total_seconds()
        if self.sigma == 0:
            return self.median
        return timedelta(seconds=rng.lognormvariate(math.log(seconds), self.sigma))


class Bounce(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hard: Probability | None = None  # the address does not exist: suppressed everywhere
    soft: Probability | None = None  # mailbox full, greylisted: this email is lost, nothing else changes


class EmailBehaviour(BaseModel):
    """What leads do with one email they receive; every key optional (it falls back, see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    open: Probability | None = Field(default=None, description="a person opens it (machine opens are separate)")
    click: Probability | None = Field(default=None, description="a person who opened it clicks a named link")
    links: dict[str, Probability] = Field(default_factory=dict, description="click odds per link name")
    bounce: Bounce | None = None
    complaint: Probability | None = Field(default=None, description="marked as spam (suppressed everywhere)")
    unsubscribe: Probability | None = None


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Slug
    share: Probability
    engagement: float = Field(default=1.0, ge=0, description="multiplies the open, click and goal odds")


class Confirmation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    share: Probability = 0.75  # of leads who get a confirmation email, per email (the reminder gets a second chance)
    delay: Delay = Delay(median=timedelta(minutes=12), sigma=1.2)


class GoalModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    share: Probability = 0.04  # of leads who reach the sequence's goal (e.g. buy), scaled by their segment
    delay: Delay = Delay(median=timedelta(days=12), sigma=0.5)  # after signing up


class Signups(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    over: Duration = timedelta(days=7)  # signups spread evenly over this period from the start


DEFAULT_EMAILS = EmailBehaviour(
    open=0.30,
    click=0.06,
    bounce=Bounce(hard=0.004, soft=0.008),
    complaint=0.0003,
    unsubscribe=0.003,
)
DEFAULT_ZONES = {
    "America/New_York": 0.35,
    "America/Los_Angeles": 0.15,
    "Europe/London": 0.15,
    "Europe/Berlin": 0.20,
    "Asia/Singapore": 0.05,
    "Australia/Sydney": 0.05,
    UNKNOWN_ZONE: 0.05,
}
DEFAULT_SEGMENTS = (
    Segment(name="ready", share=0.10, engagement=2.5),
    Segment(name="curious", share=0.40, engagement=1.0),
    Segment(name="cold", share=0.50, engagement=0.3),
)


class EngagementModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    signups: Signups = Signups()
    timezones: dict[str, Probability] = Field(default_factory=lambda: dict(DEFAULT_ZONES))
    machine_opens: Probability = Field(
        default=0.40, description="share of leads whose mail app opens every email on delivery (Apple MPP)"
    )
    machine_open_delay: Delay = Delay(median=timedelta(minutes=1), sigma=0.5)
    segments: tuple[Segment, ...] = DEFAULT_SEGMENTS
    confirm: Confirmation = Confirmation()
    goal: GoalModel = GoalModel()
    open_delay: Delay = Delay(median=timedelta(hours=3), sigma=1.4)
    click_delay: Delay = Delay(median=timedelta(minutes=1), sigma=1.0)
    emails: EmailBehaviour = EmailBehaviour()
    stages: dict[str, EmailBehaviour] = Field(default_factory=dict)
    steps: dict[str, EmailBehaviour] = Field(default_factory=dict)

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if name != UNKNOWN_ZONE:
                try:
                    ZoneInfo(name)
                except (ZoneInfoNotFoundError, ValueError):
                    raise ValueError(
                        f"'{name}' is not an IANA time zone; write one like 'Europe/Berlin', or '{UNKNOWN_ZONE}'"
                    ) from None
        _adds_up(value.values(), "time zone shares")
        return value

    @field_validator("segments")
    @classmethod
    def _segments(cls, value: tuple[Segment, ...]) -> tuple[Segment, ...]:
        if not value:
            raise ValueError("segments needs at least one segment, e.g. [{name: everyone, share: 100%}]")
        _adds_up((s.share for s in value), "segment shares")
        if len({s.name for s in value}) != len(value):
            raise ValueError("each segment name may be used once")
        return value

    @model_validator(mode="after")
    def _bounces(self) -> EngagementModel:
        for where, behaviour in [("emails", self.emails), *self.stages.items(), *self.steps.items()]:
            bounce = behaviour.bounce
            if bounce and (bounce.hard or 0) + (bounce.soft or 0) > 1:
                raise ValueError(f"{where}: hard and soft bounces together exceed 100%")
        return self


def _adds_up(shares: Any, what: str) -> None:
    total = sum(shares)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ValueError(f"the {what} add up to {total:.1%}; they must add up to 100%")


class ModelError(ValueError):
    """An engagement model that cannot be used; each problem names its line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_model(path: Path | None) -> EngagementModel:
    """The model in `path` (YAML or JSON), or the built-in default when `path` is None."""
    if path is None:
        return EngagementModel()
    name = str(path)
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError([Problem(name, 1, f"cannot read the engagement model: {exc.strerror}")]) from None
    except YamlSourceError as exc:
        raise ModelError([Problem(name, exc.line, str(exc))]) from None
    if doc.data is None:
        return EngagementModel()
    if not isinstance(doc.data, dict):
        raise ModelError([Problem(name, 1, "an engagement model is a mapping of keys, e.g. 'emails: {open: 30%}'")])
    try:
        return EngagementModel.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            fix = None
            if error["type"] == "extra_forbidden":
                known = _fields_at(loc[:-1])
                message = f"unknown key '{loc[-1]}'"
                guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
                fix = f"did you mean '{guess[0]}'?" if guess else f"use one of: {', '.join(sorted(known))}"
            problems.append(Problem(name, doc.line_of(loc), message, fix))
        raise ModelError(problems) from None


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = EngagementModel
    nested: dict[str, type[BaseModel]] = {
        "signups": Signups,
        "confirm": Confirmation,
        "goal": GoalModel,
        "bounce": Bounce,
        "emails": EmailBehaviour,
        "delay": Delay,
        "open_delay": Delay,
        "click_delay": Delay,
        "machine_open_delay": Delay,
        "segments": Segment,
    }
    parts = [p for p in loc if isinstance(p, str)]
    for index, part in enumerate(parts):
        if part in ("stages", "steps") and index == 0:
            model = EmailBehaviour
        elif part in nested:
            model = nested[part]
    return list(model.model_fields)


# -- the model applied to one sequence ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailOdds:
    """The resolved odds for one email, one stage and one segment."""

    hard_bounce: float
    soft_bounce: float
    open: float
    clicks: tuple[tuple[str, float], ...]  # (link, odds of a click once opened), for the links the email has
    unsubscribe: float
    complaint: float


def email_links(templates: Path, sequence: Sequence) -> dict[str, frozenset[str]]:
    """The named links of every email step's email, by step id (the confirmation link excluded)."""
    found: dict[str, frozenset[str]] = {}
    for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True):
        if isinstance(step, EmailStep):
            source = find_email(templates / sequence.name, step.email)
            found[step_id] = frozenset(link_names(source.read_text(encoding="utf-8"))) if source else frozenset()
    return found


def check_model(
    model: EngagementModel, sequence: Sequence, links: dict[str, frozenset[str]], file: str
) -> list[Problem]:
    """Names the model uses that this sequence does not have: a typo would silently count for nothing."""
    problems: list[Problem] = []
    every_link = frozenset().union(*links.values()) if links else frozenset()

    def unknown(kind: str, name: str, known: set[str] | frozenset[str], where: str) -> None:
        guess = difflib.get_close_matches(name, sorted(known), n=1)
        fix = f"did you mean '{guess[0]}'?" if guess else f"known: {', '.join(sorted(known)) or 'none'}"
        problems.append(Problem(file, 1, f"{where}: {sequence.name} has no {kind} '{name}'", fix))

    for link in model.emails.links:
        if link not in every_link:
            unknown("link", link, every_link, "emails.links")
    for stage, behaviour in model.stages.items():
        if stage not in sequence.stages:
            unknown("stage", stage, set(sequence.stages), "stages")
        for link in behaviour.links:
            if link not in every_link:
                unknown("link", link, every_link, f"stages.{stage}.links")
    for step, behaviour in model.steps.items():
        if step not in links:
            unknown("email step", step, set(links), "steps")
            continue
        for link in behaviour.links:
            if link not in links[step]:
                unknown("link", link, links[step], f"steps.{step}.links (the links of that email)")
    return problems


class Odds:
    """Resolves and caches `EmailOdds` per (step, stage, segment)."""

    def __init__(self, model: EngagementModel, links: dict[str, frozenset[str]]) -> None:
        self.model = model
        self.links = links
        self._cache: dict[tuple[str, str, float], EmailOdds] = {}

    def of(self, step: str, stage: str, engagement: float) -> EmailOdds:
        key = (step, stage, engagement)
        odds = self._cache.get(key)
        if odds is None:
            odds = self._cache[key] = self._resolve(step, stage, engagement)
        return odds

    def _resolve(self, step: str, stage: str, engagement: float) -> EmailOdds:
        layers = [DEFAULT_EMAILS, self.model.emails, self.model.stages.get(stage), self.model.steps.get(step)]
        chain = [layer for layer in layers if layer is not None]

        def pick(name: str) -> float:
            value = 0.0
            for layer in chain:
                own = getattr(layer, name)
                if own is not None:
                    value = own
            return float(value)

        def bounce(kind: str) -> float:
            value = 0.0
            for layer in chain:
                if layer.bounce is not None and getattr(layer.bounce, kind) is not None:
                    value = getattr(layer.bounce, kind)
            return value

        default_click = pick("click")
        clicks = []
        for link in sorted(self.links.get(step, frozenset())):
            odds = default_click
            for layer in chain:
                odds = layer.links.get(link, odds)
            clicks.append((link, min(1.0, odds * engagement)))
        return EmailOdds(
            hard_bounce=bounce("hard"),
            soft_bounce=bounce("soft"),
            open=min(1.0, pick("open") * engagement),
            clicks=tuple(clicks),
            unsubscribe=pick("unsubscribe"),
            complaint=pick("complaint"),
        )
