"""Wiring: the parts a handler needs, built once per container on first use (never at import).
Each part imports its modules when it is built: a function loads only what it uses (the sweep no
email rendering, the engagement function no rendering either), and importing a handler loads none
of it (tests/unit/test_cold_start.py).

Tests and `ripen dev` install their own parts with `use(App(...))`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # these parts are imported when first used, not by every function at start
    from ripen.adapters.queue import SqsSendQueue
    from ripen.config import Settings
    from ripen.core.links import Links
    from ripen.core.tokens import KeyRing
    from ripen.core.validator import Catalog
    from ripen.mail.compose import Composer
    from ripen.mail.render import Renderer
    from ripen.ports.bus import EventBus
    from ripen.ports.captcha import CaptchaVerifier
    from ripen.ports.clock import Clock
    from ripen.ports.event_ids import EventIds
    from ripen.ports.limits import Limiter
    from ripen.ports.mailer import Mailer
    from ripen.ports.metrics import Metrics
    from ripen.ports.queue import JobRedelivery, SendQueue
    from ripen.ports.sending import SendingControl, SesAccount
    from ripen.ports.stats import Stats
    from ripen.ports.store import Store
    from ripen.services.account_check import AccountCheck
    from ripen.services.engagement import Engagement
    from ripen.services.handoffs import HandOffs
    from ripen.services.limits import SignupLimits
    from ripen.services.nurture import Nurture
    from ripen.services.pacing import Pacer
    from ripen.services.preferences import Preferences
    from ripen.services.product_events import ProductEvents
    from ripen.services.replies import Replies
    from ripen.services.reputation import Breaker, SendingGate
    from ripen.services.sender import Sender
    from ripen.services.signup import Signup
    from ripen.services.sweep import Sweep


class App:
    """The composition root: every part the functions use, built from the settings on first use.

    A part given to the constructor is used as it is (tests, `ripen dev`); the others are built
    from the environment the first time a handler asks for them.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        queue: SendQueue | None = None,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
        mailer: Mailer | None = None,
        metrics: Metrics | None = None,
        bus: EventBus | None = None,
        stats: Stats | None = None,
        limiter: Limiter | None = None,
        captcha: CaptchaVerifier | None = None,
        event_ids: EventIds | None = None,
        sending: SendingControl | None = None,
        ses_account: SesAccount | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._queue = queue
        self._clock = clock
        self._catalog = catalog
        self._mailer = mailer
        self._metrics = metrics
        self._bus = bus
        self._stats = stats
        self._limiter = limiter
        self._captcha = captcha
        self._event_ids = event_ids
        self._sending = sending
        self._ses_account = ses_account

    @property
    def hands_off_at_once(self) -> bool:
        """Hand-offs go on the sales bus right after the commit when there is a bus; otherwise they
        wait in the outbox for `HandOffs.publish_pending_handoffs`."""
        return self._bus is not None or bool(self.settings.sales_bus_name)

    @cached_property
    def settings(self) -> Settings:
        from ripen.config import Settings

        return self._settings or Settings.from_env()

    @cached_property
    def clock(self) -> Clock:
        from ripen.ports.clock import SystemClock

        return self._clock or SystemClock()

    @cached_property
    def store(self) -> Store:
        if self._store is not None:
            return self._store
        from ripen.adapters.dynamodb import DynamoStore  # pynamodb/botocore only when needed

        return DynamoStore(self.settings)

    @cached_property
    def catalog(self) -> Catalog:
        if self._catalog is not None:
            return self._catalog
        from ripen.adapters.templates import load_catalog
        from ripen.core.validator import SequenceError

        catalog = load_catalog(self.settings.templates_dir)
        if catalog.problems:
            raise SequenceError(catalog.problems)  # CI lint stops this before deploy
        return catalog

    @cached_property
    def send_queue(self) -> SendQueue:
        if self._queue is not None:
            return self._queue
        return self._sqs_send_queue()

    @cached_property
    def token_key(self) -> KeyRing:
        """The link-signing key ring: signs with its current key, verifies with any it still holds."""
        from ripen.adapters.secrets import token_key

        return token_key(self.settings)

    @cached_property
    def lead_id_key(self) -> bytes:
        """The key lead ids are computed with: every part that names a lead by its address uses it."""
        from ripen.adapters.secrets import lead_id_key

        return lead_id_key(self.settings)

    @cached_property
    def link_lifetime(self) -> timedelta:
        """How long a signed link stays valid (pages re-issue tokens without building whole links)."""
        return timedelta(days=self.settings.link_lifetime_days)

    @cached_property
    def links(self) -> Links:
        from ripen.core.links import Links

        return Links(self.settings.public_base_url, self.token_key, self.link_lifetime)

    @cached_property
    def nurture(self) -> Nurture:
        from ripen.services.nurture import Nurture

        handoffs = self.handoffs if self.hands_off_at_once else None
        return Nurture(self.store, self.catalog, self.send_queue, self.clock, handoffs)

    # -- email: rendering, sending, preferences ---------------------------------------------------

    @cached_property
    def renderer(self) -> Renderer:
        from ripen.mail.render import Renderer

        s = self.settings
        return Renderer(s.templates_dir, own_url=s.public_base_url, utm_source=s.utm_source)

    @cached_property
    def composer(self) -> Composer:
        from ripen.mail.compose import Composer
        from ripen.mail.render import SenderDetails

        s = self.settings
        if not (s.sender_company and s.sender_postal_address):
            raise RuntimeError("SENDER_COMPANY and SENDER_POSTAL_ADDRESS must be set: every email shows them")
        sender = SenderDetails(s.sender_company, s.sender_postal_address, s.sender_website or "")
        return Composer(
            self.renderer,
            self.links,
            sender,
            configuration_set=s.ses_configuration_set,
            unsubscribe_mailto=s.unsubscribe_mailto,
        )

    @cached_property
    def mailer(self) -> Mailer:
        if self._mailer is not None:
            return self._mailer
        from ripen.adapters.mailer import SesMailer

        return SesMailer(self.settings.region)

    @property
    def metrics(self) -> Metrics:
        if self._metrics is None:
            from ripen.adapters.metrics import PowertoolsMetrics

            self._metrics = PowertoolsMetrics(self.settings.metrics_namespace)
        return self._metrics

    def flush_metrics(self) -> None:
        """Publish what this invocation counted; nothing to do when nothing was ever counted."""
        if self._metrics is not None:
            self._metrics.flush()

    @cached_property
    def redelivery(self) -> JobRedelivery:
        from ripen.ports.queue import JobRedelivery

        queue = self.send_queue
        if isinstance(queue, JobRedelivery):  # SQS and the in-memory queue both defer a received job
            return queue
        return self._sqs_send_queue()

    def _sqs_send_queue(self) -> SqsSendQueue:
        if not self.settings.send_queue_url:
            raise RuntimeError("SEND_QUEUE_URL is not set")
        from ripen.adapters.queue import SqsSendQueue

        return SqsSendQueue(self.settings.send_queue_url)

    @cached_property
    def pacer(self) -> Pacer | None:
        """This container's share of the SES sending rate (SES_MAX_SEND_RATE, else what SES says
        the account may send, read once per container); None for a mailer with no rate (tests)."""
        from ripen.services.pacing import Pacer, account_rate, share_of

        s = self.settings
        read = getattr(self.mailer, "max_send_rate", None)
        if not s.ses_max_send_rate and read is None:
            return None
        rate = account_rate(s.ses_max_send_rate, read or (lambda: None))
        return Pacer(share_of(rate, s.sender_concurrency), self.clock)

    @cached_property
    def sender(self) -> Sender:
        from ripen.services.sender import Sender

        s = self.settings
        return Sender(
            self.store,
            self.catalog,
            self.composer,
            self.mailer,
            self.clock,
            self.metrics,
            self.redelivery,
            stop_for=timedelta(seconds=s.sending_stopped_seconds),
            pacer=self.pacer,
            send_event_wait=timedelta(seconds=s.send_event_wait_seconds),
            gate=self.sending_gate,
        )

    @cached_property
    def preferences(self) -> Preferences:
        from ripen.services.preferences import Preferences

        return Preferences(self.store, self.nurture, self.clock, self.stats)

    # -- engagement: SES events, stats, the hand-off to sales -----------------------------------

    @cached_property
    def stats(self) -> Stats:
        if self._stats is not None:
            return self._stats
        from ripen.adapters.stats import DynamoStats

        s = self.settings
        return DynamoStats(s.stats_table, s.region, s.dynamodb_endpoint)

    @cached_property
    def sales_bus(self) -> EventBus:
        if self._bus is not None:
            return self._bus
        from ripen.adapters.bus import EventBridgeBus

        if not self.settings.sales_bus_name:
            raise RuntimeError("SALES_BUS_NAME is not set")
        return EventBridgeBus(self.settings.sales_bus_name, self.settings.region)

    @cached_property
    def handoffs(self) -> HandOffs:
        from ripen.services.handoffs import HandOffs

        return HandOffs(self.store, self.sales_bus, self.clock, self.metrics)

    @cached_property
    def engagement(self) -> Engagement:
        from ripen.core.engagement import Rules, SoftBounceRule
        from ripen.services.engagement import Engagement

        s = self.settings
        rules = Rules(
            open_after=timedelta(seconds=s.machine_open_seconds), click_after=timedelta(seconds=s.scanner_click_seconds)
        )
        soft = SoftBounceRule(s.soft_bounce_limit, timedelta(days=s.soft_bounce_window_days))
        return Engagement(
            self.store, self.nurture, self.stats, self.metrics, self.clock, rules, soft, lead_id_key=self.lead_id_key
        )

    @cached_property
    def sweep(self) -> Sweep:
        from ripen.services.sweep import Sweep

        s = self.settings
        return Sweep(
            self.store,
            self.catalog,
            self.send_queue,
            self.clock,
            page_size=s.sweep_batch_limit,
            safety_margin_ms=s.sweep_safety_margin_ms,
            handoffs=self.handoffs if self.hands_off_at_once else None,
            send_event_wait=timedelta(seconds=s.send_event_wait_seconds),
        )

    @cached_property
    def signup(self) -> Signup:
        from ripen.services.signup import Signup

        s = self.settings
        return Signup(
            self.store,
            self.nurture,
            self.clock,
            default_sequence=s.default_sequence,
            unconfirmed_lead_ttl=timedelta(days=s.unconfirmed_lead_days),
            max_attributes=s.max_attributes,
            lead_id_key=self.lead_id_key,
        )

    # -- abuse: limits on the emails signups cause, the optional CAPTCHA ---------------------------

    @cached_property
    def signup_limits(self) -> SignupLimits | None:
        """None when there is nowhere to count (no LIMITS_TABLE and no limiter given: local runs)."""
        from ripen.services.limits import LimitPolicy, SignupLimits

        s = self.settings
        limiter = self._limiter
        if limiter is None and s.limits_table:
            from ripen.adapters.limits import DynamoLimiter

            limiter = DynamoLimiter(s.limits_table, s.region, s.dynamodb_endpoint)
        if limiter is None:
            return None
        policy = LimitPolicy(
            per_ip_minute=s.signup_emails_per_ip_minute,
            per_ip_hour=s.signup_emails_per_ip_hour,
            per_mailbox_day=s.signup_emails_per_mailbox_day,
            per_mailbox_30_days=s.signup_emails_per_mailbox_month,
            per_account_day=s.max_confirmations_per_day,
        )
        # Its own key, derived from the lead-id secret (never rotated, unlike the link key ring): the
        # counters' keys are keyed hashes, never an address or an IP in clear.
        key = hmac.new(self.lead_id_key, b"ripen signup limits", hashlib.sha256).digest()
        return SignupLimits(limiter, key, policy, self.clock, self.metrics)

    @cached_property
    def captcha(self) -> CaptchaVerifier | None:
        if self._captcha is not None:
            return self._captcha
        s = self.settings
        if not s.captcha_provider:
            return None
        from ripen.adapters.captcha import SiteVerifyCaptcha, captcha_secret

        return SiteVerifyCaptcha(s.captcha_provider, captcha_secret(s))

    # -- product events (Lead Event): goals, waits, triggers, scores, attributes -------------------

    @cached_property
    def event_ids(self) -> EventIds:
        if self._event_ids is not None:
            return self._event_ids
        from ripen.adapters.event_ids import DynamoEventIds

        s = self.settings
        if not s.event_ids_table:
            raise RuntimeError("EVENT_IDS_TABLE is not set")
        return DynamoEventIds(s.event_ids_table, s.region, s.dynamodb_endpoint)

    @cached_property
    def product_events(self) -> ProductEvents:
        from ripen.services.product_events import ProductEvents

        return ProductEvents(
            self.store,
            self.nurture,
            self.catalog,
            self.event_ids,
            self.stats,
            self.metrics,
            self.clock,
            lead_id_key=self.lead_id_key,
            max_attributes=self.settings.max_attributes,
        )

    @cached_property
    def replies(self) -> Replies:
        from ripen.services.replies import Replies

        return Replies(self.store, self.product_events, self.metrics)

    # -- the sender's reputation: holds, the daily quota, the circuit breaker (issue 18) -----------

    @cached_property
    def sending_control(self) -> SendingControl | None:
        """The Sending table (holds, reputation counters); None when there is none (local runs)."""
        if self._sending is not None:
            return self._sending
        s = self.settings
        if not s.sending_table:
            return None
        from ripen.adapters.sending import DynamoSendingControl

        return DynamoSendingControl(s.sending_table, s.region, s.dynamodb_endpoint)

    @cached_property
    def ses_account(self) -> SesAccount:
        if self._ses_account is not None:
            return self._ses_account
        from ripen.adapters.sending import SesAccountClient

        return SesAccountClient(self.settings.region)

    @cached_property
    def account_check(self) -> AccountCheck:
        """The sweep's look at the SES account (sandbox, sending switched off), once per container."""
        from ripen.services.account_check import AccountCheck

        return AccountCheck(self.ses_account, self.clock)

    @cached_property
    def sending_gate(self) -> SendingGate | None:
        """What the sender asks before each email (holds, the daily quota); None without a Sending table."""
        from ripen.services.reputation import SendingGate

        control = self.sending_control
        if control is None:
            return None
        from ripen.core.warmup import Ramp, parse_schedule

        s = self.settings
        allowances = parse_schedule(s.warmup_schedule)
        if allowances and s.warmup_start is None:
            raise RuntimeError("WARMUP_START (the ramp's first day, YYYY-MM-DD) must be set with WARMUP_SCHEDULE")
        ramp = Ramp(s.warmup_start, allowances) if allowances and s.warmup_start else None
        return SendingGate(control, self.clock, self.ses_account, s.ses_configuration_set, ramp=ramp)

    @cached_property
    def breaker(self) -> Breaker | None:
        """Counts each engagement batch and holds sending when the rates cross the line."""
        from ripen.core.reputation import Thresholds
        from ripen.services.reputation import Breaker

        control = self.sending_control
        if control is None:
            return None
        s = self.settings
        limits = Thresholds(
            bounce_rate=s.reputation_bounce_rate,
            complaint_rate=s.reputation_complaint_rate,
            min_sends=s.reputation_min_sends,
            window=timedelta(hours=s.reputation_window_hours),
            burst=timedelta(hours=s.reputation_burst_hours),
        )
        cooldown = timedelta(minutes=s.reputation_cooldown_minutes) if s.reputation_cooldown_minutes else None
        return Breaker(control, self.clock, self.metrics, limits, self.ses_account, s.ses_configuration_set, cooldown)


_app: App | None = None


def app() -> App:
    global _app
    if _app is None:
        _app = App()
    return _app


def use(instance: App | None) -> None:
    """Install the parts to use (tests, dev stack); None goes back to building from the environment."""
    global _app
    _app = instance
