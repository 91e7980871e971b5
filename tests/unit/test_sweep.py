"""The sweep fires due timers through the nurture service: once per step, in batches of 10, within
its time budget, in the send window of the lead's own zone, under the frequency cap of all the
lead's sequences; and it queues again the jobs that never reached the queue."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ripen.core.leads import shard_of
from ripen.core.records import Consent, EnrollmentRecord, Lead, MessageStatus
from ripen.core.state import Engaged, Enrollment, Status, Wait
from ripen.ports.queue import SendJob
from ripen.ports.store import CLAIM_TIMEOUT
from ripen.services.nurture import Nurture, merged_recent_emails
from ripen.services.sweep import Sweep
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from tests.support.ids import lead_id_for
from tests.support.sender import MemorySender, take_lease


class RecordingQueue(MemorySendQueue):
    """The in-memory queue, remembering how many jobs came in each request."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[int] = []

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        self.requests.append(len(jobs))
        return super().enqueue(jobs)


class RefusingQueue(MemorySendQueue):
    """A queue that is down: refuses every job."""

    def enqueue(self, jobs: Sequence[SendJob]) -> list[SendJob]:
        return list(jobs)


class World:
    def __init__(self, catalog, clock: ManualClock, shards: int = 4) -> None:
        self.clock = clock
        self.store = InMemoryStore(shards=shards)
        self.queue = RecordingQueue()
        self.nurture = Nurture(self.store, catalog, self.queue, clock)
        self.sweep = Sweep(self.store, catalog, self.queue, clock, page_size=10)
        self.sender = MemorySender(self.store, clock)

    def signup(self, email: str, sequence: str, tz: str | None = "UTC", confirmed: bool = True) -> str:
        now = self.clock.now()
        consent = Consent(given_at=now, confirmed_at=now if confirmed else None)
        lead = Lead(lead_id_for(email), email, now, timezone=tz, consents=(consent,))
        assert self.nurture.enroll(lead, sequence).applied
        return lead.lead_id

    def deliver(self) -> list[str]:
        """The sender takes everything queued so far; returns the steps in the order they were queued."""
        jobs = self.queue.drain()
        self.sender.deliver(jobs)
        return [job.message_key.rsplit("#", 1)[1] for job in jobs]

    def state(self, lead_id: str, sequence: str):
        record = self.store.get_enrollment(lead_id, sequence)
        assert record is not None
        return record.enrollment


@pytest.fixture
def world(catalog, clock) -> World:
    return World(catalog, clock)


def local(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


# -- due timers -------------------------------------------------------------------------------------


def test_a_due_timer_sends_the_next_email_once(world):
    # Given 30 readers of the ebook who received it on Monday and never downloaded it
    leads = [world.signup(f"reader{i}@example.com", "ebook-nurture") for i in range(30)]
    assert world.deliver() == ["ebook-delivery"] * 30
    # When the two days to download pass and the sweep runs, then runs again
    world.clock.advance(days=2, minutes=1)
    first = world.sweep.run()
    second = world.sweep.run()
    # Then each got the reminder once, and the second run found nothing to do
    assert world.deliver() == ["download-reminder"] * 30
    assert (first.claimed, first.queued, second.due, second.queued) == (30, 30, 0, 0)
    assert all(world.state(lead, "ebook-nurture").cursor == "wait-4" for lead in leads)


def test_leads_not_yet_due_are_left_alone(world):
    leads = [world.signup(f"trial{i}@example.com", "trial-nurture") for i in range(12)]
    world.deliver()
    revisions = {lead: world.store.get_enrollment(lead, "trial-nurture").revision for lead in leads}
    # A day less a minute later, no timer is due yet
    world.clock.advance(days=1, minutes=-1)
    report = world.sweep.run()
    assert (report.due, report.claimed, report.jobs) == (0, 0, 0)
    assert world.deliver() == []
    assert {lead: world.store.get_enrollment(lead, "trial-nurture").revision for lead in leads} == revisions


def test_send_jobs_reach_the_queue_in_batches_of_ten(world):
    for i in range(25):
        world.signup(f"batch{i}@example.com", "ebook-nurture")
    world.deliver()
    world.queue.requests.clear()
    world.clock.advance(days=2, minutes=1)
    world.sweep.run()
    assert sorted(world.queue.requests, reverse=True) == [10, 10, 5]


def test_a_run_out_of_time_leaves_the_rest_for_the_next_run(world):
    leads = [world.signup(f"slow{i}@example.com", "ebook-nurture") for i in range(60)]
    world.deliver()
    world.clock.advance(days=2, minutes=1)
    # Given an invocation whose remaining time falls by a second at every look
    ticks = itertools.count()
    report = world.sweep.run(remaining_ms=lambda: 40_000 - 1_000 * next(ticks))
    # Then it stopped claiming with its safety margin left, and said so
    assert 0 < report.claimed < 60
    assert report.left > 0 or report.more_due
    # And the next run moves every one it left, with no one emailed twice
    rest = world.sweep.run()
    assert report.claimed + rest.claimed == 60
    steps = world.deliver()
    assert steps == ["download-reminder"] * 60
    assert world.sender.jobs.most_common(1)[0][1] == 1
    assert all(world.state(lead, "ebook-nurture").cursor == "wait-4" for lead in leads)


def test_one_enrollment_that_cannot_be_decided_does_not_stop_the_others(world):
    leads = [world.signup(f"mixed{i}@example.com", "ebook-nurture") for i in range(8)]
    world.deliver()
    broken = world.store.get_enrollment(leads[0], "ebook-nurture")
    gone = replace(broken, enrollment=replace(broken.enrollment, version=9))  # a version no longer in templates/
    world.store.enrollments[broken.key] = gone
    world.clock.advance(days=2, minutes=1)
    report = world.sweep.run()
    assert (report.failed, report.claimed) == (1, 7)
    assert world.deliver() == ["download-reminder"] * 7
    assert world.store.get_enrollment(leads[0], "ebook-nurture") == gone  # still due: tried again next run


def test_many_due_leads_in_one_shard_are_read_a_page_at_a_time(catalog, clock):
    world = World(catalog, clock, shards=1)
    for i in range(35):
        world.signup(f"paged{i}@example.com", "ebook-nurture")
    world.deliver()
    pages = []
    real = world.store.due_enrollments

    def counted(shard, now, limit, after=None):
        page = real(shard, now, limit, after)
        pages.append(len(page))
        return page

    world.store.due_enrollments = counted  # type: ignore[method-assign]
    world.clock.advance(days=2, minutes=1)
    assert world.sweep.run().claimed == 35
    assert pages == [10, 10, 10, 5]
    assert world.deliver() == ["download-reminder"] * 35


def test_a_stale_index_entry_loses_to_the_writer_that_moved_the_enrollment(world, monkeypatch):
    # Given a reader whose download reminder is due
    lead = world.signup("raced@example.com", "ebook-nurture")
    world.deliver()
    world.clock.advance(days=2, minutes=1)
    stale = world.store.get_enrollment(lead, "ebook-nurture")
    # When they download the ebook just before the sweep, but the (eventually consistent) index
    # still shows the enrollment as it was
    world.nurture.apply(lead, "ebook-nurture", Engaged("click", world.clock.now(), link="download"), "click")
    assert world.deliver() == ["key-takeaways"]
    shard = shard_of(lead, len(world.store.shards))
    monkeypatch.setattr(
        world.store, "due_enrollments", lambda s, now, limit, after=None: [stale] if s == shard and not after else []
    )
    report = world.sweep.run()
    # Then the sweep's write loses, and the reminder is not sent
    assert (report.due, report.lost_races, report.claimed) == (1, 1, 0)
    assert world.deliver() == []


# -- send windows and time zones --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "friday", "monday_utc"),
    [
        # The first-dashboard email falls due on Saturday and waits for Monday 09:00 local time,
        # on the first Monday after the clocks changed.
        ("America/New_York", (2026, 3, 6), datetime(2026, 3, 9, 13, 0, tzinfo=UTC)),  # EST -> EDT
        ("Europe/Berlin", (2026, 3, 27), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),  # CET -> CEST
        ("Australia/Sydney", (2026, 4, 3), datetime(2026, 4, 5, 23, 0, tzinfo=UTC)),  # AEDT -> AEST
        ("Europe/London", (2026, 10, 23), datetime(2026, 10, 26, 9, 0, tzinfo=UTC)),  # BST -> GMT
    ],
)
def test_a_step_due_on_the_weekend_waits_for_monday_morning_in_the_leads_zone(world, zone, friday, monday_utc):
    # Given a trial lead who signed up on Friday afternoon in their own zone
    world.clock.set(local(zone, *friday, 15, 0))
    lead = world.signup("weekend@example.com", "trial-nurture", tz=zone)
    assert world.deliver() == ["welcome"]
    # When the one-day wait ends on Saturday
    world.clock.advance(days=1)
    world.sweep.run()
    # Then nothing is sent; the email waits for the window to open on Monday at 09:00 local time
    assert world.deliver() == []
    state = world.state(lead, "trial-nurture")
    assert (state.wait, state.next_action_at) == (Wait.WINDOW, monday_utc)
    world.clock.set(monday_utc - timedelta(minutes=1))
    world.sweep.run()
    assert world.deliver() == []
    world.clock.set(monday_utc)
    world.sweep.run()
    assert world.deliver() == ["first-dashboard"]


def test_a_signup_at_night_gets_its_first_email_in_the_morning_of_the_leads_zone(world):
    # Given a trial signup at 23:00 on a Tuesday in Tokyo (14:00 UTC, well inside UTC working hours)
    world.clock.set(local("Asia/Tokyo", 2026, 3, 3, 23, 0))
    lead = world.signup("tokyo@example.com", "trial-nurture", tz="Asia/Tokyo")
    # Then the welcome waits for 09:00 in Tokyo
    assert world.deliver() == []
    assert world.state(lead, "trial-nurture").next_action_at == local("Asia/Tokyo", 2026, 3, 4, 9, 0)
    world.clock.set(local("Asia/Tokyo", 2026, 3, 4, 8, 59))
    world.sweep.run()
    assert world.deliver() == []
    world.clock.set(local("Asia/Tokyo", 2026, 3, 4, 9, 0))
    world.sweep.run()
    assert world.deliver() == ["welcome"]


def test_a_lead_without_a_zone_gets_the_sequences_default_zone(world):
    # trial-nurture's default zone is America/New_York: Monday 09:30 UTC is 04:30 there
    lead = world.signup("nozone@example.com", "trial-nurture", tz=None)
    assert world.deliver() == []
    assert world.state(lead, "trial-nurture").next_action_at == local("America/New_York", 2026, 3, 2, 9, 0)
    world.clock.set(local("America/New_York", 2026, 3, 2, 9, 0))
    world.sweep.run()
    assert world.deliver() == ["welcome"]


# -- the frequency cap, across sequences ------------------------------------------------------------


EBOOK_QUIET_READER = ["ebook-delivery", "download-reminder", "key-takeaways", "webinar-invite", "breakup"]
TRIAL_NO_CLICKS = ["welcome", "first-dashboard", "case-study", "power-user-tips", "trial-ending", "trial-ended"]


def run_until_finished(world: World, lead: str, sequences: list[str], limit: int = 200) -> list[tuple[datetime, str]]:
    """Move the clock from one due moment to the next, sweeping and delivering, until every
    enrollment finished; returns (moment, step) of every email in order."""
    sent: list[tuple[datetime, str]] = []
    for _ in range(limit):
        sent.extend((world.clock.now(), step) for step in world.deliver())
        states = [world.state(lead, s) for s in sequences]
        pending = [s.next_action_at for s in states if not s.terminal and s.next_action_at]
        if not pending:
            return sent
        world.clock.set(max(world.clock.now(), min(pending)))
        world.sweep.run()
    raise AssertionError("the enrollments never finished")


def test_the_frequency_cap_counts_emails_of_all_sequences_and_never_drops_one(world):
    # Given a lead who downloaded the ebook on Monday morning, then started a trial an hour later
    lead = world.signup("both@example.com", "ebook-nurture")
    assert world.deliver() == ["ebook-delivery"]
    world.clock.advance(hours=1)
    world.signup("both@example.com", "trial-nurture")
    # Then the trial's welcome waits: one nurture email per 20 hours, whichever sequence sends it
    assert world.deliver() == []
    trial = world.state(lead, "trial-nurture")
    assert (trial.wait, trial.next_action_at) == (Wait.CAP, datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    # When the clock runs until both sequences have finished
    sent = [
        (datetime(2026, 3, 2, 9, 30, tzinfo=UTC), "ebook-delivery"),
        *run_until_finished(world, lead, ["ebook-nurture", "trial-nurture"]),
    ]
    # Then every email of both sequences went out, once each
    steps = [step for _, step in sent]
    assert sorted(steps) == sorted([*EBOOK_QUIET_READER, *TRIAL_NO_CLICKS])
    # And never two within 20 hours of each other
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(sent)]
    assert min(gaps) >= timedelta(hours=20)
    assert world.state(lead, "ebook-nurture").status is Status.COMPLETED
    assert world.state(lead, "trial-nurture").exit_reason == "trial-over"
    held = [line for entry in world.store.history_of(lead) for line in entry.lines if "by the frequency cap" in line]
    assert held


def test_the_emails_known_by_each_enrollment_are_merged_without_counting_a_copy_twice():
    t1, t2, t3 = (datetime(2026, 3, d, 9, 0, tzinfo=UTC) for d in (2, 3, 4))
    ebook = EnrollmentRecord(Enrollment("ld_x", "ebook-nurture", 1), recent_emails=(t1, t2, t2))  # two in one decision
    trial = EnrollmentRecord(Enrollment("ld_x", "trial-nurture", 1), recent_emails=(t1, t3))  # learnt t1, sent t3
    assert merged_recent_emails([ebook, trial]) == (t1, t2, t2, t3)
    assert merged_recent_emails([trial]) == (t1, t3)


def test_without_the_other_sequence_the_same_email_goes_out_at_once(world):
    # The control for the test above: same trial signup, no ebook email the hour before
    world.clock.advance(hours=1)
    world.signup("trial-only@example.com", "trial-nurture")
    assert world.deliver() == ["welcome"]


class CountingStore(InMemoryStore):
    """The in-memory store, counting how the sweep learns about a lead's other enrollments."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0  # enrollments_of: one query per lead
        self.batches: list[int] = []  # get_enrollments: keys per batch read

    def enrollments_of(self, lead_id):
        self.queries += 1
        return super().enrollments_of(lead_id)

    def get_enrollments(self, keys):
        self.batches.append(len(keys))
        return super().get_enrollments(keys)


def test_a_lead_due_in_two_sequences_at_once_gets_one_email_and_the_sweep_reads_siblings_by_page(catalog, clock):
    # Given 12 leads in the ebook and the trial (the trial's welcome held a day by the cap)
    world = World(catalog, clock)
    world.store = store = CountingStore()
    world.nurture = Nurture(store, catalog, world.queue, clock)
    world.sweep = Sweep(store, catalog, world.queue, clock, page_size=10)
    world.sender = MemorySender(store, clock)
    leads = [world.signup(f"both{i}@example.com", "ebook-nurture") for i in range(12)]
    for i in range(12):
        world.signup(f"both{i}@example.com", "trial-nurture")
    world.deliver()
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    world.sweep.run()
    assert world.deliver() == ["welcome"] * 12
    # When on Wednesday the ebook's reminder and the trial's first dashboard are both due
    clock.set(datetime(2026, 3, 4, 9, 30, tzinfo=UTC))
    store.queries, store.batches = 0, []
    world.sweep.run()
    # Then each lead gets one of the two; the other waits for the cap
    sent = world.deliver()
    assert len(sent) == 12
    for lead in leads:
        waits = sorted(str(world.state(lead, s).wait) for s in ("ebook-nurture", "trial-nurture"))
        assert waits == [str(Wait.CAP), str(Wait.TIMER)]
    # and the sweep learnt the leads' other enrollments with one batch read per page, no query per lead
    assert store.queries == 0
    assert 1 <= len(store.batches) <= len(store.shards) * 2
    assert sum(store.batches) == 12 * len(catalog.names())


# -- lost jobs --------------------------------------------------------------------------------------


def test_a_claim_whose_job_never_reached_the_queue_is_queued_again_once(catalog, clock):
    # Given the queue was down when a lead signed up: the welcome is claimed but not queued
    world = World(catalog, clock)
    down = Nurture(world.store, catalog, RefusingQueue(), clock)
    now = clock.now()
    consent = Consent(now, confirmed_at=now)
    lead = Lead(lead_id_for("lost@example.com"), "lost@example.com", now, timezone="UTC", consents=(consent,))
    down.enroll(lead, "trial-nurture")
    key = f"{lead.lead_id}#trial-nurture#1#welcome"
    assert world.store.get_message(key).status is MessageStatus.CLAIMED
    # When sweeps run before the claim timed out, nothing is queued
    clock.advance(CLAIM_TIMEOUT - timedelta(minutes=1))
    assert world.sweep.run().lost_jobs_requeued == 0
    # Once it timed out, one sweep queues it again, and the next one does not
    clock.advance(minutes=1)
    first, second = world.sweep.run(), world.sweep.run()
    assert (first.lost_jobs_requeued, second.lost_jobs_requeued) == (1, 0)
    assert world.deliver() == ["welcome"]
    assert world.store.get_message(key).status is MessageStatus.SENT
    # And a sent message is never queued again
    clock.advance(days=1)
    world.sweep.run()
    assert world.sender.jobs[key] == 1


def test_a_lost_job_is_queued_again_less_often_as_it_ages(catalog, clock):
    # Given a claim whose job was lost, and a sender that never gets to it (a long backlog)
    world = World(catalog, clock)
    down = Nurture(world.store, catalog, RefusingQueue(), clock)
    start = clock.now()
    consent = Consent(start, confirmed_at=start)
    down.enroll(
        Lead(lead_id_for("old@example.com"), "old@example.com", start, timezone="UTC", consents=(consent,)),
        "trial-nurture",
    )
    # When the sweep runs every five minutes for twelve hours
    requeued_at = []
    for minute in range(0, 12 * 60 + 1, 5):
        clock.set(start + timedelta(minutes=minute))
        if world.sweep.run().lost_jobs_requeued:
            requeued_at.append(minute)
        world.queue.drain()
    # Then the wait between copies doubles with the claim's age, up to four hours
    assert requeued_at == [15, 30, 60, 120, 240, 480, 720]


def test_a_message_a_sender_is_sending_is_left_to_it(world):
    lead = world.signup("sending@example.com", "trial-nurture")
    world.queue.drain()
    key = f"{lead}#trial-nurture#1#welcome"
    take_lease(world.store, key, world.clock.now())
    # the index lags behind: the sweep reads the message while its lease is live
    world.store.messages[key] = replace(world.store.messages[key], due_at=world.clock.now())
    report = world.sweep.run()
    assert (report.awaiting_sender, report.lost_jobs_requeued, report.in_doubt_requeued) == (1, 0, 0)
    assert world.deliver() == []


def test_a_lease_that_ran_out_waits_for_the_send_event_then_goes_back_to_the_sender_once(world):
    # Given a sender that took the lease on a welcome email and died
    lead = world.signup("crashed@example.com", "trial-nurture")
    world.queue.drain()
    key = f"{lead}#trial-nurture#1#welcome"
    leased = take_lease(world.store, key, world.clock.now())
    # When the sweep finds it (due when its claim timed out, after the lease ran out), it waits
    # for SES's Send event rather than sending again
    assert leased.due_at is not None
    assert leased.lease_until is not None
    assert leased.due_at >= leased.lease_until
    world.clock.set(leased.due_at)
    report = world.sweep.run()
    assert (report.in_doubt_waiting, report.in_doubt_requeued) == (1, 0)
    assert world.store.messages[key].due_at == leased.lease_until + timedelta(minutes=15)
    world.clock.set(leased.lease_until + timedelta(minutes=14))
    assert world.sweep.run().in_doubt_requeued == 0
    # Then, with no word from SES by the end of the wait, one sweep hands it back to the sender
    world.clock.set(leased.lease_until + timedelta(minutes=15))
    first, second = world.sweep.run(), world.sweep.run()
    assert (first.in_doubt_requeued, second.in_doubt_requeued) == (1, 0)
    assert [job.message_key for job in world.queue.drain()] == [key]


def test_a_queue_outage_during_the_sweep_is_counted_and_recovered(catalog, clock):
    world = World(catalog, clock)
    for i in range(12):
        world.signup(f"outage{i}@example.com", "ebook-nurture")
    world.deliver()
    clock.advance(days=2, minutes=1)

    class Broken(MemorySendQueue):
        def enqueue(self, jobs):
            raise ConnectionError("queue endpoint unreachable")

    down = Sweep(world.store, world.sweep.catalog, Broken(), clock)
    report = down.run()
    assert (report.claimed, report.queued, report.not_queued) == (12, 0, 12)
    clock.advance(CLAIM_TIMEOUT)
    assert world.sweep.run().lost_jobs_requeued == 12
    assert world.deliver() == ["download-reminder"] * 12
