"""`ripen import` through the functions' signup service: 1,000 rows on DynamoDB Local and 10,000 on the
in-memory stack, bad rows mixed in, running it again changes nothing; the command line on DynamoDB Local."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from ripen.core.leads import lead_id_for
from ripen_dev.cli import main
from ripen_dev.fakes.store import InMemoryStore
from ripen_dev.operate import importing
from tests.conftest import REPO
from tests.support.ids import LEAD_ID_KEY
from tests.support.mailstack import make_stack
from tests.support.operate import operated_stack

pytestmark = pytest.mark.integration

ROWS = 1_000  # on DynamoDB Local (each row is the signup's conditional writes); 10,000 on the fakes in
# the test below
BAD_EVERY = 97  # one bad row in 97


def big_csv(path: Path, rows: int) -> tuple[int, int]:
    """A CSV of `rows` leads with consent; every 97th row bad, every 50th a duplicate (other case)."""
    rng = random.Random(7)
    lines = ["email,name,consent,plan"]
    bad = duplicates = 0
    for i in range(rows):
        if i % BAD_EVERY == 13:
            lines.append(f"lead{i}.example.com,Bad,yes,pro")
            bad += 1
        elif i % 50 == 49 and (i - 1) % BAD_EVERY != 13:
            lines.append(f"LEAD{i - 1}@Example.com,,yes,")
            duplicates += 1
        else:
            lines.append(f"lead{i}@example.com,{rng.choice(['Ana', 'Ben', 'Chloé'])},yes,{rng.choice(['pro', 'free'])}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad, duplicates


def test_a_thousand_rows_import_with_bad_rows_listed_and_a_second_run_changes_nothing(
    dynamo_settings, clock, catalog, tmp_path
):
    stack = operated_stack(dynamo_settings, clock, catalog)
    bad, duplicates = big_csv(tmp_path / "big.csv", ROWS)
    parsed = importing.read(tmp_path / "big.csv")
    assert len(parsed.bad) == bad
    assert parsed.merged == duplicates
    # When it is imported into the ebook nurture (consent given: enrolled at once)
    started = time.monotonic()
    report = importing.run(stack.app, parsed, "ebook-nurture", file="big.csv", rate=0, workers=8)
    seconds = time.monotonic() - started
    # Then every good row is enrolled, and its first email queued once
    good = ROWS - bad - duplicates
    assert report.outcomes == Counter({"enrolled": good})
    assert len(stack.queue.drain()) == good
    print(f"\nimported {good} rows in {seconds:.1f} s: {good / seconds:.0f} rows/s")
    # And running it again enrolls no one twice and queues nothing
    again = importing.run(
        stack.app, importing.read(tmp_path / "big.csv"), "ebook-nurture", file="big.csv", rate=0, workers=8
    )
    assert again.outcomes == Counter({"already_enrolled": good})
    assert stack.queue.drain() == []


def test_ten_thousand_rows_with_bad_rows_mixed_in_import_once_on_the_in_memory_stack(clock, catalog, tmp_path):
    stack = make_stack(InMemoryStore(), clock, catalog)
    bad, duplicates = big_csv(tmp_path / "big.csv", 10_000)
    parsed = importing.read(tmp_path / "big.csv")
    report = importing.run(stack.app, parsed, "ebook-nurture", file="big.csv", rate=0, workers=4)
    good = 10_000 - bad - duplicates
    assert report.outcomes == Counter({"enrolled": good})
    assert len(report.bad) == bad
    assert len(stack.queue.drain()) == good
    again = importing.run(stack.app, importing.read(tmp_path / "big.csv"), "ebook-nurture", file="big.csv", rate=0)
    assert again.outcomes == Counter({"already_enrolled": good})
    assert stack.queue.drain() == []


def test_the_command_imports_the_pinpoint_sample_on_the_functions_tables(
    dynamo_settings, clock, catalog, monkeypatch, capsys
):
    stack = operated_stack(dynamo_settings, clock, catalog)
    for name, value in stack.app.settings.model_dump(by_alias=True).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("SEND_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/unused")
    sample = str(REPO / "examples" / "import" / "pinpoint-endpoints.jsonl")
    assert main(["import", sample, "--sequence", "trial-nurture", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["outcomes"] == {"unsubscribed (opted out)": 1, "would ask for confirmation (double opt-in)": 2}
    assert [b["line"] for b in report["bad_rows"]] == [5]
    assert main(["import", sample, "--sequence", "nope"]) == 1
    assert capsys.readouterr().err.startswith("ripen: no sequence 'nope'")
    assert main(["import", str(REPO / "README.md"), "--sequence", "trial-nurture"]) == 1
    assert "--map email=COLUMN" in capsys.readouterr().err
    # (the dry run stored nothing)
    ben = lead_id_for("ben@example.org", LEAD_ID_KEY.encode())
    assert stack.store.get_lead(ben) is None
