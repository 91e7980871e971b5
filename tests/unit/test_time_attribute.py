"""Times on an enrollment are stored as Unix seconds: exact to the microsecond, and the ISO text of
items written before still reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pynamodb.attributes import UTCDateTimeAttribute

from ripen.adapters.tables import TimeAttribute

moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2105, 12, 31), timezones=st.just(UTC))


@given(moments)
def test_a_time_comes_back_exactly_as_it_was_written(at):
    attribute = TimeAttribute()
    text = attribute.serialize(at)
    assert float(text)  # a number to DynamoDB
    assert attribute.deserialize(text) == at


@given(moments)
def test_a_time_written_by_an_earlier_release_as_iso_text_reads_the_same(at):
    old = UTCDateTimeAttribute().serialize(at)
    attribute = TimeAttribute()
    assert attribute.deserialize(attribute.get_value({"S": old})) == at


def test_a_time_in_another_zone_is_stored_as_the_same_instant():
    at = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    attribute = TimeAttribute()
    assert attribute.serialize(at) == "1772461800"
    assert attribute.deserialize(attribute.serialize(at)) == at
