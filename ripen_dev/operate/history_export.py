"""`ripen export-history`: real leads' runs of a sequence, in the JSON Lines format `ripen simulate
--replay` reads (`ripen_dev.simulation.history`), so a sequence change can be replayed against last
month's real behaviour before it ships.

Each line is one enrollment's current run: when the lead entered, the emails sent (from the Messages
table), what SES reported about each (the first open by a person, or a machine open; the first click,
with the last link clicked; a bounce; a complaint), the confirmation (from History), an unsubscribe, and
the outcome. Lead ids only: no address or name leaves the stack this way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any, TextIO

from ripen.core.records import EnrollmentRecord, Message
from ripen.core.state import Status
from ripen_dev.operate.lead import message_keys
from ripen_dev.operate.progress import Progress
from ripen_dev.operate.report import enrollments
from ripen_dev.operate.target import OperatorError
from ripen_dev.simulation.history import FORMAT, FORMAT_VERSION, ExportHeader, LeadHistory

if TYPE_CHECKING:
    from ripen.app import App


def export(app: App, sequence: str, out: TextIO, since: date | None = None, progress: Progress | None = None) -> int:
    """Write the export; how many leads it holds."""
    try:
        current = app.catalog.current(sequence)
    except KeyError:
        raise OperatorError(f"no sequence {sequence!r}: choose one of {', '.join(app.catalog.names())}") from None
    header = ExportHeader(
        format=FORMAT,
        version=FORMAT_VERSION,
        sequence=sequence,
        sequence_version=current.version,
        exported_at=app.clock.now(),
    )
    out.write(header.model_dump_json() + "\n")
    written = 0
    for line in lead_lines(app, sequence, since):
        out.write(line + "\n")
        written += 1
        if progress is not None:
            progress.advance()
    return written


def lead_lines(app: App, sequence: str, since: date | None) -> Iterator[str]:
    for record in enrollments(app, {sequence}):
        e = record.enrollment
        if e.entered_at is None or (since is not None and e.entered_at.date() < since):
            continue  # never started (an import that waits), or before the period
        yield LeadHistory.model_validate(lead_record(app, record)).model_dump_json(exclude_none=True)


def lead_record(app: App, record: EnrollmentRecord) -> dict[str, Any]:
    e = record.enrollment
    store = app.store
    messages = [
        m
        for m in store.get_messages(message_keys(app, e.lead_id, [record], []))
        if m.claim.run == e.run and m.claim.kind != "handoff" and m.sent_at is not None
    ]
    messages.sort(key=lambda m: (m.sent_at, m.claim.step))
    events: list[dict[str, Any]] = []
    for m in messages:
        events += ses_events(m)
    for entry in store.history_of(e.lead_id):
        if entry.sequence == e.sequence and entry.trigger == "confirmed" and entry.at >= e.entered_at:  # type: ignore[operator]
            events.append({"type": "confirm", "step": "confirm", "at": entry.at.isoformat()})
    if e.status is Status.UNSUBSCRIBED and e.ended_at is not None and e.exit_reason != "complaint":
        events.append({"type": "unsubscribe", "at": e.ended_at.isoformat()})
    events.sort(key=lambda ev: ev["at"])
    return {
        "lead": e.lead_id,
        "signed_up_at": e.entered_at.isoformat() if e.entered_at else None,
        "timezone": record.timezone,
        "emails": [
            {"step": m.claim.step, "email": m.claim.email, "at": m.sent_at.isoformat(), "kind": m.claim.kind}  # type: ignore[union-attr]
            for m in messages
        ],
        "events": events,
        "outcome": {
            "status": e.status.value,
            "stage": e.stage or None,
            "at": e.ended_at.isoformat() if e.ended_at else None,
        },
    }


def ses_events(m: Message) -> list[dict[str, Any]]:
    """The events of one email as the Messages table keeps them (first times, counts, the last link)."""
    a, step = m.activity, m.claim.step
    sent = m.sent_at.isoformat() if m.sent_at else None
    events: list[dict[str, Any]] = []
    if a.opened_at:
        events.append({"type": "open", "step": step, "at": a.opened_at.isoformat()})
    elif a.machine_opens:
        at = a.delivered_at.isoformat() if a.delivered_at else sent
        events.append({"type": "open", "step": step, "at": at, "machine": True})
    if a.clicked_at:
        events.append(
            {"type": "click", "step": step, "at": a.clicked_at.isoformat(), "link": a.last_click_link or "any"}
        )
    if a.bounce:
        events.append({"type": "bounce", "step": step, "at": sent, "permanent": a.bounce.startswith("Permanent")})
    if a.complained_at:
        events.append({"type": "complaint", "step": step, "at": a.complained_at.isoformat()})
    return events
