"""How many emails the public signup form may cause: per source IP, per mailbox, and for the whole
account in a day. Over any limit the signup is answered as usual and nothing is sent or kept to send:
the form cannot be turned into a way to bomb someone's inbox with confirmations.

Only signups that would cause an email are counted (the signup service asks, at the moment it would
store that email). The counters' keys are keyed hashes of the IP and of the canonical mailbox: the
Limits table never holds an address or an IP.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from aws_lambda_powertools import Logger

from ripen.core.mailbox import canonical_mailbox
from ripen.ports.clock import Clock
from ripen.ports.limits import Limiter
from ripen.ports.metrics import Metrics

logger = Logger(child=True)

SIGNUPS_HELD_BACK = "SignupsHeldBack"  # a signup's email not sent: its IP or mailbox is over a limit
CEILING_REACHED = "ConfirmationCeilingReached"  # ... the account's daily ceiling is reached (an alarm)
ACCOUNT_KEY = "account#signup-emails"
MINUTE, HOUR, DAY, MONTH = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=30)


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """Emails signups may cause (settings SIGNUP_EMAILS_PER_IP_MINUTE, ...)."""

    per_ip_minute: int = 10
    per_ip_hour: int = 50
    per_mailbox_day: int = 3
    per_mailbox_30_days: int = 5
    per_account_day: int = 1000


class SignupLimits:
    def __init__(self, limiter: Limiter, key: bytes, policy: LimitPolicy, clock: Clock, metrics: Metrics) -> None:
        self.limiter = limiter
        self.key = key
        self.policy = policy
        self.clock = clock
        self.metrics = metrics

    def admission(self, source_ip: str | None, address: str) -> Admission:
        """The question the signup service asks once it knows this signup would cause an email."""
        return Admission(self, source_ip, address)

    def hashed(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def mailbox_key(self, address: str) -> str:
        return "mailbox#" + self.hashed("mailbox", canonical_mailbox(address))

    def admit(self, source_ip: str | None, address: str) -> bool:
        p, now, take = self.policy, self.clock.now(), self.limiter.take
        checks = []
        if source_ip:
            ip = "ip#" + self.hashed("ip", client_of(source_ip))
            checks += [(ip, p.per_ip_minute, MINUTE), (ip, p.per_ip_hour, HOUR)]
        mailbox = self.mailbox_key(address)
        checks += [(mailbox, p.per_mailbox_day, DAY), (mailbox, p.per_mailbox_30_days, MONTH)]
        for key, limit, window in checks:  # in order: a refused IP spends none of the mailbox's budget
            if not take(key, limit, window, now):
                logger.info("signup email held back", extra={"limit": key.split("#", 1)[0], "window": str(window)})
                self.metrics.count(SIGNUPS_HELD_BACK)
                return False
        if not take(ACCOUNT_KEY, p.per_account_day, DAY, now):
            logger.warning("signup email held back: the account's daily ceiling is reached")
            self.metrics.count(CEILING_REACHED)
            return False
        return True


class Admission:
    """May this signup send its email? Asked at most once (the answer is kept: a retried write must
    not count twice)."""

    def __init__(self, limits: SignupLimits, source_ip: str | None, address: str) -> None:
        self._limits = limits
        self._source_ip = source_ip
        self._address = address
        self._answer: bool | None = None

    def __call__(self) -> bool:
        if self._answer is None:
            self._answer = self._limits.admit(self._source_ip, self._address)
        return self._answer


def client_of(source_ip: str) -> str:
    """What counts as one client: an IPv4 address, or an IPv6 /64 (one subscriber's whole network:
    a client can pick any address in it)."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
