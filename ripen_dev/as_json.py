"""The `--json` forms of `ripen simulate` and `ripen preview-lead`, for scripts and CI: the same facts the
text shows, as plain data (counts, ids, ISO 8601 times). Keys are stable; new ones may be added."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ripen.core.scoring import current_score
from ripen_dev.simulation.funnel import COUNTS, StepFunnel
from ripen_dev.simulation.history import ReplayResult
from ripen_dev.simulation.lead_preview import LeadPreview
from ripen_dev.simulation.play import Decided, SentEmail
from ripen_dev.simulation.simulate import SimulationResult
from ripen_dev.simulation.summary import total_funnel


def _funnel(funnel: StepFunnel) -> dict[str, Any]:
    counts: dict[str, Any] = {name: getattr(funnel, name) for name in COUNTS}
    return {"email": funnel.email, **counts, "links": dict(funnel.links.most_common())}


def simulation(result: SimulationResult, report: str | None, history: str | None) -> dict[str, Any]:
    plan, tally = result.plan, result.tally
    timing = tally.days_to_sales_ready_summary()
    return {
        "sequence": plan.sequence.name,
        "version": plan.sequence.version,
        "leads": plan.leads,
        "days": plan.days,
        "seed": plan.seed,
        "start": plan.start.date().isoformat(),
        "model": plan.model_file,
        "played": {"seconds": round(result.seconds, 3), "workers": result.workers, "decisions": tally.decisions},
        "steps": {step: _funnel(funnel) for step, funnel in tally.steps.items()},
        "all_emails": _funnel(total_funnel(tally)),
        "confirmations": _funnel(tally.confirmations) if plan.sequence.double_opt_in.enabled else None,
        "confirmed": tally.confirmed,
        "emails": tally.emails,
        "sales_ready": {
            "leads": tally.sales_ready,
            "median_days": timing[0] if timing else None,
            "p90_days": timing[1] if timing else None,
        },
        "opt_outs": dict(tally.opt_outs),
        "outcomes": {label: count for label, count in tally.outcomes.items() if count},
        "exit_reasons": dict(tally.exit_reasons.most_common()),
        "funnel_problems": tally.identities(),
        "report": report,
        "history": history,
    }


def replay(result: ReplayResult) -> dict[str, Any]:
    header = result.export.header
    recorded, replayed = result.sent_by_step()
    was, would = result.outcomes()
    return {
        "recorded": {"sequence": header.sequence, "version": header.sequence_version},
        "replayed_on": {"sequence": result.sequence.name, "version": result.sequence.version},
        "exported_at": header.exported_at.isoformat(),
        "leads": len(result.leads),
        "steps_renamed": result.steps,
        "emails": {s: {"was": recorded[s], "would_be": replayed[s]} for s in sorted(recorded | replayed)},
        "outcomes": {s: {"was": was[s], "would_be": would[s]} for s in sorted(was | would)},
        "changed_leads": len(result.changed),
        "rerouted_leads": sum(1 for lead in result.changed if lead.path_differs),
        "lost_engagement": dict(result.lost()),
        "moved_clicks": sum(lead.moved_clicks for lead in result.leads),
    }


def lead_preview(preview: LeadPreview) -> dict[str, Any]:
    """One lead's walk: times in the lead's own zone, as the text prints them."""
    zone, trace, sequence = preview.zone, preview.trace, preview.sequence

    def stamp(at: datetime) -> str:
        return at.astimezone(zone).isoformat()

    def day(at: datetime) -> int:
        return (at - trace.signed_up_at) // timedelta(days=1)

    journal: list[dict[str, Any]] = []
    for at, entry in trace.journal:
        if isinstance(entry, Decided):
            journal.append({"at": stamp(at), "decision": entry.trigger, "lines": list(entry.lines)})
        elif isinstance(entry, SentEmail):
            journal.append({"at": stamp(at), "email": entry.step})
        else:
            event = {
                "kind": entry.kind,
                "step": entry.step,
                "link": entry.link,
                "machine": entry.machine,
                "permanent": entry.permanent,
                "name": entry.name,
            }
            journal.append({"at": stamp(at), "lead": {key: value for key, value in event.items() if value}})
    final = trace.final
    after: dict[str, Any] | None = None
    if final is not None:
        end = trace.signed_up_at + timedelta(days=preview.days)
        after = {
            "status": final.status.value,
            "exit_reason": final.exit_reason if final.terminal else None,
            "waiting_at": None if final.terminal else final.cursor,
            "stage": final.stage,
            "score": round(current_score(final, sequence, end), 4),
        }
    return {
        "sequence": sequence.name,
        "version": sequence.version,
        "lead": {"timezone": preview.lead.timezone, "signed_up_at": stamp(trace.signed_up_at)},
        "behaviour": preview.script.describe(),
        "days": preview.days,
        "emails": [
            {
                "day": day(email.at),
                "at": stamp(email.at),
                "step": email.step,
                "email": email.email,
                "subject": preview.subjects.get(email.step, ""),
                "bounce": email.bounce,
            }
            for email in trace.emails
        ],
        "journal": journal,
        "after": after,
    }
