"""Small worlds to start a contract case from, written only through the store's own interface."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ripen.core.records import (
    Change,
    EnrollmentRecord,
    HistoryEntry,
    Lead,
    Message,
    MessageClaim,
    MessageKind,
    handoff_key,
    message_key,
)
from ripen.core.state import Enrollment, Status, Wait
from ripen.ports.store import Store

SEQUENCE = "trial-nurture"
LEASE = timedelta(minutes=5)


def enrollment(
    lead_id: str, at: datetime, *, due: datetime | None = None, status: Status = Status.ACTIVE, revision: int = 1
) -> EnrollmentRecord:
    """An enrollment in the trial nurture, waiting for a timer due at `due` (None: not waiting)."""
    state = Enrollment(
        lead_id=lead_id,
        sequence=SEQUENCE,
        version=1,
        status=status,
        cursor="welcome",
        wait=Wait.TIMER if due else None,
        next_action_at=due,
        since=at,
        entered_at=at,
        score_at=at,
    )
    return EnrollmentRecord(state, revision=revision, timezone="UTC", recent_emails=())


def history(lead_id: str, at: datetime, revision: int, trigger: str = "enrolled", message: str | None = None):
    return HistoryEntry(
        lead_id=lead_id,
        at=at,
        sequence=SEQUENCE,
        revision=revision,
        trigger=trigger,
        status="active",
        step="welcome",
        lines=(f"{trigger} at revision {revision}",),
        message_key=message,
    )


def claim(lead_id: str, at: datetime, step: str = "welcome", kind: MessageKind = "nurture") -> MessageClaim:
    key = handoff_key(lead_id, SEQUENCE, 1) if kind == "handoff" else message_key(lead_id, SEQUENCE, 1, step)
    return MessageClaim(
        key=key,
        lead_id=lead_id,
        sequence=SEQUENCE,
        version=1,
        run=1,
        step=step,
        email="" if kind == "handoff" else "trial-welcome",
        kind=kind,
        created_at=at,
        details={"score": 42.0} if kind == "handoff" else {},
    )


def lead(store: Store, lead_id: str, at: datetime) -> Lead:
    assert store.create_lead(Lead(lead_id=lead_id, email=f"{lead_id}@example.com", created_at=at, timezone="UTC"))
    stored = store.get_lead(lead_id)
    assert stored is not None
    return stored


def claimed(store: Store, lead_id: str, at: datetime, kind: MessageKind = "nurture") -> Message:
    """A lead enrolled, with one email (or hand-off) claimed at `at` in the same write."""
    record = enrollment(lead_id, at, due=at + timedelta(days=2))
    assert store.commit(Change(record, None, (claim(lead_id, at, kind=kind),), history(lead_id, at, 1)))
    message = store.get_message(claim(lead_id, at, kind=kind).key)
    assert message is not None
    return message


def leased(store: Store, lead_id: str, at: datetime) -> Message:
    """A claimed email, leased by a sender at `at`."""
    message = store.lease_message(claimed(store, lead_id, at), at, at + LEASE)
    assert message is not None
    return message


def sent(store: Store, lead_id: str, at: datetime, ses_id: str = "ses-1") -> Message:
    message = leased(store, lead_id, at)
    assert store.record_sent(message, ses_id, at)
    stored = store.get_message(message.claim.key)
    assert stored is not None
    return stored


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
