"""`ripen preview-lead`: the exact emails and moments one lead gets for a behaviour script.

Runs the production path: the nurture service (load, decide with the engine, write with
conditions, queue) on the in-memory store, with a moved clock. Each email's subject is rendered
by the mail renderer for a sample lead (`--lead FILE` for your own), as the sender would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ripen.core.engine import new_enrollment
from ripen.core.links import Links
from ripen.core.records import Consent, Lead, MessageClaim, message_key
from ripen.core.scoring import current_score
from ripen.core.sequence import Sequence
from ripen.core.state import Decision, Enrolled, Enrollment, Trigger
from ripen.core.validator import Catalog
from ripen.mail.compose import Composer
from ripen.mail.render import Renderer, RenderError
from ripen.services.nurture import Nurture
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.mail.samples import SAMPLE_BASE_URL, SAMPLE_KEY, SAMPLE_LEADS, SAMPLE_SENDER
from ripen_dev.simulation.model import email_links
from ripen_dev.simulation.play import Decided, LeadEvent, LeadLoop, LeadTrace, SentEmail
from ripen_dev.simulation.script import Script, ScriptedBehaviour, parse_script

DEFAULT_SIGNUP_TIME = (2026, 3, 2, 10, 0)  # a Monday, 10:00 in the lead's own zone


class NurtureRunner:
    """The nurture service on the in-memory store: the same path as production, one lead at a time."""

    def __init__(self, catalog: Catalog, sequence: Sequence, lead: Lead) -> None:
        self.sequence = sequence
        self.lead = lead
        self.clock = ManualClock(lead.created_at)
        self.store = InMemoryStore()
        self.queue = MemorySendQueue()
        self.nurture = Nurture(self.store, catalog, self.queue, self.clock)
        self.store.create_lead(lead)
        self._new = new_enrollment(lead.lead_id, sequence, lead.created_at)

    @property
    def enrollment(self) -> Enrollment:
        record = self.store.get_enrollment(self.lead.lead_id, self.sequence.name)
        return record.enrollment if record else self._new

    def decide(self, trigger: Trigger, at: datetime, name: str) -> Decision | None:
        self.clock.set(at)
        if isinstance(trigger, Enrolled):
            outcome = self.nurture.enroll(self.lead, self.sequence.name)
        else:
            outcome = self.nurture.apply(self.lead.lead_id, self.sequence.name, trigger, name)
        self.queue.drain()
        return outcome.decision if outcome.applied else None


@dataclass
class LeadPreview:
    sequence: Sequence
    lead: Lead
    script: Script
    trace: LeadTrace
    subjects: dict[str, str]  # step -> subject as rendered for this lead
    days: int

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.lead.timezone or "UTC")


def sample_lead(timezone: str, signed_up_at: datetime | None, base: Lead | None = None) -> Lead:
    lead = base or SAMPLE_LEADS["full"]
    zone = ZoneInfo(timezone)
    at = signed_up_at or datetime(*DEFAULT_SIGNUP_TIME, tzinfo=zone)
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    at = at.astimezone(ZoneInfo("UTC"))
    return replace(lead, timezone=timezone, created_at=at, consents=(Consent(given_at=at, source="preview"),))


def preview_lead(
    templates: Path,
    catalog: Catalog,
    sequence: Sequence,
    script_text: str,
    lead: Lead,
    days: int,
) -> LeadPreview:
    """Play `script_text` (ScriptError when it does not read) for `lead` through `sequence` for `days`."""
    links = email_links(templates, sequence)
    script = parse_script(script_text, sequence, links)
    behaviour = ScriptedBehaviour(script, links, sequence.goal_events[0] if sequence.goal_events else None)
    runner = NurtureRunner(catalog, sequence, lead)
    trace = LeadTrace(lead.lead_id, lead.created_at, lead.timezone)
    LeadLoop(sequence, runner, behaviour, keep_log=True).play(trace, lead.created_at + timedelta(days=days))
    return LeadPreview(sequence, lead, script, trace, _subjects(templates, sequence, lead, trace), days)


def _subjects(templates: Path, sequence: Sequence, lead: Lead, trace: LeadTrace) -> dict[str, str]:
    renderer = Renderer(templates, own_url=SAMPLE_BASE_URL)
    composer = Composer(renderer, Links(SAMPLE_BASE_URL, SAMPLE_KEY, timedelta(days=60)), SAMPLE_SENDER)
    subjects: dict[str, str] = {}
    for email in trace.emails:
        claim = MessageClaim(
            message_key(lead.lead_id, sequence.name, 1, email.step),
            lead.lead_id,
            sequence.name,
            sequence.version,
            1,
            email.step,
            email.email,
            email.kind,
            email.at,
        )
        try:
            _, rendered = composer.render(claim, lead, sequence, email.at)
            subjects[email.step] = rendered.subject
        except RenderError as exc:
            subjects[email.step] = f"(does not render: {exc})"
    return subjects


def _event_text(event: LeadEvent) -> str:
    match event.kind:
        case "open":
            return f"the lead's mail app opens {event.step} (machine open)" if event.machine else f"opens {event.step}"
        case "click":
            return f"clicks {event.link} in {event.step}"
        case "bounce":
            return f"{event.step} bounces ({'hard' if event.permanent else 'soft'})"
        case "complaint":
            return f"marks {event.step} as spam"
        case "unsubscribe":
            return f"unsubscribes{f' (from {event.step})' if event.step else ''}"
        case "confirm":
            return "clicks the confirmation link"
        case "goal":
            return f"reaches the goal '{event.name}'"
        case "event":
            return "books a demo" if event.name == "demo_booked" else f"does {event.name} (a product event)"
    return event.kind


def write_preview(preview: LeadPreview, out: TextIO) -> None:
    zone, trace, sequence = preview.zone, preview.trace, preview.sequence

    def stamp(at: datetime) -> str:
        return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")

    def day(at: datetime) -> int:
        return (at - trace.signed_up_at) // timedelta(days=1)

    print(
        f"ripen preview-lead: {sequence.name} v{sequence.version} for a lead in {preview.lead.timezone} "
        f"who signs up {stamp(trace.signed_up_at)}\nbehaviour: {preview.script.describe()}\n",
        file=out,
    )
    print(f"Emails ({len(trace.emails)}):", file=out)
    for email in trace.emails:
        bounce = f"  [bounced: {email.bounce}]" if email.bounce else ""
        subject = preview.subjects.get(email.step, "")
        print(f"  day {day(email.at):>2}  {stamp(email.at)}  {email.step:<18} {subject}{bounce}", file=out)
    print("\nWhat happened:", file=out)
    for at, entry in trace.journal:
        if isinstance(entry, Decided):
            for line in entry.lines:
                print(f"  {stamp(at)}  {line}", file=out)
        elif isinstance(entry, SentEmail):
            print(f"  {stamp(at)}    -> email {entry.step}: {preview.subjects.get(entry.step, '')}", file=out)
        else:
            print(f"  {stamp(at)}  (the lead {_event_text(entry)})", file=out)
    final = trace.final
    if final is not None:
        end = trace.signed_up_at + timedelta(days=preview.days)
        where = final.exit_reason if final.terminal else f"waiting at step {final.cursor}"
        score = current_score(final, sequence, end)
        print(
            f"\nAfter {preview.days} days: {final.status.value.replace('_', ' ')} ({where}), stage {final.stage}, "
            f"score {score:.4g}, {len(trace.emails)} email(s)",
            file=out,
        )
