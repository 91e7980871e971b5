"""`ripen sending pause|resume` and `ripen status` on DynamoDB Local and moto (SQS, SES with the
account calls moto lacks answered by `ripen_dev.local.ses_account`), found through the functions'
environment variables as on a laptop; and the daily SES quota and the sandbox against moto's SES."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ripen.adapters.mailer import SesMailer
from ripen.adapters.sending import DynamoSendingControl, SesAccountClient
from ripen.core.records import message_key
from ripen.core.reputation import ALL, Counts, hour_of
from ripen.services.reputation import QUOTA_HELD
from ripen.services.sender import Outcome
from ripen_dev import cli
from ripen_dev.local import cfn, resources
from ripen_dev.local.ses_account import LocalSesAccount, install
from ripen_dev.operate import sending_commands
from tests.conftest import REPO
from tests.support.mailstack import make_stack

pytestmark = pytest.mark.integration
REGION = "us-east-1"
TEMPLATE = REPO / "template.yaml"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def client(service: str, url: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, endpoint_url=url, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture
def ses(moto_url: str) -> tuple[Any, LocalSesAccount]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    sesv2 = client("sesv2", moto_url)
    sesv2.create_configuration_set(ConfigurationSetName="ripen-nurture")
    sesv2.create_email_identity(EmailIdentity="acme.example")
    return sesv2, install(sesv2, LocalSesAccount(production_access=False, max_24_hour_send=200, max_send_rate=1))


@pytest.fixture
def stack_env(dynamodb_endpoint: str, moto_url: str, ses, monkeypatch) -> dict[str, str]:
    """The functions' environment for fresh tables and a send queue, as operator commands read it."""
    names = resources.create_tables(
        client("dynamodb", dynamodb_endpoint), cfn.load_template(TEMPLATE), f"t{uuid.uuid4().hex[:8]}-", False
    )
    queue = client("sqs", moto_url).create_queue(QueueName=f"send-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    env: dict[str, str] = {}
    for function in ("NurtureFunction",):
        env.update(resources.local_environment(TEMPLATE, names, function))
    env.update(
        DYNAMODB_ENDPOINT=dynamodb_endpoint,
        AWS_REGION=REGION,
        SEND_QUEUE_URL=queue,
        SES_CONFIGURATION_SET="ripen-nurture",
        AWS_ENDPOINT_URL_SQS=moto_url,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sesv2, _ = ses
    monkeypatch.setattr(sending_commands, "_account", lambda target: SesAccountClient(REGION, client=sesv2))
    return env


def run(capsys, *argv: str) -> tuple[int, Any]:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_an_operator_pauses_sees_it_in_status_and_resumes(stack_env, capsys):
    # When an operator pauses every sequence
    code, paused = run(capsys, "sending", "pause", "--reason", "bad import on Friday")
    # Then the hold is written, and pausing again keeps the first one
    assert code == 0
    assert paused["paused"] is True
    assert paused["hold"]["scope"] == ALL
    assert paused["hold"]["by"] == "operator"
    code, again = run(capsys, "sending", "pause", "--reason", "again")
    assert (code, again["paused"], again["already"]["reason"]) == (0, False, "bad import on Friday")
    # and `ripen status` shows it, with the sandbox said plainly, the quota, the queue and the backlog
    code, status = run(capsys, "status")
    assert code == 0
    assert status["sending"]["held"] is True
    assert status["sending"]["holds"][0]["reason"] == "bad import on Friday"
    assert status["sending"]["rates"]["last_hour"]["sent"] == 0
    assert status["ses"]["production_access"] is False
    assert "request-production-access" in status["ses"]["sandbox"]
    assert status["ses"]["max_24_hour_send"] == 200
    assert status["ses"]["configuration_set_sending_enabled"] is True
    assert status["queues"]["send"] == {"visible": 0, "in_flight": 0}
    assert status["due"] == {"enrollments": 0, "messages": 0}
    assert status["last_sweep"]["unknown"].startswith("no NurtureFunctionName stack output")  # no Lambda here
    # When the operator resumes
    code, resumed = run(capsys, "sending", "resume")
    # Then nothing is held any more
    assert (code, resumed["resumed"], resumed["lifted"]["reason"]) == (0, True, "bad import on Friday")
    code, status = run(capsys, "status")
    assert status["sending"]["held"] is False


def test_a_sequence_is_paused_alone_and_the_text_output_says_so(stack_env, capsys):
    assert cli.main(["sending", "pause", "--sequence", "trial-nurture"]) == 0
    out = capsys.readouterr().out
    assert "held: sequence trial-nurture" in out
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "sending: HELD for sequence trial-nurture" in out
    assert "SANDBOX" in out
    assert cli.main(["sending", "resume"]) == 0
    assert "every sequence was not held" in capsys.readouterr().out


def test_without_a_sending_table_the_command_fails_with_one_line(stack_env, monkeypatch, capsys):
    monkeypatch.delenv("SENDING_TABLE")
    assert cli.main(["sending", "pause"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ripen: environment has no Sending table")
    assert len(err.strip().splitlines()) == 1


def test_the_daily_quota_holds_emails_beyond_it_until_the_next_day_and_drops_none(
    dynamo_store, catalog, clock, ses, stack_env
):
    # Given a sandbox account with 200 emails a day, 198 of them sent already
    sesv2, account = ses
    account.sent_last_24_hours = 198
    control = DynamoSendingControl(stack_env["SENDING_TABLE"], REGION, stack_env["DYNAMODB_ENDPOINT"])
    stack = make_stack(
        dynamo_store,
        clock,
        catalog,
        mailer=SesMailer(client=sesv2),
        sending=control,
        ses_account=SesAccountClient(REGION, client=sesv2),
    )
    for i in range(5):
        sesv2.create_email_identity(EmailIdentity=f"lead{i}@example.com")  # the sandbox: verified recipients
        stack.signup(f"lead{i}@example.com")
    # When the sender works through the 5 queued emails
    outcomes = stack.send_queued()
    # Then 2 went out and 3 wait for the quota: held, not failed
    assert sorted(outcomes) == sorted([Outcome.SENT] * 2 + [Outcome.DEFERRED] * 3)
    assert stack.metrics.counts[QUOTA_HELD] == 3
    # When the day's sends fall out of SES's 24 hours
    account.sent_last_24_hours = 0
    clock.advance(hours=1, minutes=1)
    stack.app.sweep.run()
    # Then the 3 go out, once each
    assert stack.send_queued() == [Outcome.SENT] * 3
    assert account.sent_last_24_hours == 3


def test_the_warm_up_holds_emails_beyond_the_days_allowance_and_status_shows_its_progress(
    dynamo_store, catalog, clock, ses, stack_env, monkeypatch, capsys
):
    # Given day 1 of a warm-up of 2, then 4 emails a day, on moto's SES
    sesv2, _ = ses
    start = clock.now().date().isoformat()
    control = DynamoSendingControl(stack_env["SENDING_TABLE"], REGION, stack_env["DYNAMODB_ENDPOINT"])
    stack = make_stack(
        dynamo_store,
        clock,
        catalog,
        mailer=SesMailer(client=sesv2),
        env={"WARMUP_SCHEDULE": "2,4", "WARMUP_START": start},
        sending=control,
        ses_account=SesAccountClient(REGION, client=sesv2),
    )
    for i in range(3):
        sesv2.create_email_identity(EmailIdentity=f"lead{i}@example.com")
        stack.signup(f"lead{i}@example.com")
    # When the sender works through the queue
    outcomes = stack.send_queued()
    # Then two go out and one waits for tomorrow
    assert sorted(outcomes) == sorted([Outcome.SENT] * 2 + [Outcome.DEFERRED])
    # and once the engagement function has counted the day's sends, ripen status shows the progress
    control.add_counts({(ALL, hour_of(clock.now())): Counts(sends=2)}, clock.now())
    monkeypatch.setenv("WARMUP_SCHEDULE", "2,4")
    monkeypatch.setenv("WARMUP_START", start)
    monkeypatch.setattr(sending_commands, "_now", clock.now)  # the stack's (moved) clock, not the wall's
    code, status = run(capsys, "status")
    assert (code, status["sending"]["warmup"]) == (
        0,
        {"day": 1, "days": 2, "allowance_today": 2, "sent_today": 2, "over": False},
    )
    # When the next day comes
    clock.advance(days=1)
    stack.app.sweep.run()
    # Then the held email goes out
    assert Outcome.SENT in stack.send_queued()


def test_in_the_sandbox_an_unverified_recipient_is_reported_as_the_sandbox_not_a_failure(
    dynamo_store, catalog, clock, ses
):
    # Given an account in the SES sandbox (moto's SES, the sandbox played by ripen_dev.local.ses_account):
    # one recipient verified, one not
    sesv2, _ = ses
    stack = make_stack(
        dynamo_store, clock, catalog, mailer=SesMailer(client=sesv2), ses_account=SesAccountClient(REGION, client=sesv2)
    )
    sesv2.create_email_identity(EmailIdentity="verified@example.com")
    verified = stack.signup("verified@example.com")
    unverified = stack.signup("unverified@example.com")
    # When the sweep publishes its figures and the sender works through the queue
    stack.app.account_check.publish(stack.metrics)
    outcomes = stack.send_queued()
    # Then the sweep says the account is in the sandbox
    assert stack.metrics.counts["SesSandbox"] == 1
    # and the verified recipient got the email; the other is told apart as the sandbox, not a failure
    assert sorted(outcomes) == sorted([Outcome.SENT, Outcome.FAILED])
    assert stack.message(message_key(verified.lead_id, "trial-nurture", 1, "welcome")).error is None
    refused = stack.message(message_key(unverified.lead_id, "trial-nurture", 1, "welcome"))
    assert refused.error is not None
    assert refused.error.startswith("SES sandbox: the recipient is not a verified address")
    assert stack.metrics.counts["EmailsBlockedBySandbox"] == 1
    assert stack.metrics.counts.get("EmailsFailed", 0) == 0
