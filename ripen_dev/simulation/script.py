"""Behaviour scripts for `ripen preview-lead`: what one lead does, in a few plain statements.

    opens everything; clicks pricing on day 3

Statements are separated by `;`, `,`, a new line or the word `and`, and read case-insensitively.
EMAIL is an email step (its id or its email's name), LINK a named link, N a whole number of
days since the signup (day 0), DURATION like `2 hours` (default reaction time: 1 hour).

| statement | what the lead does |
| --- | --- |
| `opens everything [after DURATION]` | opens every email it gets, DURATION after delivery |
| `opens nothing` | opens no email (the default) |
| `opens EMAIL [after DURATION]` | opens that email |
| `machine opens everything` | its mail app opens every email a minute after delivery (Apple MPP: machine opens) |
| `clicks LINK [after DURATION]` | clicks LINK in the first email that has it |
| `clicks LINK after EMAIL` / `clicks LINK in EMAIL` | clicks LINK in that email (it must have the link) |
| `clicks LINK every time` | clicks LINK in every email that has it |
| `clicks LINK on day N` | on day N, clicks LINK in the latest email that has it, or in the next one to arrive |
| `unsubscribes on day N` / `unsubscribes after EMAIL` | opts out |
| `complains after EMAIL` | marks that email as spam (suppressed) |
| `bounces` / `bounces on EMAIL` | the first email (or EMAIL) bounces hard (suppressed) |
| `converts on day N` | reaches the sequence's goal on day N |
| `books a demo on day N` | the product reports `demo_booked` on day N (a product event) |
| `event NAME on day N` | the product reports the event NAME on day N (e.g. `event pricing_page_viewed on day 2`) |
| `confirms after DURATION` / `never confirms` | double opt-in (default: confirms 10 minutes after the first request) |
| `does nothing` | nothing at all |
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Union

from ripen.core.durations import DurationError, parse_duration
from ripen.core.sequence import EmailStep, Sequence
from ripen_dev.simulation.play import DELIVERED, LeadEvent, Received, SentEmail

REACTION = timedelta(hours=1)
CONFIRMATION = timedelta(minutes=10)
MACHINE = timedelta(minutes=1)
BOUNCE_NOTICE = timedelta(seconds=5)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class OpensEverything:
    after: timedelta = REACTION


@dataclass(frozen=True)
class OpensNothing:
    pass


@dataclass(frozen=True)
class OpensEmail:
    step: str
    after: timedelta = REACTION


@dataclass(frozen=True)
class MachineOpens:
    pass


@dataclass(frozen=True)
class Clicks:
    link: str
    step: str | None = None  # in this email
    day: int | None = None  # on this day, in the latest email with the link
    every_time: bool = False
    after: timedelta = REACTION


@dataclass(frozen=True)
class Unsubscribes:
    day: int | None = None
    step: str | None = None


@dataclass(frozen=True)
class Complains:
    step: str


@dataclass(frozen=True)
class Bounces:
    step: str | None = None


@dataclass(frozen=True)
class Converts:
    day: int


@dataclass(frozen=True)
class ProductEvent:
    """A product event (`Lead Event`) the lead's product reports on day N."""

    name: str
    day: int


@dataclass(frozen=True)
class Confirms:
    after: timedelta | None = CONFIRMATION  # None: never


@dataclass(frozen=True)
class DoesNothing:
    pass


Statement = Union[
    OpensEverything,
    OpensNothing,
    OpensEmail,
    MachineOpens,
    Clicks,
    Unsubscribes,
    Complains,
    Bounces,
    Converts,
    ProductEvent,
    Confirms,
    DoesNothing,
]


@dataclass(frozen=True)
class Script:
    text: str
    statements: tuple[Statement, ...] = ()

    def describe(self) -> str:
        return "; ".join(part for part in split_statements(self.text)) or "does nothing"


class ScriptError(ValueError):
    """A script that cannot be read: one message per statement that went wrong, with a fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


EXAMPLES = (
    "opens everything",
    "opens welcome after 2 hours",
    "clicks pricing on day 3",
    "clicks demo after power-user-tips",
    "unsubscribes on day 10",
    "converts on day 12",
    "books a demo on day 4",
    "event pricing_page_viewed on day 2",
    "never confirms",
)
_SEPARATORS = re.compile(r"\s*(?:[;,\n]|\band\b)\s*", re.IGNORECASE)
_NAME = r"[a-z0-9][a-z0-9_-]*"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("nothing", r"^does nothing$"),
        ("opens-everything", r"^opens (?:everything|every email|all)(?: after (?P<after>.+))?$"),
        ("opens-nothing", r"^opens nothing$"),
        ("machine", r"^machine opens everything$"),
        ("opens", rf"^opens (?P<email>{_NAME})(?: after (?P<after>.+))?$"),
        ("clicks-day", rf"^clicks (?P<link>{_NAME}) on day (?P<day>\d+)$"),
        ("clicks-every", rf"^clicks (?P<link>{_NAME}) every time$"),
        ("clicks", rf"^clicks (?P<link>{_NAME})(?: after (?P<after>\d.*))?$"),
        ("clicks-in", rf"^clicks (?P<link>{_NAME}) (?:after|in) (?P<email>{_NAME})$"),
        ("unsubscribes-day", r"^unsubscribes on day (?P<day>\d+)$"),
        ("unsubscribes-after", rf"^unsubscribes after (?P<email>{_NAME})$"),
        ("complains", rf"^complains (?:after|about) (?P<email>{_NAME})$"),
        ("bounces", rf"^bounces(?: on (?P<email>{_NAME}))?$"),
        ("converts", r"^converts on day (?P<day>\d+)$"),
        ("demo", r"^books a demo on day (?P<day>\d+)$"),
        ("event", rf"^event (?P<event>{_NAME}) on day (?P<day>\d+)$"),
        ("never-confirms", r"^never confirms$"),
        ("confirms", r"^confirms after (?P<after>.+)$"),
    )
]


def _events_used(sequence: Sequence) -> frozenset[str]:
    """The product events that change something in this sequence (its trigger only starts it)."""
    return frozenset({*sequence.goal_events, *sequence.exit_on, *sequence.scoring.events, *sequence.watched_events})


def split_statements(text: str) -> list[str]:
    return [part.strip() for part in _SEPARATORS.split(text.strip()) if part and part.strip()]


def parse_script(text: str, sequence: Sequence, links: dict[str, frozenset[str]]) -> Script:
    """The statements of `text`, checked against the sequence's emails and links (ScriptError if not)."""
    emails = {
        step.email: step_id
        for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True)
        if isinstance(step, EmailStep)
    }
    steps = {step_id: step_id for step_id in links} | emails
    every_link = sorted(frozenset().union(*links.values())) if links else []
    problems: list[str] = []
    statements: list[Statement] = []

    def email(name: str, statement: str) -> str | None:
        step = steps.get(name.lower())
        if step is None:
            guess = difflib.get_close_matches(name.lower(), sorted(steps), n=1)
            hint = f"did you mean '{guess[0]}'?" if guess else f"its emails: {', '.join(sorted(steps))}"
            problems.append(f"'{statement}': {sequence.name} has no email '{name}' ({hint})")
        return step

    def link(name: str, statement: str) -> str | None:
        if name.lower() in every_link:
            return name.lower()
        guess = difflib.get_close_matches(name.lower(), every_link, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"its links: {', '.join(every_link) or 'none'}"
        problems.append(f"'{statement}': no email of {sequence.name} has a link named '{name}' ({hint})")
        return None

    def duration(value: str | None, statement: str, default: timedelta) -> timedelta:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except DurationError as exc:
            problems.append(f"'{statement}': {exc}")
            return default

    for statement in split_statements(text):
        kind, match = next(((k, m) for k, p in _PATTERNS if (m := p.match(statement))), ("", None))
        if match is None:
            guess = difflib.get_close_matches(statement.lower(), EXAMPLES, n=1, cutoff=0.4)
            hint = f"did you mean '{guess[0]}'?" if guess else f"write e.g. '{EXAMPLES[0]}' or '{EXAMPLES[2]}'"
            problems.append(f"'{statement}' is not a statement a script knows ({hint})")
            continue
        g = match.groupdict()
        match kind:
            case "nothing":
                statements.append(DoesNothing())
            case "opens-everything":
                statements.append(OpensEverything(duration(g["after"], statement, REACTION)))
            case "opens-nothing":
                statements.append(OpensNothing())
            case "machine":
                statements.append(MachineOpens())
            case "opens":
                if (step := email(g["email"], statement)) is not None:
                    statements.append(OpensEmail(step, duration(g["after"], statement, REACTION)))
            case "clicks-day" | "clicks-every" | "clicks":
                if (name := link(g["link"], statement)) is not None:
                    day = int(g["day"]) if g.get("day") else None
                    after = duration(g.get("after"), statement, REACTION)
                    statements.append(Clicks(name, day=day, every_time=kind == "clicks-every", after=after))
            case "clicks-in":
                name, step = link(g["link"], statement), email(g["email"], statement)
                if name is not None and step is not None:
                    if name not in links.get(step, frozenset()):
                        has = ", ".join(sorted(links.get(step, frozenset()))) or "none"
                        problems.append(
                            f"'{statement}': the email '{step}' has no link named '{name}' (its links: {has})"
                        )
                    else:
                        statements.append(Clicks(name, step=step))
            case "unsubscribes-day":
                statements.append(Unsubscribes(day=int(g["day"])))
            case "unsubscribes-after":
                if (step := email(g["email"], statement)) is not None:
                    statements.append(Unsubscribes(step=step))
            case "complains":
                if (step := email(g["email"], statement)) is not None:
                    statements.append(Complains(step))
            case "bounces":
                target = email(g["email"], statement) if g["email"] else None
                if g["email"] is None or target is not None:
                    statements.append(Bounces(target))
            case "converts":
                if not sequence.goal_events:
                    problems.append(f"'{statement}': {sequence.name} has no goal to convert to")
                else:
                    statements.append(Converts(int(g["day"])))
            case "demo" | "event":
                name = "demo_booked" if kind == "demo" else g["event"].lower()
                used = _events_used(sequence)
                if name not in used:
                    known = ", ".join(sorted(used)) or "none"
                    problems.append(
                        f"'{statement}': {sequence.name} does nothing with the event '{name}' "
                        f"(the events it uses: {known})"
                    )
                else:
                    statements.append(ProductEvent(name, int(g["day"])))
            case "never-confirms" | "confirms":
                if not sequence.double_opt_in.enabled:
                    problems.append(f"'{statement}': {sequence.name} does not ask leads to confirm (no double opt-in)")
                else:
                    wait: timedelta | None = None
                    if kind == "confirms":
                        wait = duration(g["after"], statement, CONFIRMATION)
                    statements.append(Confirms(wait))
    kinds = {type(s) for s in statements}
    if OpensNothing in kinds and kinds & {OpensEverything, OpensEmail}:
        problems.append("'opens nothing' contradicts another 'opens' statement; keep one")
    if sum(isinstance(s, Confirms) for s in statements) > 1:
        problems.append("say once whether and when the lead confirms")
    if problems:
        raise ScriptError(problems)
    return Script(text, tuple(statements))


@dataclass
class _Delivered:
    at: datetime
    step: str
    links: frozenset[str]


@dataclass
class ScriptedBehaviour:
    """Plays a script: answers each email with the events its statements call for."""

    script: Script
    links: dict[str, frozenset[str]]
    goal: str | None = None
    delivered: list[_Delivered] = field(default_factory=list)
    _waiting: list[Clicks] = field(default_factory=list)  # clicks on day N before any email had the link
    _clicked_once: set[str] = field(default_factory=set)
    _any_email: bool = False
    _confirmations: int = 0

    def signed_up(self, at: datetime) -> list[LeadEvent]:
        events = []
        for index, statement in enumerate(self.script.statements):
            match statement:
                case Clicks(day=int(day)) | Unsubscribes(day=int(day)):
                    events.append(LeadEvent(at + day * DAY, "wake", name=str(index)))
                case Converts(day=day):
                    events.append(LeadEvent(at + day * DAY, "goal", name=self.goal))
                case ProductEvent(name=name, day=day):
                    events.append(LeadEvent(at + day * DAY, "event", name=name))
        return events

    def received(self, email: SentEmail) -> Received:
        statements = self.script.statements
        first, self._any_email = not self._any_email, True
        for statement in statements:
            if isinstance(statement, Bounces) and (statement.step == email.step or (statement.step is None and first)):
                return Received("hard", (LeadEvent(email.at + BOUNCE_NOTICE, "bounce", email.step, permanent=True),))
        if email.kind == "confirmation":
            self._confirmations += 1
            if self._confirmations > 1:
                return DELIVERED
            confirms = next((s for s in statements if isinstance(s, Confirms)), Confirms())
            if confirms.after is None:
                return DELIVERED
            return Received(None, (LeadEvent(email.at + confirms.after, "confirm", email.step),))
        step, at = email.step, email.at
        links = self.links.get(step, frozenset())
        self.delivered.append(_Delivered(at, step, links))
        events: list[LeadEvent] = []
        if any(isinstance(s, MachineOpens) for s in statements):
            events.append(LeadEvent(at + MACHINE, "open", step, machine=True))
        for statement in statements:
            match statement:
                case OpensEverything(after=after):
                    events.append(LeadEvent(at + after, "open", step))
                case OpensEmail(step=opened, after=after) if opened == step:
                    events.append(LeadEvent(at + after, "open", step))
        for statement in statements:
            if not isinstance(statement, Clicks) or statement.link not in links:
                continue
            clicking = False
            if statement.step is not None:
                clicking = statement.step == step
            elif statement.every_time:
                clicking = True
            elif statement.day is None and statement.link not in self._clicked_once:
                clicking = True
                self._clicked_once.add(statement.link)
            elif statement in self._waiting:
                self._waiting.remove(statement)
                clicking = True
            if clicking:
                events.append(LeadEvent(at + statement.after, "click", step, statement.link))
        for statement in statements:
            match statement:
                case Unsubscribes(step=target) if target == step:
                    events.append(LeadEvent(at + REACTION, "unsubscribe", step))
                case Complains(step=target) if target == step:
                    events.append(LeadEvent(at + REACTION, "complaint", step))
        return Received(None, tuple(events))

    def woke(self, event: LeadEvent) -> list[LeadEvent]:
        statement = self.script.statements[int(event.name or 0)]
        if isinstance(statement, Unsubscribes):
            latest = self.delivered[-1].step if self.delivered else None
            return [LeadEvent(event.at, "unsubscribe", latest)]
        if isinstance(statement, Clicks):
            carrying = [d for d in self.delivered if statement.link in d.links]
            if carrying:
                return [LeadEvent(event.at, "click", carrying[-1].step, statement.link)]
            self._waiting.append(statement)
        return []
