"""Settings: one typed model read from the environment variables that template.yaml sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    leads_table: str = Field(alias="LEADS_TABLE")
    enrollments_table: str = Field(alias="ENROLLMENTS_TABLE")
    messages_table: str = Field(alias="MESSAGES_TABLE")
    history_table: str = Field(alias="HISTORY_TABLE")
    stats_table: str = Field(alias="STATS_TABLE")
    due_shards: int = Field(default=8, ge=1, le=64, alias="DUE_SHARDS")
    templates_dir: Path = Field(default=Path("templates"), alias="TEMPLATES_DIR")
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    dynamodb_endpoint: str | None = Field(default=None, alias="DYNAMODB_ENDPOINT")
    history_retention_days: int = Field(default=400, ge=1, alias="HISTORY_RETENTION_DAYS")
    send_queue_url: str | None = Field(default=None, alias="SEND_QUEUE_URL")
    public_base_url: str = Field(default="http://localhost:3000", alias="PUBLIC_BASE_URL")
    # The HMAC key for links: from Secrets Manager in AWS (ARN), or the value itself locally.
    token_secret_arn: str | None = Field(default=None, alias="TOKEN_SECRET_ARN")
    token_secret: str | None = Field(default=None, alias="TOKEN_SECRET", repr=False)
    # At least 30 days: CAN-SPAM asks an unsubscribe link to work that long (they work for ever anyway).
    link_lifetime_days: int = Field(default=60, ge=30, alias="LINK_LIFETIME_DAYS")
    # The key that makes lead ids pseudonyms only the stack can compute: never rotated.
    lead_id_secret_arn: str | None = Field(default=None, alias="LEAD_ID_SECRET_ARN")
    lead_id_secret: str | None = Field(default=None, alias="LEAD_ID_SECRET", repr=False)
    # -- email: sending, footer, compliance --------------------------------------------------------
    ses_configuration_set: str | None = Field(default=None, alias="SES_CONFIGURATION_SET")
    sender_company: str | None = Field(default=None, alias="SENDER_COMPANY")
    sender_postal_address: str | None = Field(default=None, alias="SENDER_POSTAL_ADDRESS")
    sender_website: str | None = Field(default=None, alias="SENDER_WEBSITE")
    unsubscribe_mailto: str | None = Field(default=None, alias="UNSUBSCRIBE_MAILTO")
    utm_source: str = Field(default="ripen", alias="UTM_SOURCE")
    # How long the sender holds back after SES says the account cannot send (paused, suspended, ...).
    sending_stopped_seconds: int = Field(default=900, ge=60, le=43200, alias="SENDING_STOPPED_SECONDS")
    metrics_namespace: str = Field(default="ripen", alias="POWERTOOLS_METRICS_NAMESPACE")
    # The sweep: due items read per query (a page per shard), and the time it keeps in hand at the
    # end of its run (to finish the decisions under way and queue their jobs) before it stops claiming.
    sweep_batch_limit: int = Field(default=100, ge=1, le=1000, alias="SWEEP_BATCH_LIMIT")
    sweep_safety_margin_ms: int = Field(default=10_000, ge=1_000, alias="SWEEP_SAFETY_MARGIN_MS")
    # Lead capture (POST /leads, /confirm).
    default_sequence: str | None = Field(default=None, alias="DEFAULT_SEQUENCE")
    allowed_origins: str = Field(default="", alias="ALLOWED_ORIGINS")  # comma-separated; "*" for any site
    max_body_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576, alias="MAX_BODY_BYTES")
    max_attributes: int = Field(default=20, ge=0, le=100, alias="MAX_ATTRIBUTES")
    max_attribute_length: int = Field(default=500, ge=1, le=4_000, alias="MAX_ATTRIBUTE_LENGTH")
    unconfirmed_lead_days: int = Field(default=30, ge=1, alias="UNCONFIRMED_LEAD_DAYS")
    # Emails signups may cause (issue 14): per source IP, per mailbox, for the account; counted in
    # LIMITS_TABLE (unset: no limits, for local runs only). Over a limit the answer is the same, unsent.
    limits_table: str | None = Field(default=None, alias="LIMITS_TABLE")
    signup_emails_per_ip_minute: int = Field(default=10, ge=1, le=10_000, alias="SIGNUP_EMAILS_PER_IP_MINUTE")
    signup_emails_per_ip_hour: int = Field(default=50, ge=1, le=100_000, alias="SIGNUP_EMAILS_PER_IP_HOUR")
    signup_emails_per_mailbox_day: int = Field(default=3, ge=1, le=100, alias="SIGNUP_EMAILS_PER_MAILBOX_DAY")
    signup_emails_per_mailbox_month: int = Field(default=5, ge=1, le=1000, alias="SIGNUP_EMAILS_PER_MAILBOX_MONTH")
    max_confirmations_per_day: int = Field(default=1000, ge=1, le=10_000_000, alias="MAX_CONFIRMATIONS_PER_DAY")
    # An optional CAPTCHA on POST /leads: `turnstile` or `hcaptcha` (empty: none), its secret key
    # from Secrets Manager (ARN) or, locally, the value itself.
    captcha_provider: str = Field(default="", pattern=r"^(|turnstile|hcaptcha)$", alias="CAPTCHA_PROVIDER")
    captcha_secret_arn: str | None = Field(default=None, alias="CAPTCHA_SECRET_ARN")
    captcha_secret: str | None = Field(default=None, alias="CAPTCHA_SECRET", repr=False)
    # -- engagement: SES events, suppression, the hand-off to sales ---------------------------------
    sales_bus_name: str | None = Field(default=None, alias="SALES_BUS_NAME")
    soft_bounce_limit: int = Field(default=3, ge=1, le=50, alias="SOFT_BOUNCE_LIMIT")
    soft_bounce_window_days: int = Field(default=30, ge=1, le=3650, alias="SOFT_BOUNCE_WINDOW_DAYS")
    machine_open_seconds: int = Field(default=10, ge=0, le=3600, alias="MACHINE_OPEN_SECONDS")
    scanner_click_seconds: int = Field(default=15, ge=0, le=3600, alias="SCANNER_CLICK_SECONDS")
    # -- sending at scale: the SES rate, exactly once ------------------------------------------------
    # The account's SES maximum send rate (emails per second); 0: read it from SES (GetAccount).
    ses_max_send_rate: float = Field(default=0, ge=0, le=100_000, alias="SES_MAX_SEND_RATE")
    # Most senders at once (the SQS event source's maximum concurrency): each keeps to its share.
    sender_concurrency: int = Field(default=5, ge=1, le=1000, alias="SENDER_CONCURRENCY")
    # How long a message whose lease ran out unrecorded waits for SES's Send event before its resend.
    send_event_wait_seconds: int = Field(default=900, ge=60, le=86_400, alias="SEND_EVENT_WAIT_SECONDS")
    # -- product events (Lead Event): the ids applied, so each is applied once -----------------------
    event_ids_table: str | None = Field(default=None, alias="EVENT_IDS_TABLE")
    # -- the sender's reputation: holds, the circuit breaker, the SES quota (issue 18) ----------------
    # The Sending table: holds on sending (`ripen sending pause|resume`) and the breaker's counters.
    sending_table: str | None = Field(default=None, alias="SENDING_TABLE")
    # The breaker trips at these rates (SES reviews an account at 5 % bounces, 0.1 % complaints) once a
    # window holds REPUTATION_MIN_SENDS emails; windows of REPUTATION_WINDOW_HOURS and a short one for bursts.
    reputation_bounce_rate: float = Field(default=0.03, gt=0, lt=1, alias="REPUTATION_BOUNCE_RATE")
    reputation_complaint_rate: float = Field(default=0.0005, gt=0, lt=1, alias="REPUTATION_COMPLAINT_RATE")
    reputation_min_sends: int = Field(default=200, ge=1, le=1_000_000, alias="REPUTATION_MIN_SENDS")
    reputation_window_hours: int = Field(default=24, ge=1, le=168, alias="REPUTATION_WINDOW_HOURS")
    reputation_burst_hours: int = Field(default=1, ge=1, le=24, alias="REPUTATION_BURST_HOURS")
    # 0: a trip holds sending until `ripen sending resume`; else it lifts itself after this many minutes.
    reputation_cooldown_minutes: int = Field(default=0, ge=0, le=10_080, alias="REPUTATION_COOLDOWN_MINUTES")
    # Warming up a new identity: daily allowances ("50,100,200,...", empty: none) from WARMUP_START (a UTC date).
    warmup_schedule: str = Field(default="", pattern=r"^[0-9, ]*$", alias="WARMUP_SCHEDULE")
    warmup_start: date | None = Field(default=None, alias="WARMUP_START")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        names = {field.alias for field in cls.model_fields.values() if field.alias}
        values = {name: env[name] for name in names if env.get(name)}
        if "AWS_REGION" not in values and env.get("AWS_DEFAULT_REGION"):
            values["AWS_REGION"] = env["AWS_DEFAULT_REGION"]
        return cls.model_validate(values)
