"""The storage interface the services use; DynamoDB and in-memory implementations follow it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ripen.core.records import (
    Change,
    EnrollmentRecord,
    EventMark,
    HistoryEntry,
    Lead,
    LeadStatus,
    Message,
    MessageStatus,
)
from ripen.core.sending import CLAIM_TIMEOUT as CLAIM_TIMEOUT  # declared with the message's life cycle
from ripen.ports.errors import RetryLaterError

# Hand-offs wait in their own partition of the Messages `due` index, apart from the numbered
# shards the sweep reads for unsent emails.
HANDOFF_SHARD = "handoff"


@dataclass(frozen=True, slots=True)
class SendContext:
    """What the sender decides from, read together (consistently) in one request."""

    message: Message | None
    lead: Lead | None
    record: EnrollmentRecord | None


class Store(Protocol):
    shards: tuple[str, ...]

    def get_lead(self, lead_id: str) -> Lead | None: ...

    def create_lead(self, lead: Lead) -> bool:
        """Store a new lead; False when one with this id already exists."""
        ...

    def save_lead(self, lead: Lead, expected_revision: int, marks: Sequence[EventMark] = ()) -> bool:
        """Replace a lead if it is still at `expected_revision` (the stored lead gets revision + 1).
        With `marks` (all on one message), in the same transaction as `mark_message` would write
        them, and only if it would: False when either condition fails."""
        ...

    def get_enrollment(self, lead_id: str, sequence: str) -> EnrollmentRecord | None: ...

    def enrollments_of(self, lead_id: str) -> list[EnrollmentRecord]: ...

    def get_enrollments(self, keys: Sequence[tuple[str, str]]) -> list[EnrollmentRecord]:
        """The enrollments of these (lead id, sequence) keys that exist, read consistently, in as few
        requests as the store allows (DynamoDB: BatchGetItem, 100 keys a request)."""
        ...

    def commit(self, change: Change) -> bool:
        """Apply a change atomically; False when another writer got there first (or, with
        `change.marks`, when the marks' message is not theirs or already has one of them)."""
        ...

    def due_enrollments(
        self, shard: str, now: datetime, limit: int, after: EnrollmentRecord | None = None
    ) -> list[EnrollmentRecord]:
        """Enrollments in `shard` whose next action is due at or before `now`, oldest first: one page of
        at most `limit`, starting after `after` (the last record of the previous page). Read from an
        eventually consistent index: a record may be stale, so write it back only with its revision."""
        ...

    def due_messages(self, shard: str, now: datetime, limit: int, after: Message | None = None) -> list[Message]:
        """Messages in `shard` not yet sent whose due time (claim timeout, deferral, lease) has passed,
        oldest first, paged like `due_enrollments`. Eventually consistent, like it."""
        ...

    def postpone_message(self, message: Message, until: datetime) -> bool:
        """Move an unsent message's due time to `until` if it is still as read (same status, same due
        time); False when another writer changed it first."""
        ...

    def get_message(self, key: str) -> Message | None: ...

    def history_of(self, lead_id: str) -> list[HistoryEntry]: ...

    # -- sending: a lease makes sure only one sender talks to SES about a message ------------------
    # Each write below is conditioned on the message being still as the sender read it (its status
    # and attempts; `attempts` only grows with each lease), so a sender that lost a race writes nothing.

    def send_context(self, key: str, lead_id: str, sequence: str) -> SendContext:
        """The message, its lead and its enrollment, each read consistently, in one request."""
        ...

    def lease_message(
        self,
        message: Message,
        now: datetime,
        lease_until: datetime,
        lead: Lead | None = None,
    ) -> Message | None:
        """Take the send lease on `message` as read (its status, attempts and due time): `claimed`,
        or `sending` with a lease that ran out (the one resend: `resent_at` is set, and only if it
        was never resent), never one SES already reported (`observed_ses_message_id`). It becomes
        `sending`, attempts + 1, `leased_at` = now, `lease_until`, and due no earlier than
        lease_until (`sending.lease_args`) so the sweep finds it if this sender dies. With `lead`
        (the lead the sender decided from), only if it is still at `lead.revision`, in the same
        transaction; for a nurture email (`takes_place_on_lead`) the lead also gets `now` in its
        recent emails, in place of this message's earlier lease time if it had one: its place
        under the frequency cap, taken before SES is called, so two senders of one lead cannot both
        pass the cap. The enrollment is not part of the write: the sender reads it again once it
        holds the lease, before SES (a read is a fifth of the price of a transaction's item).
        Returns the message as leased; None when the message or the lead changed since read."""
        ...

    def record_sent(self, message: Message, ses_message_id: str, sent_at: datetime) -> bool:
        """`message` (as leased) went out: status sent, the SES message id and time, out of the due
        index (its place on the lead was taken with the lease). False when the lease was lost."""
        ...

    def record_unsent(
        self, message: Message, status: MessageStatus, reason: str, history: HistoryEntry | None = None
    ) -> bool:
        """`message` (as read or leased) ends `failed` or `skipped` with `reason`, out of the due
        index, with its history entry in the same transaction; never a message SES reported sent
        (`observed_ses_message_id`). False when it changed meanwhile."""
        ...

    def release_message(
        self, message: Message, retry_at: datetime, reason: str | None = None, *, resend: bool = False
    ) -> bool:
        """Give the message (as read or leased) back for later: `claimed`, due at `retry_at`.
        `resend`: it was read in doubt (its lease ran out unreported) and this puts its one resend
        off, so it counts as resent (`resent_at`). False when it changed meanwhile."""
        ...

    # -- engagement: SES events written on the message they name ------------------------------------

    def mark_message(self, key: str, marks: Sequence[EventMark]) -> Message | None:
        """Write engagement events on their message in one conditional write: only if the message
        is named by the marks' SES message id (`Message.named_by`) and has none of their keys yet.
        Returns the message as it became; None when the condition failed (or there is no message).
        MessageFullError when the message item cannot take the write (DynamoDB's item size limit)."""
        ...

    def find_message_by_ses_id(self, ses_message_id: str) -> Message | None:
        """The message SES knows by this id (found in the `by_ses_id_keys` index, which is eventually
        consistent and holds keys only; then the message read as it is)."""
        ...

    def observe_ses_id(self, key: str, ses_message_id: str) -> bool:
        """Note on a message its sender has not recorded yet that SES accepted it under this id:
        events can name it, and no sender sends it again. False when it has a recorded id by now."""
        ...

    def reconcile_sent(self, key: str, ses_message_id: str, sent_at: datetime, now: datetime) -> bool:
        """Record as sent a message SES accepted (an SES event names it) that its sender never
        recorded: it crashed after SES accepted it, or gave the lease back after an ambiguous error.
        Like `record_sent`: status sent, the SES id and time, out of the due index (a nurture email
        leased before leases took its place on the lead gets the send time there now). Only for a
        message tried at least once, with no recorded SES id, and not held by a live lease at
        `now`; False otherwise."""
        ...

    # -- hand-offs to sales: an outbox in the Messages table ------------------------------------

    def handoffs_due(self, now: datetime, limit: int) -> list[Message]:
        """Hand-offs not yet published whose grace period is over, oldest first."""
        ...

    def record_handoff(self, key: str, at: datetime, error: str | None = None) -> bool:
        """A hand-off was published (`sent`), or cannot be (`failed` with `error`): out of the due
        index. False when it was not waiting any more."""
        ...

    # -- operators: one person's data, read; what an erasure keeps (erasing is ripen_dev's) --------

    def get_messages(self, keys: Sequence[str]) -> list[Message]:
        """The messages of these keys that exist, in as few requests as the store allows (DynamoDB:
        BatchGetItem, 100 keys a request); keys that name no message are left out."""
        ...

    def keep_erased(self, erased: Erased) -> None:
        """Keep what must outlive an erased person's lead: that the address opted out or is suppressed,
        under a keyed hash of it only (`ripen.core.leads.erased_hash_for`), never the lead id."""
        ...

    def erased(self, address_hash: str) -> Erased | None:
        """The opt-out or suppression kept for an erased address (`keep_erased`), if any."""
        ...


@dataclass(frozen=True, slots=True)
class Erased:
    """What stays of a person erased on request who had opted out or was suppressed: a keyed hash
    of the address, whether they `unsubscribed` (back only by confirming again) or are `suppressed`
    (a hard bounce or a complaint: never again), and since when."""

    address_hash: str
    status: LeadStatus
    at: datetime


class StoreUnavailableError(RetryLaterError):
    """The store kept refusing a write for reasons other than a lost race; retry later."""


class MessageFullError(Exception):
    """A message item cannot take another write (at DynamoDB's 400 KB item limit): no retry will
    write it, so the events meant for it are dropped (counted), never retried into the dead-letter
    queue. Suppression never waits on it: the lead is written first, on its own."""
