"""A working ripen for email tests: store, queue, outbox, metrics and clock wired like in AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ripen.app import App
from ripen.config import Settings
from ripen.core.records import Consent, Lead, Message, MessageStatus, message_key
from ripen.core.state import TimerDue
from ripen.core.validator import Catalog
from ripen.models.ses import received_events
from ripen.ports.event_ids import EventIds
from ripen.ports.mailer import Mailer
from ripen.ports.stats import Stats
from ripen.ports.store import Store
from ripen.services.sender import Outcome
from ripen_dev.fakes.bus import MemoryEventBus
from ripen_dev.fakes.clock import ManualClock
from ripen_dev.fakes.event_ids import MemoryEventIds
from ripen_dev.fakes.mailer import OutboxMailer
from ripen_dev.fakes.metrics import MemoryMetrics
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.sending import MemorySesAccount
from ripen_dev.fakes.stats import MemoryStats
from tests.conftest import TEMPLATES
from tests.support.ids import LEAD_ID_KEY, lead_id_for

KEY = "k" * 48
BASE_URL = "https://go.acme.example"
POSTAL_ADDRESS = "Acme Insights Inc., 100 Example Street, Springfield, IL 62701, USA"
ENV = {
    "LEADS_TABLE": "leads",
    "ENROLLMENTS_TABLE": "enrollments",
    "MESSAGES_TABLE": "messages",
    "HISTORY_TABLE": "history",
    "STATS_TABLE": "stats",
    "TEMPLATES_DIR": str(TEMPLATES),
    "TOKEN_SECRET": KEY,
    "LEAD_ID_SECRET": LEAD_ID_KEY,
    "PUBLIC_BASE_URL": BASE_URL,
    "SENDER_COMPANY": "Acme Insights",
    "SENDER_POSTAL_ADDRESS": POSTAL_ADDRESS,
    "SENDER_WEBSITE": "https://acme.example",
    "SES_CONFIGURATION_SET": "ripen-nurture",
    "UNSUBSCRIBE_MAILTO": "unsubscribe@acme.example",
}


@dataclass
class Stack:
    app: App
    store: Store
    queue: MemorySendQueue
    mailer: Any
    metrics: MemoryMetrics
    clock: ManualClock
    bus: MemoryEventBus = field(default_factory=MemoryEventBus)
    stats: Any = None

    @property
    def outbox(self) -> OutboxMailer:
        assert isinstance(self.mailer, OutboxMailer)
        return self.mailer

    def signup(
        self,
        email: str,
        sequence: str = "trial-nurture",
        confirmed: bool = True,
        name: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Lead:
        now = self.clock.now()
        consent = Consent(given_at=now, source="test form", confirmed_at=now if confirmed else None)
        lead = Lead(
            lead_id_for(email), email, now, name=name, timezone="UTC", attributes=attributes or {}, consents=(consent,)
        )
        assert self.store.create_lead(lead)
        outcome = self.app.nurture.enroll(lead, sequence)
        assert outcome.applied, outcome.reason
        stored = self.store.get_lead(lead.lead_id)
        assert stored is not None
        return stored

    def send_queued(self) -> list[Outcome]:
        """The sender works through every queued job, as the SQS trigger would."""
        return [self.app.sender.send(job) for job in self.queue.drain()]

    def message(self, key: str) -> Message:
        message = self.store.get_message(key)
        assert message is not None
        return message

    def sent(self, lead: Lead, step: str, sequence: str = "trial-nurture", run: int = 1) -> Message:
        """The email of `step`, sent: drives the lead's timers (as the sweep will) and the sender
        until it has gone out."""
        key = message_key(lead.lead_id, sequence, run, step)
        for _ in range(60):
            self.send_queued()
            message = self.store.get_message(key)
            if message is not None and message.status is MessageStatus.SENT:
                return message
            self.timer(lead, sequence)
        raise AssertionError(f"{step} was never sent")

    def timer(self, lead: Lead, sequence: str = "trial-nurture") -> bool:
        """Move the clock to the enrollment's next timer and fire it; False when none is pending."""
        record = self.store.get_enrollment(lead.lead_id, sequence)
        if record is None or record.enrollment.terminal or record.enrollment.next_action_at is None:
            return False
        if record.enrollment.next_action_at > self.clock.now():
            self.clock.set(record.enrollment.next_action_at)
        self.app.nurture.apply_record(record, TimerDue(), "timer")
        return True

    def ses(self, event: dict[str, Any]) -> set[str | None]:
        """SES events reach the engagement function (whatever the wiring); returns the failed item ids."""
        _, received = received_events(event)
        return self.app.engagement.process(received)


def make_stack(
    store: Store,
    clock: ManualClock,
    catalog: Catalog,
    mailer: Mailer | None = None,
    env: dict[str, str] | None = None,
    stats: Stats | None = None,
    event_ids: EventIds | None = None,
    sending: Any = None,
    ses_account: Any = None,
) -> Stack:
    queue, metrics, bus = MemorySendQueue(), MemoryMetrics(), MemoryEventBus()
    mailer = mailer or OutboxMailer()
    stats = stats if stats is not None else MemoryStats()
    settings = Settings.from_env({**ENV, **(env or {})})
    app = App(
        settings,
        store=store,
        queue=queue,
        clock=clock,
        catalog=catalog,
        mailer=mailer,
        metrics=metrics,
        bus=bus,
        stats=stats,
        event_ids=event_ids or MemoryEventIds(),
        sending=sending,
        ses_account=ses_account if ses_account is not None else MemorySesAccount(),  # never the real SES
    )
    return Stack(app, store, queue, mailer, metrics, clock, bus, stats)
