"""Who opened or clicked: a person, or a machine (privacy proxy, security scanner); when soft
bounces add up to a suppression; where the numbers are counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ripen.core.engagement import (
    Bucket,
    MessageRef,
    Rules,
    SoftBounceRule,
    after_soft_bounce,
    machine_open,
    scanner_click,
    suppressed,
    unsubscribed,
)
from ripen.core.records import Lead, LeadStatus

DELIVERED = datetime(2026, 3, 5, 9, 30, 2, tzinfo=UTC)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def later(**kwargs: float) -> datetime:
    return DELIVERED + timedelta(**kwargs)


# -- opens ------------------------------------------------------------------------------------------


def test_apple_mail_privacy_protection_fetches_are_machine_opens():
    assert machine_open(later(minutes=40), "Mozilla/5.0", "17.58.101.12", DELIVERED) == (
        "Apple Mail Privacy Protection proxy"
    )
    # the bare agent gives a proxy away even from elsewhere
    assert machine_open(later(hours=3), "Mozilla/5.0", "198.51.100.7", DELIVERED) is not None


def test_an_open_seconds_after_delivery_is_a_machine_open():
    assert machine_open(later(seconds=3), IPHONE, "198.51.100.77", DELIVERED) == "opened 3 s after arrival"
    assert machine_open(later(seconds=10), IPHONE, "198.51.100.77", DELIVERED) is None


def test_people_open_later_with_a_real_mail_client_or_through_gmail():
    assert machine_open(later(minutes=12), IPHONE, "198.51.100.77", DELIVERED) is None
    assert machine_open(later(minutes=12), GMAIL_PROXY, "66.249.84.1", DELIVERED) is None


def test_crawler_agents_never_count_as_people():
    assert machine_open(later(hours=1), "python-requests/2.31", "203.0.113.9", DELIVERED) is not None
    assert machine_open(later(hours=1), "Mozilla/5.0 (compatible; bingbot/2.0)", None, DELIVERED) is not None


def test_the_delay_is_configurable():
    rules = Rules(open_after=timedelta(seconds=60))
    assert machine_open(later(seconds=30), IPHONE, None, DELIVERED, rules) is not None
    assert machine_open(later(seconds=30), IPHONE, None, DELIVERED, Rules(open_after=timedelta(0))) is None


# -- clicks -----------------------------------------------------------------------------------------


def test_a_click_seconds_after_delivery_is_a_scanner_click():
    assert scanner_click(later(seconds=2), "pricing", CHROME, DELIVERED) == "clicked 2 s after arrival"


def test_every_link_of_one_email_clicked_within_a_moment_is_a_scanner():
    others = [(later(minutes=20, milliseconds=300), "case-study"), (later(minutes=20, milliseconds=600), "demo")]
    assert scanner_click(later(minutes=20), "pricing", CHROME, DELIVERED, others) is not None
    # a person clicking the same link twice (a double click) is still a person
    again = [(later(minutes=20, milliseconds=400), "pricing")]
    assert scanner_click(later(minutes=20), "pricing", CHROME, DELIVERED, again) is None
    # and two links a minute apart are a person reading on
    apart = [(later(minutes=21), "case-study")]
    assert scanner_click(later(minutes=20), "pricing", CHROME, DELIVERED, apart) is None


@pytest.mark.parametrize("agent", ["", "Mozilla/5.0", "curl/8.4.0", "Go-http-client/1.1", "Barracuda Sentinel (EE)"])
def test_scanner_and_library_agents_are_scanners(agent):
    assert scanner_click(later(hours=2), "pricing", agent, DELIVERED) is not None


def test_a_person_clicking_later_is_a_person():
    assert scanner_click(later(minutes=3), "pricing", CHROME, DELIVERED) is None


# -- soft bounces and suppression ---------------------------------------------------------------------


def fresh() -> Lead:
    return Lead("ld_x", "ana@example.com", DELIVERED)


def test_three_soft_bounces_in_a_row_suppress_the_lead():
    rule = SoftBounceRule(limit=3, window=timedelta(days=30))
    current = fresh()
    for day in (0, 7, 14):
        current = after_soft_bounce(current, later(days=day), rule)
    assert (current.soft_bounces, current.status) == (3, LeadStatus.SUPPRESSED)
    assert current.status_reason == "3 soft bounces in a row"


def test_soft_bounces_far_apart_start_counting_again():
    rule = SoftBounceRule(limit=3, window=timedelta(days=30))
    current = after_soft_bounce(fresh(), later(days=0), rule)
    current = after_soft_bounce(current, later(days=10), rule)
    current = after_soft_bounce(current, later(days=60), rule)  # the mailbox worked for weeks
    assert (current.soft_bounces, current.status) == (1, LeadStatus.ACTIVE)


def test_a_late_soft_bounce_older_than_one_counted_changes_nothing():
    rule = SoftBounceRule()
    current = after_soft_bounce(fresh(), later(days=5), rule)
    assert after_soft_bounce(current, later(days=4), rule) == current


def test_suppression_never_lifts_and_outranks_unsubscribing():
    gone = suppressed(fresh(), "hard bounce")
    assert gone is not None
    assert gone.status is LeadStatus.SUPPRESSED
    assert suppressed(gone, "complaint") is None
    assert unsubscribed(gone, "SES subscription", later(days=1)) is None
    out = unsubscribed(fresh(), "SES subscription", later(days=1))
    assert out is not None
    assert out.status is LeadStatus.UNSUBSCRIBED
    assert out.unsubscribed_at == later(days=1)  # older confirmation links confirm nothing
    assert suppressed(out, "hard bounce") is not None  # the address itself is bad now


# -- where things are counted ----------------------------------------------------------------------


def test_a_bucket_is_the_sequence_version_step_and_day_the_email_was_sent():
    bucket = Bucket.of("trial-nurture", 2, "case-study", datetime(2026, 3, 5, 23, 59, tzinfo=UTC))
    assert bucket.key == "v2#case-study#2026-03-05"
    assert Bucket.parse("trial-nurture", bucket.key) == bucket
    assert Bucket.parse("trial-nurture", "summary") is None


def test_a_message_key_names_lead_sequence_run_and_step():
    ref = MessageRef.parse("ld_abc#trial-nurture#2#pricing-followup")
    assert ref is not None
    assert (ref.lead_id, ref.sequence, ref.run, ref.step) == ("ld_abc", "trial-nurture", 2, "pricing-followup")
    assert MessageRef.parse("ld_abc#trial-nurture#two#x") is None
    assert MessageRef.parse("ld_abc.trial-nurture.1.x") is None
