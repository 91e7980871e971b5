"""Engagement: what leads do with their emails, as SES reports it, moves their nurture state.

Each event is matched to the message it is about, applied once, and counted:

- **Attribution**: the `message` tag names the message key; the write is conditional on the
  message carrying the event's `mail.messageId` (recorded by the sender), so the tag is checked
  without a read. A missing or wrong tag falls back to the `by_ses_id_keys` index. Events for messages
  ripen does not know are counted (`EngagementUnknownMessages`) and ignored.
- **Once**: a message keeps the keys of the events applied to it (`Activity.seen`, kept as long
  as the message item: its TTL); the key is added in the same conditional write or transaction
  as the change the event makes, so an event delivered twice (a retry, SNS and EventBridge both
  wired) changes state once. The keys of opens and clicks stop at `SEEN_KEPT`; past it they are
  applied in time order (an event no later than the latest one is taken for a redelivery), so
  the item stays small however often one email is opened. Lead-level changes (suppression,
  unsubscribe, soft bounces) are idempotent by state: the lead is written first, on its own, so
  a message item that cannot take another write never holds up a suppression; a repeated bounce
  finds the lead suppressed already. An event whose message item is full is dropped and counted
  (`EngagementMarksNotWritten`), never retried into the dead-letter queue.
- **Per type**: Send confirms the send (and records it when the sender crashed after SES
  accepted it); Delivery, DeliveryDelay: the message and the stats; Open, Click: the engine
  (score, stage rules, `wait_for` branches at once, the hand-off), machine opens weighted low and
  scanner clicks ignored for branching (`ripen.core.engagement`); Bounce: Permanent suppresses the
  lead everywhere, Transient counts toward `SOFT_BOUNCE_LIMIT`; Complaint: suppressed and stopped
  everywhere; Reject, Rendering Failure: the message failed (alarm metrics); Subscription: the
  preference change (unsubscribe from all, or leave the sequences named by topics opted out of).
- **Order and lateness**: terminal states never move again (the engine ignores everything on a
  finished enrollment; a suppressed lead stays suppressed), so a late Open after an unsubscribe
  changes the stats only, and a Delivery after a Bounce changes nothing about the lead.
- **Stats**: gathered over the batch, written once at its end (one atomic ADD per bucket).

Events of one email in one batch are applied together: Send and Delivery in one write, and the
scanner rules see every click of the email in the batch.

The steps, one module each: `batch` (group by email, write the stats), `attribution` (find the
message, write with optimistic retry), `message_events` (Send, Delivery, ...), `opens_clicks`
(the engine), `suppression` (bounces, complaints, subscription changes).
"""

from ripen.services.engagement.batch import Engagement
from ripen.services.engagement.metric_names import (
    DUPLICATES,
    EMAILS_REJECTED,
    EVENTS,
    LEADS_SALES_READY,
    LEADS_SUPPRESSED,
    MARKS_NOT_WRITTEN,
    RECONCILED,
    RENDERING_FAILURES,
    RETRIED,
    SENT_TWICE,
    SKIPPED,
    STATS_NOT_WRITTEN,
    UNKNOWN,
)

__all__ = [
    "DUPLICATES",
    "EMAILS_REJECTED",
    "EVENTS",
    "LEADS_SALES_READY",
    "LEADS_SUPPRESSED",
    "MARKS_NOT_WRITTEN",
    "RECONCILED",
    "RENDERING_FAILURES",
    "RETRIED",
    "SENT_TWICE",
    "SKIPPED",
    "STATS_NOT_WRITTEN",
    "UNKNOWN",
    "Engagement",
]
