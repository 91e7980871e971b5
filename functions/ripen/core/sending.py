"""The life of one email's message, as one state machine: what may happen to it next.

The sender and the sweep both ask `next_move`, so they never disagree about a message.

```
claimed ──lease──► sending ──SES accepted, recorded──► sent
   ▲                  │ ├──not wanted any more / does not render / SES rejected──► skipped | failed
   └──release─────────┘ │   (throttled, SES unreachable, sending stopped, frequency cap: due later)
                        │
                        └──lease ran out (its sender died, or SES's answer was lost): in doubt
                             ├─ SES reports the send (Send event)  ──► sent, never sent again
                             ├─ no report by lease end + wait, never resent ──► leased again: the one resend
                             └─ no report by lease end + wait, resent already ──► failed (parked, alarm)
```

A lease outlasts the sender's Lambda timeout, so once it has run out its holder is gone: whatever
it did is done. Whether it reached SES is only known from SES's Send event, which carries the
message tag; the wait (`SEND_EVENT_WAIT_SECONDS`) gives that event time to arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ripen.core.records import HANDOFF_GRACE, Message, MessageClaim, MessageStatus


class Move(StrEnum):
    SEND = "send"  # claimed: lease it and send it
    RESEND = "resend"  # in doubt, SES reported nothing in time, never resent: lease it again and send
    RECORD = "record"  # SES reported the send (an observed id): record it, never send it again
    HELD = "held"  # a sender holds a live lease
    AWAIT_SES = "await SES"  # in doubt: wait for SES's Send event until `at`
    PARK = "park"  # in doubt a second time: mark it failed, raise the alarm, never a third send
    DONE = "done"  # sent, skipped or failed; or a hand-off, which is not an email


@dataclass(frozen=True, slots=True)
class Next:
    move: Move
    at: datetime | None = None  # HELD: when the lease runs out; AWAIT_SES: when the wait is over


def next_move(message: Message, now: datetime, send_event_wait: timedelta) -> Next:
    """What may happen to `message` at `now` (read consistently: it is acted on with a condition
    that it is still as read)."""
    if message.claim.kind == "handoff" or message.status in (
        MessageStatus.SENT,
        MessageStatus.FAILED,
        MessageStatus.SKIPPED,
    ):
        return Next(Move.DONE)
    if message.observed_ses_message_id:
        # An earlier attempt reached SES (an SES event named it) and was never recorded.
        if message.status is MessageStatus.SENDING and _live(message, now):
            return Next(Move.HELD, message.lease_until)  # its sender may still be recording it
        return Next(Move.RECORD)
    if message.status is MessageStatus.CLAIMED:
        return Next(Move.SEND)
    if _live(message, now):
        return Next(Move.HELD, message.lease_until)
    over = in_doubt_until(message, send_event_wait)
    if now < over:
        return Next(Move.AWAIT_SES, over)
    return Next(Move.PARK if message.resent_at is not None else Move.RESEND)


def in_doubt_until(message: Message, send_event_wait: timedelta) -> datetime:
    """When a message whose lease ran out stops waiting for SES's Send event."""
    end = message.lease_until or message.leased_at or message.claim.created_at
    return end + send_event_wait


def _live(message: Message, now: datetime) -> bool:
    return message.lease_until is not None and message.lease_until > now


# An email counts under the frequency cap from its claim, the moment the engine decided to send it
# and counted it in the enrollment: sender and engine then agree, so a step the engine timed for the
# instant the cap frees is not held again for the seconds the previous email spent in the queue. A
# lease this much later than its claim (a held, retried or backlogged email) counts from the lease.
CLAIM_COUNTS_WITHIN = timedelta(minutes=5)

# A place is kept on the lead as seconds since the epoch: it may differ from the moment it is
# computed from by rounding, never by this much.
_SAME_MOMENT = timedelta(milliseconds=1)


def cap_place(message: Message, leased_at: datetime) -> datetime:
    """The moment a lease at `leased_at` counts this email at under the frequency cap."""
    claimed = message.claim.created_at
    return claimed if leased_at - claimed <= CLAIM_COUNTS_WITHIN else leased_at


def other_emails(recent: tuple[datetime, ...], message: Message) -> tuple[datetime, ...]:
    """The lead's recent emails without the place this message took with an earlier lease."""
    if message.leased_at is None:
        return recent
    own = cap_place(message, message.leased_at)
    for index, at in enumerate(recent):
        if abs(at - own) < _SAME_MOMENT:
            return recent[:index] + recent[index + 1 :]
    return recent


def with_email(recent: tuple[datetime, ...], message: Message, now: datetime, kept: int) -> tuple[datetime, ...]:
    """The lead's recent emails once a lease at `now` takes this message's place (moving an earlier one)."""
    return tuple(sorted((*other_emails(recent, message), cap_place(message, now))))[-kept:]


# -- the life cycle, declared once ------------------------------------------------------------------
# Every write that moves a message is one of the transitions below: a guard (what the stored
# message must be, checked in the same write) and an effect (the fields it sets or removes). The
# in-memory store evaluates them here (`allows`, `applied`); the DynamoDB store translates the same
# terms into its condition and update expressions. A new state or transition is declared here once.
#
# Fields are `Message` fields, plus `kind` (the claim's kind). `due_at` is the sweep's due index:
# setting it puts the message in the index, removing it takes it out (DynamoDB: with `due_shard`).

ERROR_KEPT = 1000  # characters of an error kept on a message
# A claimed message not sent by then is looked at again by the sweep (lost job, crashed sender).
CLAIM_TIMEOUT = timedelta(minutes=15)


def first_due(claim: MessageClaim) -> datetime:
    """When a message is first due in the sweep's index: a message is born `claimed` (written only
    if its key is new), due once its claim timed out, or a hand-off once its grace period is over."""
    return claim.created_at + (HANDOFF_GRACE if claim.kind == "handoff" else CLAIM_TIMEOUT)


@dataclass(frozen=True, slots=True)
class Arg:
    """A value the caller gives when the transition happens (`now`, `lease_until`, ...). A None
    value removes the field; `clip` keeps at most that many characters of a text."""

    name: str
    clip: int | None = None


Value = Arg | MessageStatus

# Guard terms: each is a condition on the stored message.


@dataclass(frozen=True, slots=True)
class Is:
    """The field holds one of `values`."""

    field: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class AsRead:
    """The field is still what the caller read (its default also when it was never written: a
    message claimed before `attempts` was stored reads as 0 attempts)."""

    field: str


@dataclass(frozen=True, slots=True)
class Absent:
    field: str


@dataclass(frozen=True, slots=True)
class Present:
    field: str


@dataclass(frozen=True, slots=True)
class AtLeast:
    field: str
    number: int


@dataclass(frozen=True, slots=True)
class NotAfter:
    """The (time) field is set and at or before the argument: a lease that ran out by `now`."""

    field: str
    arg: str


@dataclass(frozen=True, slots=True)
class Either:
    first: Term
    second: Term


Term = Is | AsRead | Absent | Present | AtLeast | NotAfter | Either

# Effect terms: each changes one field.


@dataclass(frozen=True, slots=True)
class Put:
    field: str
    value: Value


@dataclass(frozen=True, slots=True)
class Drop:
    field: str


@dataclass(frozen=True, slots=True)
class Bump:
    field: str
    by: int = 1


@dataclass(frozen=True, slots=True)
class Keep:
    """Set the field only if it has no value yet: the first one stays."""

    field: str
    value: Value


Effect = Put | Drop | Bump | Keep


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    guard: tuple[Term, ...]  # all of them, on a message that exists
    effect: tuple[Effect, ...]


def _statuses(*statuses: MessageStatus) -> frozenset[str]:
    return frozenset(s.value for s in statuses)


_AS_READ = (AsRead("status"), AsRead("attempts"))  # no other writer got there first
_LEASED = (
    Put("status", MessageStatus.SENDING),
    Bump("attempts"),
    Put("leased_at", Arg("now")),
    Put("lease_until", Arg("lease_until")),
    Put("due_at", Arg("lease_due")),  # the sweep finds it if its sender dies (`lease_args`)
)
_SENT = (
    Put("status", MessageStatus.SENT),
    Put("ses_message_id", Arg("ses_message_id")),
    Put("sent_at", Arg("sent_at")),
    Drop("lease_until"),
    Drop("due_at"),
    Drop("error"),
)


def _ended(status: MessageStatus) -> tuple[Effect, ...]:
    return (Put("status", status), Put("error", Arg("reason", ERROR_KEPT)), Drop("lease_until"), Drop("due_at"))


def _released(*more: Effect) -> tuple[Effect, ...]:
    return (
        Put("status", MessageStatus.CLAIMED),
        Drop("lease_until"),
        Put("due_at", Arg("retry_at")),
        Put("error", Arg("reason")),
        *more,
    )


def _published(status: MessageStatus, *more: Effect) -> tuple[Effect, ...]:
    return (Put("status", status), Put("sent_at", Arg("at")), Drop("due_at"), *more)


_NEVER_REPORTED = Absent("observed_ses_message_id")  # SES never named it: it may still be sent
_HANDOFF_WAITING = (Is("kind", frozenset({"handoff"})), Is("status", _statuses(MessageStatus.CLAIMED)))

# claimed -> sending: the first lease
# (due time as read: the lease keeps it when no earlier than the lease's end, see `lease_args`)
LEASE = Transition(
    "lease",
    (*_AS_READ, AsRead("due_at"), Is("status", _statuses(MessageStatus.CLAIMED)), _NEVER_REPORTED),
    _LEASED,
)
# sending, lease ran out, never resent -> sending: the one resend
RESEND = Transition(
    "resend",
    (
        *_AS_READ,
        AsRead("due_at"),
        Is("status", _statuses(MessageStatus.SENDING)),
        _NEVER_REPORTED,
        Absent("resent_at"),
        NotAfter("lease_until", "now"),
    ),
    (*_LEASED, Put("resent_at", Arg("now"))),
)
# sending (this lease) -> sent
RECORD_SENT = Transition("record sent", (Is("status", _statuses(MessageStatus.SENDING)), AsRead("attempts")), _SENT)
# tried, unrecorded, not held by a live lease -> sent: SES reported the send its sender never recorded
RECONCILE = Transition(
    "reconcile",
    (
        Absent("ses_message_id"),
        AtLeast("attempts", 1),
        Either(
            Is("status", _statuses(*(s for s in MessageStatus if s is not MessageStatus.SENDING))),
            NotAfter("lease_until", "now"),
        ),
    ),
    _SENT,
)
# claimed | sending (as read) -> claimed, due again at `retry_at`
RELEASE = Transition("release", _AS_READ, _released())
# in doubt (as read) -> claimed, its one resend put off: it counts as resent
PUT_OFF_RESEND = Transition("put off resend", _AS_READ, _released(Keep("resent_at", Arg("retry_at"))))
# (as read, never reported by SES) -> skipped | failed, out of the due index
SKIP = Transition("skip", (*_AS_READ, _NEVER_REPORTED), _ended(MessageStatus.SKIPPED))
FAIL = Transition("fail", (*_AS_READ, _NEVER_REPORTED), _ended(MessageStatus.FAILED))
# SES reported a reject or rendering failure (guarded by the event's marks: see `Store.mark_message`)
FAIL_REPORTED = Transition(
    "fail reported", (), (Put("status", MessageStatus.FAILED), Put("error", Arg("reason", ERROR_KEPT)), Drop("due_at"))
)
# unrecorded: SES named it in an event, so no sender sends it again
OBSERVE = Transition("observe", (Absent("ses_message_id"),), (Put("observed_ses_message_id", Arg("ses_message_id")),))
# waiting in the due index (as read) -> due later
POSTPONE = Transition(
    "postpone", (Present("due_at"), AsRead("status"), AsRead("due_at")), (Put("due_at", Arg("until")),)
)
# a hand-off waiting -> published (sent) | failed
PUBLISH_HANDOFF = Transition("publish hand-off", _HANDOFF_WAITING, _published(MessageStatus.SENT))
FAIL_HANDOFF = Transition(
    "fail hand-off",
    _HANDOFF_WAITING,
    _published(MessageStatus.FAILED, Put("error", Arg("error", ERROR_KEPT))),
)

# sending (this very lease, as returned) -> as it was read before the lease: a lease undone because
# what else the sender decided from (the lead) changed before SES was called
UNLEASE = Transition(
    "undo lease",
    (Is("status", _statuses(MessageStatus.SENDING)), AsRead("attempts"), AsRead("leased_at")),
    (
        Put("status", Arg("status")),
        Bump("attempts", -1),
        Put("leased_at", Arg("leased_at")),
        Put("lease_until", Arg("lease_until")),
        Put("due_at", Arg("due_at")),
        Put("resent_at", Arg("resent_at")),
    ),
)

TRANSITIONS = (
    LEASE,
    RESEND,
    RECORD_SENT,
    RECONCILE,
    RELEASE,
    PUT_OFF_RESEND,
    SKIP,
    FAIL,
    FAIL_REPORTED,
    OBSERVE,
    POSTPONE,
    PUBLISH_HANDOFF,
    FAIL_HANDOFF,
    UNLEASE,
)


def lease_for(message: Message) -> Transition | None:
    """The lease a sender may take on `message` as read: the first, the one resend, or none."""
    return {MessageStatus.CLAIMED: LEASE, MessageStatus.SENDING: RESEND}.get(message.status)


def lease_args(message: Message, now: datetime, lease_until: datetime) -> dict[str, Any]:
    """The arguments of a lease on `message` as read. Its due time (`lease_due`) is the lease's end,
    unless the message is due no earlier already: a claim is due `CLAIM_TIMEOUT` after it was made,
    after the lease of an email sent at once, and keeping it (the guard checks it is still as read)
    leaves the due index's key as it is, so DynamoDB writes the index entry in place instead of
    deleting it and writing another. The sweep then looks at a message whose sender died at most
    `CLAIM_TIMEOUT` after its claim, and waits for SES's Send event from the lease's end as before
    (`in_doubt_until`)."""
    due = message.due_at if message.due_at is not None and message.due_at >= lease_until else lease_until
    return {"now": now, "lease_until": lease_until, "lease_due": due}


def unlease_args(read: Message) -> dict[str, Any]:
    """The arguments that undo a lease taken on `read`: its fields as they were read."""
    return {
        "status": read.status,
        "leased_at": read.leased_at,
        "lease_until": read.lease_until,
        "due_at": read.due_at,
        "resent_at": read.resent_at,
    }


def field_of(message: Message, field: str) -> Any:
    """A field of a stored message as the guards and effects name it."""
    return message.claim.kind if field == "kind" else getattr(message, field)


def value_of(value: Value, args: Mapping[str, Any]) -> Any:
    """The value an effect writes: a constant, or the caller's argument (clipped if it says so)."""
    if isinstance(value, MessageStatus):
        return value
    given = args[value.name]
    return given[: value.clip] if value.clip is not None and isinstance(given, str) else given


def holds(term: Term, stored: Message, read: Message | None, args: Mapping[str, Any]) -> bool:
    """Whether `term` holds for the stored message (`read`: as the caller read it)."""
    match term:
        case Is(field, values):
            return field_of(stored, field) in values
        case AsRead(field):
            if read is None:
                raise ValueError(f"{field} as read needs the message as read")
            return bool(field_of(stored, field) == field_of(read, field))
        case Absent(field):
            return field_of(stored, field) is None
        case Present(field):
            return field_of(stored, field) is not None
        case AtLeast(field, number):
            return bool(field_of(stored, field) >= number)
        case NotAfter(field, arg):
            at = field_of(stored, field)
            return at is not None and bool(at <= args[arg])
        case Either(first, second):
            return holds(first, stored, read, args) or holds(second, stored, read, args)
    raise TypeError(term)


def allows(transition: Transition, stored: Message | None, read: Message | None, args: Mapping[str, Any]) -> bool:
    """Whether `transition` may happen to the stored message (None: there is none)."""
    return stored is not None and all(holds(term, stored, read, args) for term in transition.guard)


def applied(transition: Transition, message: Message, args: Mapping[str, Any]) -> Message:
    """The message once `transition`'s effect is written on it."""
    changes: dict[str, Any] = {}
    for effect in transition.effect:
        match effect:
            case Put(field, value):
                changes[field] = value_of(value, args)
            case Drop(field):
                changes[field] = None
            case Bump(field, by):
                changes[field] = getattr(message, field) + by
            case Keep(field, value):
                if getattr(message, field) is None:
                    changes[field] = value_of(value, args)
    return replace(message, **changes)


# -- the lead's side of a send ----------------------------------------------------------------------


def takes_place_on_lead(message: Message) -> bool:
    """Whether a lease on this message takes its place among the lead's recent emails (the
    frequency cap counts nurture emails); any other email's lease only checks the lead is as read."""
    return message.claim.kind == "nurture"


def needs_place_on_lead(message: Message) -> bool:
    """Whether recording this message as sent must also put its send time on the lead: a nurture
    email leased before leases took its place there (no `leased_at`)."""
    return message.claim.kind == "nurture" and message.leased_at is None


def with_send_time(recent: tuple[datetime, ...], sent_at: datetime, kept: int) -> tuple[datetime, ...]:
    """The lead's recent emails with one more sent at `sent_at`."""
    return tuple(sorted((*recent, sent_at)))[-kept:]
