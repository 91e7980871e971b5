"""Lead capture: a checked signup becomes one lead with a consent record and at most one enrollment per
sequence; a confirmation link click turns a pending signup into an enrolled one.

Safe to repeat: the lead id comes from the address, the lead is created only if absent and replaced
only at the revision it was read at, and the nurture service claims every email under a key it can
claim once. So a double click, a retry or a second landing page never makes a second lead, a second
enrollment or a second email.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from aws_lambda_powertools import Logger

from ripen.core.leads import erased_hash_for, lead_id_for
from ripen.core.records import Consent, ConsentMethod, EnrollmentRecord, Lead, LeadStatus
from ripen.core.sequence import Sequence
from ripen.core.state import Confirmed, Status
from ripen.models.signup import UTM_FIELDS, SignupForm
from ripen.ports.clock import Clock
from ripen.ports.errors import RetryLaterError
from ripen.ports.store import Store
from ripen.services.nurture import Nurture, UnknownSequenceError

logger = Logger(child=True)

MAX_ATTEMPTS = 4
# A second submission this soon after the first is the same signup (double click, client retry):
# it changes the lead's details but is not counted as fresh interest.
SAME_SIGNUP_WITHIN = timedelta(seconds=60)


class CaptureStatus(StrEnum):
    PENDING_CONFIRMATION = "pending_confirmation"  # a confirmation email is on its way (or was, recently)
    ENROLLED = "enrolled"  # the first email of the sequence is on its way
    ALREADY_ENROLLED = "already_enrolled"  # in the sequence already: counted as interest, nothing re-sent
    NOT_ENROLLED = "not_enrolled"  # suppressed, unsubscribed without fresh consent, or re-entry not allowed


class ConfirmStatus(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    GONE = "gone"  # the unconfirmed lead was deleted, or the sequence no longer exists
    REFUSED = "refused"  # suppressed, or unsubscribed since (a fresh signup is needed)
    OUTDATED = "outdated"  # the link is for another run, or was issued before the lead last unsubscribed


class NoSequenceError(UnknownSequenceError):
    """No sequence was named and no default is configured, or the one named does not exist."""

    def __init__(self, name: str | None, choices: list[str]) -> None:
        super().__init__(name or "")
        self.name = name
        self.choices = choices


class ConsentRequiredError(ValueError):
    pass


class BusyError(RetryLaterError):
    """Other writers kept changing this lead; the caller may retry."""


@dataclass(frozen=True, slots=True)
class Capture:
    lead_id: str
    sequence: Sequence
    status: CaptureStatus
    created: bool  # this signup started the enrollment (or a new run of it)
    queued: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Confirmation:
    status: ConfirmStatus
    sequence: Sequence | None = None
    queued: tuple[str, ...] = ()


class Signup:
    def __init__(
        self,
        store: Store,
        nurture: Nurture,
        clock: Clock,
        default_sequence: str | None = None,
        unconfirmed_lead_ttl: timedelta = timedelta(days=30),
        max_attributes: int = 20,
        *,
        lead_id_key: bytes,
    ) -> None:
        self.store = store
        self.lead_id_key = lead_id_key
        self.nurture = nurture
        self.clock = clock
        self.default_sequence = default_sequence
        self.unconfirmed_lead_ttl = unconfirmed_lead_ttl
        self.max_attributes = max_attributes + len(UTM_FIELDS)

    # -- which sequence ---------------------------------------------------------------------------

    @property
    def sequences(self) -> list[str]:
        return self.nurture.catalog.names()

    def sequence_for(self, name: str | None) -> Sequence:
        chosen = name or self.default_sequence
        if chosen is None or chosen not in self.sequences:
            raise NoSequenceError(name, self.sequences)
        return self.nurture.sequence(chosen)

    # -- capture ----------------------------------------------------------------------------------

    def capture(
        self,
        form: SignupForm,
        method: ConsentMethod = "form",
        admit: Callable[[], bool] | None = None,
        *,
        consent_confirmed_at: datetime | None = None,
    ) -> Capture:
        """`admit`: asked once this signup would cause an email (the signup limits); when it says no,
        the answer is the same and nothing is stored that would send. `consent_confirmed_at`: an
        import's consent, proven elsewhere (a double opt-in done before): no confirmation is asked for,
        unless the lead unsubscribed (then only a fresh confirmation brings them back)."""
        sequence = self.sequence_for(form.sequence)
        if sequence.consent_required and not form.consent:
            raise ConsentRequiredError(sequence.name)
        lead_id = lead_id_for(form.email, self.lead_id_key)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            current = self.store.get_lead(lead_id)
            if current is None:
                erased = self.store.erased(erased_hash_for(form.email, self.lead_id_key))
                if erased is not None and (erased.status is LeadStatus.SUPPRESSED or not form.consent):
                    # erased on request, yet the opt-out or suppression it had holds
                    self._log("not enrolled", lead_id, sequence, reason=f"erased, {erased.status.value}")
                    return Capture(lead_id, sequence, CaptureStatus.NOT_ENROLLED, created=False)
                if admit is not None and not admit():  # a new lead always gets an email: keep nothing
                    self._log("signup email held back", lead_id, sequence)
                    status = CaptureStatus.PENDING_CONFIRMATION if sequence.double_opt_in.enabled else None
                    return Capture(lead_id, sequence, status or CaptureStatus.ENROLLED, created=True)
                lead = self._new_lead(lead_id, form, sequence, method, now, consent_confirmed_at)
                if erased is not None:  # unsubscribed before the erasure: back only by confirming again
                    lead = replace(lead, status=LeadStatus.UNSUBSCRIBED, unsubscribed_at=erased.at, expires_at=None)
                if self.store.create_lead(lead):
                    return self._enroll(lead, sequence, now, bool(form.consent), admit)
                continue  # someone created it a moment ago: update theirs
            if current.status is LeadStatus.SUPPRESSED or (
                current.status is LeadStatus.UNSUBSCRIBED and not form.consent
            ):
                self._log("not enrolled", lead_id, sequence, reason=current.status.value)
                return Capture(lead_id, sequence, CaptureStatus.NOT_ENROLLED, created=False)
            lead = self._updated_lead(current, form, sequence, method, now, consent_confirmed_at)
            if lead == current or self.store.save_lead(lead, current.revision):
                return self._enroll(lead, sequence, now, bool(form.consent), admit)
        raise BusyError(lead_id)

    def _new_lead(
        self,
        lead_id: str,
        form: SignupForm,
        sequence: Sequence,
        method: ConsentMethod,
        now: datetime,
        confirmed_at: datetime | None = None,
    ) -> Lead:
        pending = sequence.double_opt_in.enabled
        return Lead(
            lead_id=lead_id,
            email=form.email,
            created_at=now,
            name=form.name,
            timezone=form.tz,
            locale=form.locale,
            attributes=form.lead_attributes(),
            consents=(self._consent(form, sequence, method, now, confirmed_at),) if form.consent else (),
            expires_at=now + self._lead_ttl(sequence) if pending and not confirmed_at else None,
        )

    def _updated_lead(
        self,
        current: Lead,
        form: SignupForm,
        sequence: Sequence,
        method: ConsentMethod,
        now: datetime,
        confirmed_at: datetime | None = None,
    ) -> Lead:
        """Anyone can post any address, so a post only fills what the lead has not said yet: it never
        rewrites a name, a time zone or an attribute, and it appends consent, never replaces it."""
        lead = current
        statement = self._consent(form, sequence, method, now, confirmed_at) if form.consent else None
        if statement and self._consent_is_news(current, statement, sequence):
            lead = lead.with_consent(statement)
        expires_at = current.expires_at
        if expires_at is not None:  # a lead that never confirmed anything
            # Only an active lead may expire: an unsubscribe lives on the lead until a confirmation.
            pending = sequence.double_opt_in.enabled and current.status is LeadStatus.ACTIVE
            expires_at = max(expires_at, now + self._lead_ttl(sequence)) if pending else None
        return replace(
            lead,
            name=current.name or form.name,
            timezone=current.timezone or form.tz,
            locale=current.locale or form.locale,
            attributes=merged(form.lead_attributes(), current.attributes, self.max_attributes),
            expires_at=expires_at,
        )

    @staticmethod
    def _consent_is_news(lead: Lead, statement: Consent, sequence: Sequence) -> bool:
        """Whether a post's consent is a new statement worth its own entry: the lead had none in force
        (none yet, or they unsubscribed since), or it is one a double opt-in is about to confirm and
        not a repeat of the one already waiting for it."""
        latest = lead.consent
        if latest is None or lead.status is LeadStatus.UNSUBSCRIBED:
            return True
        if not sequence.double_opt_in.enabled or lead.confirmed:
            return False
        return replace(latest, given_at=statement.given_at) != statement

    @staticmethod
    def _consent(
        form: SignupForm, sequence: Sequence, method: ConsentMethod, now: datetime, confirmed_at: datetime | None = None
    ) -> Consent:
        # The wording shown is the sequence's, as configured on the server; the form's claim is not proof.
        given = min(now, confirmed_at) if confirmed_at else now
        wording = sequence.consent.wording
        return Consent(given_at=given, method=method, source=form.source, wording=wording, confirmed_at=confirmed_at)

    def _lead_ttl(self, sequence: Sequence) -> timedelta:
        # Never before the confirmation links stop working and the enrollment expires.
        return max(self.unconfirmed_lead_ttl, sequence.double_opt_in.expire_after + timedelta(days=1))

    def _enroll(
        self, lead: Lead, sequence: Sequence, now: datetime, consented: bool, admit: Callable[[], bool] | None = None
    ) -> Capture:
        before = self.store.get_enrollment(lead.lead_id, sequence.name)
        if before and not before.enrollment.terminal and _just_entered(before, now):
            self._log("same signup again", lead.lead_id, sequence)
            return Capture(lead.lead_id, sequence, _status_of(before, started=False, counted=False), created=False)
        # Leaving one sequence is unsubscribing from it: the way back is the same fresh consent,
        # confirmed by double opt-in, that brings back a lead who unsubscribed from everything.
        left = before is not None and before.enrollment.status is Status.UNSUBSCRIBED
        if left and not consented:
            self._log("not enrolled", lead.lead_id, sequence, reason="left this sequence")
            return Capture(lead.lead_id, sequence, CaptureStatus.NOT_ENROLLED, created=False)
        outcome = self.nurture.enroll(
            lead, sequence.name, reconsent=left or lead.status is LeadStatus.UNSUBSCRIBED, admit=admit
        )
        if outcome.record is None:
            raise BusyError(lead.lead_id)
        capture = Capture(
            lead.lead_id,
            sequence,
            _status_of(outcome.record, started=outcome.started, counted=outcome.applied),
            created=outcome.started,
            queued=tuple(outcome.queued),
        )
        self._log("lead captured", lead.lead_id, sequence, status=capture.status.value, new=capture.created)
        return capture

    # -- confirm ----------------------------------------------------------------------------------

    def confirm(
        self, lead_id: str, sequence_name: str, run: int | None = None, issued_at: datetime | None = None
    ) -> Confirmation:
        """The lead clicked "yes, confirm": record it, then start the sequence (its first email at once).

        `run` and `issued_at` come from the link: one for another run of the enrollment, or issued
        before the lead last unsubscribed, confirms nothing (None: not from a link, nothing to check)."""
        try:
            sequence = self.nurture.sequence(sequence_name)
        except UnknownSequenceError:
            return Confirmation(ConfirmStatus.GONE)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock.now()
            lead = self.store.get_lead(lead_id)
            if lead is None:
                return Confirmation(ConfirmStatus.GONE, sequence)
            if self._link_outdated(lead, sequence.name, run, issued_at):
                self._log("confirmation refused", lead_id, sequence, reason="outdated link")
                return Confirmation(ConfirmStatus.OUTDATED, sequence)
            if lead.status is LeadStatus.SUPPRESSED or (
                lead.status is LeadStatus.UNSUBSCRIBED and not self._reconsent_pending(lead_id, sequence)
            ):
                self._log("confirmation refused", lead_id, sequence, reason=lead.status.value)
                return Confirmation(ConfirmStatus.REFUSED, sequence)
            if lead.confirmed and lead.status is LeadStatus.ACTIVE and lead.expires_at is None:
                break
            stated = lead if lead.consent else lead.with_consent(Consent(given_at=now, source="confirmation link"))
            confirmed = replace(
                stated.with_latest_confirmed(now),
                status=LeadStatus.ACTIVE,
                status_reason=None,
                expires_at=None,
            )
            if self.store.save_lead(confirmed, lead.revision):
                lead = confirmed
                break
        else:
            raise BusyError(lead_id)
        outcome = self.nurture.apply(lead_id, sequence.name, Confirmed(), "confirmed")
        if not outcome.applied and (outcome.record is None or outcome.record.enrollment.status is Status.EXPIRED):
            # Confirmed after the enrollment gave up waiting (or without one): that is a signup too.
            outcome = self.nurture.enroll(lead, sequence.name, "confirmed")
        if outcome.applied:
            self._log("lead confirmed", lead_id, sequence)
            return Confirmation(ConfirmStatus.CONFIRMED, sequence, tuple(outcome.queued))
        return Confirmation(ConfirmStatus.ALREADY_CONFIRMED, sequence)

    def confirmation_state(
        self, lead_id: str, sequence_name: str, run: int | None = None, issued_at: datetime | None = None
    ) -> ConfirmStatus | None:
        """What confirming would come to, read only (for the page a link opens); None: it is awaited."""
        if sequence_name not in self.sequences:
            return ConfirmStatus.GONE
        lead = self.store.get_lead(lead_id)
        if lead is None:
            return ConfirmStatus.GONE
        if self._link_outdated(lead, sequence_name, run, issued_at):
            return ConfirmStatus.OUTDATED
        if lead.status is LeadStatus.SUPPRESSED or (
            lead.status is LeadStatus.UNSUBSCRIBED
            and not self._reconsent_pending(lead_id, self.sequence_for(sequence_name))
        ):
            return ConfirmStatus.REFUSED
        record = self.store.get_enrollment(lead_id, sequence_name)
        waiting = record is None or record.enrollment.status in (Status.NEW, Status.PENDING, Status.EXPIRED)
        if lead.confirmed and lead.status is LeadStatus.ACTIVE and not waiting:
            return ConfirmStatus.ALREADY_CONFIRMED
        return None

    def _link_outdated(self, lead: Lead, sequence_name: str, run: int | None, issued_at: datetime | None) -> bool:
        """A confirmation link from before the lead's last unsubscribe, or for another run of the
        enrollment: an old email must not bring back someone who left (or confirm a signup they
        did not make)."""
        if issued_at is not None and lead.unsubscribed_at is not None and issued_at < lead.unsubscribed_at:
            return True
        if run is None:
            return False
        record = self.store.get_enrollment(lead.lead_id, sequence_name)
        return record is not None and record.enrollment.run != run

    def _reconsent_pending(self, lead_id: str, sequence: Sequence) -> bool:
        """An unsubscribed lead is confirmed only through the double opt-in their fresh signup started."""
        record = self.store.get_enrollment(lead_id, sequence.name)
        return record is not None and record.enrollment.status is Status.PENDING

    @staticmethod
    def _log(what: str, lead_id: str, sequence: Sequence, **extra: object) -> None:
        # The lead id only: never the address or the name.
        logger.info(what, extra={"lead_id": lead_id, "sequence": sequence.name, **extra})


def merged(old: Mapping[str, str], new: Mapping[str, str], limit: int) -> dict[str, str]:
    """`new` over `old`, at most `limit`, the oldest of `old` dropped first. (A signup passes the lead's
    own attributes as `new`: a post may add fields, never change one.)"""
    current = dict(old)
    result = {**current, **new}
    if len(result) <= limit:
        return result
    kept_old = [k for k in current if k not in new][: max(0, limit - len(new))]
    return {**{k: current[k] for k in kept_old}, **new}


def _just_entered(record: EnrollmentRecord, now: datetime) -> bool:
    entered = record.enrollment.entered_at
    return entered is not None and timedelta(0) <= now - entered < SAME_SIGNUP_WITHIN


def _status_of(record: EnrollmentRecord, started: bool, counted: bool) -> CaptureStatus:
    """`started`: this signup began the run; `counted`: it was recorded as a resubmission."""
    e = record.enrollment
    if e.status in (Status.PENDING, Status.NEW):
        return CaptureStatus.PENDING_CONFIRMATION
    if started:
        return CaptureStatus.ENROLLED
    if counted or not e.terminal:
        return CaptureStatus.ALREADY_ENROLLED  # (a resubmission may even have made them sales-ready)
    return CaptureStatus.NOT_ENROLLED  # finished, and the sequence's re-entry policy says not yet
