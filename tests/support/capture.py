"""Helpers for the lead-capture tests: the api function wired to fakes or to local engines."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ripen.app import App, use
from ripen.config import Settings
from ripen.core.records import Lead
from ripen.ports.queue import SendJob
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.local.http import LambdaContext, http_api_event
from tests.conftest import EVENTS, TEMPLATES
from tests.support.ids import LEAD_ID_KEY, lead_id_for

# The test-only key that signed the tokens in events/apigw/ (see events/apigw/README.md).
EVENTS_KEY = "ripen-events-fixture-key-not-a-secret"
TABLES = {
    "LEADS_TABLE": "test-leads",
    "ENROLLMENTS_TABLE": "test-enrollments",
    "MESSAGES_TABLE": "test-messages",
    "HISTORY_TABLE": "test-history",
    "STATS_TABLE": "test-stats",
}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def next_monday(hour: int, minute: int = 0) -> datetime:
    """A Monday at hour:minute UTC, later than today. Tests on DynamoDB Local start their clocks there:
    DynamoDB Local deletes items whose TTL (`expires_at`) has passed by the real clock, so a test clock
    in the past would see its unconfirmed leads vanish mid-test."""
    today = datetime.now(UTC).date()
    ahead = 7 - today.weekday()  # 1..7 days on
    return datetime.combine(today + timedelta(days=ahead), time(hour, minute), tzinfo=UTC)


def settings(**values: str) -> Settings:
    return Settings.model_validate(
        {
            **TABLES,
            "TEMPLATES_DIR": str(TEMPLATES),
            "TOKEN_SECRET": EVENTS_KEY,
            "LEAD_ID_SECRET": LEAD_ID_KEY,
            "DEFAULT_SEQUENCE": "trial-nurture",
            **values,
        }
    )


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "apigw" / name).read_text(encoding="utf-8"))


@contextmanager
def installed(app: App) -> Iterator[App]:
    """Make `app` the one the handler uses (and rebuild the resolver, whose CORS comes from it)."""
    from ripen.handlers.api import resolver

    resolver.cache_clear()
    use(app)
    try:
        yield app
    finally:
        use(None)
        resolver.cache_clear()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def location(self) -> str | None:
        return self.headers.get("location")


def invoke(raw_event: dict[str, Any]) -> Answer:
    from ripen.handlers.api import handler

    result = handler(raw_event, LambdaContext())
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return Answer(int(result["statusCode"]), headers, body)


def post_json(payload: Any, path: str = "/leads", **headers: str) -> Answer:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return invoke(http_api_event("POST", path, {"content-type": "application/json", **headers}, body))


def post_form(fields: dict[str, str] | list[tuple[str, str]] | bytes, path: str = "/leads", **headers: str) -> Answer:
    body = fields if isinstance(fields, bytes) else urlencode(fields).encode()
    all_headers = {"content-type": "application/x-www-form-urlencoded", "accept": BROWSER, **headers}
    return invoke(http_api_event("POST", path, all_headers, body))


def get(target: str, **headers: str) -> Answer:
    return invoke(http_api_event("GET", target, {"accept": BROWSER, **headers}, b""))


class Leads:
    """Read what a test's store holds about an address (the store is a fake or DynamoDB Local)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def get(self, email: str) -> Lead | None:
        return self.app.store.get_lead(lead_id_for(email))


def queued(queue: MemorySendQueue) -> list[str]:
    return [job.message_key for job in queue.jobs]


def example_page() -> Path:
    return Path(__file__).resolve().parents[2] / "examples" / "landing-page" / "index.html"


# -- the api function on local engines: DynamoDB Local (tables from template.yaml) and moto's SQS --------


@dataclass
class CaptureStack:
    """The api function's parts on local engines, configured from template.yaml as in AWS."""

    app: App
    dynamodb: Any
    sqs: Any
    tables: dict[str, str]

    @property
    def queue_url(self) -> str:
        url = self.app.settings.send_queue_url
        assert url is not None
        return url

    def drain_send_queue(self) -> list[SendJob]:
        """Every job waiting on the send queue (SQS), removed from it: what the sender would get next."""
        jobs: list[SendJob] = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                return jobs
            jobs.extend(SendJob.model_validate_json(m["Body"]) for m in messages)
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def items(self, logical_id: str) -> list[dict[str, Any]]:
        """The raw items of a table, as DynamoDB holds them."""
        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.tables[logical_id], ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]


def capture_stack(
    dynamodb_endpoint: str, moto_endpoint: str, clock: Any, mailer: Any = None, **values: str
) -> CaptureStack:
    import uuid

    import boto3

    from ripen.adapters.queue import SqsSendQueue
    from ripen_dev.local import cfn, resources

    template_path = Path(__file__).resolve().parents[2] / "template.yaml"
    template = cfn.load_template(template_path)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    tables = resources.create_tables(dynamodb, template, prefix, expire_items=False)
    queues = resources.create_queues(sqs, template, prefix)
    env = resources.local_environment(template_path, {**tables, **queues}, function="ApiFunction")
    env.update(
        DYNAMODB_ENDPOINT=dynamodb_endpoint,
        AWS_REGION="us-east-1",
        TEMPLATES_DIR=str(TEMPLATES),
        TOKEN_SECRET=EVENTS_KEY,
        LEAD_ID_SECRET=LEAD_ID_KEY,
        **values,
    )
    configured = Settings.from_env(env)
    assert configured.send_queue_url is not None
    app = App(configured, queue=SqsSendQueue(configured.send_queue_url, client=sqs), clock=clock, mailer=mailer)
    return CaptureStack(app, dynamodb, sqs, tables)
