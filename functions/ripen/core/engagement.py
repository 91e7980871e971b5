"""What an SES event says about a lead, decided without I/O: which message it names, whether a
person or a machine opened or clicked, when soft bounces add up to a suppression, and where its
numbers are counted.

**Machine opens** (weighted `scoring.machine_open`, never satisfy a `wait_for: {open: ...}`):
- Apple Mail Privacy Protection: Apple's proxies fetch every image of every email when it reaches
  the device, with the bare user agent `Mozilla/5.0`, from Apple's network (17.0.0.0/8);
- any open within `open_after` (10 s) of the delivery (of the send when the delivery is not known
  yet): proxies and gateways fetch on arrival, people are rarely that quick;
- user agents of crawlers and scanners (see `SCANNER_AGENT`).
Gmail's and Yahoo's image proxies fetch when the person opens the email: those count as people.

**Scanner clicks** (score nothing, never branch): security gateways (Microsoft Defender Safe
Links, Mimecast, Proofpoint, Barracuda, ...) follow every link of an email as it arrives:
- a click within `click_after` (15 s) of the delivery (or the send);
- a click less than `burst` (2 s) away from a click on another link of the same email;
- scanner, crawler and HTTP-library user agents, and the bare `Mozilla/5.0`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from ripen.core.records import Lead, LeadStatus
from ripen.core.tags import MESSAGE, message_key_from_tag

# Apple's own network: where Mail Privacy Protection's image proxies fetch from.
PRIVACY_PROXY_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = (ip_network("17.0.0.0/8"),)
BARE_AGENT = "Mozilla/5.0"
SCANNER_AGENT = re.compile(
    r"bot\b|crawler|spider|scanner|preview|python-requests|python-urllib|aiohttp|curl/|wget|go-http-client"
    r"|java/|okhttp|libwww|headlesschrome|phantomjs|barracuda|mimecast|proofpoint|symantec|trendmicro"
    r"|forcepoint|fortiguard|sophos|safelinks|linkscanner|appengine-google",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message named by its key `<lead_id>#<sequence>#<run>#<step>` (from the `message` tag)."""

    key: str
    lead_id: str
    sequence: str
    run: int
    step: str

    @classmethod
    def parse(cls, key: str) -> MessageRef | None:
        parts = key.split("#")
        if len(parts) != 4 or not all(parts) or not parts[2].isdigit():
            return None
        return cls(key, parts[0], parts[1], int(parts[2]), parts[3])


def ref_from_tags(tags: dict[str, list[str]]) -> MessageRef | None:
    """The message the `message` tag names, if it is there and well formed."""
    values = tags.get(MESSAGE) or []
    return MessageRef.parse(message_key_from_tag(values[0])) if values else None


@dataclass(frozen=True, slots=True)
class Rules:
    open_after: timedelta = timedelta(seconds=10)
    click_after: timedelta = timedelta(seconds=15)
    burst: timedelta = timedelta(seconds=2)
    proxy_networks: tuple[IPv4Network | IPv6Network, ...] = PRIVACY_PROXY_NETWORKS


def _from_proxy(ip: str | None, networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    if not ip:
        return False
    try:
        address = ip_address(ip.strip())
    except ValueError:
        return False
    return any(address.version == n.version and address in n for n in networks)


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.0f} s"


def machine_open(
    at: datetime, user_agent: str | None, ip: str | None, arrived_at: datetime, rules: Rules = Rules()
) -> str | None:
    """Why this open was a machine's (privacy proxy, gateway, crawler), or None for a person.
    `arrived_at`: the delivery time, or the send time when the delivery is not known."""
    agent = (user_agent or "").strip()
    if agent == BARE_AGENT and _from_proxy(ip, rules.proxy_networks):
        return "Apple Mail Privacy Protection proxy"
    if agent == BARE_AGENT:
        return "bare 'Mozilla/5.0' user agent (a privacy proxy)"
    if SCANNER_AGENT.search(agent):
        return "crawler or scanner user agent"
    after = at - arrived_at
    if after < rules.open_after:
        return f"opened {_seconds(after)} after arrival"
    return None


def scanner_click(
    at: datetime,
    link: str | None,
    user_agent: str | None,
    arrived_at: datetime,
    other_clicks: Iterable[tuple[datetime, str | None]] = (),
    rules: Rules = Rules(),
) -> str | None:
    """Why this click was a security scanner's, or None for a person. `other_clicks`: the other
    clicks known on the same email (time, link name)."""
    agent = (user_agent or "").strip()
    if not agent or agent == BARE_AGENT or SCANNER_AGENT.search(agent):
        return "scanner or HTTP-library user agent"
    after = at - arrived_at
    if after < rules.click_after:
        return f"clicked {_seconds(after)} after arrival"
    for other_at, other_link in other_clicks:
        if other_link != link and abs(other_at - at) < rules.burst:
            return "another link of the same email clicked within a moment"
    return None


# -- suppression ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoftBounceRule:
    """`limit` soft bounces in a row, none more than `window` after the one before and no email
    delivered in between, suppress a lead. A soft bounce is reported once SES has stopped retrying
    (a mailbox full for days, a domain that does not answer); a delivery delay is not one: SES is
    still trying then."""

    limit: int = 3
    window: timedelta = timedelta(days=30)

    def continues(self, lead: Lead, at: datetime) -> bool:
        """Whether a soft bounce at `at` may add to the lead's run (unless an email was delivered
        since the previous one): the run is there and recent, and this bounce is newer."""
        previous = lead.soft_bounced_at
        return previous is not None and previous < at and at - previous <= self.window


def after_soft_bounce(lead: Lead, at: datetime, rule: SoftBounceRule, delivered_since: bool = False) -> Lead:
    """The lead after a soft bounce at `at`: the run counted on, or restarted when the previous
    bounce is older than the window or an email reached the lead since it (`delivered_since`: the
    mailbox works); suppressed when the run reaches the limit."""
    previous = lead.soft_bounced_at
    if previous is not None and at <= previous:
        return lead  # older than one already counted: late news changes nothing
    continues = rule.continues(lead, at) and not delivered_since
    count = lead.soft_bounces + 1 if continues else 1
    changed = replace(lead, soft_bounces=count, soft_bounced_at=at)
    if count >= rule.limit and lead.status is not LeadStatus.SUPPRESSED:
        changed = replace(
            changed, status=LeadStatus.SUPPRESSED, status_reason=f"{count} soft bounces in a row", expires_at=None
        )
    return changed


def suppressed(lead: Lead, reason: str) -> Lead | None:
    """The lead suppressed for `reason`, or None when it already is (suppression never lifts)."""
    if lead.status is LeadStatus.SUPPRESSED:
        return None
    # The suppression lives on the lead, so the lead outlives any time to live it had (unconfirmed).
    return replace(lead, status=LeadStatus.SUPPRESSED, status_reason=reason, expires_at=None)


def unsubscribed(lead: Lead, reason: str, at: datetime) -> Lead | None:
    """The lead unsubscribed from everything at `at`, or None when it already is (or is suppressed)."""
    if lead.status is not LeadStatus.ACTIVE:
        return None
    # Kept until a fresh signup is confirmed: the lead outlives any time to live it had.
    return replace(lead, status=LeadStatus.UNSUBSCRIBED, status_reason=reason, expires_at=None, unsubscribed_at=at)


# -- stats ------------------------------------------------------------------------------------------

SENT = "sent"
DELIVERED = "delivered"
DELAYED = "delayed"
OPENED = "opened"  # emails opened by a person (each email once)
OPENS = "opens"  # opens by people, all of them
MACHINE_OPENS = "machine_opens"
CLICKED = "clicked"  # emails clicked by a person (each email once)
CLICKS = "clicks"
SCANNER_CLICKS = "scanner_clicks"
BOUNCED = "bounced"  # hard bounces
SOFT_BOUNCED = "soft_bounced"
COMPLAINED = "complained"
UNSUBSCRIBED = "unsubscribed"
SALES_READY = "sales_ready"
REJECTED = "rejected"
RENDERING_FAILED = "rendering_failed"
LINK_PREFIX = "link:"  # clicks by people per link name: `link:pricing`


@dataclass(frozen=True, slots=True, order=True)
class Bucket:
    """Where a message's numbers are counted: its sequence, version, step and the UTC day it was
    sent (a cohort: everything that happens to Monday's emails counts on Monday)."""

    sequence: str
    version: int
    step: str
    day: str  # YYYY-MM-DD

    @classmethod
    def of(cls, sequence: str, version: int, step: str, sent_at: datetime) -> Bucket:
        return cls(sequence, version, step, sent_at.date().isoformat())

    @property
    def key(self) -> str:
        """The Stats table's sort key: `v<version>#<step>#<YYYY-MM-DD>`."""
        return f"v{self.version}#{self.step}#{self.day}"

    @classmethod
    def parse(cls, sequence: str, key: str) -> Bucket | None:
        match = re.fullmatch(r"v(\d+)#([^#]+)#(\d{4}-\d{2}-\d{2})", key)
        return cls(sequence, int(match.group(1)), match.group(2), match.group(3)) if match else None


@dataclass
class Tally:
    """Counters gathered over one batch of events, written once at its end (one atomic ADD per bucket)."""

    counts: dict[Bucket, dict[str, int]] = field(default_factory=dict)

    def add(self, bucket: Bucket, *names: str) -> None:
        counters = self.counts.setdefault(bucket, {})
        for name in names:
            counters[name] = counters.get(name, 0) + 1

    def __bool__(self) -> bool:
        return bool(self.counts)
