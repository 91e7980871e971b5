"""The sending path end to end on one store, minute by minute on a moved clock: the sweep, a queue
that redelivers like SQS, the real sender (on a store that can be told to die around one call),
a fake SES counting what it accepted, and SES's Send events arriving on time, late or never."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from ripen.core.records import Lead, Message
from ripen.ports.errors import RetryLaterError
from ripen.ports.queue import SendJob
from ripen.services.sender import Outcome, Sender
from tests.support.fake_ses import Accepted, Crash, FakeSes
from tests.support.mailstack import Stack
from tests.support.ses_events import event_about, sqs_batch

VISIBILITY = timedelta(seconds=180)  # the send queue's visibility timeout (template.yaml)


@dataclass
class CrashAt:
    """Die `before` a store call (it never happens) or `after` it (it happened; the sender never learns)."""

    method: str
    when: Literal["before", "after"] = "after"
    times: int = 1


class CrashingStore:
    """The store, dying around the calls named in `crashes` (each as many times as it says)."""

    def __init__(self, store: Any, *crashes: CrashAt) -> None:
        self._store = store
        self._crashes = list(crashes)

    def _due(self, method: str, when: str) -> bool:
        for crash in self._crashes:
            if crash.method == method and crash.when == when and crash.times > 0:
                crash.times -= 1
                return True
        return False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._due(name, "before"):
                raise Crash(f"the sender died before {name}")
            result = attribute(*args, **kwargs)
            if self._due(name, "after"):
                raise Crash(f"the sender died after {name}")
            return result

        return call


@dataclass
class SendingWorld:
    stack: Stack
    ses: FakeSes
    send_event_after: timedelta | None = timedelta(seconds=10)  # None: SES's Send event never comes
    crashes: tuple[CrashAt, ...] = ()
    lose_acks: int = 0  # the next jobs handled are not deleted from the queue (a crash after the work)
    jobs: list[tuple[datetime, SendJob]] = field(default_factory=list)  # visible at, job
    outcomes: list[Outcome] = field(default_factory=list)
    crashed: int = 0
    published: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        app = self.stack.app
        store = CrashingStore(self.stack.store, *self.crashes) if self.crashes else self.stack.store
        self.sender = Sender(store, app.catalog, app.composer, self.ses, self.stack.clock, self.stack.metrics)

    @property
    def clock(self) -> Any:
        return self.stack.clock

    def minute(self) -> None:
        """One minute: the sweep runs, visible jobs are sent, SES's events arrive, time moves on."""
        now = self.clock.now()
        self.stack.app.sweep.run()
        self.jobs += [(now, job) for job in self.stack.queue.drain()]
        visible = [job for at, job in self.jobs if at <= now]
        self.jobs = [(at, job) for at, job in self.jobs if at > now]
        for job in visible:
            self.handle(job)
        self.publish_send_events()
        self.clock.advance(minutes=1)

    def handle(self, job: SendJob) -> None:
        now = self.clock.now()
        try:
            self.outcomes.append(self.sender.send(job))
        except Crash:
            self.crashed += 1
            self.jobs.append((now + VISIBILITY, job))  # SQS delivers it again after the visibility timeout
            return
        except RetryLaterError as exc:
            self.jobs.append((now + exc.delay, job))
            return
        if self.lose_acks:
            self.lose_acks -= 1
            self.jobs.append((now + VISIBILITY, job))

    def publish_send_events(self) -> None:
        if self.send_event_after is None:
            return
        for accepted in self.ses.accepted:
            if accepted.ses_id in self.published or self.clock.now() < accepted.at + self.send_event_after:
                continue
            self.published.add(accepted.ses_id)
            self.stack.ses(sqs_batch(self.send_event(accepted)))

    def send_event(self, accepted: Accepted) -> dict[str, Any]:
        message = self.stack.store.get_message(accepted.key)
        assert message is not None
        return event_about(message, "send", ses_message_id=accepted.ses_id, sent_at=accepted.at, at=accepted.at)

    def run(self, minutes: int) -> None:
        for _ in range(minutes):
            self.minute()

    def message(self, key: str) -> Message:
        message = self.stack.store.get_message(key)
        assert message is not None
        return message

    def lead(self, lead: Lead) -> Lead:
        stored = self.stack.store.get_lead(lead.lead_id)
        assert stored is not None
        return stored
