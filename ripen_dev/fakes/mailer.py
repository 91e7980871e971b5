"""A mailer that keeps every email instead of sending it."""

from __future__ import annotations

import threading
import uuid

from ripen.ports.mailer import MailerError, OutgoingEmail, SentEmail, raw_message


class OutboxMailer:
    """Keeps every email instead of sending it. `fail_with(error)` makes the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[SentEmail, OutgoingEmail]] = []
        self.attempts = 0
        self._failures: list[MailerError] = []
        self._lock = threading.Lock()

    def fail_with(self, *errors: MailerError) -> None:
        with self._lock:
            self._failures.extend(errors)

    def send(self, email: OutgoingEmail) -> SentEmail:
        with self._lock:
            self.attempts += 1
            if self._failures:
                raise self._failures.pop(0)
            raw_message(email)  # what SES would refuse, the outbox refuses too
            sent = SentEmail(f"outbox-{uuid.uuid4().hex}")
            self.sent.append((sent, email))
            return sent

    @property
    def emails(self) -> list[OutgoingEmail]:
        return [email for _, email in self.sent]

    def to(self, address: str) -> list[OutgoingEmail]:
        return [email for email in self.emails if email.to == address]
