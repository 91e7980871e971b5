"""What operator commands read and erase of one person, the same on both engines: messages by key,
a lead's erasure (everything under its id, and the messages named), its signup-limit counters, and
the opt-out an erasure keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ripen.core.records import Change, LeadStatus
from ripen.ports.limits import slots_for
from ripen.ports.store import Erased
from ripen_dev.operate.erasure import erase_lead, erase_slots
from tests.contract import given
from tests.contract.test_limits import limiter  # noqa: F401  (both engines' limiters)


def test_messages_are_read_by_key_and_keys_of_no_message_are_left_out(store, clock):
    welcome = given.claimed(store, "ld_ana", clock.now())
    found = store.get_messages([welcome.claim.key, "ld_ana#trial-nurture#1#nothing", welcome.claim.key])
    assert [m.claim.key for m in found] == [welcome.claim.key]
    assert store.get_messages([]) == []


def test_erasing_a_lead_deletes_it_with_its_enrollments_history_and_the_messages_named(store, clock):
    # Given Ana with an enrollment, two history entries and an email; and Ben
    now = clock.now()
    given.lead(store, "ld_ana", now)
    welcome = given.claimed(store, "ld_ana", now)
    record = store.get_enrollment("ld_ana", given.SEQUENCE)
    later = given.enrollment("ld_ana", now, revision=2)
    assert store.commit(Change(later, record.revision, (), given.history("ld_ana", now + timedelta(seconds=1), 2)))
    given.lead(store, "ld_ben", now)
    ben = given.claimed(store, "ld_ben", now)
    # When Ana is erased
    assert erase_lead(store, "ld_ana", [welcome.claim.key, "ld_ana#trial-nurture#1#never"]) == 5
    # Then nothing of hers is left, and Ben is untouched
    assert store.get_lead("ld_ana") is None
    assert store.enrollments_of("ld_ana") == []
    assert store.history_of("ld_ana") == []
    assert store.get_message(welcome.claim.key) is None
    assert store.get_lead("ld_ben") is not None
    assert store.get_message(ben.claim.key) is not None
    assert len(store.history_of("ld_ben")) == 1
    # And erasing again finds nothing
    assert erase_lead(store, "ld_ana", [welcome.claim.key]) == 0


def test_an_erasure_keeps_the_opt_out_under_the_address_hash_only(store, clock):
    assert store.erased("er_ana") is None
    store.keep_erased(Erased("er_ana", LeadStatus.UNSUBSCRIBED, clock.now()))
    store.keep_erased(Erased("er_ana", LeadStatus.SUPPRESSED, clock.now() + timedelta(days=1)))
    assert store.erased("er_ana") == Erased("er_ana", LeadStatus.SUPPRESSED, clock.now() + timedelta(days=1))
    assert store.erased("er_ben") is None
    assert store.get_lead("er_ana") is None


def test_erasing_a_limit_key_deletes_every_slot_its_window_reads_and_no_other_key(limiter):  # noqa: F811
    # Given takes of a key over a day, and of another key
    start, day = datetime(2026, 3, 2, 15, 30, tzinfo=UTC), timedelta(days=1)
    for hours in (0, 5, 20):
        assert limiter.take("mailbox#a", 10, day, start + timedelta(hours=hours))
    assert limiter.take("mailbox#b", 10, day, start)
    later = start + timedelta(hours=21)
    # When the key is erased
    assert erase_slots(limiter, "mailbox#a", slots_for("mailbox#a", day, later)) == 3
    # Then its count starts again, the other key's does not, and erasing again finds only the new take
    assert [limiter.take("mailbox#a", 1, day, later) for _ in range(2)] == [True, False]
    assert erase_slots(limiter, "mailbox#a", slots_for("mailbox#a", day, later)) == 1
    assert erase_slots(limiter, "mailbox#a", slots_for("mailbox#a", day, later)) == 0
    assert not limiter.take("mailbox#b", 1, day, later)
