"""A fake SES that counts every email it accepts by message key (the `message` tag), and can be
told what its next answers are: throttle, die after accepting, lose its answer. Optionally it
enforces a maximum send rate like SES (a token bucket of one second's sends), answering 429 above it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ripen.core import tags
from ripen.ports.clock import Clock
from ripen.ports.mailer import OutgoingEmail, SendUncertainError, SentEmail, ThrottledError

Answer = Literal["accept", "throttle", "crash", "lose answer"]


class Crash(Exception):  # noqa: N818 - it is what happens, not an error a caller handles
    """The sender's process dies here: nothing after this point of its code runs."""


@dataclass(frozen=True)
class Accepted:
    ses_id: str
    key: str  # the message key, from the `message` tag
    at: datetime
    to: str


class FakeSes:
    def __init__(self, clock: Clock, rate: float | None = None) -> None:
        self.clock = clock
        self.rate = rate
        self.accepted: list[Accepted] = []
        self.throttled = 0
        self.answers: list[Answer] = []  # the next answers, in order; then "accept"
        self.while_sending: Callable[[OutgoingEmail], None] | None = None  # runs inside the call
        self._tokens = rate or 0.0
        self._at: datetime | None = None
        self._lock = threading.Lock()

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def send(self, email: OutgoingEmail) -> SentEmail:
        if self.while_sending is not None:
            self.while_sending(email)
        with self._lock:
            answer = self.answers.pop(0) if self.answers else "accept"
            if answer == "throttle" or not self._within_rate():
                self.throttled += 1
                raise ThrottledError("TooManyRequestsException", "Maximum sending rate exceeded.")
            key = tags.message_key_from_tag(email.tags[tags.MESSAGE])
            accepted = Accepted(f"0100019{len(self.accepted):09d}-fake-ses", key, self.clock.now(), email.to)
            self.accepted.append(accepted)
        if answer == "crash":
            raise Crash("the sender died right after SES accepted the email")
        if answer == "lose answer":
            raise SendUncertainError("ReadTimeoutError", 'Read timeout on endpoint URL: "https://email.example"')
        return SentEmail(accepted.ses_id)

    def _within_rate(self) -> bool:
        if self.rate is None:
            return True
        now = self.clock.now()
        if self._at is not None:
            self._tokens = min(self.rate, self._tokens + (now - self._at).total_seconds() * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def per_key(self) -> Counter[str]:
        return Counter(a.key for a in self.accepted)

    def count(self, key: str) -> int:
        return self.per_key()[key]
