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
