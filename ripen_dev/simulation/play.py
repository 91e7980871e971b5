"""One lead through one sequence on a virtual clock: an event loop over the lead's timer and what it does.

The loop is the same for every tool here: `ripen simulate` plays thousands of leads with the pure
engine (`EngineRunner`), `ripen preview-lead` plays one with the nurture service on the in-memory
store (`NurtureRunner`), and a test checks both give the same emails at the same moments.

What the lead does comes from a `Behaviour`: told about each email it receives, it answers with
the events that follow (opens, clicks, a bounce, an unsubscribe...) at the moments they happen.
Events and the enrollment's own timer are taken in time order; at the same instant the timer
goes first (an email due at 09:00 is sent before a click planned for 09:00 looks for it).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

from ripen.core.engine import advance, new_enrollment
from ripen.core.sequence import RECENT_EMAILS_KEPT, Sequence
from ripen.core.state import (
    Confirmed,
    Decision,
    Engaged,
    Enrolled,
    Enrollment,
    EventOccurred,
    GoalReached,
    HandOff,
    LeadContext,
    SendConfirmation,
    SendEmail,
    Status,
    Stopped,
    TimerDue,
    Trigger,
)

EventKind = Literal["open", "click", "bounce", "complaint", "unsubscribe", "confirm", "goal", "event", "wake"]
EmailKind = Literal["nurture", "confirmation"]
BounceKind = Literal["hard", "soft"]


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """Something the lead (or their mail system) does at `at`. `step` names the email it happened on.
    `name` is the goal event for `goal`, the product event's name for `event`, and the behaviour's own
    note for `wake` (a planned moment at which the behaviour decides what to do, e.g. "click pricing
    on day 3")."""

    at: datetime
    kind: EventKind
    step: str | None = None
    link: str | None = None
    machine: bool = False
    permanent: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """What happens to one email: bounced (and how) or delivered, and the events that follow."""

    bounce: BounceKind | None = None
    events: tuple[LeadEvent, ...] = ()


DELIVERED = Received()


@dataclass(frozen=True, slots=True)
class SentEmail:
    at: datetime
    step: str
    email: str
    kind: EmailKind
    stage: str
    bounce: BounceKind | None = None


class Behaviour(Protocol):
    def signed_up(self, at: datetime) -> list[LeadEvent]:
        """Events planned from the start (a goal on day 12, a wake-up on day 3...)."""
        ...

    def received(self, email: SentEmail) -> Received:
        """The lead got this email (not yet bounced: `email.bounce` is None)."""
        ...

    def woke(self, event: LeadEvent) -> list[LeadEvent]:
        """A planned `wake` event came due."""
        ...


@dataclass(frozen=True, slots=True)
class Decided:
    """The engine's own words for one decision (what `History` stores)."""

    trigger: str
    lines: tuple[str, ...]


JournalEntry = tuple[datetime, LeadEvent | SentEmail | Decided]


@dataclass
class LeadTrace:
    """Everything that happened to one lead within the horizon."""

    lead_id: str
    signed_up_at: datetime
    timezone: str | None
    segment: str = ""
    emails: list[SentEmail] = field(default_factory=list)
    events: list[LeadEvent] = field(default_factory=list)
    labels: list[tuple[datetime, str]] = field(default_factory=list)  # where the lead is, from when
    journal: list[JournalEntry] = field(default_factory=list)  # everything in order, when asked for
    decisions: int = 0
    handed_off_at: datetime | None = None
    final: Enrollment | None = None


def label_of(enrollment: Enrollment) -> str:
    """Where a lead stands, for the stage chart: its stage while in the sequence, else its status."""
    status = enrollment.status
    if status is Status.ACTIVE or status is Status.PAUSED:
        return enrollment.stage
    if status is Status.PENDING or status is Status.NEW:
        return "awaiting confirmation"
    return status.value.replace("_", "-")


class Runner(Protocol):
    """Decides for one enrollment; the two implementations must agree (tests check they do)."""

    @property
    def enrollment(self) -> Enrollment: ...

    def decide(self, trigger: Trigger, at: datetime, name: str) -> Decision | None:
        """Apply `trigger` at `at`; the decision when it changed anything, else None."""
        ...


class EngineRunner:
    """The pure engine with the lead context the nurture service would give it (time zone, the
    lead's recent emails for the frequency cap): fast, for thousands of leads."""

    def __init__(
        self, sequence: Sequence, lead_id: str, signed_up_at: datetime, timezone: str | None, confirmed: bool = False
    ) -> None:
        self.sequence = sequence
        self.timezone = timezone
        self.confirmed = confirmed
        self.recent: tuple[datetime, ...] = ()
        self._enrollment = new_enrollment(lead_id, sequence, signed_up_at)
        self._context = LeadContext(timezone, {}, self.recent, False)

    @property
    def enrollment(self) -> Enrollment:
        return self._enrollment

    def decide(self, trigger: Trigger, at: datetime, name: str) -> Decision | None:
        e = self._enrollment
        if e.terminal:
            return None
        context = self._context
        if self.confirmed and isinstance(trigger, Enrolled):
            context = LeadContext(self.timezone, {}, self.recent, True)
        decision = advance(e, trigger, self.sequence, at, context)
        if not decision.changed:
            return None
        self._enrollment = decision.enrollment
        if decision.actions:
            sends = sum(1 for a in decision.actions if type(a) is SendEmail)
            if sends:
                self.recent = (*self.recent, *([at] * sends))[-RECENT_EMAILS_KEPT:]
                self._context = LeadContext(self.timezone, {}, self.recent, False)
        return decision


class LeadLoop:
    """Plays one lead: the enrollment's timer and the behaviour's events, in time order, until `horizon`."""

    def __init__(self, sequence: Sequence, runner: Runner, behaviour: Behaviour, keep_log: bool = False) -> None:
        self.sequence = sequence
        self.runner = runner
        self.behaviour = behaviour
        self.keep_log = keep_log
        self._queue: list[tuple[datetime, int, LeadEvent]] = []
        self._count = 0
        self._out = False  # unsubscribed, complained or hard-bounced: the lead can opt out only once

    def play(self, trace: LeadTrace, horizon: datetime) -> LeadTrace:
        self._decide(trace, Enrolled(), trace.signed_up_at, "signup")
        for event in self.behaviour.signed_up(trace.signed_up_at):
            self._plan(event)
        queue = self._queue
        while True:
            e = self.runner.enrollment
            timer = None if e.terminal else e.next_action_at
            if queue and (timer is None or queue[0][0] < timer):
                at, _, event = heapq.heappop(queue)
                if at >= horizon:
                    break
                self._happen(trace, event)
            elif timer is not None:
                if timer >= horizon:
                    break
                self._decide(trace, TimerDue(), timer, "timer")
                after = self.runner.enrollment
                if not after.terminal and after.next_action_at is not None and after.next_action_at <= timer:
                    raise RuntimeError(f"{self.sequence.name}: the engine left a due timer in place at {timer}")
            else:
                break
        trace.final = self.runner.enrollment
        return trace

    def _plan(self, event: LeadEvent) -> None:
        self._count += 1
        heapq.heappush(self._queue, (event.at, self._count, event))

    def _happen(self, trace: LeadTrace, event: LeadEvent) -> None:
        at = event.at
        if self.keep_log and event.kind != "wake" and not (event.kind in ("complaint", "unsubscribe") and self._out):
            trace.journal.append((at, event))
        match event.kind:
            case "open" | "click":
                trace.events.append(event)
                trigger = Engaged(event.kind, at, step=event.step, link=event.link, machine=event.machine)
                self._decide(trace, trigger, at, event.kind)
            case "bounce":
                trace.events.append(event)
                if event.permanent and not self._out:
                    self._out = True
                    self._decide(trace, Stopped("suppressed"), at, "bounce")
            case "complaint" | "unsubscribe":
                if self._out:
                    return
                self._out = True
                trace.events.append(event)
                reason: Literal["unsubscribed", "suppressed"] = (
                    "unsubscribed" if event.kind == "unsubscribe" else "suppressed"
                )
                self._decide(trace, Stopped(reason), at, event.kind)
            case "confirm":
                trace.events.append(event)
                self._decide(trace, Confirmed(), at, "confirmed")
            case "goal":
                trace.events.append(event)
                self._decide(trace, GoalReached(event.name or ""), at, "goal")
            case "event":
                trace.events.append(event)
                self._decide(trace, EventOccurred(event.name or "", at), at, f"event {event.name}")
            case "wake":
                for planned in self.behaviour.woke(event):
                    self._plan(planned)

    def _decide(self, trace: LeadTrace, trigger: Trigger, at: datetime, name: str) -> None:
        if self.runner.enrollment.terminal:
            return  # a finished enrollment never moves again: nothing to decide
        trace.decisions += 1
        before = trace.labels[-1][1] if trace.labels else None
        decision = self.runner.decide(trigger, at, name)
        if decision is None:
            return
        if self.keep_log and decision.log:
            trace.journal.append((at, Decided(name, decision.log)))
        if decision.actions:
            self._act(trace, decision, at)
        label = label_of(decision.enrollment)
        if label != before:
            trace.labels.append((at, label))

    def _act(self, trace: LeadTrace, decision: Decision, at: datetime) -> None:
        stage = decision.enrollment.stage
        for action in decision.actions:
            if isinstance(action, SendEmail):
                email = SentEmail(at, action.step, action.email, "nurture", stage)
            elif isinstance(action, SendConfirmation):
                email = SentEmail(at, action.step, self.sequence.double_opt_in.email, "confirmation", stage)
            elif isinstance(action, HandOff):
                trace.handed_off_at = at
                continue
            else:
                continue
            received = self.behaviour.received(email)
            if received.bounce:
                email = replace(email, bounce=received.bounce)
            trace.emails.append(email)
            if self.keep_log:
                trace.journal.append((at, email))
            for event in received.events:
                self._plan(event)
