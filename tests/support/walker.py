"""Walk one enrollment through a sequence with the pure engine and a moved clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ripen.core.engine import advance, new_enrollment
from ripen.core.sequence import Sequence
from ripen.core.state import (
    Action,
    Decision,
    Engaged,
    Enrolled,
    Enrollment,
    LeadContext,
    SendEmail,
    TimerDue,
    Trigger,
)
from ripen_dev.fakes.clock import ManualClock


@dataclass
class Walker:
    sequence: Sequence
    clock: ManualClock
    lead: LeadContext = field(default_factory=LeadContext)
    enrollment: Enrollment | None = None
    actions: list[tuple[datetime, Action]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def start(self, confirmed: bool = True) -> Walker:
        self.lead = replace(self.lead, confirmed=confirmed)
        self.enrollment = new_enrollment("ld_test", self.sequence, self.clock.now())
        return self.apply(Enrolled())

    def apply(self, trigger: Trigger) -> Walker:
        assert self.enrollment is not None
        now = self.clock.now()
        decision = advance(self.enrollment, trigger, self.sequence, now, self.lead)
        self.decisions.append(decision)
        self.enrollment = decision.enrollment
        for action in decision.actions:
            self.actions.append((now, action))
            if isinstance(action, SendEmail):
                self.lead = replace(self.lead, recent_emails=(*self.lead.recent_emails, now))
        return self

    def next_timer(self) -> bool:
        """Move the clock to the next due moment and fire the timer; False when nothing is pending."""
        e = self.enrollment
        if e is None or e.terminal or e.next_action_at is None:
            return False
        if e.next_action_at > self.clock.now():
            self.clock.set(e.next_action_at)
        self.apply(TimerDue())
        return True

    def run_until_done(self, limit: int = 200) -> Walker:
        for _ in range(limit):
            if not self.next_timer():
                return self
        raise AssertionError("the enrollment never finished")

    def run_until_sent(self, email: str, limit: int = 50) -> datetime:
        for _ in range(limit):
            if email in self.emails:
                return next(at for at, a in self.actions if isinstance(a, SendEmail) and a.email == email)
            if not self.next_timer():
                break
        raise AssertionError(f"{email} was never sent; sent: {self.emails}")

    def engage(
        self,
        kind: str,
        link: str | None = None,
        step: str | None = None,
        machine: bool = False,
        after: timedelta = timedelta(minutes=5),
    ) -> Walker:
        self.clock.advance(after)
        return self.apply(Engaged(kind=kind, at=self.clock.now(), step=step, link=link, machine=machine))  # type: ignore[arg-type]

    @property
    def emails(self) -> list[str]:
        return [a.email for _, a in self.actions if isinstance(a, SendEmail)]

    @property
    def state(self) -> Enrollment:
        assert self.enrollment is not None
        return self.enrollment
