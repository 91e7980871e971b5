"""`ripen demo`: one lead through one sequence on a moved clock, every step printed.

Runs the real engine and nurture service on the in-memory store; no AWS, no waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ripen.adapters.memory import InMemoryStore
from ripen.adapters.queue import MemorySendQueue
from ripen.clock import ManualClock
from ripen.core.emails import find_email, link_names, split_front_matter
from ripen.core.leads import lead_id_for
from ripen.core.records import Consent, Lead
from ripen.core.state import Engaged, TimerDue
from ripen.core.validator import load_catalog
from ripen.services.nurture import Nurture

START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday


def run_demo(templates: Path, sequence_name: str, timezone: str, clicks: list[str], days: int, out: TextIO) -> int:
    catalog = load_catalog(templates)
    if catalog.problems:
        for problem in catalog.problems:
            print(problem, file=out)
        return 1
    if sequence_name not in catalog.versions:
        print(f"no sequence '{sequence_name}'; choose one of: {', '.join(catalog.names())}", file=out)
        return 2
    zone = ZoneInfo(timezone)
    clock = ManualClock(START)
    store, queue = InMemoryStore(), MemorySendQueue()
    nurture = Nurture(store, catalog, queue, clock)
    sequence = catalog.current(sequence_name)
    email = "demo.lead@example.com"
    lead = Lead(
        lead_id_for(email),
        email,
        clock.now(),
        name="Dana Demo",
        timezone=timezone,
        consent=Consent(given_at=clock.now(), confirmed_at=clock.now()),
    )
    store.create_lead(lead)
    pending_clicks = set(clicks)
    printed = 0

    def stamp(at: datetime) -> str:
        return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")

    def report() -> None:
        nonlocal printed
        entries = store.history_of(lead.lead_id)
        for entry in entries[printed:]:
            for line in entry.lines:
                print(f"{stamp(entry.at)}  {line}", file=out)
        printed = len(entries)
        for job in queue.drain():
            message = store.get_message(job.message_key)
            if message is None:
                continue
            source = find_email(templates / sequence_name, message.claim.email)
            text = source.read_text(encoding="utf-8") if source else ""
            meta, _ = split_front_matter(text)
            print(f"{'':22}  -> email '{message.claim.email}': {meta.get('subject', '')}", file=out)
            for link in sorted(pending_clicks & link_names(text)):
                pending_clicks.discard(link)
                clock.advance(minutes=30)
                print(f"{stamp(clock.now())}  (the lead clicks '{link}')", file=out)
                nurture.apply(lead.lead_id, sequence_name, Engaged("click", clock.now(), link=link), "click")
                report()

    print(
        f"ripen demo: '{sequence.name}' v{sequence.version} for a lead in {timezone}"
        f"{' who clicks ' + ', '.join(clicks) if clicks else ' who never clicks'}\n",
        file=out,
    )
    nurture.enroll(lead, sequence_name)
    report()
    end = START + timedelta(days=days)
    while clock.now() < end:
        record = store.get_enrollment(lead.lead_id, sequence_name)
        if record is None or record.enrollment.terminal or record.enrollment.next_action_at is None:
            break
        clock.set(max(clock.now(), record.enrollment.next_action_at))
        nurture.apply_record(record, TimerDue(), "timer")
        report()
    record = store.get_enrollment(lead.lead_id, sequence_name)
    if record:
        e = record.enrollment
        print(
            f"\nfinal: {e.status.value} ({e.exit_reason or 'in progress'}), stage {e.stage}, score {e.score:g}, "
            f"{len(e.sent)} email(s)",
            file=out,
        )
    return 0
