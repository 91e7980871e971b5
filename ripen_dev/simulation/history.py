"""Real history, replayed: how a new version of a sequence would have treated leads who went through it.

The export format is JSON Lines (docs/marketer-guide.md, "Replaying real history"). The first line describes the
export; every other line is one lead's run of the sequence:

    {"format": "ripen-history", "version": 1, "sequence": "trial-nurture", "sequence_version": 1,
     "exported_at": "2026-05-01T00:00:00+00:00"}
    {"lead": "ld_3f2a...", "signed_up_at": "2026-03-02T14:05:00+00:00", "timezone": "Europe/Berlin",
     "emails": [{"step": "welcome", "email": "welcome", "at": "..."}, ...],
     "events": [{"type": "open", "step": "welcome", "at": "...", "machine": true},
                {"type": "click", "step": "case-study", "link": "pricing", "at": "..."},
                {"type": "bounce", "step": "welcome", "at": "...", "permanent": true},
                {"type": "complaint" | "unsubscribe", "step": "...", "at": "..."},
                {"type": "confirm", "step": "confirm", "at": "..."},
                {"type": "goal", "event": "converted", "at": "..."}],
     "outcome": {"status": "sales_ready", "at": "..."}}

These are what the Messages table (emails, by step, with `sent_at`) and the engagement events
matched to them hold. Replaying plays each lead again from its signup with the engine, and maps
what the lead did onto the emails the new version sends (see `ReplayBehaviour`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ripen.core.sequence import Sequence
from ripen.core.validator import Problem
from ripen_dev.simulation.play import EngineRunner, LeadEvent, LeadLoop, LeadTrace, Received, SentEmail
from ripen_dev.simulation.simulate import Plan

FORMAT = "ripen-history"
FORMAT_VERSION = 1


class ExportHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["ripen-history"]
    version: Literal[1]
    sequence: str
    sequence_version: int = Field(ge=1)
    exported_at: AwareDatetime


class ExportedEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    step: str
    email: str
    at: AwareDatetime
    kind: Literal["nurture", "confirmation"] = "nurture"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime
    step: str | None = None


class OpenEvent(_Event):
    type: Literal["open"]
    step: str
    machine: bool = False


class ClickEvent(_Event):
    type: Literal["click"]
    step: str
    link: str
    machine: bool = False


class BounceEvent(_Event):
    type: Literal["bounce"]
    step: str
    permanent: bool


class OptOutEvent(_Event):
    type: Literal["complaint", "unsubscribe"]


class ConfirmEvent(_Event):
    type: Literal["confirm"]


class GoalEvent(_Event):
    type: Literal["goal"]
    event: str


ExportedEvent = Annotated[
    OpenEvent | ClickEvent | BounceEvent | OptOutEvent | ConfirmEvent | GoalEvent, Field(discriminator="type")
]


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    at: AwareDatetime | None = None
    stage: str | None = None


class LeadHistory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lead: str = Field(min_length=1, max_length=64)
    signed_up_at: AwareDatetime
    timezone: str | None = None
    emails: list[ExportedEmail] = Field(default_factory=list)
    events: list[ExportedEvent] = Field(default_factory=list)
    outcome: Outcome | None = None


@dataclass
class Export:
    header: ExportHeader
    leads: list[LeadHistory]
    problems: list[Problem] = field(default_factory=list)


def read_export(path: Path) -> Export:
    """Every lead line that parses; each line that does not is a problem (`file:line: message`) and skipped."""
    problems: list[Problem] = []
    leads: list[LeadHistory] = []
    header: ExportHeader | None = None
    name = str(path)
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(name, number, f"not JSON: {exc.msg}"))
                continue
            try:
                if header is None:
                    header = ExportHeader.model_validate(data)
                else:
                    leads.append(LeadHistory.model_validate(data))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                problems.append(Problem(name, number, f"{where}: {first['msg']}" if where else first["msg"]))
                if header is None:
                    raise ExportError(problems) from None
    if header is None:
        raise ExportError([Problem(name, 1, f"empty: the first line must describe the export ('{FORMAT}')")])
    return Export(header, leads, problems)


class ExportError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# -- writing an export (from a simulation: the same format real history comes in) --------------------


def export_lines(plan: Plan, traces: Iterable[LeadTrace]) -> Iterator[str]:
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sequence": plan.sequence.name,
        "sequence_version": plan.sequence.version,
        "exported_at": plan.horizon.isoformat(),
    }
    yield json.dumps(header)
    for trace in traces:
        if trace.final is None:
            continue  # signed up after the horizon
        yield json.dumps(lead_record(trace))


def lead_record(trace: LeadTrace) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    for event in trace.events:
        item: dict[str, Any] = {"type": event.kind, "at": event.at.isoformat()}
        if event.kind == "goal":
            item["event"] = event.name
        elif event.step is not None:
            item["step"] = event.step
        if event.kind == "click":
            item["link"] = event.link
        if event.kind in ("open", "click") and event.machine:
            item["machine"] = True
        if event.kind == "bounce":
            item["permanent"] = event.permanent
        events.append(item)
    final = trace.final
    record: dict[str, Any] = {
        "lead": trace.lead_id,
        "signed_up_at": trace.signed_up_at.isoformat(),
        "timezone": trace.timezone,
        "emails": [{"step": e.step, "email": e.email, "at": e.at.isoformat(), "kind": e.kind} for e in trace.emails],
        "events": events,  # bounces are events: the email was sent all the same
    }
    if final is not None:
        record["outcome"] = {
            "status": final.status.value,
            "stage": final.stage,
            "at": final.ended_at.isoformat() if final.ended_at else None,
        }
    return record


# -- replaying ---------------------------------------------------------------------------------------


class ReplayBehaviour:
    """What a lead did, mapped onto the emails a (new) version sends. See the marketer guide, "Replaying":

    - Engagement with an email (opens, clicks, a soft bounce, a confirmation) keeps its delay after
      that email, when the new version sends the same step (by step id, through the new version's
      `migrations` when it declares them, else by the email's name).
    - Clicks on an email the new version never sends move to the first email of the new version
      that has the same link and goes out at or after the original email (same delay): found by
      playing the lead twice, the second time with those clicks free to move.
    - A hard bounce: the address was dead from the bounced email on, so the first email the new
      version sends at or after it bounces hard.
    - Unsubscribes, complaints and goals happen at their original moment.
    - Emails the new version sends that the lead never got bring no engagement (there is no data).
    Engagement that finds no email to land on is counted as lost.
    """

    def __init__(
        self,
        history: LeadHistory,
        steps: dict[str, str],
        links: dict[str, frozenset[str]],
        movable: frozenset[str] = frozenset(),
    ) -> None:
        self.links = links
        self.sent_at = {steps.get(e.step, e.step): e.at for e in history.emails}
        self.email_of = {steps.get(e.step, e.step): e.email for e in history.emails}
        self.fixed: list[LeadEvent] = []
        self.dead_from: tuple[datetime, timedelta] | None = None  # (bounced email's send time, notice delay)
        self.pending: dict[str, list[OpenEvent | ClickEvent | BounceEvent | ConfirmEvent]] = {}
        self.moving: list[tuple[datetime, ClickEvent]] = []  # (original email's send time, click)
        self.lost: Counter[str] = Counter()
        for event in history.events:
            step = steps.get(event.step, event.step) if event.step else None
            if isinstance(event, GoalEvent):
                self.fixed.append(LeadEvent(event.at, "goal", name=event.event))
            elif isinstance(event, OptOutEvent):
                self.fixed.append(LeadEvent(event.at, event.type))
            elif isinstance(event, BounceEvent) and event.permanent:
                sent = self.sent_at.get(step or "", event.at)
                if self.dead_from is None or sent < self.dead_from[0]:
                    self.dead_from = (sent, event.at - sent)
            elif step is not None and step in self.sent_at:
                if isinstance(event, ClickEvent) and step in movable:
                    self.moving.append((self.sent_at[step], event))
                else:
                    self.pending.setdefault(step, []).append(event)
            elif isinstance(event, ConfirmEvent):
                self.fixed.append(LeadEvent(event.at, "confirm"))
            else:
                self.lost[event.type] += 1

    def signed_up(self, at: datetime) -> list[LeadEvent]:
        return list(self.fixed)

    def _original(self, email: SentEmail) -> str | None:
        if email.step in self.pending:
            return email.step
        if email.step in self.sent_at:
            return None  # the same step, already placed
        return next((s for s, name in self.email_of.items() if name == email.email and s in self.pending), None)

    def received(self, email: SentEmail) -> Received:
        if self.dead_from is not None and email.at >= self.dead_from[0]:
            notice = self.dead_from[1]
            self.dead_from = None
            return Received("hard", (LeadEvent(email.at + notice, "bounce", email.step, permanent=True),))
        events: list[LeadEvent] = []
        original = self._original(email)
        if original is not None:
            sent = self.sent_at[original]
            for event in self.pending.pop(original):
                at = email.at + (event.at - sent)
                if isinstance(event, BounceEvent):
                    return Received("soft", (LeadEvent(at, "bounce", email.step),))
                if isinstance(event, OpenEvent):
                    events.append(LeadEvent(at, "open", email.step, machine=event.machine))
                elif isinstance(event, ClickEvent):
                    events.append(LeadEvent(at, "click", email.step, event.link, machine=event.machine))
                else:
                    events.append(LeadEvent(at, "confirm", email.step))
        links = self.links.get(email.step, frozenset())
        for moving in list(self.moving):
            sent, click = moving
            if click.link in links and email.at >= sent:
                self.moving.remove(moving)
                events.append(LeadEvent(email.at + (click.at - sent), "click", email.step, click.link, click.machine))
        return Received(None, tuple(events))

    def woke(self, event: LeadEvent) -> list[LeadEvent]:
        return []

    def unplaced(self) -> Counter[str]:
        """Engagement that never found an email, by type (after the lead was played)."""
        left = Counter(self.lost)
        for events in self.pending.values():
            left.update(e.type for e in events)
        left.update("click" for _ in self.moving)
        return left


@dataclass
class LeadReplay:
    history: LeadHistory
    trace: LeadTrace
    recorded: list[tuple[str, datetime]]  # (step as the new version names it, when it was sent)
    lost: Counter[str]
    moved_clicks: int

    @property
    def replayed(self) -> list[tuple[str, datetime]]:
        return [(e.step, e.at) for e in self.trace.emails]

    @property
    def differs(self) -> bool:
        return self.recorded != self.replayed

    @property
    def path_differs(self) -> bool:
        """Other emails, not only the same ones at other moments."""
        return [step for step, _ in self.recorded] != [step for step, _ in self.replayed]


@dataclass
class ReplayResult:
    export: Export
    sequence: Sequence
    leads: list[LeadReplay]
    steps: dict[str, str]  # the recorded step ids as the new version names them

    @property
    def changed(self) -> list[LeadReplay]:
        return [lead for lead in self.leads if lead.differs]

    def sent_by_step(self) -> tuple[Counter[str], Counter[str]]:
        recorded: Counter[str] = Counter()
        replayed: Counter[str] = Counter()
        for lead in self.leads:
            recorded.update(step for step, _ in lead.recorded)
            replayed.update(step for step, _ in lead.replayed)
        return recorded, replayed

    def outcomes(self) -> tuple[Counter[str], Counter[str]]:
        recorded: Counter[str] = Counter()
        replayed: Counter[str] = Counter()
        for lead in self.leads:
            recorded[lead.history.outcome.status if lead.history.outcome else "unknown"] += 1
            final = lead.trace.final
            replayed[final.status.value if final else "unknown"] += 1
        return recorded, replayed

    def lost(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for lead in self.leads:
            total.update(lead.lost)
        return total


def step_mapping(export: Export, sequence: Sequence) -> dict[str, str]:
    """Recorded step id -> the new version's step id, from the new version's `migrations` (if any)."""
    migration = next((m for m in sequence.migrations if m.from_ == export.header.sequence_version), None)
    return dict(migration.steps) if migration else {}


def replay(export: Export, sequence: Sequence, links: dict[str, frozenset[str]]) -> ReplayResult:
    steps = step_mapping(export, sequence)
    horizon = export.header.exported_at
    leads = []
    for history in export.leads:
        trace, behaviour = _play(history, sequence, steps, links, horizon, frozenset())
        stranded = frozenset(behaviour.pending) & {
            steps.get(e.step, e.step) for e in history.events if isinstance(e, ClickEvent)
        }
        moved = 0
        if stranded:
            trace, behaviour = _play(history, sequence, steps, links, horizon, stranded)
            moved = sum(
                1 for e in history.events if isinstance(e, ClickEvent) and steps.get(e.step, e.step) in stranded
            )
            moved -= len(behaviour.moving)
        recorded = [(steps.get(e.step, e.step), e.at) for e in history.emails]
        leads.append(LeadReplay(history, trace, recorded, behaviour.unplaced(), moved))
    return ReplayResult(export, sequence, leads, steps)


def _play(
    history: LeadHistory,
    sequence: Sequence,
    steps: dict[str, str],
    links: dict[str, frozenset[str]],
    horizon: datetime,
    movable: frozenset[str],
) -> tuple[LeadTrace, ReplayBehaviour]:
    behaviour = ReplayBehaviour(history, steps, links, movable)
    trace = LeadTrace(history.lead, history.signed_up_at, history.timezone)
    runner = EngineRunner(sequence, history.lead, history.signed_up_at, history.timezone)
    LeadLoop(sequence, runner, behaviour).play(trace, horizon)
    return trace, behaviour
