"""Emails wait for the send window in the lead's own time zone, correctly across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ripen.core.sequence import FrequencyCap, SendWindow
from ripen.core.windows import cap_frees_at, next_in_window, next_send_time

WEEKDAYS_9_TO_5 = SendWindow(days=("mon", "tue", "wed", "thu", "fri"), hours="09:00-17:00", timezone="lead")


def at(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def test_a_moment_inside_the_window_is_kept():
    moment = at("Europe/Berlin", 2026, 3, 3, 11, 0).astimezone(UTC)
    assert next_in_window(moment, WEEKDAYS_9_TO_5, "Europe/Berlin") == moment


def test_friday_evening_moves_to_monday_morning_in_the_leads_zone():
    friday_evening = at("America/New_York", 2026, 3, 6, 18, 30).astimezone(UTC)
    result = next_in_window(friday_evening, WEEKDAYS_9_TO_5, "America/New_York")
    assert result.astimezone(ZoneInfo("America/New_York")) == at("America/New_York", 2026, 3, 9, 9, 0)


@pytest.mark.parametrize(
    ("zone", "sunday_before_change", "expected_offset_hours"),
    [
        ("America/New_York", (2026, 3, 8), -4),  # US spring forward on Sunday 8 March 2026
        ("Europe/Berlin", (2026, 3, 29), 2),  # EU spring forward on Sunday 29 March 2026
        ("Australia/Sydney", (2026, 4, 5), 10),  # Sydney falls back on Sunday 5 April 2026
        ("Europe/London", (2026, 10, 25), 0),  # UK falls back on Sunday 25 October 2026
    ],
)
def test_nine_am_stays_nine_am_on_the_monday_after_a_dst_change(zone, sunday_before_change, expected_offset_hours):
    sunday_noon = datetime(*sunday_before_change, 12, 0, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    result = next_in_window(sunday_noon, WEEKDAYS_9_TO_5, zone).astimezone(ZoneInfo(zone))
    assert result.weekday() == 0
    assert result.time() == time(9, 0)
    assert result.utcoffset() == timedelta(hours=expected_offset_hours)


def test_a_window_opening_inside_the_spring_forward_gap_opens_when_the_clocks_jump():
    night = SendWindow(days=("sun",), hours="02:30-05:00", timezone="Europe/Berlin")
    before = at("Europe/Berlin", 2026, 3, 29, 0, 0).astimezone(UTC)
    result = next_in_window(before, night, None)
    assert result.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_a_lead_without_a_time_zone_gets_the_sequence_default():
    window = SendWindow(hours="09:00-17:00", timezone="lead", default_timezone="Asia/Tokyo")
    moment = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    result = next_in_window(moment, window, None)
    assert result.astimezone(ZoneInfo("Asia/Tokyo")) == at("Asia/Tokyo", 2026, 3, 4, 9, 0)


def test_an_unknown_lead_zone_falls_back_instead_of_failing():
    window = SendWindow(hours="09:00-17:00", timezone="lead", default_timezone="UTC")
    moment = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
    assert next_in_window(moment, window, "Not/AZone") == datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def test_the_cap_holds_the_next_email_until_the_oldest_one_leaves_the_period():
    cap = FrequencyCap(max=2, per=timedelta(hours=24))
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    recent = [now - timedelta(hours=20), now - timedelta(hours=2)]
    assert cap_frees_at(recent, cap, now) == now + timedelta(hours=4)
    assert cap_frees_at(recent[:1], cap, now) == now


def test_cap_and_window_together_find_a_moment_both_allow():
    cap = FrequencyCap(max=1, per=timedelta(hours=24))
    friday_noon = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    recent = [friday_noon - timedelta(hours=1)]
    window = SendWindow(days=("mon", "tue", "wed", "thu", "fri"), hours="09:00-17:00", timezone="UTC")
    # The cap frees Saturday 11:00, which is outside the window: Monday 09:00.
    assert next_send_time(friday_noon, window, cap, recent, None) == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
