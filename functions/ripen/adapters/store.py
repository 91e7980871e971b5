"""The storage interface the services use; DynamoDB and in-memory implementations follow it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from ripen.core.records import Change, EnrollmentRecord, HistoryEntry, Lead, Message, MessageStatus

# A claimed message not sent by then is looked at again by the sweep (lost job, crashed sender).
CLAIM_TIMEOUT = timedelta(minutes=15)
# Send times kept on the lead for the frequency cap (the same number Nurture keeps on enrollments).
RECENT_EMAILS_KEPT = 10


class Store(Protocol):
    shards: tuple[str, ...]

    def get_lead(self, lead_id: str) -> Lead | None: ...

    def create_lead(self, lead: Lead) -> bool:
        """Store a new lead; False when one with this id already exists."""
        ...

    def save_lead(self, lead: Lead, expected_revision: int) -> bool:
        """Replace a lead if it is still at `expected_revision` (the stored lead gets revision + 1)."""
        ...

    def get_enrollment(self, lead_id: str, sequence: str) -> EnrollmentRecord | None: ...

    def enrollments_of(self, lead_id: str) -> list[EnrollmentRecord]: ...

    def commit(self, change: Change) -> bool:
        """Apply a change atomically; False when another writer got there first."""
        ...

    def due_enrollments(self, shard: str, now: datetime, limit: int) -> list[EnrollmentRecord]:
        """Enrollments in `shard` whose next action is due at or before `now`, oldest first."""
        ...

    def get_message(self, key: str) -> Message | None: ...

    def history_of(self, lead_id: str) -> list[HistoryEntry]: ...

    # -- sending: a lease makes sure only one sender talks to SES about a message ------------------

    def lease_message(self, key: str, now: datetime, lease_until: datetime) -> Message | None:
        """Take the send lease: a claimed message, or one whose previous sender's lease ran out,
        becomes `sending` (attempts + 1, lease_until, and due_at = lease_until so the sweep finds it
        if this sender dies). None when the message is gone, finished, or leased by another sender."""
        ...

    def record_sent(self, message: Message, ses_message_id: str, sent_at: datetime) -> bool:
        """`message` (as leased) went out: status sent, the SES message id and time, out of the due
        index; in the same transaction a nurture email's send time joins the lead's recent_emails.
        False when the lease was lost (another sender took over)."""
        ...

    def record_unsent(
        self, message: Message, status: MessageStatus, reason: str, history: HistoryEntry | None = None
    ) -> bool:
        """`message` (as leased) ends `failed` or `skipped` with `reason`, out of the due index, with
        its history entry in the same transaction. False when the lease was lost."""
        ...

    def release_message(self, message: Message, retry_at: datetime, reason: str | None = None) -> bool:
        """Give the lease back for a retry: `claimed` again, due at `retry_at`. False when the lease was lost."""
        ...


class StoreUnavailableError(RuntimeError):
    """The store kept refusing a write for reasons other than a lost race; retry later."""
