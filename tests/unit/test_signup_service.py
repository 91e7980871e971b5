"""Capturing and confirming leads through the signup service (in-memory store and queue, manual clock)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from ripen.core.records import LeadStatus
from ripen.core.state import Status, Stopped, TimerDue
from ripen.models.signup import Limits, SignupForm, parse_signup
from ripen.services.nurture import Nurture
from ripen.services.signup import (
    CaptureStatus,
    ConfirmStatus,
    ConsentRequiredError,
    NoSequenceError,
    Signup,
    merged,
)
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from tests.support.ids import LEAD_ID_KEY, lead_id_for

ANA = "ana@example.com"
ANA_ID = lead_id_for(ANA)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def queue() -> MemorySendQueue:
    return MemorySendQueue()


@pytest.fixture
def nurture(store, queue, catalog, clock) -> Nurture:
    return Nurture(store, catalog, queue, clock)


@pytest.fixture
def signup(store, nurture, clock) -> Signup:
    return Signup(
        store,
        nurture,
        clock,
        default_sequence="trial-nurture",
        unconfirmed_lead_ttl=timedelta(days=30),
        lead_id_key=LEAD_ID_KEY.encode(),
    )


def form(email: str = ANA, **fields) -> SignupForm:
    values = {"email": email, "consent": True, "tz": "Europe/Berlin", "consent_version": "2026-03", **fields}
    return parse_signup({k: v for k, v in values.items() if v is not None}, Limits())


def jobs(queue: MemorySendQueue) -> list[str]:
    return [j.message_key.split("#", 1)[1] for j in queue.jobs]


# -- a first signup ---------------------------------------------------------------------------------------


def test_a_signup_to_a_double_opt_in_sequence_queues_the_confirmation_at_once(signup, store, queue, clock):
    capture = signup.capture(form(name="Ana", source="https://www.acme.example/trial", company="Acme"))
    assert (capture.status, capture.created) == (CaptureStatus.PENDING_CONFIRMATION, True)
    assert jobs(queue) == ["trial-nurture#1#confirm"]
    assert store.get_message(queue.jobs[0].message_key).claim.kind == "confirmation"
    lead = store.get_lead(ANA_ID)
    assert (lead.email, lead.name, lead.timezone, dict(lead.attributes)) == (
        ANA,
        "Ana",
        "Europe/Berlin",
        {"company": "Acme"},
    )
    assert lead.consent.given_at == clock.now()
    assert (lead.consent.method, lead.consent.source, lead.consent.wording) == (
        "form",
        "https://www.acme.example/trial",
        "2026-03",
    )
    assert lead.consent.confirmed_at is None
    # Unconfirmed: the Leads table's TTL deletes it after UNCONFIRMED_LEAD_DAYS
    assert lead.expires_at == clock.now() + timedelta(days=30)


def test_a_signup_to_a_sequence_without_double_opt_in_queues_the_first_email_at_once(signup, store, queue):
    capture = signup.capture(form(sequence="ebook-nurture"))
    assert (capture.status, capture.created) == (CaptureStatus.ENROLLED, True)
    assert jobs(queue) == ["ebook-nurture#1#ebook-delivery"]
    assert store.get_lead(ANA_ID).expires_at is None


def test_the_default_sequence_applies_when_the_form_names_none(signup, queue):
    assert signup.capture(form()).sequence.name == "trial-nurture"


def test_a_signup_without_consent_is_refused_where_the_sequence_requires_it(signup, store, queue):
    with pytest.raises(ConsentRequiredError):
        signup.capture(form(consent=False))
    assert store.leads == {}
    assert queue.jobs == []


def test_an_unknown_sequence_is_refused_with_the_ones_that_exist(signup, store):
    with pytest.raises(NoSequenceError) as caught:
        signup.capture(form(sequence="no-such-thing"))
    assert caught.value.choices == ["ebook-nurture", "trial-nurture"]
    assert store.leads == {}


def test_without_a_default_a_signup_must_name_its_sequence(store, nurture, clock):
    with pytest.raises(NoSequenceError):
        Signup(store, nurture, clock, lead_id_key=LEAD_ID_KEY.encode()).capture(form())


# -- again -------------------------------------------------------------------------------------------------


def test_a_double_click_makes_one_lead_one_enrollment_and_one_email(signup, store, queue, clock):
    first = signup.capture(form(sequence="ebook-nurture"))
    clock.advance(seconds=1)
    second = signup.capture(form(sequence="ebook-nurture"))
    assert (first.created, second.created) == (True, False)
    assert second.status is CaptureStatus.ALREADY_ENROLLED
    assert len(store.leads) == 1
    assert len(store.enrollments) == 1
    assert jobs(queue) == ["ebook-nurture#1#ebook-delivery"]
    assert store.get_enrollment(ANA_ID, "ebook-nurture").enrollment.score == 0  # one signup, not two


def test_signing_up_again_later_only_adds_missing_details_and_sends_nothing(signup, store, queue, clock):
    signup.capture(form(sequence="ebook-nurture", company="Acme"))
    clock.advance(days=1)
    again = signup.capture(form(sequence="ebook-nurture", name="Ana B", company="Acme Corp", role="cto"))
    assert (again.status, again.created) == (CaptureStatus.ALREADY_ENROLLED, False)
    assert jobs(queue) == ["ebook-nurture#1#ebook-delivery"]
    record = store.get_enrollment(ANA_ID, "ebook-nurture")
    assert record.enrollment.score == 0  # single opt-in: never confirmed, so a post is no proof of interest
    lead = store.get_lead(ANA_ID)
    assert lead.name == "Ana B"  # she had given none
    assert dict(lead.attributes) == {"company": "Acme", "role": "cto"}  # added, never changed
    # ...and the engine's copy, which branches on attributes, sees them too
    assert dict(record.attributes) == {"company": "Acme", "role": "cto"}


def test_a_confirmed_lead_signing_up_again_counts_as_interest_once_a_week(signup, store, clock):
    signup.capture(form())
    signup.confirm(ANA_ID, "trial-nurture")
    clock.advance(days=1)
    signup.capture(form())
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.score == 3  # scoring.resubmit
    clock.advance(days=1)
    signup.capture(form())
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.score == 3  # not again within the week


def test_signing_up_again_while_unconfirmed_resends_the_confirmation_at_most_hourly(signup, queue, clock):
    signup.capture(form())
    clock.advance(minutes=10)
    assert signup.capture(form()).status is CaptureStatus.PENDING_CONFIRMATION
    clock.advance(minutes=55)
    signup.capture(form())
    assert jobs(queue) == ["trial-nurture#1#confirm", "trial-nurture#1#confirm-2"]


def test_a_second_landing_page_for_another_sequence_enrolls_there_too(signup, store, queue, clock):
    signup.capture(form(sequence="ebook-nurture"))
    clock.advance(hours=2)
    capture = signup.capture(form(sequence="trial-nurture"))
    assert (capture.status, capture.created) == (CaptureStatus.PENDING_CONFIRMATION, True)
    assert len(store.leads) == 1
    assert {r.enrollment.sequence for r in store.enrollments_of(ANA_ID)} == {"ebook-nurture", "trial-nurture"}


def test_racing_signups_for_one_address_make_one_lead_and_one_confirmation(signup, store, queue):
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def sign_up() -> None:
        start.wait()
        try:
            signup.capture(form())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sign_up) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.leads) == 1
    assert len(store.enrollments) == 1
    assert jobs(queue) == ["trial-nurture#1#confirm"]


def test_attributes_stay_within_the_limit_dropping_the_oldest():
    old = {"a": "1", "b": "2", "c": "3"}
    assert merged(old, {"d": "4", "a": "9"}, limit=3) == {"b": "2", "d": "4", "a": "9"}
    assert merged(old, {"a": "9"}, limit=5) == {"a": "9", "b": "2", "c": "3"}


# -- confirming ---------------------------------------------------------------------------------------------


def test_confirming_records_it_keeps_the_lead_and_queues_the_first_email_at_once(signup, store, queue, clock):
    signup.capture(form())
    clock.advance(minutes=5)
    confirmation = signup.confirm(ANA_ID, "trial-nurture")
    assert confirmation.status is ConfirmStatus.CONFIRMED
    assert jobs(queue) == ["trial-nurture#1#confirm", "trial-nurture#1#welcome"]
    lead = store.get_lead(ANA_ID)
    assert lead.consent.confirmed_at == clock.now()
    assert lead.consent.wording == "2026-03"  # the proof keeps what was agreed to
    assert lead.expires_at is None  # confirmed leads are kept
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.status is Status.ACTIVE


def test_confirming_twice_changes_nothing_the_second_time(signup, queue, clock):
    signup.capture(form())
    signup.confirm(ANA_ID, "trial-nurture")
    clock.advance(minutes=1)
    assert signup.confirm(ANA_ID, "trial-nurture").status is ConfirmStatus.ALREADY_CONFIRMED
    assert signup.confirmation_state(ANA_ID, "trial-nurture") is ConfirmStatus.ALREADY_CONFIRMED
    assert jobs(queue) == ["trial-nurture#1#confirm", "trial-nurture#1#welcome"]


def test_an_unconfirmed_lead_is_reminded_once_then_given_up_on_and_deleted(signup, nurture, store, queue, clock):
    signup.capture(form())
    for _ in range(10):  # the sweep, every time the enrollment is due
        record = store.get_enrollment(ANA_ID, "trial-nurture")
        if record.enrollment.terminal:
            break
        clock.set(record.enrollment.next_action_at)
        nurture.apply_record(record, TimerDue(), "timer")
    assert jobs(queue) == ["trial-nurture#1#confirm", "trial-nurture#1#confirm-2"]  # one reminder
    assert store.get_enrollment(ANA_ID, "trial-nurture").enrollment.status is Status.EXPIRED
    lead = store.get_lead(ANA_ID)
    assert lead.expires_at is not None
    assert lead.expires_at > clock.now()  # the TTL removes it later


def test_confirming_after_the_enrollment_expired_still_starts_the_sequence(signup, nurture, store, queue, clock):
    signup.capture(form())
    clock.advance(days=8)
    nurture.apply(ANA_ID, "trial-nurture", TimerDue(), "timer")
    clock.advance(days=2)  # a reminder's link lives longer than the enrollment waits
    assert signup.confirmation_state(ANA_ID, "trial-nurture") is None  # the page offers the button
    assert signup.confirm(ANA_ID, "trial-nurture").status is ConfirmStatus.CONFIRMED
    record = store.get_enrollment(ANA_ID, "trial-nurture")
    assert (record.enrollment.run, record.enrollment.status) == (2, Status.ACTIVE)


def test_a_deleted_signup_cannot_be_confirmed(signup, store):
    signup.capture(form())
    del store.leads[ANA_ID]  # the TTL removed it
    assert signup.confirm(ANA_ID, "trial-nurture").status is ConfirmStatus.GONE
    assert signup.confirmation_state(ANA_ID, "trial-nurture") is ConfirmStatus.GONE
    assert signup.confirm(ANA_ID, "retired-sequence").status is ConfirmStatus.GONE


# -- unsubscribed and suppressed ------------------------------------------------------------------------


def opt_out(store: InMemoryStore, nurture: Nurture, status: LeadStatus) -> None:
    """What the unsubscribe link or a hard bounce does to a lead (built by the email work)."""
    reason = "unsubscribed" if status is LeadStatus.UNSUBSCRIBED else "suppressed"
    lead = store.get_lead(ANA_ID)
    store.save_lead(replace(lead, status=status, status_reason=reason), lead.revision)
    nurture.apply_everywhere(ANA_ID, Stopped(reason), reason)


def test_an_unsubscribed_lead_comes_back_only_through_double_opt_in_again(signup, nurture, store, queue, clock):
    signup.capture(form(sequence="ebook-nurture"))  # no double opt-in in this sequence
    clock.advance(days=3)
    opt_out(store, nurture, LeadStatus.UNSUBSCRIBED)
    clock.advance(days=30)
    queue.drain()
    capture = signup.capture(form(sequence="ebook-nurture", consent_version="2026-05"))
    assert (capture.status, capture.created) == (CaptureStatus.PENDING_CONFIRMATION, True)
    assert jobs(queue) == ["ebook-nurture#2#confirm"]  # a confirmation, not the ebook
    lead = store.get_lead(ANA_ID)
    assert lead.status is LeadStatus.UNSUBSCRIBED  # until they confirm
    assert (lead.consent.wording, lead.consent.confirmed_at) == ("2026-03", None)  # the sequence's wording
    assert len(lead.consents) == 2  # the first statement is kept, the fresh one appended
    assert signup.confirm(ANA_ID, "ebook-nurture").status is ConfirmStatus.CONFIRMED
    assert jobs(queue) == ["ebook-nurture#2#confirm", "ebook-nurture#2#ebook-delivery"]
    assert store.get_lead(ANA_ID).status is LeadStatus.ACTIVE


def test_an_unsubscribed_lead_is_not_reenrolled_without_fresh_consent(signup, nurture, store, queue, clock):
    signup.capture(form(sequence="ebook-nurture"))
    opt_out(store, nurture, LeadStatus.UNSUBSCRIBED)
    queue.drain()
    clock.advance(days=1)
    # An old confirmation link does not bring them back either
    assert signup.confirm(ANA_ID, "ebook-nurture").status is ConfirmStatus.REFUSED
    assert signup.confirmation_state(ANA_ID, "ebook-nurture") is ConfirmStatus.REFUSED
    assert queue.jobs == []
    assert store.get_lead(ANA_ID).status is LeadStatus.UNSUBSCRIBED


@pytest.mark.parametrize("sequence", ["ebook-nurture", "trial-nurture"])
def test_a_suppressed_lead_is_never_enrolled_again(signup, nurture, store, queue, clock, sequence):
    signup.capture(form(sequence="ebook-nurture"))
    opt_out(store, nurture, LeadStatus.SUPPRESSED)
    queue.drain()
    before = store.get_lead(ANA_ID)
    clock.advance(days=400)
    capture = signup.capture(form(sequence=sequence, name="Someone Else"))
    assert (capture.status, capture.created) == (CaptureStatus.NOT_ENROLLED, False)
    assert store.get_lead(ANA_ID) == before  # not even the details change
    assert signup.confirm(ANA_ID, sequence).status is ConfirmStatus.REFUSED
    assert queue.jobs == []


def test_a_lead_who_left_one_sequence_joins_it_again_by_signing_up_again_and_confirming(
    signup, nurture, store, queue, clock
):
    # Given Ana, who left the ebook sequence from the preferences page (and stays on the list)
    signup.capture(form(sequence="ebook-nurture"))
    clock.advance(days=3)
    nurture.apply(ANA_ID, "ebook-nurture", Stopped("unsubscribed"), "left this sequence")
    assert store.get_lead(ANA_ID).status is LeadStatus.ACTIVE
    clock.advance(days=30)
    queue.drain()
    # When she signs up for it again, with consent
    capture = signup.capture(form(sequence="ebook-nurture"))
    # Then she gets one confirmation email, and the sequence again once she confirms
    assert (capture.status, capture.created) == (CaptureStatus.PENDING_CONFIRMATION, True)
    assert jobs(queue) == ["ebook-nurture#2#confirm"]
    assert signup.confirm(ANA_ID, "ebook-nurture").status is ConfirmStatus.CONFIRMED
    assert jobs(queue) == ["ebook-nurture#2#confirm", "ebook-nurture#2#ebook-delivery"]


# -- an address erased on request (`ripen lead forget`) keeps its opt-out -------------------------------


def erased_as(store: InMemoryStore, status: LeadStatus, clock) -> None:
    from ripen.core.leads import erased_hash_for
    from ripen.ports.store import Erased

    store.keep_erased(Erased(erased_hash_for(ANA, LEAD_ID_KEY.encode()), status, clock.now() - timedelta(days=3)))


def test_an_erased_suppressed_address_is_never_enrolled_again_and_nothing_is_stored(signup, store, queue, clock):
    erased_as(store, LeadStatus.SUPPRESSED, clock)
    assert signup.capture(form()).status is CaptureStatus.NOT_ENROLLED
    assert store.leads == {}
    assert queue.jobs == []


def test_an_erased_unsubscribed_address_comes_back_only_through_the_confirmation(signup, store, queue, clock):
    erased_as(store, LeadStatus.UNSUBSCRIBED, clock)
    capture = signup.capture(form(sequence="ebook-nurture"))  # a sequence without double opt-in
    assert capture.status is CaptureStatus.PENDING_CONFIRMATION
    assert [job.message_key.rsplit("#", 1)[1] for job in queue.jobs] == ["confirm"]
    assert store.get_lead(ANA_ID).status is LeadStatus.UNSUBSCRIBED
