"""Reading import files (`ripen import`): CSV with a BOM, a mapping, duplicates, bad rows, another
encoding; the Amazon Pinpoint endpoint export with opt-outs, other channels and unknown fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from ripen_dev.operate import importing
from ripen_dev.operate.target import OperatorError
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "import"


def written(tmp_path: Path, data: bytes | str, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_the_sample_csv_merges_duplicates_and_lists_bad_rows_with_their_line():
    parsed = importing.read(EXAMPLES / "leads.csv")
    # Given a BOM, CRLF lines, a consent column and a duplicate address in another case
    assert parsed.consent_column
    assert [(r.line, r.form.email) for r in parsed.rows] == [(2, "ana@example.com"), (3, "ben@example.org")]
    ana = parsed.rows[0]
    assert ana.form.name == "Ana"
    assert ana.form.tz == "Europe/Berlin"
    assert dict(ana.form.attributes) == {"company": "Fernhill", "plan": "pro"}  # the first row's details win
    assert ana.consented_at.isoformat() == "2025-11-04T10:12:00+00:00"
    assert parsed.merged == 1
    assert [(b.line, b.reason.split(":")[0]) for b in parsed.bad] == [(4, "consent"), (5, "email")]


def test_a_file_in_another_encoding_is_refused_with_the_line_of_its_first_bad_byte(tmp_path):
    path = written(tmp_path, "email,name\nana@example.com,Ana\nchloe@example.net,Chloé\n".encode("latin-1"))
    with pytest.raises(OperatorError, match=r"leads.csv:3: not UTF-8 \(byte 0xe9\)"):
        importing.read(path)


def test_columns_are_mapped_and_a_file_without_an_address_column_is_refused(tmp_path):
    path = written(tmp_path, "Work Mail;Vorname\nana@example.com;Ana\n")
    with pytest.raises(OperatorError, match="--map email=COLUMN"):
        importing.read(path)
    [row] = importing.read(path, {"email": "Work Mail", "name": "Vorname"}).rows
    assert (row.form.email, row.form.name, row.consent) == ("ana@example.com", "Ana", None)
    with pytest.raises(OperatorError, match="no column 'Mail'"):
        importing.read(path, {"email": "Mail"})
    with pytest.raises(OperatorError, match="--map phone="):
        importing.read(path, {"phone": "Tel"})


def test_a_consent_answer_that_is_neither_yes_nor_no_is_a_bad_row(tmp_path):
    parsed = importing.read(written(tmp_path, "email,consent\nana@example.com,maybe\nben@example.org,Yes\n"))
    assert [b.line for b in parsed.bad] == [2]
    assert [r.consent for r in parsed.rows] == [True]


def test_the_pinpoint_export_imports_email_endpoints_their_opt_outs_and_ignores_what_it_does_not_know():
    parsed = importing.read(EXAMPLES / "pinpoint-endpoints.jsonl")
    assert parsed.kind == "pinpoint"
    assert not parsed.consent_column
    ana, ben, chloe = parsed.rows
    assert (ana.form.name, ana.form.tz, ana.opted_out) == ("Ana", "Europe/Berlin", False)
    assert dict(ana.form.attributes) == {"interests": "analytics, dashboards", "plan": "pro", "company": "Fernhill"}
    assert (ben.form.email, ben.opted_out) == ("ben@example.org", True)
    assert chloe.form.name == "Chloé"  # unknown fields (RequestId, UnknownFutureField) ignored
    assert parsed.ignored == 1  # the SMS endpoint
    assert [b.line for b in parsed.bad] == [5]


def test_a_pinpoint_line_that_is_not_json_is_a_bad_row(tmp_path):
    path = written(tmp_path, '{"ChannelType":"EMAIL","Address":"ana@example.com"}\n{"Address": \n', "export.jsonl")
    parsed = importing.read(path)
    assert [r.form.email for r in parsed.rows] == ["ana@example.com"]
    assert [b.line for b in parsed.bad] == [2]
