"""One person, for an operator: their story (`ripen lead show`), everything held about them (`ripen
lead export`, the GDPR access request) and their erasure (`ripen lead forget`).

Everything is read and deleted through the store the functions use: the lead by the id the
functions compute from the address, its enrollments and history by that id, its messages by the
keys the functions claim them under (`message_key`: every step of every version of the sequence,
for every run, plus the confirmations and the hand-off).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from ripen.core.engine import MAX_CONFIRMATIONS
from ripen.core.leads import InvalidEmailError, erased_hash_for, lead_id_for, normalize_email
from ripen.core.records import HANDOFF_STEP, EnrollmentRecord, HistoryEntry, Lead, LeadStatus, Message, message_key
from ripen.core.sequence import EmailStep
from ripen.core.state import SendConfirmation, Status
from ripen.ports.store import Erased
from ripen_dev.operate.erasure import erase_lead, erase_mailbox_counters
from ripen_dev.operate.target import OperatorError

if TYPE_CHECKING:
    from ripen.app import App


@dataclass(frozen=True)
class Held:
    """Everything the stack holds about one address."""

    address: str  # normalized
    lead_id: str
    lead: Lead | None
    enrollments: list[EnrollmentRecord]
    messages: list[Message]
    history: list[HistoryEntry]
    erased: Erased | None  # what an earlier erasure kept (a keyed hash and an opt-out)

    @property
    def found(self) -> bool:
        return bool(self.lead or self.enrollments or self.messages or self.history)


def address_of(email: str) -> str:
    try:
        return normalize_email(email.strip())
    except InvalidEmailError as exc:
        raise OperatorError(f"not an email address: {exc}") from None


def held(app: App, email: str) -> Held:
    address = address_of(email)
    store = app.store
    lead_id = lead_id_for(address, app.lead_id_key)
    enrollments = store.enrollments_of(lead_id)
    history = store.history_of(lead_id)
    messages = store.get_messages(message_keys(app, lead_id, enrollments, history))
    erased = store.erased(erased_hash_for(address, app.lead_id_key))
    return Held(address, lead_id, store.get_lead(lead_id), enrollments, messages, history, erased)


def message_keys(app: App, lead_id: str, enrollments: list[EnrollmentRecord], history: list[HistoryEntry]) -> list[str]:
    """Every key a message of this lead can have: the keys the functions claim emails under."""
    keys = [h.message_key for h in history if h.message_key]
    confirmations = [SendConfirmation(n).step for n in range(1, MAX_CONFIRMATIONS + 1)]
    for record in enrollments:
        e = record.enrollment
        versions = app.catalog.versions.get(e.sequence, {}).values()
        steps = {
            s for v in versions for s, step in zip(v.step_ids, v.steps, strict=True) if isinstance(step, EmailStep)
        }
        steps |= {*e.sent, *confirmations, HANDOFF_STEP}
        keys += [message_key(lead_id, e.sequence, run, step) for run in range(1, e.run + 1) for step in sorted(steps)]
    return list(dict.fromkeys(keys))


# -- show: the story -----------------------------------------------------------------------------------


def story(app: App, h: Held) -> dict[str, Any]:
    """The answer to "why did (or didn't) she get email Y?": consent, enrollments, and the timeline."""
    lead = h.lead
    timeline: list[dict[str, Any]] = []
    for entry in h.history:
        timeline.append(
            {
                "at": _iso(entry.at),
                "kind": "decision",
                "sequence": entry.sequence,
                "trigger": entry.trigger,
                "status": entry.status,
                "step": entry.step,
                "reasons": list(entry.lines),
                "actions": list(entry.actions),
                "score_changes": [line for line in entry.lines if "-> score" in line],
                "message": entry.message_key,
            }
        )
    for m in h.messages:
        c = m.claim
        timeline.append(
            {
                "at": _iso(m.sent_at or c.created_at),
                "kind": c.kind,
                "sequence": c.sequence,
                "version": c.version,
                "run": c.run,
                "step": c.step,
                "email": c.email or None,
                "variant": c.variant,
                "subject": _subject(app, c.sequence, c.email) if c.email else None,
                "status": m.status.value,
                "error": m.error,
                "events": ses_events(m),
            }
        )
    timeline.sort(key=lambda item: (item["at"] or "", item["kind"] != "decision"))
    return {
        "email": h.address,
        "lead_id": h.lead_id,
        "found": h.found,
        "status": lead.status.value if lead else None,
        "status_reason": lead.status_reason if lead else None,
        "created_at": _iso(lead.created_at) if lead else None,
        "locale": lead.locale if lead else None,
        "consents": [_plain(c) for c in lead.consents] if lead else [],
        "erased_before": _plain(h.erased) if h.erased else None,
        "enrollments": [
            {
                "sequence": r.enrollment.sequence,
                "version": r.enrollment.version,
                "run": r.enrollment.run,
                "status": r.enrollment.status.value,
                "score": r.enrollment.score,
                "stage": r.enrollment.stage,
                "step": r.enrollment.cursor,
                "next_timer": _iso(r.enrollment.next_action_at),
                "waiting_for": r.enrollment.wait.value if r.enrollment.wait else None,
                "exit_reason": r.enrollment.exit_reason,
                "holdout": r.enrollment.holdout,
            }
            for r in h.enrollments
        ],
        "timeline": timeline,
    }


def ses_events(m: Message) -> list[dict[str, Any]]:
    """What SES reported about a message, as recorded on it (first times and counts)."""
    a = m.activity
    events: list[dict[str, Any]] = []
    if m.sent_at:
        events.append({"type": "send", "at": _iso(m.sent_at), "ses_message_id": m.ses_message_id})
    if a.delivered_at:
        events.append({"type": "delivery", "at": _iso(a.delivered_at)})
    if a.opens or a.machine_opens:
        events.append({"type": "open", "at": _iso(a.opened_at), "people": a.opens, "machine": a.machine_opens})
    if a.clicks or a.scanner_clicks:
        clicked = {"type": "click", "at": _iso(a.clicked_at), "people": a.clicks, "scanner": a.scanner_clicks}
        events.append({**clicked, "last_link": a.last_click_link})
    if a.bounce:
        events.append({"type": "bounce", "detail": a.bounce})
    if a.complained_at:
        events.append({"type": "complaint", "at": _iso(a.complained_at)})
    return events


def story_text(s: Mapping[str, Any]) -> str:
    if not s["found"]:
        kept = s["erased_before"]
        after = f" (erased earlier; kept: {kept['status']} since {kept['at']})" if kept else ""
        return f"{s['email']}: nothing held about this address{after}"
    lines = [f"{s['email']}  lead {s['lead_id']}  {s['status'] or 'no lead item'}"]
    if s["status_reason"]:
        lines[0] += f" ({s['status_reason']})"
    if s["locale"]:
        lines[0] += f"  language {s['locale']}"
    lines.append("consent:")
    for c in s["consents"] or [{"given_at": "none recorded", "method": "", "source": None, "confirmed_at": None}]:
        confirmed = f", confirmed {c['confirmed_at']}" if c.get("confirmed_at") else ", not confirmed"
        lines.append(f"  {c['given_at']} {c['method']} {c.get('source') or ''}{confirmed if c['method'] else ''}")
    lines.append("enrollments:")
    for e in s["enrollments"]:
        timer = f", next timer {e['next_timer']}" if e["next_timer"] else ""
        holdout = " (in the holdout: no nurture emails)" if e["holdout"] else ""
        lines.append(
            f"  {e['sequence']} v{e['version']} run {e['run']}: {e['status']} at {e['step']}, "
            f"score {e['score']:g}, stage {e['stage'] or '-'}{timer}{holdout}"
        )
    lines.append("timeline:")
    for item in s["timeline"]:
        if item["kind"] == "decision":
            lines.append(f"  {item['at']}  {item['sequence']} {item['trigger']} -> {item['status']}")
            lines += [f"      because {reason}" for reason in item["reasons"]]
            lines += [f"      then {action}" for action in item["actions"]]
        else:
            what = f"“{item['subject']}” ({item['step']})" if item["subject"] else item["step"]
            if item.get("variant"):
                what += f" variant {item['variant']}"
            lines.append(f"  {item['at']}  {item['kind']} {what}: {item['status']}")
            if item["error"]:
                lines.append(f"      {item['error']}")
            for ev in item["events"]:
                details = ", ".join(f"{k} {v}" for k, v in ev.items() if k not in ("type", "at") and v)
                lines.append(f"      {ev['type']} {ev.get('at') or ''} {details}".rstrip())
    return "\n".join(lines)


def _subject(app: App, sequence: str, email: str) -> str | None:
    """The email's subject line as written in its template (before Jinja fills it in)."""
    try:
        path = app.renderer.find(sequence, email)
        return app.renderer.source(path).meta.subject if path else None
    except Exception:  # a template gone or broken since: the story goes on without its subject
        return None


# -- export: everything held ------------------------------------------------------------------------


def export(h: Held) -> dict[str, Any]:
    """Everything the stack holds about the person, as stored (the GDPR access request)."""
    return {
        "email": h.address,
        "lead_id": h.lead_id,
        "found": h.found,
        "lead": _plain(h.lead),
        "enrollments": [_plain(r) for r in h.enrollments],
        "messages": [_plain(m) for m in h.messages],
        "history": [_plain(e) for e in h.history],
        "erased_before": _plain(h.erased),
        "not_held": "Stats and Limits hold counters only: per sequence, step and day, and per keyed hash of a "
        "mailbox; no address, name or lead id",
    }


# -- forget: erasure -----------------------------------------------------------------------------------


def forget(app: App, email: str) -> dict[str, Any]:
    """Erase the person. An opt-out or a suppression outlives them as a keyed hash of the address only,
    written before anything is deleted (an erasure cut short never lets them be emailed again)."""
    h = held(app, email)
    kept = _opt_out(h)
    if kept is not None:
        app.store.keep_erased(Erased(erased_hash_for(h.address, app.lead_id_key), kept, app.clock.now()))
    deleted = erase_lead(app.store, h.lead_id, [m.claim.key for m in h.messages]) if h.found else 0
    limits = app.signup_limits
    counters = erase_mailbox_counters(limits, h.address) if limits is not None else 0
    kept_status = kept or (h.erased.status if h.erased else None)
    return {
        "email": h.address,
        "found": h.found,
        "deleted": deleted,
        "limit_counters_deleted": counters,
        "kept": kept_status.value if kept_status else None,
    }


def _opt_out(h: Held) -> LeadStatus | None:
    """What must outlive the lead: `suppressed` (hard bounce, complaint) over `unsubscribed`; None
    when the person never opted out (or an earlier erasure kept as much already)."""
    statuses = {h.lead.status} if h.lead else set()
    for r in h.enrollments:
        if r.enrollment.status is Status.SUPPRESSED:
            statuses.add(LeadStatus.SUPPRESSED)
        elif r.enrollment.status is Status.UNSUBSCRIBED:
            statuses.add(LeadStatus.UNSUBSCRIBED)
    if any(m.activity.complained_at or (m.activity.bounce or "").startswith("Permanent") for m in h.messages):
        statuses.add(LeadStatus.SUPPRESSED)
    for status in (LeadStatus.SUPPRESSED, LeadStatus.UNSUBSCRIBED):
        if status in statuses:
            already = h.erased is not None and (h.erased.status is status or h.erased.status is LeadStatus.SUPPRESSED)
            return None if already else status
    return None


def forget_text(report: Mapping[str, Any]) -> str:
    if not report["found"]:
        line = f"{report['email']}: nothing held about this address, nothing erased"
    else:
        line = f"{report['email']}: erased ({report['deleted']} items)"
    if report["limit_counters_deleted"]:
        line += f"; {report['limit_counters_deleted']} signup-limit counters deleted"
    if report["kept"]:
        line += f"; kept as a keyed hash only: {report['kept']} (never emailed again without a new confirmed signup)"
    return line


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _plain(value: Any) -> Any:
    """Stored records as JSON-able data: ISO 8601 times, enum values, sets sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
