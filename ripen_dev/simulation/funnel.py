"""The books of a simulation: the funnel per email step, outcomes, sends per day, stages over time.

Definitions (docs/marketer-guide.md, "Simulating a sequence"):
- sent: emails the engine decided to send within the horizon, one per (lead, step).
- bounced = hard + soft; delivered: sent and not bounced. So sent = delivered + hard + soft.
- opened: delivered emails a person opened (machine opens are counted apart and never here);
  clicked: delivered emails with at least one click on a named link by a person (a click
  follows an open, so delivered >= opened >= clicked). Clicks per link count emails too.
- unsubscribed, complained: leads who opted out through that email (a lead opts out once).
- sales-ready, goal reached: leads who became so while that email was the latest they got.
- outcomes: where every lead stands at the end of the horizon; they add up to the leads.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ripen.core.sequence import EmailStep, Sequence
from ripen.core.state import Status
from ripen_dev.simulation.play import LeadTrace, label_of

DAY = timedelta(days=1)
NOT_SIGNED_UP = "not signed up yet"
UNATTRIBUTED = "(no email yet)"
OPT_OUTS = ("unsubscribed", "complained", "hard-bounced")


@dataclass
class StepFunnel:
    step: str
    email: str
    sent: int = 0
    delivered: int = 0
    hard_bounced: int = 0
    soft_bounced: int = 0
    opened: int = 0
    machine_opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    complained: int = 0
    sales_ready: int = 0
    goal_reached: int = 0
    links: Counter[str] = field(default_factory=Counter)

    @property
    def bounced(self) -> int:
        return self.hard_bounced + self.soft_bounced

    def add(self, other: StepFunnel) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.links.update(other.links)

    def rate(self, count: int) -> float:
        return count / self.delivered if self.delivered else 0.0


COUNTS = (
    "sent",
    "delivered",
    "hard_bounced",
    "soft_bounced",
    "opened",
    "machine_opened",
    "clicked",
    "unsubscribed",
    "complained",
    "sales_ready",
    "goal_reached",
)


def stage_labels(sequence: Sequence) -> list[str]:
    """Every place a lead can be, in the order the stage chart stacks them."""
    return [
        NOT_SIGNED_UP,
        "awaiting confirmation",
        *sequence.stages,
        "sales-ready",
        "goal-reached",
        "completed",
        "unsubscribed",
        "suppressed",
        "expired",
    ]


@dataclass
class Tally:
    """Adds up lead traces; tallies of shards add up to the tally of the whole population."""

    start: datetime
    days: int
    steps: dict[str, StepFunnel]
    confirmations: StepFunnel
    labels: list[str]
    leads: int = 0
    decisions: int = 0
    confirmed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    exit_reasons: Counter[str] = field(default_factory=Counter)
    opt_outs: Counter[str] = field(default_factory=Counter)
    unattributed: Counter[str] = field(default_factory=Counter)
    sends_per_day: list[int] = field(default_factory=list)
    label_deltas: dict[str, list[int]] = field(default_factory=dict)
    days_to_sales_ready: list[float] = field(default_factory=list)
    emails_per_lead: Counter[int] = field(default_factory=Counter)
    segments: Counter[str] = field(default_factory=Counter)

    @classmethod
    def empty(cls, sequence: Sequence, start: datetime, days: int) -> Tally:
        steps = {
            step_id: StepFunnel(step_id, step.email)
            for step_id, step in zip(sequence.step_ids, sequence.steps, strict=True)
            if isinstance(step, EmailStep)
        }
        labels = stage_labels(sequence)
        return cls(
            start=start,
            days=days,
            steps=steps,
            confirmations=StepFunnel("confirm", sequence.double_opt_in.email),
            labels=labels,
            sends_per_day=[0] * days,
            label_deltas={label: [0] * (days + 1) for label in labels},
        )

    # -- adding leads ---------------------------------------------------------------------------

    def day_of(self, at: datetime) -> int:
        return (at - self.start) // DAY

    def add(self, trace: LeadTrace) -> None:
        self.leads += 1
        self.decisions += trace.decisions
        self.segments[trace.segment] += 1
        self.emails_per_lead[len(trace.emails)] += 1
        days = self.days
        latest: dict[str, str] = {}  # step -> email kind, to attribute events
        for email in trace.emails:
            funnel = self.steps[email.step] if email.kind == "nurture" else self.confirmations
            latest[email.step] = email.kind
            funnel.sent += 1
            if email.bounce == "hard":
                funnel.hard_bounced += 1
            elif email.bounce == "soft":
                funnel.soft_bounced += 1
            else:
                funnel.delivered += 1
            day = self.day_of(email.at)
            if 0 <= day < days:
                self.sends_per_day[day] += 1
        opened: set[str] = set()
        machine: set[str] = set()
        clicked: set[str] = set()
        links: set[tuple[str, str]] = set()
        opted_out = False
        confirmed = False
        for event in trace.events:
            kind, step = event.kind, event.step
            if kind == "open" and step:
                (machine if event.machine else opened).add(step)
            elif kind == "click" and step and not event.machine:
                clicked.add(step)
                if event.link:
                    links.add((step, event.link))
            elif kind == "confirm":
                confirmed = True
            elif kind in ("unsubscribe", "complaint") or (kind == "bounce" and event.permanent):
                if opted_out:
                    continue
                opted_out = True
                what = {"unsubscribe": "unsubscribed", "complaint": "complained", "bounce": "hard-bounced"}[kind]
                self.opt_outs[what] += 1
                if kind == "bounce":
                    continue
                through = self._funnel_of(step, latest)
                if through is None:
                    self.unattributed[what] += 1
                elif kind == "unsubscribe":
                    through.unsubscribed += 1
                else:
                    through.complained += 1
        self.confirmed += confirmed
        for step in opened:
            self._funnel_of(step, latest, count=True, attr="opened")
        for step in machine:
            self._funnel_of(step, latest, count=True, attr="machine_opened")
        for step in clicked:
            self._funnel_of(step, latest, count=True, attr="clicked")
        for step, link in links:
            clicked_in = self._funnel_of(step, latest)
            if clicked_in is not None:
                clicked_in.links[link] += 1
        final = trace.final
        label = label_of(final) if final is not None else NOT_SIGNED_UP
        self.outcomes[label] += 1
        if final is not None and final.status is Status.COMPLETED:
            self.exit_reasons[final.exit_reason or "completed"] += 1
        if trace.handed_off_at is not None:
            self._attribute("sales_ready", "sales-ready", trace, trace.handed_off_at)
            self.days_to_sales_ready.append((trace.handed_off_at - trace.signed_up_at) / DAY)
        if final is not None and final.status is Status.GOAL_REACHED and final.ended_at is not None:
            self._attribute("goal_reached", "goal-reached", trace, final.ended_at)
        self._add_labels(trace)

    def _funnel_of(
        self, step: str | None, latest: dict[str, str], count: bool = False, attr: str = ""
    ) -> StepFunnel | None:
        if step is None or step not in latest:
            return None
        funnel = self.steps[step] if latest[step] == "nurture" else self.confirmations
        if count:
            setattr(funnel, attr, getattr(funnel, attr) + 1)
        return funnel

    def _attribute(self, attr: str, label: str, trace: LeadTrace, at: datetime) -> None:
        last = None
        for email in trace.emails:
            if email.kind == "nurture" and email.at <= at:
                last = email.step
        if last is None:
            self.unattributed[label] += 1
        else:
            funnel = self.steps[last]
            setattr(funnel, attr, getattr(funnel, attr) + 1)

    def _add_labels(self, trace: LeadTrace) -> None:
        deltas, days = self.label_deltas, self.days
        deltas[NOT_SIGNED_UP][0] += 1
        previous = NOT_SIGNED_UP
        for at, label in trace.labels:
            day = self.day_of(at)
            if day >= days:
                break
            day = max(day, 0)
            deltas[previous][day] -= 1
            deltas.setdefault(label, [0] * (days + 1))[day] += 1
            previous = label

    # -- merging and reading ----------------------------------------------------------------------

    def merge(self, other: Tally) -> None:
        self.leads += other.leads
        self.decisions += other.decisions
        self.confirmed += other.confirmed
        for step, funnel in other.steps.items():
            self.steps[step].add(funnel)
        self.confirmations.add(other.confirmations)
        for mine, theirs in (
            (self.outcomes, other.outcomes),
            (self.exit_reasons, other.exit_reasons),
            (self.opt_outs, other.opt_outs),
            (self.unattributed, other.unattributed),
            (self.segments, other.segments),
        ):
            mine.update(theirs)
        self.emails_per_lead.update(other.emails_per_lead)
        self.sends_per_day = [a + b for a, b in zip(self.sends_per_day, other.sends_per_day, strict=True)]
        for label, values in other.label_deltas.items():
            own = self.label_deltas.setdefault(label, [0] * (self.days + 1))
            self.label_deltas[label] = [a + b for a, b in zip(own, values, strict=True)]
        self.days_to_sales_ready.extend(other.days_to_sales_ready)

    @property
    def emails(self) -> int:
        return sum(f.sent for f in self.steps.values()) + self.confirmations.sent

    @property
    def sales_ready(self) -> int:
        return self.outcomes["sales-ready"]

    def stages_by_day(self) -> dict[str, list[int]]:
        """How many leads stand where at the end of each day."""
        result: dict[str, list[int]] = {}
        for label in [*self.labels, *(k for k in self.label_deltas if k not in self.labels)]:
            running, counts = 0, []
            for delta in self.label_deltas.get(label, [0] * (self.days + 1))[: self.days]:
                running += delta
                counts.append(running)
            result[label] = counts
        return result

    def days_to_sales_ready_summary(self) -> tuple[float, float] | None:
        """(median, 90th percentile) in days, or None when nobody became sales-ready."""
        values = sorted(self.days_to_sales_ready)
        if not values:
            return None
        if len(values) == 1:
            return values[0], values[0]
        return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[-1]

    def identities(self) -> list[str]:
        """Every way the books must balance; the ones that do not (empty when all hold)."""
        broken: list[str] = []

        def check(ok: bool, text: str) -> None:
            if not ok:
                broken.append(text)

        for funnel in [*self.steps.values(), self.confirmations]:
            name = funnel.step
            check(funnel.sent == funnel.delivered + funnel.hard_bounced + funnel.soft_bounced, f"{name}: sent")
            check(funnel.delivered >= funnel.opened >= funnel.clicked >= 0, f"{name}: delivered >= opened >= clicked")
            check(funnel.delivered >= funnel.machine_opened, f"{name}: delivered >= machine opened")
            check(all(n <= funnel.clicked for n in funnel.links.values()), f"{name}: clicks per link <= clicked")
            check(funnel.clicked <= sum(funnel.links.values()), f"{name}: every click is on a named link")
            check(funnel.unsubscribed + funnel.complained <= funnel.delivered, f"{name}: opt-outs only on delivered")
        steps = self.steps.values()
        check(sum(n * count for n, count in self.emails_per_lead.items()) == self.emails, "emails per lead")
        check(sum(self.sends_per_day) == self.emails, "sends per day add up to the emails sent")
        check(sum(self.outcomes.values()) == self.leads, "outcomes add up to the leads")
        check(sum(self.emails_per_lead.values()) == self.leads, "every lead counted once")
        ready = sum(f.sales_ready for f in steps) + self.unattributed["sales-ready"]
        check(ready == self.sales_ready == len(self.days_to_sales_ready), "sales-ready by step = sales-ready leads")
        goal = sum(f.goal_reached for f in steps) + self.unattributed["goal-reached"]
        check(goal == self.outcomes["goal-reached"], "goal reached by step = leads who reached the goal")
        for attr, what in (("unsubscribed", "unsubscribed"), ("complained", "complained")):
            total = sum(getattr(f, attr) for f in [*steps, self.confirmations]) + self.unattributed[what]
            check(total == self.opt_outs[what], f"{what} by step = leads who {what}")
        hard = sum(f.hard_bounced for f in [*steps, self.confirmations])
        check(self.opt_outs["hard-bounced"] <= hard, "hard-bounced leads <= hard bounces")
        check(self.outcomes["unsubscribed"] <= self.opt_outs["unsubscribed"], "unsubscribed leads")
        check(
            self.outcomes["suppressed"] <= self.opt_outs["complained"] + self.opt_outs["hard-bounced"],
            "suppressed leads",
        )
        if self.days:
            last = {label: counts[-1] for label, counts in self.stages_by_day().items() if counts[-1]}
            check(last == {k: v for k, v in self.outcomes.items() if v}, "the stage chart ends at the outcomes")
        return broken
