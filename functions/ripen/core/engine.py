"""The nurture engine: `advance(enrollment, trigger, sequence, now, lead) -> Decision`.

Pure: the same inputs always give the same decision. No I/O and no clock reads; the caller
stores the new enrollment with a conditional write and carries out the actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ripen.core.durations import format_duration
from ripen.core.experiments import chosen_email, held_out
from ripen.core.scoring import current_score, holds
from ripen.core.sequence import (
    BranchStep,
    EmailStep,
    ExitStep,
    GotoStep,
    Sequence,
    StageStep,
    WaitForStep,
    WaitStep,
    WaitUntilStep,
)
from ripen.core.state import (
    TERMINAL,
    Action,
    Confirmed,
    Decision,
    Engaged,
    Enrolled,
    Enrollment,
    EventOccurred,
    ExitRequested,
    GoalReached,
    HandOff,
    LeadContext,
    MovedTo,
    Paused,
    Resubmitted,
    Resumed,
    SendConfirmation,
    SendEmail,
    Status,
    Stopped,
    TimerDue,
    Trigger,
    Wait,
)
from ripen.core.windows import next_send_time

MAX_STEPS_PER_DECISION = 500
CONFIRMATION_RESEND_GAP = timedelta(hours=1)
MAX_CONFIRMATIONS = 5  # first, one reminder, and a few re-sends on resubmission
# Engaged keys: `resubmit:any` the latest form post, `resubmit:<n>` when renewed interest was counted the n-th time.
RESUBMIT = "resubmit:"


class SequenceLoopError(RuntimeError):
    """The sequence moved through too many steps without waiting; the validator prevents this."""


def new_enrollment(lead_id: str, sequence: Sequence, now: datetime, run: int = 1) -> Enrollment:
    """A fresh enrollment; feed it `Enrolled()` to start it."""
    return Enrollment(
        lead_id=lead_id,
        sequence=sequence.name,
        version=sequence.version,
        run=run,
        status=Status.NEW,
        stage=sequence.initial_stage,
        entered_at=now,
        score_at=now,
    )


def advance(
    enrollment: Enrollment, trigger: Trigger, sequence: Sequence, now: datetime, lead: LeadContext | None = None
) -> Decision:
    if enrollment.terminal:
        return Decision(enrollment)
    if sequence.name != enrollment.sequence or sequence.version != enrollment.version:
        raise ValueError(
            f"enrollment is on {enrollment.sequence} v{enrollment.version}, not {sequence.name} v{sequence.version}"
        )
    move = _Move(enrollment, sequence, now, lead or LeadContext())
    move.apply(trigger)
    return move.decision(enrollment)


def migrate(enrollment: Enrollment, target: Sequence) -> Enrollment | None:
    """Move an enrollment onto a newer version when `target` declares how; None when it does not."""
    if enrollment.version == target.version:
        return enrollment
    migration = next((m for m in target.migrations if m.from_ == enrollment.version), None)
    if migration is None:
        return None

    def mapped(step: str | None) -> str | None:
        if step is None:
            return None
        new = migration.steps.get(step, step)
        return new if new in target.step_ids else None

    cursor = mapped(enrollment.cursor)
    if enrollment.cursor is not None and cursor is None:
        return None  # the lead's position has no place in the new version
    sent = tuple(s for s in (mapped(s) for s in enrollment.sent) if s)
    return replace(enrollment, version=target.version, cursor=cursor, sent=sent)


_FIELDS = tuple(f.name for f in fields(Enrollment))
_values_of = attrgetter(*_FIELDS)


class _Draft:
    """The enrollment being decided, changed in place for the length of one decision; `frozen()`
    gives it back as an Enrollment. (Copying the frozen 22-field dataclass on every change was
    most of a decision's cost, and `ripen simulate` makes millions of decisions.)"""

    __slots__ = (*_FIELDS, "_frozen")

    if TYPE_CHECKING:  # the fields of Enrollment, for the type checker
        lead_id: str
        sequence: str
        version: int
        run: int
        status: Status
        cursor: str | None
        wait: Wait | None
        next_action_at: datetime | None
        since: datetime | None
        score: float
        score_at: datetime | None
        stage: str
        sent: tuple[str, ...]
        last_email_at: datetime | None
        engaged: Mapping[str, datetime]
        confirmations: int
        last_confirmation_at: datetime | None
        entered_at: datetime | None
        exit_reason: str | None
        ended_at: datetime | None
        held_wait: Wait | None
        held_until: datetime | None
        holdout: bool

    def __init__(self, enrollment: Enrollment) -> None:
        for name, value in zip(_FIELDS, _values_of(enrollment), strict=True):
            setattr(self, name, value)
        self._frozen: Enrollment | None = enrollment

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self._frozen = None

    def frozen(self) -> Enrollment:
        if self._frozen is None:
            self._frozen = Enrollment(*_values_of(self))
        return self._frozen

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class _Move:
    """One decision in the making: a mutable working copy of the enrollment and the actions so far."""

    def __init__(self, enrollment: Enrollment, sequence: Sequence, now: datetime, lead: LeadContext) -> None:
        self.e = _Draft(enrollment)
        self.seq = sequence
        self.now = now
        self.lead = lead
        self.recent = lead.recent_emails
        self.actions: list[Action] = []
        self.log: list[str] = []

    def decision(self, before: Enrollment) -> Decision:
        after = self.e.frozen()
        moved = bool(self.actions) or (after is not before and after != before)
        return Decision(after, tuple(self.actions), tuple(self.log), changed=moved)

    def set(self, **changes: Any) -> None:
        self.e.update(changes)

    def note(self, text: str) -> None:
        self.log.append(text)

    # -- triggers ---------------------------------------------------------------------------------

    def apply(self, trigger: Trigger) -> None:
        status = self.e.status
        match trigger:
            case Enrolled() if status is Status.NEW:
                self.start(confirmed=self.lead.confirmed)
            case Confirmed() if status in (Status.NEW, Status.PENDING):
                self.note("confirmed their subscription")
                self.start(confirmed=True)
            case TimerDue():
                self.timer_due()
            case Engaged() if status in (Status.ACTIVE, Status.PAUSED):
                self.engaged(trigger)
            case Resubmitted(confirmed=confirmed):
                self.resubmitted(confirmed)
            case GoalReached(event=event) if status is not Status.NEW and event in self.seq.goal_events:
                self.finish(Status.GOAL_REACHED, f"goal '{event}' reached")
            case EventOccurred() if status is not Status.NEW:
                self.product_event(trigger)
            case Stopped(reason=reason):
                self.finish(Status(reason), reason)
            case Paused(until=until) if status is Status.ACTIVE and until > self.now:
                self.set(
                    status=Status.PAUSED,
                    held_wait=self.e.wait,
                    held_until=self.e.next_action_at,
                    wait=Wait.PAUSE,
                    next_action_at=until,
                )
                self.note(f"paused until {until:%Y-%m-%d}")
            case Resumed() if status is Status.PAUSED:
                self.resume()
            case ExitRequested(reason=reason) if status is not Status.NEW:
                self.finish(Status.COMPLETED, reason)
            case MovedTo(step=step) if status is Status.ACTIVE and step in self.seq.step_ids:
                self.note(f"moved to step '{step}' by hand")
                self.set(cursor=step, wait=None, next_action_at=None)
                self.run()
            case _:
                pass  # not applicable in this state: nothing changes

    def start(self, confirmed: bool) -> None:
        opt_in = self.seq.double_opt_in
        if (opt_in.enabled or self.lead.reconfirm) and not confirmed:
            self.set(
                status=Status.PENDING,
                wait=Wait.CONFIRMATION,
                next_action_at=self.now + opt_in.remind_after,
                entered_at=self.e.entered_at or self.now,
            )
            self.send_confirmation("asked to confirm the subscription")
            return
        holdout = self.seq.holdout
        control = holdout is not None and held_out(self.e.lead_id, self.seq.name, holdout.share)
        self.set(
            status=Status.ACTIVE,
            cursor=self.seq.first_id,
            wait=None,
            next_action_at=None,
            entered_at=self.now,
            score_at=self.e.score_at or self.now,
            holdout=control,
        )
        self.note(f"entered {self.seq.name} v{self.seq.version}")
        if holdout is not None and control:
            kept = f" (only {', '.join(holdout.keep)})" if holdout.keep else ""
            self.note(f"in the {holdout.share:.0%} holdout: no nurture emails{kept}, to measure the lift")
        self.run()

    def send_confirmation(self, why: str) -> None:
        number = self.e.confirmations + 1
        self.actions.append(SendConfirmation(number))
        self.set(confirmations=number, last_confirmation_at=self.now)
        self.note(why)

    def timer_due(self) -> None:
        e = self.e
        if e.next_action_at is None or self.now < e.next_action_at:
            return
        match e.wait:
            case Wait.CONFIRMATION:
                expires = (e.entered_at or self.now) + self.seq.double_opt_in.expire_after
                if self.now >= expires:
                    self.finish(Status.EXPIRED, "never confirmed")
                elif e.confirmations < 2:
                    self.set(next_action_at=expires)
                    self.send_confirmation("reminded to confirm")
                else:
                    self.set(next_action_at=expires)
            case Wait.PAUSE:
                self.resume()
            case Wait.TIMER if e.cursor:
                self.set(cursor=self.seq.next_id(e.cursor), wait=None, next_action_at=None)
                self.run()
            case Wait.ENGAGEMENT if e.cursor:
                step = self.seq.step(e.cursor)
                assert isinstance(step, WaitForStep)
                self.note(f"no {step.wait_for} within {format_duration(step.wait_for.within)}")
                self.set(cursor=step.else_ or self.seq.next_id(e.cursor), wait=None, next_action_at=None, since=None)
                self.run()
            case _:  # WINDOW, CAP: try the held email again
                self.set(wait=None, next_action_at=None)
                self.run()

    def resume(self) -> None:
        e = self.e
        held_until = e.held_until or self.now
        self.set(
            status=Status.ACTIVE,
            wait=e.held_wait,
            next_action_at=max(held_until, self.now),
            held_wait=None,
            held_until=None,
        )
        self.note("resumed")
        if self.e.wait is None:
            self.run()
        elif self.e.next_action_at and self.e.next_action_at <= self.now:
            self.timer_due()

    def engaged(self, event: Engaged) -> None:
        scoring = self.seq.scoring
        if event.kind == "click" and event.machine:
            self.note(f"ignored a scanner click{f' on {event.link}' if event.link else ''}")
            return
        if event.kind == "open":
            weight = scoring.machine_open if event.machine else scoring.open
            what = f"machine open of {event.step}" if event.machine else f"opened {event.step or 'an email'}"
        else:
            weight = scoring.click_weight(event.link)
            what = f"clicked {event.link or 'a link'}"
        if not event.machine:
            detail = event.step if event.kind == "open" else event.link
            keys = [f"{event.kind}:any", *([f"{event.kind}:{detail}"] if detail else [])]
            engaged = dict(self.e.engaged)
            for key in keys:
                if key not in engaged or engaged[key] < event.at:
                    engaged[key] = event.at  # the latest time counts: a wait_for looks for engagement since a send
            self.set(engaged=engaged)
        self.add_score(weight, what)
        self.take_satisfied_wait()

    def take_satisfied_wait(self) -> None:
        """A `wait_for` whose signal has now been seen takes its `then` branch at once."""
        if self.e.terminal or self.e.status is not Status.ACTIVE:
            return
        if self.e.wait is Wait.ENGAGEMENT and self.e.cursor:
            step = self.seq.step(self.e.cursor)
            if isinstance(step, WaitForStep) and self._satisfied(step):
                self.note(f"{step.wait_for} seen: taking the 'then' branch")
                self.set(
                    cursor=step.then or self.seq.next_id(self.e.cursor), wait=None, next_action_at=None, since=None
                )
                self.run()

    def product_event(self, event: EventOccurred) -> None:
        """A product event: the goal ends the run as a conversion, an `exit_on` event ends it, a
        scored one adds points, a watched one may satisfy a `wait_for`. Events are applied by when
        they happened, so one that arrives late or out of order decides as it would have on time."""
        name = event.name
        at = min(event.at, self.now)  # a sender's clock ahead of ours does not put it in the future
        began = self.e.entered_at
        if began is not None and at < began:
            self.note(f"{name} event ignored: it happened before this run began ({at:%Y-%m-%d %H:%M} UTC)")
            return
        if name in self.seq.goal_events:
            self.finish(Status.GOAL_REACHED, f"goal '{name}' reached")
            return
        if name in self.seq.exit_on:
            self.finish(Status.COMPLETED, f"left on the '{name}' event")
            return
        if self.e.status not in (Status.ACTIVE, Status.PAUSED):
            return  # waiting for double opt-in: only a goal or an exit counts before consent is confirmed
        key = f"event:{name}"
        seen = self.e.engaged.get(key)
        if seen is not None and seen == at:
            self.note(f"{name} event at {at:%Y-%m-%d %H:%M:%S} already applied")
            return
        weight = self.seq.scoring.events.get(name)
        watched = name in self.seq.watched_events
        if not (weight or watched):
            return  # nothing in this sequence uses it: nothing changes, nothing is written
        if seen is None or seen < at:
            self.set(engaged={**self.e.engaged, key: at})  # the latest time counts, like opens and clicks
        if weight:
            self.add_score(weight, f"{name} event")
        else:
            self.note(f"{name} event")
        self.take_satisfied_wait()

    def resubmitted(self, confirmed: bool) -> None:
        e = self.e
        if e.status is Status.PENDING:
            last = e.last_confirmation_at
            if (last is None or self.now - last >= CONFIRMATION_RESEND_GAP) and e.confirmations < MAX_CONFIRMATIONS:
                self.send_confirmation("signed up again: confirmation re-sent")
        elif e.status in (Status.ACTIVE, Status.PAUSED):
            # The latest post is kept (and with it the details it added, in the same write).
            self.set(engaged={**e.engaged, f"{RESUBMIT}any": self.now})
            self.renewed_interest(confirmed)

    def renewed_interest(self, confirmed: bool) -> None:
        """A lead filled in a form again. Anyone can post an address, so it counts only for a lead who
        confirmed, at most once per `resubmit_every`, at most `resubmit_cap` in all, and it never
        hands off by itself."""
        scoring = self.seq.scoring
        counted = sorted(at for key, at in self.e.engaged.items() if key.startswith(RESUBMIT) and key[-1].isdigit())
        weight = min(scoring.resubmit, scoring.resubmit_cap - len(counted) * scoring.resubmit)
        if not confirmed:
            self.note("filled in a form again: not counted (consent not confirmed)")
        elif counted and self.now - counted[-1] < scoring.resubmit_every:
            self.note(f"filled in a form again: not counted (once per {format_duration(scoring.resubmit_every)})")
        elif weight <= 0:
            self.note("filled in a form again: not counted (resubmit_cap reached)")
        else:
            self.set(engaged={**self.e.engaged, f"{RESUBMIT}{len(counted) + 1}": self.now})
            self.add_score(weight, "filled in a form again", may_hand_off=False)

    # -- scoring, stages, hand-off ----------------------------------------------------------------

    def add_score(self, weight: float, what: str, may_hand_off: bool = True) -> None:
        before = current_score(self.e.frozen(), self.seq, self.now)
        score = before + weight
        self.set(score=score, score_at=self.now)
        self.note(f"{what} ({weight:+g} -> score {score:g})" if weight else what)
        self.apply_stage_rules()
        ready = self.seq.sales_ready
        if ready and score >= ready.score and may_hand_off:
            self.actions.append(HandOff(score=score, stage=self.e.stage))
            self.finish(Status.SALES_READY, f"sales-ready at score {score:g}")

    def apply_stage_rules(self) -> None:
        order = self.seq.stages
        current = order.index(self.e.stage) if self.e.stage in order else -1
        best = current
        for rule in self.seq.stage_rules:
            index = order.index(rule.stage)
            if index > best and holds(rule.when, self.e.frozen(), self.seq, self.lead, self.now):
                best = index
        if best > current:
            self.set(stage=order[best])
            self.note(f"moved to stage {order[best]}")

    def finish(self, status: Status, reason: str) -> None:
        self.set(
            status=status,
            wait=None,
            next_action_at=None,
            since=None,
            exit_reason=reason,
            ended_at=self.now,
            held_wait=None,
            held_until=None,
        )
        self.note(f"{status.value.replace('_', ' ')}: {reason}")

    # -- running steps ----------------------------------------------------------------------------

    def run(self) -> None:
        """Carry out steps from the cursor until one waits or the sequence ends."""
        for _ in range(MAX_STEPS_PER_DECISION):
            cursor = self.e.cursor
            if cursor is None:
                self.finish(Status.COMPLETED, "completed")
                return
            step = self.seq.step(cursor)
            following = self.seq.next_id(cursor)
            match step:
                case EmailStep():
                    if cursor in self.e.sent:
                        self.set(cursor=following)  # never the same step twice in a run
                        continue
                    if self.e.holdout and self.seq.holdout and cursor not in self.seq.holdout.keep:
                        self.set(cursor=following)
                        self.note(f"{step.email} not sent: in the holdout")
                        continue
                    at = next_send_time(
                        self.now, self.seq.send_window, self.seq.frequency_cap, self.recent, self.lead.timezone
                    )
                    if at > self.now:
                        capped = next_send_time(self.now, None, self.seq.frequency_cap, self.recent, None) > self.now
                        kind = Wait.CAP if capped else Wait.WINDOW
                        self.set(wait=kind, next_action_at=at)
                        self.note(
                            f"{step.email} held until {at:%Y-%m-%d %H:%M} UTC by the "
                            f"{'frequency cap' if capped else 'send window'}"
                        )
                        return
                    email, variant = chosen_email(self.e.lead_id, self.seq, cursor)
                    self.actions.append(SendEmail(step=cursor, email=email, variant=variant))
                    self.recent = (*self.recent, self.now)
                    self.set(sent=(*self.e.sent, cursor), last_email_at=self.now, cursor=following)
                    self.note(f"sent {email}" + (f" (variant of {step.email})" if email != step.email else ""))
                case WaitStep():
                    self.set(wait=Wait.TIMER, next_action_at=self.now + step.wait)
                    self.note(f"waiting {format_duration(step.wait)}")
                    return
                case WaitUntilStep():
                    target = (self.e.entered_at or self.now) + timedelta(days=step.wait_until)
                    if target <= self.now:
                        self.set(cursor=following)
                        continue
                    self.set(wait=Wait.TIMER, next_action_at=target)
                    self.note(f"waiting until day {step.wait_until} ({target:%Y-%m-%d})")
                    return
                case WaitForStep():
                    since = self.e.last_email_at or self.e.entered_at or self.now
                    self.set(since=since)
                    if self._satisfied(step):
                        self.note(f"{step.wait_for} already seen: taking the 'then' branch")
                        self.set(cursor=step.then or following, since=None)
                        continue
                    self.set(wait=Wait.ENGAGEMENT, next_action_at=self.now + step.wait_for.within)
                    signal = str(step.wait_for)
                    article = "an" if signal.startswith(("open", "a", "e", "i", "o", "u")) else "a"
                    self.note(f"waiting up to {format_duration(step.wait_for.within)} for {article} {signal}")
                    return
                case BranchStep():
                    goto = next(
                        (c.goto for c in step.branch if holds(c.if_, self.e.frozen(), self.seq, self.lead, self.now)),
                        None,
                    )
                    self.note(f"branch: {'to ' + goto if goto else 'no case matched'}")
                    self.set(cursor=goto or step.else_ or following)
                case StageStep():
                    if self.e.stage != step.stage:
                        self.note(f"moved to stage {step.stage}")
                    self.set(stage=step.stage, cursor=following)
                case GotoStep():
                    self.set(cursor=step.goto)
                case ExitStep():
                    self.finish(Status.COMPLETED, step.exit)
                    return
        raise SequenceLoopError(f"{self.seq.name}: more than {MAX_STEPS_PER_DECISION} steps without a wait")

    def _satisfied(self, step: WaitForStep) -> bool:
        since = self.e.since or self.e.last_email_at
        for signal in step.wait_for.signals:
            seen = self.e.engaged.get(signal.key)
            if seen is not None and (since is None or seen >= since):
                return True
        return False
