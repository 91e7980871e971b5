"""The sweep function as Lambda runs it: the schedule's tick from events/, the context's time left,
the figures as CloudWatch metrics; and its declaration in template.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ripen.app import App, use
from ripen.config import Settings
from ripen.core.records import Consent, Lead
from ripen.handlers import nurture
from ripen.handlers import sweep as sweep_function
from ripen.models.schedule import ScheduleTick
from ripen.ports.sending import AccountState
from ripen.services.nurture import Nurture
from ripen.services.sweep import SweepIncompleteError
from ripen_dev.fakes.queue import MemorySendQueue
from ripen_dev.fakes.sending import MemorySesAccount
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.local import cfn
from ripen_dev.local.http import LambdaContext
from tests.conftest import EVENTS, REPO
from tests.support.ids import lead_id_for
from tests.support.sender import MemorySender

TEMPLATE = cfn.load_template(REPO / "template.yaml")
TABLES = {
    "LEADS_TABLE": "leads",
    "ENROLLMENTS_TABLE": "enrollments",
    "MESSAGES_TABLE": "messages",
    "HISTORY_TABLE": "history",
    "STATS_TABLE": "stats",
}


@pytest.fixture
def ses_account() -> MemorySesAccount:
    return MemorySesAccount()


@pytest.fixture
def stack(catalog, clock, ses_account) -> Iterator[tuple[InMemoryStore, MemorySendQueue]]:
    store, queue = InMemoryStore(), MemorySendQueue()
    settings = Settings.from_env({**TABLES, "SWEEP_SAFETY_MARGIN_MS": "5000"})
    use(App(settings, store=store, queue=queue, clock=clock, catalog=catalog, ses_account=ses_account))
    yield store, queue
    use(None)


def three_due_readers(stack, catalog, clock) -> None:
    store, queue = stack
    nurture = Nurture(store, catalog, queue, clock)
    for i in range(3):
        email = f"reader{i}@example.com"
        consent = Consent(clock.now(), confirmed_at=clock.now())
        nurture.enroll(
            Lead(lead_id_for(email), email, clock.now(), timezone="UTC", consents=(consent,)), "ebook-nurture"
        )
    MemorySender(store, clock).deliver(queue.drain())
    clock.advance(days=2, minutes=1)


def emitted_metrics(output: str) -> dict[str, float]:
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            names = [m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
            return {name: sum(document[name]) if isinstance(document[name], list) else document[name] for name in names}
    raise AssertionError(f"no metrics in the output:\n{output}")


def tick(name: str = "sweep-tick.json"):
    return json.loads((EVENTS / "schedule" / name).read_text())


def test_a_schedule_tick_sweeps_and_publishes_its_figures(stack, catalog, clock, capsys):
    three_due_readers(stack, catalog, clock)
    answer = sweep_function.handler(tick(), LambdaContext(function_name="ripen-sweep", timeout_ms=60_000))
    assert (answer["claimed"], answer["queued"], answer["left"]) == (3, 3, 0)
    assert len(stack[1].jobs) == 3
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["EnrollmentsClaimed"] == 3
    assert metrics["SendJobsQueued"] == 3
    assert metrics["LeftForNextRun"] == 0
    assert metrics["LostJobsRequeued"] == 0


@pytest.mark.parametrize(
    "event",
    [
        tick("eventbridge-scheduled-event.json"),
        {"scheduledTime": "<aws.scheduler.scheduled-time>"},
        ["not", "a", "tick"],
    ],
    ids=["eventbridge-rule", "unsubstituted", "not-an-object"],
)
def test_any_tick_is_a_tick(stack, catalog, clock, caplog, event):
    # A schedule whose Input was edited wrongly must not stop every timer
    three_due_readers(stack, catalog, clock)
    answer = sweep_function.handler(event, LambdaContext())
    assert answer["claimed"] == 3
    if not isinstance(event, dict) or "scheduledTime" in event:
        assert "schedule input not understood; sweeping anyway" in caplog.messages


def test_an_invocation_with_no_time_left_claims_nothing_and_says_so(stack, catalog, clock, capsys):
    three_due_readers(stack, catalog, clock)
    answer = sweep_function.handler(tick(), LambdaContext(timeout_ms=4_000))  # less than the 5 s margin
    assert (answer["claimed"], answer["more_due"]) == (0, True)
    assert stack[1].jobs == []


def test_a_shard_that_cannot_be_read_fails_the_invocation_after_the_rest_is_done(stack, catalog, clock, capsys):
    store, queue = stack
    three_due_readers(stack, catalog, clock)
    broken = store.shards[0]
    real = store.due_enrollments

    def flaky(shard, now, limit, after=None):
        if shard == broken:
            raise ConnectionError("index unavailable")
        return real(shard, now, limit, after)

    store.due_enrollments = flaky  # type: ignore[method-assign]
    due_elsewhere = sum(len(real(s, clock.now(), 10)) for s in store.shards if s != broken)
    with pytest.raises(SweepIncompleteError):
        sweep_function.handler(tick(), LambdaContext())
    assert len(queue.jobs) == due_elsewhere
    assert emitted_metrics(capsys.readouterr().out)["SweepFailures"] == 1


# -- the SES account: the sandbox, sending switched off (issue 18.2) ----------------------------------


class CountedAccount(MemorySesAccount):
    """GetAccount answered from memory, each read counted; `error` makes the reads raise."""

    def __init__(self, state: AccountState | None = None, error: Exception | None = None) -> None:
        super().__init__(state)
        self.reads = 0
        self.error = error

    def account(self) -> AccountState | None:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return super().account()


def in_the_sandbox(account: MemorySesAccount) -> MemorySesAccount:
    account.state = replace(account.state, production_access=False, max_24_hour_send=200)
    return account


@pytest.mark.parametrize("ses_account", [in_the_sandbox(CountedAccount())])
def test_a_sandboxed_account_is_read_once_per_container_and_said_plainly(stack, clock, ses_account, capsys, caplog):
    # Given an SES account in the sandbox
    # When the sweep runs twice in one container
    sweep_function.handler(tick(), LambdaContext())
    first = emitted_metrics(capsys.readouterr().out)
    sweep_function.handler(tick(), LambdaContext())
    second = emitted_metrics(capsys.readouterr().out)
    # Then GetAccount was read once, and each run says SesSandbox = 1
    assert ses_account.reads == 1
    assert first["SesSandbox"] == second["SesSandbox"] == 1
    # and one clear warning, with the way out
    warnings = [m for m in caplog.messages if "sandbox" in m]
    assert len(warnings) == 1
    assert (
        "request production access: https://docs.aws.amazon.com/ses/latest/dg/request-production-access.html"
        in (warnings[0])
    )
    # and an hour later it is read again (production access granted shows without a new container)
    ses_account.state = replace(ses_account.state, production_access=True)
    clock.advance(hours=1)
    sweep_function.handler(tick(), LambdaContext())
    assert ses_account.reads == 2
    assert emitted_metrics(capsys.readouterr().out)["SesSandbox"] == 0


@pytest.mark.parametrize("ses_account", [CountedAccount()])
def test_an_account_with_production_access_publishes_zero_and_warns_of_nothing(stack, ses_account, capsys, caplog):
    sweep_function.handler(tick(), LambdaContext())
    assert emitted_metrics(capsys.readouterr().out)["SesSandbox"] == 0
    assert not [m for m in caplog.messages if "SES" in m]


def test_sending_switched_off_by_ses_counts_as_blocked(stack, ses_account, capsys, caplog):
    ses_account.state = replace(ses_account.state, sending_enabled=False, enforcement_status="SHUTDOWN")
    sweep_function.handler(tick(), LambdaContext())
    assert emitted_metrics(capsys.readouterr().out)["SesSandbox"] == 1
    assert any("SES has switched sending off" in m for m in caplog.messages)


@pytest.mark.parametrize("ses_account", [CountedAccount(error=RuntimeError("no route to SES"))])
def test_a_failed_account_read_never_fails_the_sweep(stack, catalog, clock, ses_account, capsys, caplog):
    # Given GetAccount failing, and three leads due
    three_due_readers(stack, catalog, clock)
    # When the sweep runs
    answer = sweep_function.handler(tick(), LambdaContext())
    # Then it swept as always, said it could not read the account, and published no SesSandbox
    assert answer["claimed"] == 3
    assert "could not read the SES account (GetAccount)" in caplog.messages
    assert "SesSandbox" not in emitted_metrics(capsys.readouterr().out)


# -- the declaration in template.yaml ---------------------------------------------------------------


def sweep_resource() -> dict:
    return TEMPLATE["Resources"]["NurtureFunction"]["Properties"]


def test_the_template_runs_the_sweep_every_minute_on_time():
    function = sweep_resource()
    # the nurture function, which hands the scheduler's tick to the sweep
    assert function["Handler"] == "ripen.handlers.nurture.handler"
    assert nurture.part_for(tick()) == nurture.SWEEP
    assert function["CodeUri"] == "functions/"
    (event,) = function["Events"].values()
    assert event["Type"] == "ScheduleV2"
    schedule = event["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}  # the string, not YAML's boolean


def test_the_schedule_input_is_a_tick_the_handler_understands():
    (event,) = sweep_resource()["Events"].values()
    raw = event["Properties"]["Input"]
    substituted = (
        raw.replace("<aws.scheduler.schedule-arn>", "arn:aws:scheduler:us-east-1:123456789012:schedule/default/x")
        .replace("<aws.scheduler.scheduled-time>", "2026-03-02T09:30:00Z")
        .replace("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3")
        .replace("<aws.scheduler.attempt-number>", "1")
    )
    parsed = ScheduleTick.model_validate(json.loads(substituted))
    assert (parsed.task, parsed.attempt_number, parsed.scheduled_time.isoformat()) == (
        "sweep",
        1,
        "2026-03-02T09:30:00+00:00",
    )
    # events/ holds this very Input as the scheduler delivers it
    assert set(tick()) == set(json.loads(raw))
    assert tick()["task"] == json.loads(raw)["task"]


def test_the_sweep_keeps_its_safety_margin_within_its_timeout():
    function = sweep_resource()
    env = cfn.function_environment(TEMPLATE, "NurtureFunction", {"SendQueue": "https://sqs.example/q", **TABLES})
    settings = Settings.from_env({**env, **TABLES})
    timeout_ms = function["Timeout"] * 1000
    # it claims for most of the invocation and keeps enough to finish the decisions under way
    assert 5_000 <= settings.sweep_safety_margin_ms <= timeout_ms / 4
    assert settings.send_queue_url == "https://sqs.example/q"
    assert settings.sweep_batch_limit == int(env["SWEEP_BATCH_LIMIT"])


def test_the_nurture_function_may_write_the_state_and_sending_tables_and_send_to_the_queue():
    policies = sweep_resource()["Policies"]
    statements = [s for p in policies if "Statement" in p for s in p["Statement"]]
    writes = [s["Resource"] for s in statements if "dynamodb:PutItem" in s["Action"]]
    tables = {r["Fn::GetAtt"][0] for resources in writes for r in resources if "Fn::GetAtt" in r}
    assert tables == {"LeadsTable", "EnrollmentsTable", "MessagesTable", "HistoryTable", "SendingTable"}
    queues = [p["SQSSendMessagePolicy"]["QueueName"] for p in policies if "SQSSendMessagePolicy" in p]
    assert queues == [{"Fn::GetAtt": ["SendQueue", "QueueName"]}]


def test_the_nurture_function_may_send_read_the_ses_account_and_switch_its_configuration_set_only():
    # Given the nurture function's statements (the sweep, the sender and engagement share them)
    statements = [s for p in sweep_resource()["Policies"] if "Statement" in p for s in p["Statement"]]
    actions = [(s["Action"] if isinstance(s["Action"], list) else [s["Action"]], s["Resource"]) for s in statements]
    ses = {name: resource for names, resource in actions for name in names if name.startswith("ses:")}
    # Then it may send (the sender), read the account (the send rate, SesSandbox), which IAM scopes
    # to no resource, and switch sending of the nurture configuration set (the breaker): nothing else
    assert set(ses) == {"ses:SendEmail", "ses:SendRawEmail", "ses:GetAccount", "ses:PutConfigurationSetSendingOptions"}
    assert ses["ses:GetAccount"] == "*"
    assert ["NurtureConfigurationSet" in json.dumps(r) for r in ses["ses:PutConfigurationSetSendingOptions"]] == [True]
