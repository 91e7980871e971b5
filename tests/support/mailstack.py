"""A working ripen for email tests: store, queue, outbox, metrics and clock wired like in AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ripen.adapters.mailer import Mailer, OutboxMailer
from ripen.adapters.metrics import MemoryMetrics
from ripen.adapters.queue import MemorySendQueue
from ripen.adapters.store import Store
from ripen.app import App
from ripen.clock import ManualClock
from ripen.config import Settings
from ripen.core.leads import lead_id_for
from ripen.core.records import Consent, Lead, Message
from ripen.core.validator import Catalog
from ripen.services.sender import Outcome
from tests.conftest import TEMPLATES

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
            lead_id_for(email), email, now, name=name, timezone="UTC", attributes=attributes or {}, consent=consent
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


def make_stack(
    store: Store,
    clock: ManualClock,
    catalog: Catalog,
    mailer: Mailer | None = None,
    env: dict[str, str] | None = None,
) -> Stack:
    queue, metrics = MemorySendQueue(), MemoryMetrics()
    mailer = mailer or OutboxMailer()
    settings = Settings.from_env({**ENV, **(env or {})})
    app = App(settings, store=store, queue=queue, clock=clock, catalog=catalog, mailer=mailer, metrics=metrics)
    return Stack(app, store, queue, mailer, metrics, clock)
