"""`ripen sending` and `ripen status` as a user types them: registered on the `ripen` command, and one
clear line with a non-zero exit when there is no stack to work on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ripen.services.sweep import SweepReport
from ripen_dev import cli


@pytest.mark.parametrize("argv", [["sending", "pause"], ["sending", "resume", "--sequence", "x"], ["status"]])
def test_with_no_stack_to_work_on_one_line_says_how_to_name_one(argv, tmp_path, monkeypatch, capsys):
    # Given a folder with no ripen dev running and no table variables set
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADS_TABLE", raising=False)
    # When an operator runs the command
    code = cli.main(argv)
    # Then it fails with one line naming the three ways to give a stack
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("ripen: which stack? give --stack NAME")
    assert len(err.strip().splitlines()) == 1


def test_sending_needs_pause_or_resume_and_every_command_takes_json(capsys):
    with pytest.raises(SystemExit):
        cli.main(["sending"])
    for argv in (["sending", "pause", "--help"], ["sending", "resume", "--help"], ["status", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        out = capsys.readouterr().out
        assert "--json" in out
        assert "--stack NAME" in out


def test_the_identity_check_says_which_dns_records_are_missing():
    from ripen_dev.operate.sending_commands import identity_checks

    # Given SES's answer for a domain whose DKIM records are not published yet, MAIL FROM in place
    found = {
        "VerifiedForSendingStatus": False,
        "DkimAttributes": {"Status": "PENDING", "Tokens": ["abc", "def", "ghi"]},
        "MailFromAttributes": {"MailFromDomain": "mail.acme.example", "MailFromDomainStatus": "SUCCESS"},
    }
    checks = identity_checks("acme.example", found, "eu-west-1")
    # Then the DKIM CNAMEs are named, and nothing is said of the MAIL FROM domain
    assert checks["ready"] is False
    assert checks["missing"] == [
        "acme.example is not verified for sending yet",
        "DKIM is PENDING: publish the three CNAME records (abc._domainkey.acme.example CNAME abc.dkim.amazonses.com; "
        "def._domainkey.acme.example CNAME def.dkim.amazonses.com; ghi._domainkey.acme.example CNAME "
        "ghi.dkim.amazonses.com)",
    ]
    # and once SES sees every record, the identity is ready
    found["VerifiedForSendingStatus"] = True
    found["DkimAttributes"]["Status"] = "SUCCESS"
    assert identity_checks("acme.example", found, "eu-west-1") == {"name": "acme.example", "ready": True, "missing": []}


def test_a_mail_from_domain_not_in_dns_is_named_with_its_mx_and_spf_records():
    from ripen_dev.operate.sending_commands import identity_checks

    found = {
        "VerifiedForSendingStatus": True,
        "DkimAttributes": {"Status": "SUCCESS"},
        "MailFromAttributes": {"MailFromDomain": "mail.acme.example", "MailFromDomainStatus": "PENDING"},
    }
    [missing] = identity_checks("acme.example", found, "us-east-1")["missing"]
    assert "mail.acme.example MX 10 feedback-smtp.us-east-1.amazonses.com" in missing
    assert 'mail.acme.example TXT "v=spf1 include:amazonses.com ~all"' in missing


def cloudwatch_answering(runs: dict, failures: dict, now) -> tuple:
    import boto3
    from botocore.stub import ANY, Stubber

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(cloudwatch)
    answer = {
        "MetricDataResults": [
            {"Id": "runs", "Timestamps": list(runs), "Values": list(runs.values())},
            {"Id": "failures", "Timestamps": list(failures), "Values": list(failures.values())},
        ]
    }
    expected = {"MetricDataQueries": ANY, "StartTime": now - timedelta(hours=1), "EndTime": now}
    stubber.add_response("get_metric_data", answer, expected)
    stubber.activate()
    return cloudwatch, stubber


def test_status_shows_the_last_sweep_from_the_figures_every_run_publishes_with_no_write_of_its_own():
    from ripen_dev.operate.sending_commands import SWEEP_RUN_METRIC, last_sweep, last_sweep_line

    # Given the sweep's figures in CloudWatch: it ran at 09:57 and twice at 09:58, one run at 09:58 failed
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    ran = {now - timedelta(minutes=3): 1.0, now - timedelta(minutes=2): 2.0, now - timedelta(minutes=1): 0.0}
    cloudwatch, stubber = cloudwatch_answering(ran, {now - timedelta(minutes=2): 1.0}, now)
    # When status asks for the sweep's last hour
    found = last_sweep(cloudwatch, "ripen-prod", "ripen-prod-NurtureFunction-abc", now)
    # Then it reads the count every run publishes (not the function's invocations, which the sender
    # and engagement share), and says when it last ran
    stubber.assert_no_pending_responses()
    assert SWEEP_RUN_METRIC in SweepReport().metrics()
    assert found == {
        "function": "ripen-prod-NurtureFunction-abc",
        "last_run": "2026-03-02T09:58:00+00:00",
        "runs_last_hour": 3,
        "errors_last_hour": 1,
        "hours": 1,
    }
    assert last_sweep_line(found) == "last sweep: 2026-03-02T09:58:00+00:00 (3 runs in the last hour, 1 FAILED)"


def test_a_sweep_that_did_not_run_for_an_hour_is_said_loudly_and_the_dev_stack_says_unknown():
    from ripen_dev.operate.sending_commands import last_sweep, last_sweep_line

    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    cloudwatch, _ = cloudwatch_answering({}, {}, now)
    silent = last_sweep(cloudwatch, "ripen-prod", "ripen-prod-NurtureFunction-abc", now)
    assert last_sweep_line(silent).startswith("last sweep: NONE in the last hour")
    dev = {"unknown": "no NurtureFunctionName stack output (ripen dev sweeps in-process, every few seconds)"}
    assert last_sweep_line(dev).startswith("last sweep: unknown (no NurtureFunctionName stack output")
