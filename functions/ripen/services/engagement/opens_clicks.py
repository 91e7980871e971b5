"""Open, Click: a person's interest moves their enrollment through the engine.

The engaged trigger goes through the engine (score, stage rules, `wait_for` branches at once, the
hand-off to sales) with the event's mark in the same transaction; machine opens are weighted low
and scanner clicks ignored for branching (`ripen.core.engagement`). When the enrollment cannot
move (finished, another run, a machine that scores nothing) the mark alone is written, so the
stats still count it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from ripen.core.engagement import (
    CLICKED,
    CLICKS,
    LINK_PREFIX,
    MACHINE_OPENS,
    OPENED,
    OPENS,
    SALES_READY,
    SCANNER_CLICKS,
    Bucket,
    MessageRef,
    Tally,
    machine_open,
    scanner_click,
)
from ripen.core.records import EnrollmentRecord, EventMark, Message
from ripen.core.state import Engaged
from ripen.models.ses import ClickRecord, OpenRecord
from ripen.services.engagement.attribution import (
    Applied,
    Attribution,
    Email,
    Parts,
    Verdict,
    mark,
    redelivered_past_cap,
)
from ripen.services.engagement.metric_names import EVENTS, LEADS_SALES_READY
from ripen.services.nurture import NurtureResult, SequenceVersionMissingError, UnknownSequenceError

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class Moved:
    """An open or click written: through the engine (`outcome`, on the enrollment's `version`), or
    as a mark on the message alone (`message`, as it became)."""

    message: Message | None = None
    outcome: NurtureResult | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Interest:
    """What one open or click did. `first`: the first open (click) of the email by a person;
    `machine`: why it was a machine's (a privacy proxy, a link scanner), None for a person."""

    moved: Moved
    first: bool
    machine: str | None = None
    read: Message | None = None  # the message as read before a click was written


class OpensClicks:
    def __init__(self, parts: Parts, attribution: Attribution) -> None:
        self.parts = parts
        self.attribution = attribution

    # -- Open -------------------------------------------------------------------------------------

    def open(self, email: Email, record: OpenRecord, tally: Tally) -> None:
        written = self.attribution.write(email, {record.key}, lambda ref: self._write_open(email, record, ref))
        if not isinstance(written, Applied):
            self.attribution.not_written(email, [record], written)
            return
        assert email.ref is not None
        moved, first, why = written.value.moved, written.value.first, written.value.machine
        if moved.message is not None:
            first = why is None and moved.message.activity.opens == 1
        bucket = email.bucket(moved.message, email.ref, moved.version)
        if why is not None:
            tally.add(bucket, MACHINE_OPENS)
            logger.debug("machine open", extra={"ses_message_id": email.ses_id, "why": why})
        else:
            tally.add(bucket, OPENS, *([OPENED] if first else []))
        self._engaged(moved, bucket, tally)

    def _write_open(self, email: Email, record: OpenRecord, ref: MessageRef) -> Interest | Verdict | None:
        """Judged against the delivery known (this batch's, or the stored one a failed write read):
        a person's open is written only if the message was not delivered later than that allows,
        so a proxy fetch seconds after a delivery of an earlier batch is found out without a read."""
        opened, rules = record.open, self.parts.rules
        why = machine_open(opened.timestamp, opened.user_agent, opened.ip_address, email.arrived_at, rules)
        machine = why is not None
        read = email.read  # known only once a write failed: the keys kept may be taken
        past_cap = read is not None and read.activity.full
        if read is not None and past_cap and redelivered_past_cap(read, record):
            return Verdict.DUPLICATE
        delivered_by = None if machine else opened.timestamp - rules.open_after
        live = None if machine and self._scores_nothing(ref.sequence) else self._live_enrollment(ref)
        first = not machine and live is not None and f"open:{ref.step}" not in live.enrollment.engaged
        trigger = Engaged("open", opened.timestamp, step=ref.step, machine=machine)
        moved = self._engage(ref, live, trigger, mark(ref, email, record, machine, delivered_by, past_cap))
        return Interest(moved, first, why) if moved is not None else None

    # -- Click ------------------------------------------------------------------------------------

    def click(self, email: Email, record: ClickRecord, tally: Tally) -> None:
        written = self.attribution.write(email, {record.key}, lambda ref: self._write_click(email, record, ref))
        if not isinstance(written, Applied):
            self.attribution.not_written(email, [record], written)
            return
        assert email.ref is not None
        clicked = written.value
        bucket = email.bucket(clicked.moved.message or clicked.read, email.ref, clicked.moved.version)
        if clicked.machine is not None:
            tally.add(bucket, SCANNER_CLICKS)
            logger.debug("scanner click", extra={"ses_message_id": email.ses_id, "why": clicked.machine})
        else:
            link = record.click.link_name
            tally.add(
                bucket, CLICKS, *([f"{LINK_PREFIX}{link}"] if link else []), *([CLICKED] if clicked.first else [])
            )
        self._engaged(clicked.moved, bucket, tally)

    def _write_click(self, email: Email, record: ClickRecord, ref: MessageRef) -> Interest | Verdict | None:
        """Read first: the scanner rules need the clicks the message already knows."""
        message = self.parts.store.get_message(ref.key)
        if message is None or not message.named_by(email.ses_id) or record.key in message.activity.seen:
            return None
        past_cap = message.activity.full
        if past_cap and redelivered_past_cap(message, record):
            return Verdict.DUPLICATE
        click, activity = record.click, message.activity
        others = [(at, link) for at, link, key in email.clicks if key != record.key]
        if activity.last_click_at is not None:
            others.append((activity.last_click_at, activity.last_click_link or None))
        arrived = activity.delivered_at or email.delivered_at or email.sent_at
        why = scanner_click(click.timestamp, click.link_name, click.user_agent, arrived, others, self.parts.rules)
        machine = why is not None
        trigger = Engaged("click", click.timestamp, step=ref.step, link=click.link_name, machine=machine)
        live = None if machine else self._live_enrollment(ref)
        moved = self._engage(ref, live, trigger, mark(ref, email, record, machine, past_cap=past_cap))
        first = not machine and activity.clicked_at is None
        return Interest(moved, first, why, read=message) if moved is not None else None

    # -- through the engine -----------------------------------------------------------------------

    def _live_enrollment(self, ref: MessageRef) -> EnrollmentRecord | None:
        """The enrollment the email belongs to, while it can still move (same run, not finished)."""
        record = self.parts.store.get_enrollment(ref.lead_id, ref.sequence)
        if record is None or record.enrollment.run != ref.run or record.enrollment.terminal:
            return None
        return record

    def _scores_nothing(self, sequence: str) -> bool:
        try:
            return self.parts.nurture.sequence(sequence).scoring.machine_open == 0
        except UnknownSequenceError:
            return True

    def _engage(
        self, ref: MessageRef, record: EnrollmentRecord | None, trigger: Engaged, mark: EventMark
    ) -> Moved | None:
        """The engaged trigger through the engine with the mark in its transaction; the mark alone
        when the enrollment cannot move or nothing changes. None when a condition failed."""
        if record is not None:
            try:
                outcome = self.parts.nurture.apply_record(record, trigger, f"engagement: {trigger.kind}", marks=[mark])
            except (UnknownSequenceError, SequenceVersionMissingError):
                outcome = NurtureResult(False, reason="sequence gone")
            if outcome.applied:
                return Moved(outcome=outcome, version=record.enrollment.version)
            if outcome.reason == "conflict":
                return None
        message = self.parts.store.mark_message(ref.key, [mark])
        return Moved(message=message) if message is not None else None

    def _engaged(self, moved: Moved, bucket: Bucket, tally: Tally) -> None:
        self.parts.metrics.count(EVENTS)
        if moved.outcome is not None and moved.outcome.handoffs:
            tally.add(bucket, SALES_READY)
            self.parts.metrics.count(LEADS_SALES_READY)
            self.parts.metrics.count_for(bucket.sequence, LEADS_SALES_READY)
