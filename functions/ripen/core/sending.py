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

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ripen.core.records import Message, MessageStatus


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
