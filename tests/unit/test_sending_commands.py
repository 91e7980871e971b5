"""`ripen sending` and `ripen status` as a user types them: registered on the `ripen` command, and one
clear line with a non-zero exit when there is no stack to work on."""

from __future__ import annotations

import pytest

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
