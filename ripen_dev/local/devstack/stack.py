"""The dev stack: engines, resources from template.yaml, the functions wired as in AWS, the outbox.

    with DevStack(DevOptions(port=3000)) as stack:   # `ripen dev`
        print(stack.url, stack.outbox_url)

What runs where:
- DynamoDB Local (in memory, or on disk under `--persist`), moto in server mode (SES v2, SQS,
  EventBridge); every table, queue, bus, rule and configuration set of template.yaml created there,
  with the template's conditions evaluated for the dev parameters.
- One `App` for the functions of this process, with settings from the functions' environment in
  template.yaml plus local values (endpoints, templates folder, link key, public URL), the dev
  clock, and clients pointed at the local engines. The handler code is the deployed code.
- A `Pump` thread: every `sweep_every` seconds the scheduled functions (the sweep), and every
  `poll_every` seconds the queues' functions (sender, engagement) until their queues are empty;
  one invocation at a time (as one warm container would), the API's included.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from ripen.app import App, use
from ripen.config import Settings
from ripen_dev.local import cfn, resources
from ripen_dev.local.devstack.clock import DevClock, span
from ripen_dev.local.devstack.ses import Destination, OutboxEmail, SentMail, SesEvents, record_sends
from ripen_dev.local.devstack.triggers import Batch, QueueTrigger, ScheduleTrigger, load_handler
from ripen_dev.local.dynamodb_local import DynamoDBLocal, free_port
from ripen_dev.local.http import LambdaContext, LambdaHandler, LocalHttpApi, LocalResponse

REGION = "us-east-1"
# Template parameters for the dev stack: the example company of templates/ and examples/.
DEV_PARAMETERS = {
    "Stage": "dev",
    "SenderCompany": "Acme Insights",
    "SenderPostalAddress": "Acme Insights Inc., 100 Example Street, Springfield, IL 62701, USA",
    "SenderWebsite": "https://acme.example",
    "SesIdentity": "acme.example",
    "SesEventsVia": "EventBridge",
    "AllowedOrigins": "*",  # local only: pages on any localhost port may post
}
# Top-level domains that never resolve (RFC 2606, RFC 6761): pages there are shown locally instead.
UNREACHABLE = (".example", ".invalid", ".test")
EVENTS_BUS = "EventsBus"  # the logical id of the bus product events (`Lead Event`) come in on
# DynamoDB Local 2 takes access key ids of letters and digits only.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "ripendev", "AWS_SECRET_ACCESS_KEY": "ripendev"}


@dataclass(frozen=True)
class DevOptions:
    port: int = 3000
    host: str = "127.0.0.1"
    templates: Path = Path("templates")
    page: Path = Path("examples/landing-page/index.html")
    template: Path = Path("template.yaml")
    samples: Path = Path("events/ses/eventbridge")
    cache: Path = Path(".cache")  # where DynamoDB Local is installed
    persist: Path | None = None  # keep data here (DynamoDB files, sent emails, the clock, the link and lead-id keys)
    sweep_every: float = 2.0  # seconds between sweeps (every minute in AWS)
    poll_every: float = 0.5  # seconds between looks at the queues
    deliver: bool = True  # SES reports Delivery right after Send; False: the outbox's button does
    start: datetime | None = None  # the dev clock's time at start (tests); default: real time
    prefix: str = "ripen-dev-"  # of every table, queue, bus and rule
    dynamodb_endpoint: str | None = None  # a DynamoDB Local to use instead of starting one
    moto_endpoint: str | None = None  # a moto server to use instead of starting one
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters over DEV_PARAMETERS
    state_file: Path | None = None  # leave the functions' settings here for operator commands (`ripen dev`)


def log_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%a %d %b %H:%M:%S")


class DevLog:
    """One line per thing that happens (never an email address or a name), kept for the outbox too."""

    def __init__(self, out: TextIO | None, clock: DevClock) -> None:
        self.out = out
        self.clock = clock
        self.lines: deque[str] = deque(maxlen=200)
        self._lock = threading.Lock()

    def __call__(self, part: str, text: str) -> None:
        line = f"{log_time(self.clock.now())}  {part:<10} {text}"
        with self._lock:
            self.lines.append(line)
            if self.out is not None:
                print(line, file=self.out, flush=True)


class Pump:
    """Invokes the scheduled and the queue-triggered functions; `settle()` runs them now."""

    def __init__(
        self,
        schedules: list[ScheduleTrigger],
        queues: list[QueueTrigger],
        inboxes: list[SalesInbox],
        invocations: threading.RLock,
        log: DevLog,
        sweep_every: float,
        poll_every: float,
    ) -> None:
        self.schedules = schedules
        self.queues = queues
        self.inboxes = inboxes
        self.invocations = invocations
        self.log = log
        self.sweep_every = sweep_every
        self.poll_every = poll_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ripen-dev-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        next_sweep = time.monotonic()
        while not self._stop.is_set():
            try:
                sweep = time.monotonic() >= next_sweep
                if sweep:
                    next_sweep = time.monotonic() + self.sweep_every
                self.settle(sweep=sweep)
            except Exception as exc:  # keep pumping: the next round tries again
                self.log("dev", f"pump error: {type(exc).__name__}: {exc}")
            self._stop.wait(self.poll_every)

    def settle(self, sweep: bool = False, rounds: int = 50) -> None:
        """Run the schedules (when `sweep`), then every queue's function until the queues are empty."""
        with self.invocations:
            if sweep:
                for schedule in self.schedules:
                    self._fire(schedule)
            for _ in range(rounds):
                batches = [queue.poll() for queue in self.queues]
                for inbox in self.inboxes:
                    inbox.poll()
                done = [batch for batch in batches if batch is not None]
                for batch in done:
                    self._report(batch)
                if not done:
                    return

    def _fire(self, schedule: ScheduleTrigger) -> None:
        try:
            result = schedule.fire()
        except Exception as exc:
            self.log("sweep", f"{schedule.function} failed: {type(exc).__name__}: {exc}")
            return
        if isinstance(result, dict) and (result.get("due") or result.get("jobs") or result.get("handoffs_published")):
            self.log(
                "sweep",
                f"{result.get('due', 0)} due, {result.get('claimed', 0)} moved, {result.get('queued', 0)} queued",
            )

    def _report(self, batch: Batch) -> None:
        what = f"{batch.function}: {batch.received} record(s)"
        if batch.error:
            self.log("lambda", f"{what}; it raised {batch.error} (the batch comes back later)")
        elif batch.failed:
            self.log("lambda", f"{what}, {batch.failed} reported failed (they come back later)")
        else:
            self.log("lambda", what)


class SalesInbox:
    """Every event on a bus (a dev rule puts them on a queue of their own): what a CRM would get."""

    def __init__(self, sqs: Any, queue_url: str, log: DevLog) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.log = log
        self.events: list[dict[str, Any]] = []

    def poll(self) -> None:
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                return
            for message in messages:
                event = json.loads(message["Body"])
                self.events.append(event)
                detail = event.get("detail", {})
                self.log(
                    "sales",
                    f"{event.get('detail-type')}: {detail.get('lead_id')}, score {detail.get('score')}, "
                    f"stage {detail.get('stage')} ({detail.get('sequence')})",
                )
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)


class DevStack:
    def __init__(self, options: DevOptions | None = None, out: TextIO | None = None) -> None:
        self.options = options or DevOptions()
        self.out = out
        persist = self.options.persist
        self.clock = (
            DevClock.kept_in(persist / "clock.json", self.options.start)
            if persist is not None
            else (DevClock.starting_at(self.options.start) if self.options.start else DevClock())
        )
        self.log = DevLog(out, self.clock)
        self.mail = SentMail(persist / "outbox.jsonl" if persist is not None else None)
        self.invocations = threading.RLock()
        self._exit = contextlib.ExitStack()
        self._server: LocalHttpApi | None = None
        self._api_handler: LambdaHandler | None = None
        self._api_function = ""
        self.app: App | None = None
        self.pump: Pump | None = None
        self.ses: SesEvents | None = None
        self.inboxes: list[SalesInbox] = []
        self.tables: dict[str, str] = {}
        self.dynamodb: Any = None
        self.sqs: Any = None
        self.endpoints: dict[str, str] = {}  # engine -> URL, for the banner (and `aws --endpoint-url`)
        self.events_bus: str | None = None  # ripen's events bus (Lead Event), as template.yaml declares it
        self.events: Any = None

    # -- where -------------------------------------------------------------------------------------

    @property
    def server(self) -> LocalHttpApi:
        if self._server is None:
            raise RuntimeError("the dev stack is not running")
        return self._server

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        """The public base URL: what email links point at."""
        return f"http://localhost:{self.port}"

    @property
    def outbox_url(self) -> str:
        return f"{self.url}/_dev"

    @property
    def running_app(self) -> App:
        if self.app is None:
            raise RuntimeError("the dev stack is not running")
        return self.app

    # -- start and stop ------------------------------------------------------------------------------

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> DevStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        options = self.options
        for path, what in ((options.template, "template"), (options.page, "page"), (options.templates, "folder")):
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such {what} (run ripen dev at the repository's root)")
        # Bind the port first: the public URL (in every email link) names it, and a busy port fails fast.
        try:
            self._server = LocalHttpApi(
                self._serve_api, port=options.port, host=options.host, static=self._static_pages()
            )
        except OSError as exc:
            raise OSError(f"cannot listen on {options.host}:{options.port} ({exc.strerror}): try --port") from exc
        self._exit.callback(self._server.stop)
        # Local engines take any credentials: these, never a developer's own.
        self._exit.enter_context(_environment(CREDENTIALS))
        self._exit.enter_context(_environment({"AWS_DEFAULT_REGION": REGION}, only_missing=True))
        dynamodb_endpoint = options.dynamodb_endpoint or self._start_dynamodb()
        moto_endpoint = options.moto_endpoint or self._start_moto()
        self.endpoints = {"dynamodb": dynamodb_endpoint, "moto": moto_endpoint}
        # Any client this process makes without an endpoint of its own talks to moto, never to AWS.
        self._exit.enter_context(_environment({"AWS_ENDPOINT_URL": moto_endpoint}))

        import boto3

        def client(service: str, endpoint: str = moto_endpoint) -> Any:
            return boto3.client(  # type: ignore[call-overload]
                service,
                endpoint_url=endpoint,
                region_name=REGION,
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )

        self.dynamodb = client("dynamodb", dynamodb_endpoint)
        self.sqs = client("sqs")
        events, sesv2 = client("events"), client("sesv2")

        template = cfn.load_template(options.template)
        parameters = {**DEV_PARAMETERS, "PublicBaseUrl": self.url, **options.parameters}
        conditions = cfn.conditions(template, parameters)
        prefix = options.prefix
        self.tables = resources.create_tables(
            self.dynamodb, template, prefix, expire_items=False, keep_existing=options.persist is not None
        )
        queues = resources.create_queues(self.sqs, template, prefix, conditions)
        arns = resources.queue_arns(self.sqs, queues)
        buses, bus_arns = resources.create_event_buses(events, template, prefix, conditions)
        configuration_sets = resources.create_configuration_sets(sesv2, template, prefix, conditions)
        with resources.already_there():
            sesv2.create_email_identity(EmailIdentity=parameters["SesIdentity"])
        refs = {**self.tables, **queues, **buses, **configuration_sets}
        resolve = cfn.Resolver(template, refs, {**arns, **bus_arns}, parameters, {"AWS::StackName": prefix.rstrip("-")})
        resources.create_rules(events, template, prefix, resolve)
        # What a CRM would get: every bus but the events bus (Lead Events come in there, they do not go out).
        self.inboxes = [self._inbox(events, bus, prefix) for logical, bus in buses.items() if logical != EVENTS_BUS]
        self.events_bus = buses.get(EVENTS_BUS)
        self.events = events

        settings = self._settings(template, refs, parameters, dynamodb_endpoint)
        if options.state_file is not None:
            from ripen_dev.operate.target import write_dev_file

            write_dev_file(settings, options.state_file, CREDENTIALS)
            self._exit.callback(options.state_file.unlink, missing_ok=True)
        destinations = [d for d in map(Destination.from_template, resources.event_destinations(template, resolve)) if d]
        self.ses = SesEvents(options.samples, events, destinations, self.clock, self.mail, REGION)
        self.app = self._app(settings, events, sesv2)

        api = cfn.functions_with_event(template, "HttpApi")
        if len(api) != 1:
            raise ValueError("ripen dev serves one function with HttpApi events")
        self._api_function = next(iter(api))
        self._api_handler = load_handler(cfn.function_handler(template, self._api_function))
        mappings = cfn.resources_of_type(template, "AWS::Lambda::EventSourceMapping")
        queue_triggers = [QueueTrigger.from_template(template, m, self.sqs, queues, arns) for m in mappings.values()]
        schedules = [
            ScheduleTrigger.from_template(template, function, self.clock)
            for function in cfn.functions_with_event(template, "ScheduleV2")
        ]
        self.pump = Pump(
            schedules, queue_triggers, self.inboxes, self.invocations, self.log, options.sweep_every, options.poll_every
        )

        from ripen_dev.local.devstack.outbox import Outbox

        self.server.routes["/_dev"] = Outbox(self).handle
        self.server.routes["/favicon.ico"] = lambda request: LocalResponse(204, {"Cache-Control": "max-age=86400"})
        self.server.start()
        self._exit.callback(self.server.stop)  # stops serving before the engines stop
        self.pump.start()
        self._exit.callback(self.pump.stop)

    def _start_dynamodb(self) -> str:
        persist = self.options.persist
        if persist is not None:
            (persist / "dynamodb").mkdir(parents=True, exist_ok=True)
        engine = DynamoDBLocal(
            self.options.cache,
            in_memory=persist is None,
            data_dir=persist / "dynamodb" if persist else None,
            own_session=True,
        )
        endpoint = engine.start()
        self._exit.callback(engine.stop)
        return endpoint

    def _start_moto(self) -> str:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per AWS call
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._exit.callback(server.stop)
        return f"http://127.0.0.1:{port}"

    def _inbox(self, events: Any, bus: str, prefix: str) -> SalesInbox:
        name = f"{prefix}{bus.removeprefix(prefix)}-inbox"
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"account": [{"exists": True}]}))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[resources.rule_target("dev-inbox", arn)])
        return SalesInbox(self.sqs, url, self.log)

    def _settings(
        self, template: dict[str, Any], refs: dict[str, str], parameters: dict[str, str], dynamodb: str
    ) -> Settings:
        env: dict[str, str] = {}
        for function in cfn.resources_of_type(template, "AWS::Serverless::Function"):
            env.update(cfn.function_environment(template, function, refs, parameters))
        env.pop("TOKEN_SECRET_ARN", None)
        env.pop("LEAD_ID_SECRET_ARN", None)
        env.update(
            DYNAMODB_ENDPOINT=dynamodb,
            AWS_REGION=REGION,
            TEMPLATES_DIR=str(self.options.templates),
            TOKEN_SECRET=self._kept_secret("token-secret"),
            LEAD_ID_SECRET=self._kept_secret("lead-id-secret", os.environ.get("LEAD_ID_SECRET")),
            PUBLIC_BASE_URL=self.url,
        )
        return Settings.from_env(env)

    def _kept_secret(self, name: str, given: str | None = None) -> str:
        """A key kept with the data under --persist: links in kept emails go on working (the link
        key), and the same address keeps naming the same lead (the lead-id key). A new one is
        `given` (the environment's), else random; a kept one always wins over it."""
        persist = self.options.persist
        if persist is None:
            return given or secrets.token_urlsafe(32)
        kept = persist / name
        if not kept.is_file():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(given or secrets.token_urlsafe(32), encoding="utf-8")
        return kept.read_text(encoding="utf-8").strip()

    def _app(self, settings: Settings, events: Any, sesv2: Any) -> App:
        from ripen.adapters.bus import EventBridgeBus
        from ripen.adapters.mailer import SesMailer
        from ripen.adapters.queue import SqsSendQueue
        from ripen.adapters.sending import SesAccountClient
        from ripen.adapters.stats import DynamoStats
        from ripen.handlers.api import resolver
        from ripen_dev.fakes.metrics import MemoryMetrics
        from ripen_dev.local.ses_account import install as install_ses_account

        assert settings.send_queue_url is not None
        assert settings.sales_bus_name is not None
        record_sends(sesv2, self.clock, self._accepted)
        install_ses_account(sesv2)  # GetAccount and the sending switch, which moto lacks
        app = App(
            settings,
            clock=self.clock,
            queue=SqsSendQueue(settings.send_queue_url, client=self.sqs),
            mailer=SesMailer(REGION, client=sesv2),
            bus=EventBridgeBus(settings.sales_bus_name, REGION, client=events),
            stats=DynamoStats(settings.stats_table, REGION, settings.dynamodb_endpoint),
            metrics=MemoryMetrics(),
            ses_account=SesAccountClient(REGION, client=sesv2),
        )
        resolver.cache_clear()
        use(app)
        self._exit.callback(resolver.cache_clear)
        self._exit.callback(use, None)
        # Build every part now, in this thread: problems show at start, not at the first request.
        for part in ("catalog", "store", "links", "nurture", "signup", "preferences", "sender", "engagement", "sweep"):
            getattr(app, part)
        return app

    def stop(self) -> None:
        self._exit.close()
        self.app = None

    # -- what the functions do -----------------------------------------------------------------------

    def _static_pages(self) -> dict[str, Path]:
        """The landing page at /, and beside it (when there) the pricing page with the page-view snippet
        (examples/track.js): acme.example's /pricing, served locally."""
        page = self.options.page
        extra = {"/pricing": page.parent / "pricing.html", "/track.js": page.parent.parent / "track.js"}
        return {"/": page} | {path: file for path, file in extra.items() if file.is_file()}

    def _serve_api(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The api function, as API Gateway invokes it (one request at a time, like one container)."""
        if self._api_handler is None:
            raise RuntimeError("the dev stack is not running")
        with self.invocations:
            context = LambdaContext(function_name=f"ripen-dev-{self._api_function}")
            result = self._api_handler(event, context)
        self.log("api", f"{event['requestContext']['http']['method']} {event['rawPath']} -> {result.get('statusCode')}")
        return local_thank_you(result)

    def _accepted(self, sent: OutboxEmail) -> None:
        """SES accepted an email: record it and publish what SES publishes at once."""
        self.log(
            "ses",
            f"accepted {sent.sequence}/{sent.step} ({sent.kind}) for {sent.lead_id}, SES id {sent.ses_message_id}",
        )
        if self.ses is None:
            return
        try:
            self.ses.sent(sent, deliver=self.options.deliver)
        except Exception as exc:  # the send itself went through; only its events are missing
            self.log("ses", f"could not publish the events of {sent.ses_message_id}: {type(exc).__name__}: {exc}")

    # -- what the outbox does ------------------------------------------------------------------------

    def settle(self, sweep: bool = False) -> None:
        """Let every function finish what is waiting for it (and run the sweep first when `sweep`)."""
        if self.pump is not None:
            self.pump.settle(sweep=sweep)

    def put_lead_event(self, lead_id: str, name: str, properties: dict[str, Any]) -> str:
        """A product event about a lead, put on the events bus as a backend would (door 1: the rule, the
        events queue, the events function), then applied at once. Returns the event's id."""
        if self.events is None or self.events_bus is None:
            raise RuntimeError("the dev stack has no events bus (template.yaml declares none)")
        event_id = f"dev-{secrets.token_hex(8)}"
        detail = {
            "lead_id": lead_id,
            "event": name,
            "id": event_id,
            "occurred_at": self.clock.now().isoformat(),
            "properties": properties,
        }
        answer = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.events_bus,
                    "Source": "ripen.dev",
                    "DetailType": "Lead Event",
                    "Detail": json.dumps(detail),
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"the events bus refused the event: {answer['Entries'][0].get('ErrorMessage')}")
        self.log("events", f"Lead Event {name} for {lead_id}")
        self.settle()
        return event_id

    def move_time(self, delta: timedelta) -> datetime:
        """Move the dev clock forward, then sweep and send at once."""
        now = self.clock.advance(delta)
        self.log("clock", f"+{span(delta)}: now {now:%a %Y-%m-%d %H:%M} UTC")
        self.settle(sweep=True)
        return now

    def move_time_to(self, when: datetime) -> datetime:
        before = self.clock.now()
        now = self.clock.advance_to(when)
        self.log("clock", f"+{span(now - before)}: now {now:%a %Y-%m-%d %H:%M} UTC")
        self.settle(sweep=True)
        return now

    def lead_ids(self) -> list[str]:
        """Every lead in the Leads table (a scan: fine for a dev stack)."""
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.tables["LeadsTable"], ProjectionExpression="lead_id", ConsistentRead=True
        )
        return [item["lead_id"]["S"] for page in pages for item in page["Items"]]

    def message_keys(self, lead_id: str) -> list[str]:
        """The keys of a lead's messages (emails and hand-offs), from the Messages table."""
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.tables["MessagesTable"],
            ProjectionExpression="message_key",
            FilterExpression="lead_id = :lead",
            ExpressionAttributeValues={":lead": {"S": lead_id}},
            ConsistentRead=True,
        )
        return sorted(item["message_key"]["S"] for page in pages for item in page["Items"])


def local_thank_you(result: dict[str, Any]) -> dict[str, Any]:
    """A thank-you page on a domain that cannot exist (acme.example) is shown locally instead: the
    redirect of a form post, and `thank_you_url` in a JSON answer, point at /_dev/thank-you."""
    headers = dict(result.get("headers") or {})
    for name in list(headers):
        if name.lower() == "location" and _unreachable(str(headers[name])):
            headers[name] = _local(str(headers[name]))
            result = {**result, "headers": headers}
    body = result.get("body")
    if body and not result.get("isBase64Encoded") and '"thank_you_url"' in str(body):
        try:
            data = json.loads(str(body))
        except ValueError:
            return result
        url = data.get("thank_you_url") if isinstance(data, dict) else None
        if isinstance(url, str) and _unreachable(url):
            data["thank_you_url"] = _local(url)
            result = {**result, "body": json.dumps(data)}
    return result


def _unreachable(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host.endswith(tld) or host == tld[1:] for tld in UNREACHABLE)


def _local(url: str) -> str:
    return f"/_dev/thank-you?url={quote(url, safe='')}"


@contextlib.contextmanager
def _environment(values: dict[str, str], only_missing: bool = False) -> Iterator[None]:
    """Set environment variables for the life of the stack, then put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if not (only_missing and os.environ.get(name)):
            os.environ[name] = value
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
