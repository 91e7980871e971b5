"""10,000 leads on DynamoDB Local, two days of hourly sweeps on a moved clock: every enrollment
ends in the state its cohort should be in, every email was claimed and queued exactly once, in
the lead's send window and under the frequency cap of all its sequences."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ripen.core.records import Consent, Lead, MessageStatus
from ripen.core.sequence import WEEKDAYS
from ripen.core.state import Engaged, ExitRequested, Paused, Status, Wait
from ripen.core.windows import window_zone
from ripen.services.nurture import Nurture
from ripen.services.sweep import Sweep
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local import bulk
from tests.support.sender import DynamoSender

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOURS = 49  # hourly sweeps until Wednesday 10:00 UTC
CLICK_AT = MONDAY + timedelta(hours=25)  # Tuesday 10:00 UTC


def at(day: int, hour: int) -> datetime:
    """A moment of the run's week, in UTC: day 0 is Monday 2 March 2026."""
    return datetime(2026, 3, 2 + day, hour, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    """Where an enrollment of a cohort must be at the end: status, what it waits for and until
    when, and the emails claimed for it with the moment of each."""

    status: Status
    wait: Wait | None
    until: datetime | None
    emails: tuple[tuple[str, datetime], ...]


def build_world(catalog, clock: ManualClock):
    """The leads as they are right after signing up on Monday at 09:00 UTC, built with the real
    service in memory: one lead per cohort, then repeated for every lead of the cohort."""
    world = InMemoryStore()
    nurture = Nurture(world, catalog, MemorySendQueue(), clock)

    def lead(name: str, tz: str | None, confirmed: bool = True) -> Lead:
        now = clock.now()
        return Lead(
            name,
            f"{name}@example.com",
            now,
            timezone=tz,
            consents=(Consent(now, confirmed_at=now if confirmed else None),),
        )

    nurture.enroll(lead("trial_utc", "UTC"), "trial-nurture")
    nurture.enroll(lead("trial_ny", "America/New_York"), "trial-nurture")
    nurture.enroll(lead("pending_berlin", "Europe/Berlin", confirmed=False), "trial-nurture")
    nurture.enroll(lead("ebook_tokyo", "Asia/Tokyo"), "ebook-nurture")
    nurture.enroll(lead("both_utc", "UTC"), "ebook-nurture")
    nurture.enroll(lead("both_utc", "UTC"), "trial-nurture")
    nurture.enroll(lead("idle_done", "UTC"), "trial-nurture")
    nurture.apply("idle_done", "trial-nurture", ExitRequested("converted elsewhere"), "manual")
    nurture.enroll(lead("idle_paused", "UTC"), "trial-nurture")
    nurture.apply("idle_paused", "trial-nurture", Paused(datetime(2026, 4, 1, tzinfo=UTC)), "preferences")
    bulk.mark_sent(world, clock.now())  # the sender delivered what was queued at signup
    return world


COHORTS = {  # template lead -> how many leads; a little over half wait or finished, as in real life
    "trial_utc": 1500,
    "trial_ny": 700,
    "pending_berlin": 800,
    "ebook_tokyo": 1200,
    "both_utc": 300,
    "idle_done": 2700,
    "idle_paused": 2800,
}
CLICKERS = 300  # of ebook_tokyo: click "download" on Tuesday at 10:00 UTC

EXPECTED = {
    # 09:00 UTC is inside the window: welcome at signup, first-dashboard a day later, then two days
    ("trial_utc", "trial-nurture"): Expected(
        Status.ACTIVE, Wait.TIMER, at(3, 9), (("welcome", at(0, 9)), ("first-dashboard", at(1, 9)))
    ),
    # 04:00 in New York: everything at 09:00 EST, 14:00 UTC
    ("trial_ny", "trial-nurture"): Expected(
        Status.ACTIVE, Wait.TIMER, at(3, 14), (("welcome", at(0, 14)), ("first-dashboard", at(1, 14)))
    ),
    # never confirmed: reminded after two days, expires after seven
    ("pending_berlin", "trial-nurture"): Expected(
        Status.PENDING, Wait.CONFIRMATION, at(7, 9), (("confirm", at(0, 9)), ("confirm-2", at(2, 9)))
    ),
    # 18:00 in Tokyo is after the window: delivered at 08:00 Tokyo, then two days to download
    ("ebook_tokyo", "ebook-nurture"): Expected(
        Status.ACTIVE, Wait.ENGAGEMENT, at(2, 23), (("ebook-delivery", at(0, 23)),)
    ),
    # downloaded on Tuesday: key takeaways held by the cap (20 h after delivery) and the window
    # (08:00 Tokyo), then three days
    ("ebook_tokyo_clicked", "ebook-nurture"): Expected(
        Status.ACTIVE,
        Wait.TIMER,
        at(4, 23),
        (("ebook-delivery", at(0, 23)), ("key-takeaways", at(1, 23))),
    ),
    ("idle_done", "trial-nurture"): Expected(Status.COMPLETED, None, None, (("welcome", at(0, 9)),)),
    ("idle_paused", "trial-nurture"): Expected(
        Status.PAUSED, Wait.PAUSE, datetime(2026, 4, 1, tzinfo=UTC), (("welcome", at(0, 9)),)
    ),
}
# both_utc: ebook delivered at signup; the trial's welcome held by the cap until Tuesday 09:00;
# on Wednesday 09:00 the reminder and first-dashboard are both due: one goes, the other is held
# by the cap until Thursday (08:00 in the ebook's window, 09:00 in the trial's).
BOTH_EITHER = {  # sequence -> (sent on Wednesday, held on Wednesday)
    "ebook-nurture": (
        Expected(Status.ACTIVE, Wait.TIMER, at(4, 9), (("ebook-delivery", at(0, 9)), ("download-reminder", at(2, 9)))),
        Expected(Status.ACTIVE, Wait.CAP, at(3, 8), (("ebook-delivery", at(0, 9)),)),
    ),
    "trial-nurture": (
        Expected(Status.ACTIVE, Wait.TIMER, at(4, 9), (("welcome", at(1, 9)), ("first-dashboard", at(2, 9)))),
        Expected(Status.ACTIVE, Wait.CAP, at(3, 9), (("welcome", at(1, 9)),)),
    ),
}


def test_ten_thousand_leads_over_two_days_of_sweeps(dynamo_store, dynamo_settings, catalog):
    started = time.perf_counter()
    clock = ManualClock(MONDAY)
    client = boto3.client("dynamodb", endpoint_url=dynamo_settings.dynamodb_endpoint, region_name="us-east-1")
    # Given 10,000 leads who signed up on Monday at 09:00 UTC, in several zones and sequences
    world = build_world(catalog, clock)
    cohort_of: dict[str, str] = {}
    enrollments, messages = [], []
    for template, count in COHORTS.items():
        ids = [f"ld_{template}_{i:05d}" for i in range(count)]
        cohort_of.update(dict.fromkeys(ids, template))
        e, m = bulk.replicate(dynamo_store, world, template, ids)
        enrollments += e
        messages += m
    assert len(cohort_of) == 10_000
    bulk.put_items(client, dynamo_settings.enrollments_table, enrollments)
    bulk.put_items(client, dynamo_settings.messages_table, messages)
    seeded = time.perf_counter()
    clickers = {f"ld_ebook_tokyo_{i:05d}" for i in range(CLICKERS)}
    for lead_id in clickers:
        cohort_of[lead_id] = "ebook_tokyo_clicked"
    # When the sweep runs every hour for two days, a sender delivering what it queues, and 300
    # of the Tokyo readers download the ebook on Tuesday morning
    queue = MemorySendQueue()
    sweep = Sweep(dynamo_store, catalog, queue, clock)
    api = Nurture(dynamo_store, catalog, queue, clock)
    sender = DynamoSender(client, dynamo_settings.messages_table, clock)
    moved = 0
    for hour in range(1, HOURS + 1):
        clock.set(MONDAY + timedelta(hours=hour))
        if clock.now() == CLICK_AT:
            for lead_id in sorted(clickers):
                click = Engaged("click", clock.now(), step="ebook-delivery", link="download")
                assert api.apply(lead_id, "ebook-nurture", click, "click").applied
        report = sweep.run()
        assert (report.failed, report.not_queued, report.lost_jobs_requeued) == (0, 0, 0)
        moved += report.claimed
        sender.deliver(queue.drain())
    swept = time.perf_counter()
    # Then every enrollment is where its cohort should be
    final = bulk.scan_enrollments(dynamo_store)
    claims: dict[tuple[str, str], list] = defaultdict(list)
    for message in bulk.scan_messages(dynamo_store):
        claims[(message.claim.lead_id, message.claim.sequence)].append(message)
    assert len(final) == 10_300
    outcomes: Counter[str] = Counter()
    for record in final:
        e = record.enrollment
        got = Expected(
            e.status,
            e.wait,
            e.next_action_at,
            tuple(sorted(((m.claim.step, m.claim.created_at) for m in claims[record.key]), key=lambda s: s[1])),
        )
        cohort = cohort_of[e.lead_id]
        if cohort == "both_utc":
            options = BOTH_EITHER[e.sequence]
            assert got in options, (cohort, e.sequence, got)
            outcomes[f"{e.sequence} {'sent' if got == options[0] else 'held'} on Wednesday"] += 1
        else:
            assert got == EXPECTED[(cohort, e.sequence)], (cohort, got)
            outcomes[cohort] += 1
    # (the two sequences of a lead never both send on Wednesday: one of the two was held)
    assert outcomes["ebook-nurture sent on Wednesday"] == outcomes["trial-nurture held on Wednesday"]
    assert outcomes["trial-nurture sent on Wednesday"] == outcomes["ebook-nurture held on Wednesday"]
    # And every email was claimed once, queued once, and sent
    all_claims = [m for ms in claims.values() for m in ms]
    assert {m.status for m in all_claims} == {MessageStatus.SENT}
    queued_since_monday = [m for m in all_claims if m.claim.created_at > MONDAY]
    assert Counter(sender.jobs.values()) == Counter({1: len(queued_since_monday)})
    assert set(sender.jobs) == {m.claim.key for m in queued_since_monday}
    # In the lead's send window, in its own zone, and never two nurture emails within 20 hours
    zone_of = {record.key: record.timezone for record in final}
    by_lead: dict[str, list[datetime]] = defaultdict(list)
    for m in all_claims:
        if m.claim.kind != "nurture":
            continue
        by_lead[m.claim.lead_id].append(m.claim.created_at)
        window = catalog.current(m.claim.sequence).send_window
        local = m.claim.created_at.astimezone(window_zone(window, zone_of[(m.claim.lead_id, m.claim.sequence)]))
        assert WEEKDAYS[local.weekday()] in window.days
        assert window.hours[0] <= local.time() < window.hours[1]
    for moments in by_lead.values():
        assert all(b - a >= timedelta(hours=20) for a, b in itertools.pairwise(sorted(moments)))
    print(
        f"\n10,000 leads: seeded {seeded - started:.1f}s, {HOURS} sweeps moving {moved} enrollments"
        f" {swept - seeded:.1f}s, checked {time.perf_counter() - swept:.1f}s; {dict(outcomes)}"
    )
