"""Product events (`Lead Event`, from the events bus or `POST /events`): one meaning for both doors.

For each event: find the lead (never create one), apply the event id once, update the lead's
attributes (the identify call: only authenticated callers reach here), then let every enrollment of
the lead decide what the event means to its sequence (goal, exit, points, a `wait_for` signal), and
enroll the lead in each sequence the event triggers (a lead who consented only). Conversions and
hand-offs are counted in the stats, against the latest email the lead got in that sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from aws_lambda_powertools import Logger

from ripen.core.engagement import SALES_READY, Bucket
from ripen.core.events import EVENT_CLAIM_LEASE, EVENT_IDS_KEPT, GOAL_REACHED, EventOutcome, LeadEvent
from ripen.core.experiments import stats_step
from ripen.core.leads import lead_id_for
from ripen.core.records import EnrollmentRecord, Lead, LeadStatus
from ripen.core.sequence import Sequence
from ripen.core.state import EventOccurred, Status
from ripen.core.validator import Catalog
from ripen.ports.clock import Clock
from ripen.ports.event_ids import Claim, EventIds
from ripen.ports.metrics import Metrics
from ripen.ports.stats import Stats
from ripen.ports.store import Store
from ripen.services.nurture import MAX_ATTEMPTS, Nurture

logger = Logger(child=True)

# Metrics (no address, no event id, no property in any of them)
EVENTS_APPLIED = "ProductEventsApplied"
EVENTS_DUPLICATE = "ProductEventsDuplicate"
EVENTS_UNKNOWN_LEAD = "ProductEventsUnknownLead"  # reported, never created
EVENTS_UNKNOWN_NAME = "ProductEventsUnknownName"  # a warning: no sequence uses this name
EVENTS_TOO_OLD = "ProductEventsTooOld"
EVENTS_REFUSED = "ProductEventsRefused"  # not a valid Lead Event (the boundary counts these)
LEADS_CONVERTED = "LeadsConverted"
LEADS_ENROLLED_BY_EVENT = "LeadsEnrolledByEvent"
LEADS_SALES_READY = "LeadsSalesReady"


class EventLeadMissingError(ValueError):
    """An event names neither an email nor a lead id (the boundary model prevents this)."""


@dataclass
class EventResult:
    outcome: EventOutcome
    lead_id: str | None = None
    moved: list[str] = field(default_factory=list)  # sequences whose enrollment the event changed
    enrolled: list[str] = field(default_factory=list)  # sequences the event enrolled the lead in
    converted: list[str] = field(default_factory=list)  # sequences whose goal it reached


class ProductEvents:
    def __init__(
        self,
        store: Store,
        nurture: Nurture,
        catalog: Catalog,
        event_ids: EventIds,
        stats: Stats,
        metrics: Metrics,
        clock: Clock,
        *,
        lead_id_key: bytes,
        max_attributes: int = 20,
    ) -> None:
        self.store = store
        self.nurture = nurture
        self.catalog = catalog
        self.event_ids = event_ids
        self.stats = stats
        self.metrics = metrics
        self.clock = clock
        self.lead_id_key = lead_id_key
        self.max_attributes = max_attributes
        self._known: frozenset[str] | None = None

    def known_names(self) -> frozenset[str]:
        """Every event name some current sequence gives a meaning to (the catalog is fixed for a container)."""
        if self._known is None:
            self._known = self._names_in_catalog()
        return self._known

    def _names_in_catalog(self) -> frozenset[str]:
        names: set[str] = set()
        for name in self.catalog.names():
            seq = self.catalog.current(name)
            names.update(seq.goal_events, seq.exit_on, seq.scoring.events, seq.watched_events)
            if seq.trigger is not None:
                names.add(seq.trigger.event)
        return frozenset(names)

    def apply(self, event: LeadEvent) -> EventResult:
        now = self.clock.now()
        lead_id = self._lead_id(event)
        if event.occurred_at < now - EVENT_IDS_KEPT:
            self.metrics.count(EVENTS_TOO_OLD)
            logger.warning("product event too old to apply once: refused", extra={"event": event.name})
            return EventResult(EventOutcome.TOO_OLD, lead_id)
        lead = self.store.get_lead(lead_id)
        if lead is None:
            self.metrics.count(EVENTS_UNKNOWN_LEAD)
            logger.warning("product event for an unknown lead: nothing created", extra={"event": event.name})
            return EventResult(EventOutcome.UNKNOWN_LEAD, lead_id)
        if event.name not in self.known_names():
            self.metrics.count(EVENTS_UNKNOWN_NAME)
            logger.warning("product event no sequence uses: accepted, counted", extra={"event": event.name})
        keep_until = min(event.occurred_at, now) + EVENT_IDS_KEPT  # a sender's clock ahead of ours changes nothing
        claim = self.event_ids.claim(event.event_id, now, now + EVENT_CLAIM_LEASE, keep_until)
        if claim is not Claim.TAKEN:
            self.metrics.count(EVENTS_DUPLICATE)
            outcome = EventOutcome.DUPLICATE if claim is Claim.APPLIED else EventOutcome.IN_PROGRESS
            return EventResult(outcome, lead_id)
        result = EventResult(EventOutcome.APPLIED, lead_id)
        lead = self._identify(lead, event)
        self._move_enrollments(lead, event, result)
        self._enroll_triggered(lead, event, result)
        self.event_ids.mark_applied(event.event_id, keep_until)
        self.metrics.count(EVENTS_APPLIED)
        logger.info(
            "product event applied",
            extra={"lead_id": lead_id, "event": event.name, "moved": result.moved, "enrolled": result.enrolled},
        )
        return result

    def _lead_id(self, event: LeadEvent) -> str:
        if event.lead_id:
            return event.lead_id
        if event.email:
            return lead_id_for(event.email, self.lead_id_key)
        raise EventLeadMissingError("a product event names its lead by email or lead_id")

    # -- identify: attributes ----------------------------------------------------------------------

    def _identify(self, lead: Lead, event: LeadEvent) -> Lead:
        """The event's attributes on the lead (the latest to arrive wins), within the attribute limit."""
        for _ in range(MAX_ATTEMPTS):
            merged = {**lead.attributes, **event.attributes}
            if merged == dict(lead.attributes):
                return lead
            if len(merged) > self.max_attributes:
                kept = {k: v for k, v in event.attributes.items() if k in lead.attributes}
                merged = {**lead.attributes, **kept}
                logger.warning(
                    "product event attributes over the limit: new ones not kept", extra={"event": event.name}
                )
            updated = replace(lead, attributes=merged)
            if self.store.save_lead(updated, lead.revision):
                return replace(updated, revision=lead.revision + 1)
            fresh = self.store.get_lead(lead.lead_id)
            if fresh is None:
                return lead
            lead = fresh
        return lead

    # -- what each sequence makes of it ------------------------------------------------------------

    def _move_enrollments(self, lead: Lead, event: LeadEvent, result: EventResult) -> None:
        trigger = EventOccurred(event.name, event.occurred_at)
        for record in self.store.enrollments_of(lead.lead_id):
            if record.enrollment.terminal:
                continue
            outcome = None
            for _ in range(MAX_ATTEMPTS):
                fresh = record if outcome is None else self.store.get_enrollment(*record.key)
                if fresh is None or fresh.enrollment.terminal:
                    break
                fresh = replace(fresh, attributes=dict(lead.attributes))
                outcome = self.nurture.apply_record(fresh, trigger, f"event {event.name}")
                if outcome.reason != "conflict":
                    break
            if outcome is None or not outcome.applied or outcome.record is None:
                continue
            result.moved.append(record.enrollment.sequence)
            self._count(outcome.record, result)

    def _count(self, record: EnrollmentRecord, result: EventResult) -> None:
        e = record.enrollment
        counter = {Status.GOAL_REACHED: GOAL_REACHED, Status.SALES_READY: SALES_READY}.get(e.status)
        if counter is None:
            return
        if e.status is Status.GOAL_REACHED:
            result.converted.append(e.sequence)
            self.metrics.count(LEADS_CONVERTED)
            self.metrics.count_for(e.sequence, LEADS_CONVERTED)
        else:
            self.metrics.count(LEADS_SALES_READY)
            self.metrics.count_for(e.sequence, LEADS_SALES_READY)
        step = stats_step(e.lead_id, self.catalog.get(e.sequence, e.version), e.sent[-1]) if e.sent else "entered"
        at = e.last_email_at or e.entered_at or self.clock.now()
        self.stats.add({Bucket.of(e.sequence, e.version, step, at): {counter: 1}})

    def _enroll_triggered(self, lead: Lead, event: LeadEvent, result: EventResult) -> None:
        for seq in self._triggered_by(event.name):
            if not self._may_enroll(lead, seq):
                logger.info("trigger not applied: no consent for it", extra={"event": event.name, "sequence": seq.name})
                continue
            existing = self.store.get_enrollment(lead.lead_id, seq.name)
            if existing is not None and not existing.enrollment.terminal:
                continue  # already in it: an event never counts as a new signup
            outcome = self.nurture.enroll(lead, seq.name, f"event {event.name}")
            if outcome.applied and outcome.started:
                result.enrolled.append(seq.name)
                self.metrics.count(LEADS_ENROLLED_BY_EVENT)

    def _triggered_by(self, name: str) -> list[Sequence]:
        found = []
        for seq_name in self.catalog.names():
            seq = self.catalog.current(seq_name)
            if seq.trigger is not None and seq.trigger.event == name:
                found.append(seq)
        return found

    @staticmethod
    def _may_enroll(lead: Lead, seq: Sequence) -> bool:
        """Only a lead who can be emailed and consented: confirmed, or (a sequence without double
        opt-in) with a statement of consent on record."""
        if lead.status is not LeadStatus.ACTIVE or lead.consent is None:
            return False
        return lead.confirmed or not seq.double_opt_in.enabled
