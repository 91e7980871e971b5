"""What is stored: leads, enrollment records, message claims and history entries (plain data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from ripen.core.sequence import Sequence
from ripen.core.state import Action, Decision, Enrollment, HandOff, LeadContext, SendConfirmation, SendEmail


class LeadStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"  # opted out of everything
    SUPPRESSED = "suppressed"  # hard bounce or complaint: never email again


ConsentMethod = Literal["form", "import", "api"]


@dataclass(frozen=True, slots=True)
class Consent:
    """Proof of consent: when, where, which wording, how; and when double opt-in confirmed it."""

    given_at: datetime
    method: ConsentMethod = "form"
    source: str | None = None  # the form or page
    wording: str | None = None  # version of the consent text shown
    confirmed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Lead:
    lead_id: str
    email: str
    created_at: datetime
    name: str | None = None
    timezone: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    status: LeadStatus = LeadStatus.ACTIVE
    status_reason: str | None = None
    consent: Consent | None = None
    recent_emails: tuple[datetime, ...] = ()
    soft_bounces: int = 0
    revision: int = 0
    expires_at: datetime | None = None  # unconfirmed leads are deleted after this

    @property
    def confirmed(self) -> bool:
        return bool(self.consent and self.consent.confirmed_at)


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    """An enrollment as stored: its revision (for conditional writes) and a copy of the lead
    context the engine needs, so the sweep decides without reading the lead."""

    enrollment: Enrollment
    revision: int = 0
    timezone: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    recent_emails: tuple[datetime, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.enrollment.lead_id, self.enrollment.sequence)

    def lead_context(self, confirmed: bool = False) -> LeadContext:
        return LeadContext(self.timezone, self.attributes, self.recent_emails, confirmed)


def message_key(lead_id: str, sequence: str, run: int, step: str) -> str:
    """One email per (lead, sequence, run, step): the key every send is claimed under."""
    return f"{lead_id}#{sequence}#{run}#{step}"


class MessageStatus(StrEnum):
    CLAIMED = "claimed"  # decided, queued, not yet handed to SES
    SENDING = "sending"  # a sender holds the lease and is talking to SES
    SENT = "sent"  # SES accepted it; ses_message_id is set
    FAILED = "failed"  # rejected or could not render; never retried blindly
    SKIPPED = "skipped"  # no longer allowed (unsubscribed, suppressed, left the sequence)


@dataclass(frozen=True, slots=True)
class MessageClaim:
    key: str
    lead_id: str
    sequence: str
    version: int
    run: int
    step: str
    email: str
    kind: Literal["nurture", "confirmation"]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    claim: MessageClaim
    status: MessageStatus = MessageStatus.CLAIMED
    attempts: int = 0
    lease_until: datetime | None = None
    due_at: datetime | None = None  # when the sweep looks at it again if it is still not sent
    ses_message_id: str | None = None
    sent_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition of one enrollment, in words: answers "why did (not) this lead get email Y"."""

    lead_id: str
    at: datetime
    sequence: str
    revision: int
    trigger: str
    status: str
    step: str | None
    lines: tuple[str, ...]
    actions: tuple[str, ...] = ()
    message_key: str | None = None  # set on entries about one message (e.g. why it was not sent)

    @property
    def entry(self) -> str:
        base = f"{self.at.isoformat()}#{self.sequence}#{self.revision:08d}"
        return f"{base}#{self.message_key}" if self.message_key else base


@dataclass(frozen=True, slots=True)
class Change:
    """An atomic write: the enrollment as it becomes (only if still at `expected_revision`; None
    means it must not exist yet), the messages it claims, and its history entry."""

    record: EnrollmentRecord
    expected_revision: int | None
    messages: tuple[MessageClaim, ...] = ()
    history: HistoryEntry | None = None


def describe(action: Action) -> str:
    match action:
        case SendEmail(step=step, email=email):
            return f"send {email} ({step})"
        case SendConfirmation(number=number):
            return f"send confirmation #{number}"
        case HandOff(score=score, stage=stage):
            return f"hand off to sales (score {score:g}, stage {stage})"
    return type(action).__name__


def change_for(
    record: EnrollmentRecord,
    decision: Decision,
    sequence: Sequence,
    trigger: str,
    now: datetime,
    expected_revision: int | None,
) -> Change:
    """The write that records `decision`: new state, one claim per email to send, one history entry."""
    new = decision.enrollment
    claims = []
    kind: Literal["nurture", "confirmation"]
    for action in decision.actions:
        if isinstance(action, SendEmail):
            email, kind = action.email, "nurture"
        elif isinstance(action, SendConfirmation):
            email, kind = sequence.double_opt_in.email, "confirmation"
        else:
            continue
        claims.append(
            MessageClaim(
                key=message_key(new.lead_id, new.sequence, new.run, action.step),
                lead_id=new.lead_id,
                sequence=new.sequence,
                version=new.version,
                run=new.run,
                step=action.step,
                email=email,
                kind=kind,
                created_at=now,
            )
        )
    revision = (expected_revision or 0) + 1
    history = HistoryEntry(
        lead_id=new.lead_id,
        at=now,
        sequence=new.sequence,
        revision=revision,
        trigger=trigger,
        status=new.status.value,
        step=new.cursor,
        lines=decision.log,
        actions=tuple(describe(a) for a in decision.actions),
    )
    return Change(replace(record, enrollment=new, revision=revision), expected_revision, tuple(claims), history)
