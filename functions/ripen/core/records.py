"""What is stored: leads, enrollment records, message claims and history entries (plain data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from ripen.core.sequence import Sequence
from ripen.core.state import Action, Decision, Enrollment, HandOff, LeadContext, SendConfirmation, SendEmail, Status


class LeadStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"  # opted out of everything
    SUPPRESSED = "suppressed"  # hard bounce or complaint: never email again


ConsentMethod = Literal["form", "import", "api"]


@dataclass(frozen=True, slots=True)
class Consent:
    """One statement of consent: when, where, which wording (the sequence's, from the server), how;
    and when double opt-in confirmed it. A lead keeps them as a log (`Lead.consents`)."""

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
    # Every statement of consent, oldest first: appended to, never replaced (`with_consent`), so a
    # later post can never rewrite the proof of an earlier one. Only confirming touches an entry.
    consents: tuple[Consent, ...] = ()
    recent_emails: tuple[datetime, ...] = ()
    soft_bounces: int = 0
    revision: int = 0
    # An active lead that never confirmed is deleted after this (the Leads table's TTL). Cleared when
    # it confirms, is suppressed or unsubscribes: those live on the lead and must outlive any TTL.
    expires_at: datetime | None = None
    soft_bounced_at: datetime | None = None  # the latest soft bounce (soft_bounces counts a run of them)
    # The latest unsubscribe from everything: a confirmation link issued before it confirms nothing.
    unsubscribed_at: datetime | None = None
    locale: str | None = None  # the language of its emails and pages (`ripen.core.locales`)

    @property
    def consent(self) -> Consent | None:
        """The latest statement of consent (the one a confirmation confirms)."""
        return self.consents[-1] if self.consents else None

    @property
    def confirmed(self) -> bool:
        return bool(self.consent and self.consent.confirmed_at)

    def with_consent(self, consent: Consent) -> Lead:
        """The lead with `consent` appended to its log (see `consent_log`)."""
        return replace(self, consents=consent_log((*self.consents, consent)))

    def with_latest_confirmed(self, at: datetime) -> Lead:
        """The latest statement marked confirmed by the double opt-in click (the only change an entry sees)."""
        latest = self.consent
        if latest is None or latest.confirmed_at is not None:
            return self
        return replace(self, consents=(*self.consents[:-1], replace(latest, confirmed_at=at)))


# The consent log is bounded so a lead item stays small however often an address is posted: past
# this many entries the oldest unconfirmed ones go, but never the first (the original statement)
# and never a confirmed one (each took a click from the mailbox's owner).
CONSENTS_KEPT = 20


def consent_log(entries: tuple[Consent, ...]) -> tuple[Consent, ...]:
    kept = list(entries)
    index = 1
    while len(kept) > CONSENTS_KEPT and index < len(kept) - 1:  # the latest stays too: it may await its click
        if kept[index].confirmed_at is None:
            del kept[index]
        else:
            index += 1
    return tuple(kept)


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


def handoff_key(lead_id: str, sequence: str, run: int) -> str:
    """The one hand-off to sales a run of an enrollment can make (an outbox item in the Messages table)."""
    return message_key(lead_id, sequence, run, HANDOFF_STEP)


HANDOFF_STEP = "handoff"
# A hand-off not published by then (the function died between the commit and PutEvents) is
# published by `HandOffs.publish_pending_handoffs`, which the sweep calls.
HANDOFF_GRACE = timedelta(minutes=1)
HANDOFF_ENGAGEMENT_KEPT = 10  # engagement facts carried in the hand-off event


class MessageStatus(StrEnum):
    CLAIMED = "claimed"  # decided, queued, not yet handed to SES (a hand-off: not yet published)
    SENDING = "sending"  # a sender holds the lease and is talking to SES (lease run out: in doubt)
    SENT = "sent"  # SES accepted it; ses_message_id is set (a hand-off: published)
    FAILED = "failed"  # rejected or could not render; never retried blindly
    SKIPPED = "skipped"  # no longer allowed (unsubscribed, suppressed, left the sequence)


MessageKind = Literal["nurture", "confirmation", "handoff"]


@dataclass(frozen=True, slots=True)
class MessageClaim:
    key: str
    lead_id: str
    sequence: str
    version: int
    run: int
    step: str
    email: str  # the email template; "" for a hand-off
    kind: MessageKind
    created_at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)  # a hand-off: score, stage, engagement
    variant: str | None = None  # the email an A/B test chose for this step

    @property
    def stats_step(self) -> str:
        """The step its counters are kept under: each variant of a test apart (`step~variant`)."""
        return f"{self.step}~{self.variant}" if self.variant else self.step


EventKind = Literal[
    "send", "delivery", "delay", "open", "click", "bounce", "complaint", "reject", "rendering_failure", "subscription"
]


@dataclass(frozen=True, slots=True)
class EventMark:
    """One SES event as it is written on its message, in the same write as whatever it changes:
    `key` makes it count once (a message keeps the keys of the events applied to it), and the
    write only happens if the message carries `ses_message_id` (the event is really about it)."""

    message_key: str
    ses_message_id: str
    key: str
    kind: EventKind
    at: datetime
    machine: bool = False  # a privacy-proxy open or a security-scanner click
    link: str | None = None  # a click: the link's name
    detail: str | None = None  # a bounce: "Permanent/General"; a reject or rendering failure: the reason
    # A person's open: written only if the message was not delivered after this moment (stored by
    # an earlier batch): an open that soon after the delivery is a machine's.
    delivered_by: datetime | None = None
    # An open or click on a message that keeps `SEEN_KEPT` keys already: its key is not kept; it is
    # written only if later than the latest one of its kind written so (`Activity.past_cap`), so a
    # redelivery still counts once (an older one is taken for a redelivery too).
    past_cap: bool = False


# Keys of opens and clicks a message keeps to apply each once: past these, its opens and clicks are
# applied in time order only (`EventMark.past_cap`), so the item stays far below DynamoDB's 400 KB
# however often one email is opened (a list, a forwarding loop, a bot). Other events are few.
SEEN_KEPT = 100
CAPPED_KINDS = frozenset({"open", "click"})


@dataclass(frozen=True, slots=True)
class Activity:
    """What SES reported about one sent message, and the keys of the events already applied."""

    seen: frozenset[str] = frozenset()
    delivered_at: datetime | None = None
    opened_at: datetime | None = None  # the first open by a person
    clicked_at: datetime | None = None  # the first click by a person
    last_click_at: datetime | None = None  # any click, person or scanner (to spot scanner bursts)
    last_click_link: str | None = None
    opens: int = 0
    machine_opens: int = 0
    clicks: int = 0
    scanner_clicks: int = 0
    bounce: str | None = None
    complained_at: datetime | None = None
    open_past_cap_at: datetime | None = None  # the latest open written past `SEEN_KEPT`
    click_past_cap_at: datetime | None = None  # the latest click written past `SEEN_KEPT`

    def past_cap(self, kind: str) -> datetime | None:
        return self.open_past_cap_at if kind == "open" else self.click_past_cap_at

    @property
    def full(self) -> bool:
        """Whether its opens and clicks are past the keys it keeps (`SEEN_KEPT`)."""
        return len(self.seen) >= SEEN_KEPT


@dataclass(frozen=True, slots=True)
class MarkGuard:
    """What a message must be for a set of marks to be written on it (besides being named by
    their SES id): none of `keys` seen; fewer than `SEEN_KEPT` keys when `capped`; not delivered
    after `delivered_by`; and, per kind in `past_cap`, no such event written past the cap at or
    after the time given. Both stores derive their condition from it."""

    keys: frozenset[str]
    capped: bool
    delivered_by: datetime | None
    past_cap: Mapping[str, datetime]

    def allows(self, activity: Activity) -> bool:
        if self.keys & activity.seen or (self.capped and activity.full):
            return False
        if self.delivered_by and activity.delivered_at and activity.delivered_at > self.delivered_by:
            return False
        return all((latest := activity.past_cap(kind)) is None or latest < at for kind, at in self.past_cap.items())


def mark_guard(marks: tuple[EventMark, ...] | list[EventMark]) -> MarkGuard:
    bounds = [m.delivered_by for m in marks if m.delivered_by is not None]
    past_cap: dict[str, datetime] = {}
    for m in marks:
        if m.past_cap:
            past_cap[m.kind] = min(past_cap.get(m.kind, m.at), m.at)
    return MarkGuard(
        keys=frozenset(m.key for m in marks if not m.past_cap),
        capped=any(m.kind in CAPPED_KINDS and not m.past_cap for m in marks),
        delivered_by=min(bounds) if bounds else None,
        past_cap=past_cap,
    )


@dataclass(frozen=True, slots=True)
class ActivityUpdate:
    """What a set of marks does to a message's activity, as one write: keys added, times set once
    (the earliest wins), values set (the latest wins), counters added, and a failure to record."""

    keys: frozenset[str]
    first: Mapping[str, datetime]
    latest: Mapping[str, Any]
    add: Mapping[str, int]
    failure: str | None = None


def activity_update(marks: tuple[EventMark, ...] | list[EventMark]) -> ActivityUpdate:
    first: dict[str, datetime] = {}
    latest: dict[str, Any] = {}
    add: dict[str, int] = {}
    failure: str | None = None

    def once(name: str, at: datetime) -> None:
        first[name] = min(first.get(name, at), at)

    def count(name: str) -> None:
        add[name] = add.get(name, 0) + 1

    last_click: EventMark | None = None
    for mark in marks:
        if mark.past_cap:
            name = f"{mark.kind}_past_cap_at"
            latest[name] = max(latest.get(name, mark.at), mark.at)
        match mark.kind:
            case "delivery":
                once("delivered_at", mark.at)
            case "open":
                count("machine_opens" if mark.machine else "opens")
                if not mark.machine:
                    once("opened_at", mark.at)
            case "click":
                count("scanner_clicks" if mark.machine else "clicks")
                if not mark.machine:
                    once("clicked_at", mark.at)
                if last_click is None or mark.at >= last_click.at:
                    last_click = mark
            case "bounce":
                latest["bounce"] = mark.detail or "bounce"
            case "complaint":
                once("complained_at", mark.at)
            case "reject" | "rendering_failure":
                failure = mark.detail or mark.kind
    if last_click is not None:
        latest["last_click_at"] = last_click.at
        latest["last_click_link"] = last_click.link or ""
    return ActivityUpdate(frozenset(m.key for m in marks if not m.past_cap), first, latest, add, failure)


def apply_activity(activity: Activity, update: ActivityUpdate) -> Activity:
    """`update` applied to `activity` (what the store does in its one write)."""
    changes: dict[str, Any] = {"seen": activity.seen | update.keys}
    for name, at in update.first.items():
        if getattr(activity, name) is None:
            changes[name] = at
    changes.update(update.latest)
    for name, n in update.add.items():
        changes[name] = getattr(activity, name) + n
    return replace(activity, **changes)


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
    # SES named this message in an event before its sender recorded the send (a sender that
    # crashed, or one still finishing): the message went out and must never be sent again.
    observed_ses_message_id: str | None = None
    activity: Activity = field(default_factory=Activity)
    # When the latest lease was taken. For a nurture email a lease also takes its place in the
    # lead's recent emails (under the frequency cap, at `sending.cap_place`), so a later lease of
    # the same message moves that place instead of adding another.
    leased_at: datetime | None = None
    # Its one resend: when a sender took over a lease that ran out without SES reporting a send
    # (or the moment that resend was put off to by the frequency cap). A second doubt parks it.
    resent_at: datetime | None = None

    def named_by(self, ses_message_id: str) -> bool:
        """Whether SES's id for an event names this message."""
        return ses_message_id in (self.ses_message_id, self.observed_ses_message_id)


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
    means it must not exist yet), the messages it claims, its history entry, and the engagement
    events that caused it (written on their message, each only once)."""

    record: EnrollmentRecord
    expected_revision: int | None
    messages: tuple[MessageClaim, ...] = ()
    history: HistoryEntry | None = None
    marks: tuple[EventMark, ...] = ()


def only_scored(before: Enrollment, decision: Decision) -> bool:
    """The decision moved the score (and when engagement was last seen) and nothing else: no email,
    no hand-off, the same status, step, stage and timer."""
    after = decision.enrollment
    unscored = replace(after, score=before.score, score_at=before.score_at, engaged=before.engaged)
    return not decision.actions and unscored == before


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
    kind: MessageKind
    for action in decision.actions:
        if isinstance(action, HandOff):
            claims.append(handoff_claim(new, action, now))
            continue
        variant = None
        if isinstance(action, SendEmail):
            email, kind, variant = action.email, "nurture", action.variant
        else:
            email, kind = sequence.double_opt_in.email, "confirmation"
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
                variant=variant,
            )
        )
    revision = (expected_revision or 0) + 1
    if new.status is Status.EXPIRED:
        # Never confirmed: the run keeps no copy of a lead whose own time to live may be over.
        record = replace(record, timezone=None, attributes={}, recent_emails=())
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


def handoff_claim(enrollment: Enrollment, action: HandOff, now: datetime) -> MessageClaim:
    """The outbox item of a hand-off to sales: claimed in the same write that makes the enrollment
    sales-ready, so it exists exactly once per run, whatever happens to the function afterwards."""
    facts = sorted(((at, key) for key, at in enrollment.engaged.items() if not key.endswith(":any")), reverse=True)[
        :HANDOFF_ENGAGEMENT_KEPT
    ]
    engagement = [
        {"event": key.split(":", 1)[0], "target": key.split(":", 1)[1], "at": at.isoformat()} for at, key in facts
    ]
    return MessageClaim(
        key=handoff_key(enrollment.lead_id, enrollment.sequence, enrollment.run),
        lead_id=enrollment.lead_id,
        sequence=enrollment.sequence,
        version=enrollment.version,
        run=enrollment.run,
        step=HANDOFF_STEP,
        email="",
        kind="handoff",
        created_at=now,
        details={
            "score": round(action.score, 2),
            "stage": action.stage,
            "sales_ready_at": now.isoformat(),
            "engagement": engagement,
        },
    )


# An unconfirmed run's messages are kept `retention` from their creation, all before the run
# ended; the run is kept this much longer, as DynamoDB deletes expired items late and in no order.
UNCONFIRMED_RUN_OUTLIVES_ITS_MESSAGES = timedelta(days=30)


def enrollment_expires_at(record: EnrollmentRecord, retention: timedelta) -> datetime | None:
    """When time to live may delete this enrollment (its `expires_at`); None: kept. Only a run
    never confirmed goes (the others remember a lead's journey, and what they left), and only after
    its messages: the next run's number continues from it, so its emails never take their keys."""
    e = record.enrollment
    if e.status is not Status.EXPIRED or e.ended_at is None:
        return None
    return e.ended_at + retention + UNCONFIRMED_RUN_OUTLIVES_ITS_MESSAGES
