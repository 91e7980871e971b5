"""Protecting the sender's reputation: holds on sending (the kill switch), the daily SES quota, and
the circuit breaker that holds sending itself before SES would review the account.

- `SendingGate` is what the sender asks before every email: is this sequence held (by an operator or
  by the breaker), or is the account's daily SES quota spent? The holds and SES's figures are read
  at most once per `cache` (30 s) per container, so a pause reaches every sender within a minute.
  A held email is re-timed (it waits in the store and the sweep queues it again), never dropped
  and never counted as failed.
- `pause` / `resume` hold and lift (`ripen sending pause|resume`; the breaker pauses too). Lifting
  a hold that switched the configuration set's sending off switches it on again.
- `Breaker` counts, once per engagement batch, the emails sent, hard bounces and complaints per hour,
  for the account and per sequence (one atomic ADD per counter item), and judges the rates
  (`ripen.core.reputation.judge`) when the batch brought a bounce or a complaint. Over the line for
  the account: every sequence is held and the configuration set's sending is switched off in SES
  too; for one sequence only: that sequence alone is held. It raises `SendingBreakerTripped` (an
  alarm watches it), says what drove it, and the hold stays until `ripen sending resume` or the
  cool-down the operator set (`REPUTATION_COOLDOWN_MINUTES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from ripen.core import tags
from ripen.core.engagement import ref_from_tags
from ripen.core.reputation import (
    ALL,
    BREAKER,
    Counts,
    Hold,
    Thresholds,
    Verdict,
    covering,
    first_hour,
    hour_of,
    judge,
    window_counts,
)
from ripen.core.warmup import Ramp, day_start, release_at
from ripen.ports.clock import Clock
from ripen.ports.metrics import Metrics
from ripen.ports.sending import AccountState, SendingControl, SesAccount

if TYPE_CHECKING:  # the SES event models: the engagement function's, not the sender's (it asks the gate)
    from ripen.models.ses import AnyRecord, Received

logger = Logger(child=True)

HELD = "EmailsHeld"  # an email waited because of a hold
QUOTA_HELD = "EmailsHeldForQuota"  # an email waited for the daily SES quota
WARMUP_HELD = "EmailsHeldForWarmup"  # an email waited for the next day of the warm-up ramp
TRIPPED = "SendingBreakerTripped"
NOT_COUNTED = "ReputationNotCounted"  # a batch's counters could not be written (alarmed on nothing: logged)
SES_NOT_PAUSED = "SesPauseFailed"  # the breaker could not switch the configuration set off in SES

CACHE = timedelta(seconds=30)  # holds and quota read at most this often per container (<= 60 s)
HOLD_RECHECK = timedelta(minutes=5)  # a held email looks again this often (a read and a write each time)
QUOTA_RECHECK = timedelta(hours=1)  # SES's quota is a rolling 24 hours: sends free up hour by hour
COUNTS_KEPT = timedelta(days=8)  # the counters outlive the longest window there may be (7 days)


@dataclass(frozen=True)
class Wait:
    """Until when an email waits, why, and the metric that counts it."""

    until: datetime
    reason: str
    metric: str


class SendingGate:
    def __init__(
        self,
        control: SendingControl,
        clock: Clock,
        account: SesAccount | None = None,
        configuration_set: str | None = None,
        cache: timedelta = CACHE,
        ramp: Ramp | None = None,
    ) -> None:
        self.control = control
        self.ramp = ramp  # the warm-up of a new identity; None: none
        self.clock = clock
        self.account = account
        self.configuration_set = configuration_set
        self.cache = cache
        self._holds: list[Hold] = []
        self._state: AccountState | None = None
        self._read_at: datetime | None = None
        self._passed = 0  # emails let through since the last read
        self._sent_today = 0  # emails sent today as the reputation counters say (the warm-up)

    def check(
        self, sequence: str, now: datetime, created_at: datetime | None = None, kind: str = "nurture"
    ) -> Wait | None:
        """Whether an email of `sequence` (decided at `created_at`) must wait now (None: it may go)."""
        self._refresh(now)
        hold = covering(self._holds, sequence, now)
        if hold is not None:
            until = now + HOLD_RECHECK if hold.until is None else min(hold.until, now + HOLD_RECHECK)
            return Wait(until, f"sending hold ({hold.scope}, by {hold.by}): {hold.reason}", HELD)
        # SES's figure as last read, less the emails this container let through since (each may be sent)
        if self._state is not None and self._state.quota_left - self._passed <= 0:
            return Wait(now + QUOTA_RECHECK, "daily SES quota (spent)", QUOTA_HELD)
        allowance = self.ramp.allowance(now.date()) if self.ramp is not None else None
        # confirmations never wait for the ramp (the person just asked); they count toward it
        if allowance is not None and kind == "nurture" and self._sent_today + self._passed >= allowance:
            assert self.ramp is not None
            reason = f"warm-up (day {self.ramp.day(now.date())}: {allowance} emails a day)"
            return Wait(release_at(now, created_at or now), reason, WARMUP_HELD)
        self._passed += 1
        return None

    def _refresh(self, now: datetime) -> None:
        if self._read_at is not None and now - self._read_at < self.cache:
            return
        self._holds = self.control.holds()
        self._state = self.account.account() if self.account is not None else None
        self._read_at = now
        self._passed = 0
        if self.ramp is not None and not self.ramp.over(now.date()):
            today = self.control.counts(ALL, hour_of(day_start(now)))
            self._sent_today = sum(c.sends for c in today.values())
        for hold in self._holds:
            if not hold.active(now):  # its cool-down is over: lift it (SES's switch back on)
                try:
                    resume(self.control, self.account, self.configuration_set, hold.scope, now, f"{BREAKER} cool-down")
                except Exception:  # the next read tries again; the hold no longer holds anything meanwhile
                    logger.exception("a hold whose cool-down is over could not be lifted", extra={"scope": hold.scope})


def pause(
    control: SendingControl,
    scope: str,
    reason: str,
    by: str,
    now: datetime,
    until: datetime | None = None,
    paused_ses: bool = False,
    detail: dict[str, str] | None = None,
) -> Hold | None:
    """Hold `scope`; None when a hold on it is in force already (it is kept as it is)."""
    hold = Hold(scope, reason, by, now, until, paused_ses, detail or {})
    return hold if control.put_hold(hold) else None


def resume(
    control: SendingControl,
    account: SesAccount | None,
    configuration_set: str | None,
    scope: str,
    now: datetime,
    by: str,
) -> Hold | None:
    """Lift the hold on `scope`; the hold lifted, or None if there was none. If that hold switched the
    configuration set's sending off (and no other hold in force wants it off), sending is switched back
    on first: should SES refuse, the hold stays, and the next try (a sender's next read, the operator's
    next resume) does both again."""
    holds = control.holds()
    current = next((h for h in holds if h.scope == scope), None)
    if current is None:
        return None
    if current.paused_ses and account is not None and configuration_set:
        others = [h for h in holds if h.paused_ses and h.active(now) and h.scope != scope]
        if not others:
            account.set_sending(configuration_set, True)
    lifted = control.lift_hold(scope, now, by)
    if lifted is not None:
        logger.info("sending hold lifted", extra={"scope": scope, "by": by, "held_since": lifted.since.isoformat()})
    return lifted


@dataclass(frozen=True)
class Tally:
    """One batch's counts, per (scope, hour), and the scopes that got a bounce or a complaint."""

    counts: dict[tuple[str, str], Counts]
    troubled: set[str]


def tally(received: Iterable[Received], failed: set[str | None]) -> Tally:
    counts: dict[tuple[str, str], Counts] = {}
    troubled: set[str] = set()
    for item in received:
        record = item.record
        if record is None or item.item_id in failed:  # failed ones come back and are counted then
            continue
        seen = _counts_of(record)
        if not seen:
            continue
        hour = hour_of(record.occurred_at)
        sequence = _sequence_of(record)
        for scope in (ALL, sequence) if sequence else (ALL,):
            counts[(scope, hour)] = counts.get((scope, hour), Counts()) + seen
            if seen.bounces or seen.complaints:
                troubled.add(scope)
    return Tally(counts, troubled)


def _counts_of(record: AnyRecord) -> Counts:
    from ripen.models.ses import BounceRecord

    if record.kind == "send":
        return Counts(sends=1)
    if isinstance(record, BounceRecord) and record.permanent:
        return Counts(bounces=1)
    if record.kind == "complaint":
        return Counts(complaints=1)
    return Counts()


def _sequence_of(record: AnyRecord) -> str | None:
    values = record.mail.tags.get(tags.SEQUENCE) or []
    if values:
        return values[0]
    ref = ref_from_tags(record.mail.tags)
    return ref.sequence if ref else None


class Breaker:
    def __init__(
        self,
        control: SendingControl,
        clock: Clock,
        metrics: Metrics,
        limits: Thresholds | None = None,
        account: SesAccount | None = None,
        configuration_set: str | None = None,
        cooldown: timedelta | None = None,
    ) -> None:
        self.control = control
        self.clock = clock
        self.metrics = metrics
        self.limits = limits or Thresholds()
        self.account = account
        self.configuration_set = configuration_set
        self.cooldown = cooldown  # None: held until `ripen sending resume`

    def after_batch(self, received: Sequence[Received], failed: set[str | None]) -> list[Hold]:
        """Count a batch of SES events and trip if the rates cross the line; the holds it placed.
        Never fails the batch: the events are applied already, and a counter lost is logged."""
        try:
            return self._after_batch(received, failed)
        except Exception:
            self.metrics.count(NOT_COUNTED)
            logger.exception("reputation counters not written")
            return []

    def _after_batch(self, received: Sequence[Received], failed: set[str | None]) -> list[Hold]:
        batch = tally(received, failed)
        if not batch.counts:
            return []
        now = self.clock.now()
        self.control.add_counts(batch.counts, now + COUNTS_KEPT)
        if not batch.troubled:
            return []  # rates only rise with a bounce or a complaint
        since = first_hour(now, max(self.limits.window, self.limits.burst))
        hours = {scope: self.control.counts(scope, since) for scope in sorted(batch.troubled)}
        verdicts = {scope: v for scope, h in hours.items() if (v := judge(scope, h, now, self.limits))}
        if ALL in verdicts:
            driver = _driver(hours, now, self.limits.burst)
            return [h for h in [self._trip(verdicts[ALL], now, driver)] if h]
        return [h for v in verdicts.values() if (h := self._trip(v, now, v.scope))]

    def _trip(self, verdict: Verdict, now: datetime, driver: str | None) -> Hold | None:
        account_wide = verdict.scope == ALL
        pauses_ses = account_wide and self.account is not None and bool(self.configuration_set)
        detail = verdict.detail()
        if driver:
            detail["sequence"] = driver
        until = now + self.cooldown if self.cooldown else None
        hold = pause(
            self.control, verdict.scope, f"circuit breaker: {verdict.reason}", BREAKER, now, until, pauses_ses, detail
        )
        if hold is None:
            return None  # held already
        if pauses_ses:
            assert self.account is not None
            assert self.configuration_set
            try:
                self.account.set_sending(self.configuration_set, False)
            except Exception:
                self.metrics.count(SES_NOT_PAUSED)
                logger.exception("the breaker could not switch SES sending off (ripen's own hold stands)")
        self.metrics.count(TRIPPED)
        logger.error(
            "circuit breaker tripped: sending held",
            extra={"scope": verdict.scope, "reason": verdict.reason, "sequence": driver, **detail},
        )
        return hold


def _driver(hours: dict[str, dict[str, Counts]], now: datetime, burst: timedelta) -> str | None:
    """The sequence with the most bounces and complaints in the short window: what drove a trip."""
    bad = {scope: window_counts(h, now, burst) for scope, h in hours.items() if scope != ALL}
    ranked = sorted(((c.bounces + c.complaints, scope) for scope, c in bad.items()), reverse=True)
    return ranked[0][1] if ranked and ranked[0][0] else None
