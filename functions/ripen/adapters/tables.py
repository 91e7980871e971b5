"""pynamodb models of the tables declared in template.yaml. Table names are bound at run time
from settings (`bind`), so nothing here reads the environment at import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER, STRING
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model


class EpochAttribute(Attribute[datetime]):
    """A datetime stored as Unix seconds: sortable and comparable in key conditions."""

    attr_type = NUMBER

    def serialize(self, value: datetime) -> str:
        return json.dumps(round(value.timestamp(), 3))

    def deserialize(self, value: str) -> datetime:
        return datetime.fromtimestamp(float(json.loads(value)), tz=UTC)


UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimeAttribute(Attribute[datetime]):
    """A UTC time as Unix seconds and its microseconds, exactly: a number of about 9 bytes where
    `UTCDateTimeAttribute`'s ISO text takes 31, and a write is billed per KB of the item. Reads the
    ISO text that items written before still hold; so never in a condition over old and new items
    (DynamoDB does not compare a number with a string)."""

    attr_type = NUMBER

    def get_value(self, value: dict[str, Any]) -> Any:
        return value[NUMBER] if NUMBER in value else value.get(STRING)

    def serialize(self, value: datetime) -> str:
        return epoch_text(value)

    def deserialize(self, value: str) -> datetime:
        return parse_time(value)


def epoch_text(at: datetime) -> str:
    """`at` as Unix seconds in decimal text, to the microsecond (a float would round some away)."""
    since = at.astimezone(UTC) - UNIX_EPOCH
    seconds = since.days * 86_400 + since.seconds
    return f"{seconds}.{since.microseconds:06d}".rstrip("0").rstrip(".") if since.microseconds else str(seconds)


def parse_time(text: str) -> datetime:
    """Unix seconds as `epoch_text` writes them, or the ISO text of an item written before."""
    if "T" in text:
        return datetime.fromisoformat(text).astimezone(UTC)
    whole, _, fraction = text.partition(".")
    return UNIX_EPOCH + timedelta(seconds=int(whole), microseconds=int(fraction.ljust(6, "0")[:6] or 0))


class ConsentAttribute(MapAttribute[str, Any]):
    given_at = UTCDateTimeAttribute()
    method = UnicodeAttribute()
    source = UnicodeAttribute(null=True)
    wording = UnicodeAttribute(null=True)
    confirmed_at = UTCDateTimeAttribute(null=True)


class LeadItem(Model):
    class Meta:
        table_name = "unbound-leads"

    lead_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    attributes = MapAttribute[str, Any](default=dict)
    status = UnicodeAttribute(default="active")
    status_reason = UnicodeAttribute(null=True)
    consent = ConsentAttribute(null=True)  # written before the consent log; read as its first entry
    consents = ListAttribute(of=ConsentAttribute, default=list)  # the consent log, oldest first
    recent_emails = ListAttribute(of=NumberAttribute, default=list)
    soft_bounces = NumberAttribute(default=0)
    soft_bounced_at = UTCDateTimeAttribute(null=True)
    unsubscribed_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    revision = VersionAttribute()
    expires_at = TTLAttribute(null=True)


class DueIndex(GlobalSecondaryIndex["EnrollmentItem"]):
    """Keys only: an item found here has its table and index keys, nothing else (read the item)."""

    class Meta:
        index_name = "due_keys"
        projection = KeysOnlyProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = EpochAttribute(range_key=True)


class EnrollmentItem(Model):
    class Meta:
        table_name = "unbound-enrollments"

    lead_id = UnicodeAttribute(hash_key=True)
    sequence = UnicodeAttribute(range_key=True)
    version = NumberAttribute()
    run = NumberAttribute(default=1)
    status = UnicodeAttribute()
    cursor = UnicodeAttribute(null=True)
    wait = UnicodeAttribute(null=True)
    next_action_at = TimeAttribute(null=True)
    since = TimeAttribute(null=True)
    score = NumberAttribute(default=0)
    score_at = TimeAttribute(null=True)
    stage = UnicodeAttribute(default="")
    sent = ListAttribute(of=UnicodeAttribute, default=list)
    last_email_at = TimeAttribute(null=True)
    engaged = MapAttribute[str, Any](default=dict)  # times as Unix seconds (ISO text before)
    confirmations = NumberAttribute(default=0)
    last_confirmation_at = TimeAttribute(null=True)
    entered_at = TimeAttribute(null=True)
    exit_reason = UnicodeAttribute(null=True)
    ended_at = TimeAttribute(null=True)
    held_wait = UnicodeAttribute(null=True)
    held_until = TimeAttribute(null=True)
    holdout = BooleanAttribute(null=True)  # in the sequence's control group (absent: not)
    # The lead context the engine needs, copied so the sweep never reads the lead.
    timezone = UnicodeAttribute(null=True)
    attributes = MapAttribute[str, Any](default=dict)
    recent_emails = ListAttribute(of=NumberAttribute, default=list)
    revision = VersionAttribute()
    # Present only while a timer is pending: the sparse due index.
    due_shard = UnicodeAttribute(null=True)
    due_at = EpochAttribute(null=True)
    due = DueIndex()
    # Set only on a run that ended never confirmed (`records.enrollment_expires_at`).
    expires_at = TTLAttribute(null=True)


class MessageSesIndex(GlobalSecondaryIndex["MessageItem"]):
    """Keys only: an item found here has its key and SES id, nothing else (read the message)."""

    class Meta:
        index_name = "by_ses_id_keys"
        projection = KeysOnlyProjection()

    ses_message_id = UnicodeAttribute(hash_key=True)


class MessageDueIndex(GlobalSecondaryIndex["MessageItem"]):
    """Keys only, like `DueIndex`."""

    class Meta:
        index_name = "due_keys"
        projection = KeysOnlyProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = EpochAttribute(range_key=True)


class MessageItem(Model):
    class Meta:
        table_name = "unbound-messages"

    message_key = UnicodeAttribute(hash_key=True)
    lead_id = UnicodeAttribute()
    sequence = UnicodeAttribute()
    version = NumberAttribute()
    run = NumberAttribute()
    step = UnicodeAttribute()
    email = UnicodeAttribute()
    variant = UnicodeAttribute(null=True)  # the email an A/B test chose (absent: no test on the step)
    kind = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    lease_until = UTCDateTimeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    due_at = EpochAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    details = UnicodeAttribute(null=True)  # a hand-off's facts, as JSON
    observed_ses_message_id = UnicodeAttribute(null=True)
    leased_at = UTCDateTimeAttribute(null=True)  # the latest lease (a nurture email: its place on the lead)
    resent_at = UTCDateTimeAttribute(null=True)  # the one resend after a lease ran out unreported
    # Engagement (SES events): the keys of the events applied, and what they reported.
    seen = UnicodeSetAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    opened_at = UTCDateTimeAttribute(null=True)
    clicked_at = UTCDateTimeAttribute(null=True)
    last_click_at = UTCDateTimeAttribute(null=True)
    last_click_link = UnicodeAttribute(null=True)
    opens = NumberAttribute(null=True)
    machine_opens = NumberAttribute(null=True)
    clicks = NumberAttribute(null=True)
    scanner_clicks = NumberAttribute(null=True)
    bounce = UnicodeAttribute(null=True)
    complained_at = UTCDateTimeAttribute(null=True)
    open_past_cap_at = UTCDateTimeAttribute(null=True)  # opens and clicks past the keys kept (SEEN_KEPT)
    click_past_cap_at = UTCDateTimeAttribute(null=True)
    by_ses_id = MessageSesIndex()
    due = MessageDueIndex()


class HistoryItem(Model):
    class Meta:
        table_name = "unbound-history"

    lead_id = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)
    at = UTCDateTimeAttribute()
    sequence = UnicodeAttribute()
    revision = NumberAttribute()
    trigger = UnicodeAttribute()
    status = UnicodeAttribute()
    step = UnicodeAttribute(null=True)
    lines = ListAttribute(of=UnicodeAttribute, default=list)
    actions = ListAttribute(of=UnicodeAttribute, default=list)
    message_key = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class ErasedItem(Model):
    """In the Leads table, beside the leads: what stays of a person erased on request who had opted
    out or was suppressed (`ripen.ports.store.Erased`), under `erased#<keyed hash of the address>`."""

    class Meta:
        table_name = "unbound-leads"

    lead_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    at = UTCDateTimeAttribute()


MODELS: dict[str, type[Model]] = {
    "leads": LeadItem,
    "enrollments": EnrollmentItem,
    "messages": MessageItem,
    "history": HistoryItem,
}


class SharedSessionConnection(Connection):
    """pynamodb's connection, on the botocore session every other client of the process is made
    from (`ripen.adapters.aws.session`): botocore's data files are loaded once per container."""

    @property
    def session(self) -> Any:
        from ripen.adapters.aws import session

        return session()

    @property
    def client(self) -> Any:
        from ripen.adapters.aws import CREATING

        with CREATING:
            return super().client


def bind(table_names: dict[str, str], region: str, host: str | None = None) -> Connection:
    """Point every model at its table (names come from the env vars template.yaml sets), every table
    at one connection, and return it. pynamodb gives each model a connection of its own, and each
    connection its own botocore session, which loads botocore's data files and DynamoDB's model
    again: a cold start would pay for that once per table; one connection on the process's session
    makes one client and loads them once."""
    bound: list[tuple[str, type[Model]]] = [*MODELS.items(), ("leads", ErasedItem)]
    shared = SharedSessionConnection(region=region, host=host)
    known: set[str] = set()
    for role, model in bound:
        model.Meta.table_name = table_names[role]
        model.Meta.region = region
        model.Meta.host = host
        model._connection = None  # pynamodb caches the connection per class
        for index in model._indexes.values():
            index._connection = None  # type: ignore[attr-defined]
        table = model._get_connection()  # the table's schema, from the model: no request
        if table.table_name not in known:  # the erased share the Leads table with the leads
            shared.add_meta_table(table.get_meta_table())
            known.add(table.table_name)
        table.connection = shared
    return shared
