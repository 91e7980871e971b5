"""What `ripen simulate` prints: the funnel per step and the figures, or a replay's differences."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from ripen_dev.simulation.funnel import StepFunnel, Tally
from ripen_dev.simulation.history import ReplayResult
from ripen_dev.simulation.simulate import SimulationResult

COLUMNS = (
    ("sent", "sent"),
    ("bounced", "bounced"),
    ("delivered", "delivered"),
    ("opened", "opened"),
    ("open%", ""),
    ("machine", "machine_opened"),
    ("clicked", "clicked"),
    ("click%", ""),
    ("unsub", "unsubscribed"),
    ("spam", "complained"),
    ("sales-ready", "sales_ready"),
    ("goal", "goal_reached"),
)


def _row(name: str, funnel: StepFunnel, width: int) -> str:
    cells = []
    for title, attr in COLUMNS:
        if title == "open%":
            value = f"{funnel.rate(funnel.opened):.1%}"
        elif title == "click%":
            value = f"{funnel.rate(funnel.clicked):.1%}"
        elif attr == "bounced":
            value = f"{funnel.bounced:,}"
        else:
            value = f"{getattr(funnel, attr):,}"
        cells.append(f"{value:>{max(len(title), 7)}}")
    return f"{name:<{width}} " + " ".join(cells)


def total_funnel(tally: Tally) -> StepFunnel:
    total = StepFunnel("total", "")
    for funnel in tally.steps.values():
        total.add(funnel)
    return total


def share(count: int, whole: int) -> str:
    return f"{count / whole:.1%}" if whole else "0%"


def write_summary(result: SimulationResult, out: TextIO, report: str | None = None) -> None:
    plan, tally = result.plan, result.tally
    sequence = plan.sequence
    print(
        f"ripen simulate: {sequence.name} v{sequence.version}, {plan.leads:,} leads signing up over "
        f"{plan.model.signups.over.days or 1} day(s) from {plan.start:%Y-%m-%d}, {plan.days} days, seed {plan.seed}, "
        f"model {plan.model_file}",
        file=out,
    )
    print(
        f"played in {result.seconds:.1f} s on {result.workers} worker(s): {tally.decisions:,} lead-steps "
        f"(engine decisions), {result.lead_steps_per_second:,.0f} lead-steps/s\n",
        file=out,
    )
    width = max(12, *(len(step) for step in tally.steps))
    print("Funnel per email step (rates: of delivered)", file=out)
    header = " ".join(f"{title:>{max(len(title), 7)}}" for title, _ in COLUMNS)
    print(f"{'step':<{width}} {header}", file=out)
    for step, funnel in tally.steps.items():
        print(_row(step, funnel, width), file=out)
    print(_row("all emails", total_funnel(tally), width), file=out)
    leads = tally.leads
    if sequence.double_opt_in.enabled:
        c = tally.confirmations
        print(
            f"\nDouble opt-in: {c.sent:,} confirmation email(s) (requests and reminders), {c.bounced:,} bounced; "
            f"{tally.confirmed:,} leads confirmed ({share(tally.confirmed, leads)}), "
            f"{tally.outcomes['expired']:,} never did ({share(tally.outcomes['expired'], leads)})",
            file=out,
        )
    nurture = sum(f.sent for f in tally.steps.values())
    per_lead = 1 / leads if leads else 0.0
    print(
        f"\nEmails per lead: {tally.emails * per_lead:.2f} "
        f"(nurture {nurture * per_lead:.2f}, confirmations {tally.confirmations.sent * per_lead:.2f})",
        file=out,
    )
    summary = tally.days_to_sales_ready_summary()
    ready = tally.sales_ready
    timing = f"days to sales-ready: median {summary[0]:.1f}, p90 {summary[1]:.1f}" if summary else "nobody got there"
    print(f"Sales-ready: {ready:,} leads ({share(ready, leads)}); {timing}", file=out)
    opt = tally.opt_outs
    print(
        f"Opted out: {opt['unsubscribed']:,} unsubscribed, {opt['complained']:,} complained, "
        f"{opt['hard-bounced']:,} hard-bounced",
        file=out,
    )
    standing = ", ".join(
        f"{label} {share(tally.outcomes[label], leads)}"
        for label in [*tally.labels, *(k for k in tally.outcomes if k not in tally.labels)]
        if tally.outcomes[label]
    )
    print(f"After {plan.days} days: {standing}", file=out)
    if tally.exit_reasons:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in tally.exit_reasons.most_common())
        print(f"Completed by exit reason: {reasons}", file=out)
    broken = tally.identities()
    if broken:
        print(f"\nTHE FUNNEL DOES NOT ADD UP: {'; '.join(broken)}", file=out)
    if report:
        print(f"\nReport: {report}", file=out)


def write_replay(result: ReplayResult, out: TextIO, show: int = 10) -> None:
    header, sequence = result.export.header, result.sequence
    leads = len(result.leads)
    print(
        f"ripen simulate --replay: {leads:,} leads of {header.sequence} v{header.sequence_version} "
        f"(exported {header.exported_at:%Y-%m-%d %H:%M %Z}) replayed on {sequence.name} v{sequence.version}",
        file=out,
    )
    if result.steps:
        renamed = ", ".join(f"{old} -> {new}" for old, new in result.steps.items())
        print(f"steps renamed by the new version's migration: {renamed}", file=out)
    recorded, replayed = result.sent_by_step()
    confirmations = sorted(s for s in recorded | replayed if s.startswith("confirm-"))
    steps = [s for s in sequence.step_ids if s in recorded or s in replayed]
    everything = ["confirm", *confirmations, *steps, *recorded]  # steps only the recorded version had, last
    order = list(dict.fromkeys(s for s in everything if recorded[s] or replayed[s]))
    width = max(14, *(len(s) for s in order)) if order else 14
    print(f"\n{'email step':<{width}} {'was sent':>9} {'would be':>9} {'change':>8}", file=out)
    for step in order:
        change = replayed[step] - recorded[step]
        print(f"{step:<{width}} {recorded[step]:>9,} {replayed[step]:>9,} {change:>+8,}", file=out)
    total_recorded, total_replayed = sum(recorded.values()), sum(replayed.values())
    print(
        f"{'all emails':<{width}} {total_recorded:>9,} {total_replayed:>9,} {total_replayed - total_recorded:>+8,}",
        file=out,
    )
    was, would = result.outcomes()
    print(f"\n{'outcome':<{width}} {'was':>9} {'would be':>9}", file=out)
    for status in sorted(was | would, key=lambda s: (-(was[s] + would[s]), s)):
        print(f"{status.replace('_', '-'):<{width}} {was[status]:>9,} {would[status]:>9,}", file=out)
    changed = sorted(result.changed, key=lambda lead: not lead.path_differs)  # other emails first, then timing
    rerouted = sum(1 for lead in changed if lead.path_differs)
    print(
        f"\nLeads whose emails would change: {len(changed):,} of {leads:,} "
        f"({rerouted:,} would get other emails, {len(changed) - rerouted:,} the same ones at other moments)",
        file=out,
    )
    lost = result.lost()
    moved = sum(lead.moved_clicks for lead in result.leads)
    if lost or moved:
        parts = [f"{count:,} {kind}(s)" for kind, count in sorted(lost.items())]
        print(
            f"Engagement on emails the new version does not send: {', '.join(parts) or 'none'} lost"
            f"{f'; {moved:,} click(s) moved to another email with the same link' if moved else ''}",
            file=out,
        )
    for lead in changed[:show]:
        zone = ZoneInfo(lead.history.timezone or "UTC")
        print(f"\n  {lead.history.lead} ({lead.history.timezone or 'no time zone'}):", file=out)
        _diff(lead.recorded, lead.replayed, zone, out)
    if len(changed) > show:
        print(f"\n  ... and {len(changed) - show:,} more (--show N lists more)", file=out)


def _diff(
    recorded: list[tuple[str, datetime]], replayed: list[tuple[str, datetime]], zone: ZoneInfo, out: TextIO
) -> None:
    def stamp(at: datetime) -> str:
        return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")

    was = dict(recorded)
    would = dict(replayed)
    for step in dict.fromkeys([s for s, _ in recorded] + [s for s, _ in replayed]):
        if step in was and step not in would:
            print(f"    - {step:<20} was sent {stamp(was[step])}, would not be", file=out)
        elif step in would and step not in was:
            print(f"    + {step:<20} would be sent {stamp(would[step])}", file=out)
        elif was[step] != would[step]:
            print(f"    ~ {step:<20} {stamp(was[step])} -> {stamp(would[step])}", file=out)
