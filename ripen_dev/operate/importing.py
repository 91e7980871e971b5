"""`ripen import FILE --sequence S`: leads from a CSV file or an Amazon Pinpoint endpoint export.

Reading: a CSV (UTF-8, a BOM allowed; a file in another encoding is refused with the line of its first
bad byte) whose columns are mapped onto signup fields (`--map email=Email`), or the JSON lines a
Pinpoint `CreateExportJob` writes (`Address`, `ChannelType`, `OptOut`, `User.UserAttributes`,
`Attributes`, `Location.TimeZone`; other fields ignored). Every row is checked as a form post is
(`parse_signup`): a bad row is listed with its line and reason, the good rows go on. Rows of one
address are merged into one.

Importing: each row goes through the functions' signup service (`Signup.capture`), so consent,
double opt-in, re-entry and suppression rules are theirs, and its conditional writes make running the
import again safe (a lead is created once, an enrollment claimed once, an email claimed once). With a
`consent` column, a row that says yes is imported with its consent proven (a confirmed opt-in done
elsewhere, at `consented_at` when given); without one, every row is a signup that gets the sequence's
double opt-in confirmation and nothing else until confirmed. An address suppressed, unsubscribed or
erased with an opt-out is skipped: an import never brings back someone who left. A Pinpoint
endpoint with `OptOut: ALL` is imported as an unsubscribe.

Writes are throttled (`--rate` rows a second over `--workers` threads); DynamoDB throttling is retried
by the client (standard retry mode, with backoff).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ripen.core.engagement import unsubscribed
from ripen.core.leads import erased_hash_for, lead_id_for
from ripen.core.records import Lead, LeadStatus
from ripen.models.signup import FIELDS as SIGNUP_FIELDS
from ripen.models.signup import InvalidSignupError, Limits, SignupForm, attribute_name, parse_signup
from ripen.services.signup import NoSequenceError
from ripen_dev.operate.progress import Progress
from ripen_dev.operate.target import OperatorError

if TYPE_CHECKING:
    from ripen.app import App

FIELDS = ("email", "name", "timezone", "consent", "consented_at")
# Column names recognised without --map (compared case-insensitively, - and _ and spaces alike).
CSV_NAMES = {
    "email": ("email", "emailaddress", "e_mail", "mail", "address"),
    "name": ("name", "firstname", "first_name", "fname"),
    "timezone": ("timezone", "tz", "time_zone"),
    "consent": ("consent", "optin", "opt_in", "consented", "subscribed"),
    "consented_at": ("consented_at", "consent_date", "optin_date", "opt_in_date", "consent_at"),
}
PINPOINT_PATHS = {
    "email": "Address",
    "name": "User.UserAttributes.FirstName",
    "timezone": "Location.TimeZone",
}
YES = {"yes", "y", "true", "1", "x", "opted in", "opt-in", "granted"}
NO = {"no", "n", "false", "0", "", "opted out", "denied"}
OPT_OUT_REASON = "opted out in Amazon Pinpoint (imported)"


@dataclass
class Row:
    line: int
    form: SignupForm
    consent: bool | None = None  # None: the file has no consent column
    consented_at: datetime | None = None
    opted_out: bool = False


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class Parsed:
    kind: str  # "csv" or "pinpoint"
    rows: list[Row] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    merged: int = 0  # rows folded into an earlier row of the same address
    consent_column: bool = False
    ignored: int = 0  # Pinpoint endpoints of other channels (SMS, push)
    ignored_columns: list[str] = field(default_factory=list)  # not usable as attribute names


# -- reading ---------------------------------------------------------------------------------------------


def read(path: Path, mapping: Mapping[str, str] | None = None) -> Parsed:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OperatorError(f"cannot read {path}: {exc.strerror}") from None
    text = decoded(data, path)
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise OperatorError(f"--map {unknown[0]}=...: map one of {', '.join(FIELDS)}")
    if text.lstrip().startswith("{"):
        return _pinpoint(text, path, mapping)
    return _csv(text, path, mapping)


def decoded(data: bytes, path: Path) -> str:
    """UTF-8 text (a byte-order mark dropped); anything else is refused with the line it goes wrong on."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise OperatorError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8 "
            f"(e.g. iconv -f windows-1252 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix})"
        ) from None


def _csv(text: str, path: Path, mapping: dict[str, str]) -> Parsed:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader, None)
    if not header:
        raise OperatorError(f"{path}: empty (a header row naming the columns comes first)")
    columns = {_key(name): i for i, name in enumerate(header)}
    where: dict[str, int] = {}
    for name in FIELDS:
        if name in mapping:
            if _key(mapping[name]) not in columns:
                raise OperatorError(
                    f"{path}: no column {mapping[name]!r} (--map {name}=...); it has {', '.join(header)}"
                )
            where[name] = columns[_key(mapping[name])]
        else:
            found = next((columns[_key(c)] for c in CSV_NAMES[name] if _key(c) in columns), None)
            if found is not None:
                where[name] = found
    if "email" not in where:
        raise OperatorError(f"{path}: which column holds the address? name it with --map email=COLUMN")
    parsed = Parsed("csv", consent_column="consent" in where)
    extra: dict[int, str] = {}
    for i, name in enumerate(header):
        if i in where.values() or not name.strip():
            continue
        attribute = attribute_name(_key(name))
        if attribute is None or attribute in SIGNUP_FIELDS:
            parsed.ignored_columns.append(name)
        else:
            extra[i] = attribute
    seen: dict[str, Row] = {}
    for number, values in enumerate(reader, start=2):
        line = reader.line_num or number
        if not any(v.strip() for v in values):
            continue
        cell = {name: values[i].strip() if i < len(values) else "" for name, i in where.items()}
        attributes = {extra[i]: values[i] for i in extra if i < len(values) and values[i].strip()}
        _add(parsed, seen, line, cell, attributes, opted_out=False)
    return parsed


def _pinpoint(text: str, path: Path, mapping: dict[str, str]) -> Parsed:
    paths = {**PINPOINT_PATHS, **mapping}
    parsed = Parsed("pinpoint", consent_column="consent" in paths)
    seen: dict[str, Row] = {}
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            endpoint = json.loads(raw)
        except json.JSONDecodeError as exc:
            parsed.bad.append(BadRow(line, f"not a JSON object ({exc.msg})"))
            continue
        if not isinstance(endpoint, dict):
            parsed.bad.append(BadRow(line, "not a JSON object"))
            continue
        if str(endpoint.get("ChannelType", "EMAIL")).upper() != "EMAIL":
            parsed.ignored += 1
            continue
        cell = {name: _flat(_path(endpoint, p)) for name, p in paths.items()}
        attributes = {}
        for block in (endpoint.get("Attributes"), (endpoint.get("User") or {}).get("UserAttributes")):
            if isinstance(block, dict):
                attributes.update({k: _flat(v) for k, v in block.items() if _flat(v)})
        for used in paths.values():
            attributes.pop(used.rsplit(".", 1)[-1], None)
        attributes = {a: v for k, v in attributes.items() if (a := attribute_name(_key(k))) and a not in SIGNUP_FIELDS}
        opted_out = str(endpoint.get("OptOut", "NONE")).upper() == "ALL"
        _add(parsed, seen, line, cell, attributes, opted_out=opted_out)
    return parsed


def _add(
    parsed: Parsed, seen: dict[str, Row], line: int, cell: Mapping[str, str], extra: Mapping[str, str], opted_out: bool
) -> None:
    consent: bool | None = None
    if parsed.consent_column:
        answer = cell.get("consent", "").strip().lower()
        if answer not in YES | NO:
            parsed.bad.append(BadRow(line, f"consent: say yes or no, not {answer[:20]!r}"))
            return
        consent = answer in YES
        if not consent and not opted_out:
            parsed.bad.append(BadRow(line, "consent: no (a lead without consent is not imported)"))
            return
    consented_at = None
    if cell.get("consented_at"):
        try:
            consented_at = _moment(cell["consented_at"])
        except ValueError:
            parsed.bad.append(BadRow(line, f"consented_at: not a date or time ({cell['consented_at'][:30]!r})"))
            return
    fields: dict[str, Any] = {"email": cell.get("email", ""), "consent": True}
    if cell.get("name"):
        fields["name"] = cell["name"]
    if cell.get("timezone"):
        fields["tz"] = cell["timezone"]
    fields.update(extra)
    try:
        form = parse_signup(fields, Limits())
    except InvalidSignupError as exc:
        parsed.bad.append(BadRow(line, "; ".join(f"{p.field}: {p.message}" for p in exc.problems)))
        return
    row = Row(line, form, consent, consented_at, opted_out)
    earlier = seen.get(form.email)
    if earlier is None:
        seen[form.email] = row
        parsed.rows.append(row)
        return
    parsed.merged += 1  # one address twice: the first row's details win, the later fill gaps
    attributes = {**form.attributes, **earlier.form.attributes}
    earlier.form = earlier.form.model_copy(
        update={
            "name": earlier.form.name or form.name,
            "tz": earlier.form.tz or form.tz,
            "attributes": dict(list(attributes.items())[: Limits().max_attributes]),
        }
    )
    earlier.opted_out = earlier.opted_out or opted_out
    earlier.consent = None if earlier.consent is None else bool(earlier.consent or consent)
    earlier.consented_at = earlier.consented_at or consented_at


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _flat(value: Any) -> str:
    """Pinpoint keeps attributes as lists of strings: one value, or several joined."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v is not None)
    return str(value)


def _moment(text: str) -> datetime:
    at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# -- importing -------------------------------------------------------------------------------------------


@dataclass
class Report:
    file: str
    kind: str
    sequence: str
    dry_run: bool
    rows: int
    outcomes: Counter[str]
    bad: list[BadRow]
    merged: int
    ignored: int
    seconds: float
    ignored_columns: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.kind,
            "sequence": self.sequence,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "outcomes": dict(sorted(self.outcomes.items())),
            "bad_rows": [{"line": b.line, "reason": b.reason} for b in self.bad],
            "merged_duplicates": self.merged,
            "other_channels_ignored": self.ignored,
            "columns_ignored": self.ignored_columns,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds else None,
        }

    def text(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"{self.file} ({self.kind}) into {self.sequence}: {verb} {self.rows} addresses in {self.seconds:.1f} s"
        ]
        lines += [f"  {n:>7}  {what}" for what, n in sorted(self.outcomes.items())]
        if self.merged:
            lines.append(f"  {self.merged:>7}  duplicate rows merged into an earlier row of the same address")
        if self.ignored:
            lines.append(f"  {self.ignored:>7}  endpoints of other channels (SMS, push) ignored")
        if self.ignored_columns:
            lines.append(f"  columns ignored (not usable as attribute names): {', '.join(self.ignored_columns)}")
        if self.bad:
            lines.append(f"  {len(self.bad):>7}  bad rows, not imported:")
            lines += [f"    {self.file}:{b.line}: {b.reason}" for b in self.bad]
        return "\n".join(lines)


def run(
    app: App,
    parsed: Parsed,
    sequence: str,
    *,
    file: str,
    dry_run: bool = False,
    rate: float = 50.0,
    workers: int = 4,
    progress: Progress | None = None,
) -> Report:
    try:
        chosen = app.signup.sequence_for(sequence)
    except NoSequenceError as exc:
        raise OperatorError(f"no sequence {sequence!r}: choose one of {', '.join(exc.choices)}") from None
    if not parsed.consent_column and not chosen.double_opt_in.enabled:
        raise OperatorError(
            f"the file has no consent column, so every row would need a double opt-in confirmation, but "
            f"{sequence} has double_opt_in: false; add a consent column (--map consent=COLUMN) or choose a "
            "sequence with double opt-in"
        )
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    pace = _Pace(rate)
    one = _one_row(app, sequence, dry_run, source=f"import {Path(file).name}"[:100])

    def work(row: Row) -> None:
        pace.wait()
        outcome = one(row)
        with lock:
            outcomes[outcome] += 1
            if progress is not None:
                progress.advance()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for failure in pool.map(_caught(work), parsed.rows):
            if failure is not None:
                raise failure
    return Report(
        file,
        parsed.kind,
        sequence,
        dry_run,
        len(parsed.rows),
        outcomes,
        parsed.bad,
        parsed.merged,
        parsed.ignored,
        time.monotonic() - started,
    )


def _one_row(app: App, sequence: str, dry_run: bool, source: str) -> Callable[[Row], str]:
    store, key = app.store, app.lead_id_key

    def one(row: Row) -> str:
        form = row.form
        lead_id = lead_id_for(form.email, key)
        lead = store.get_lead(lead_id)
        if lead is None and store.erased(erased_hash_for(form.email, key)) is not None:
            return "skipped: erased with an opt-out kept"
        if lead is not None and lead.status is not LeadStatus.ACTIVE:
            return f"skipped: {lead.status.value}"
        if row.opted_out:
            return "unsubscribed (opted out)" if dry_run else _unsubscribe(app, lead, form)
        if dry_run:
            return "would enroll" if row.consent else "would ask for confirmation (double opt-in)"
        confirmed_at = (row.consented_at or app.clock.now()) if row.consent else None
        signup = form.model_copy(update={"sequence": sequence, "source": source})
        return app.signup.capture(signup, method="import", consent_confirmed_at=confirmed_at).status.value

    return one


def _unsubscribe(app: App, lead: Lead | None, form: SignupForm) -> str:
    """A Pinpoint opt-out: an unsubscribe from everything, kept on a lead of its own if there is none."""
    now = app.clock.now()
    if lead is not None:
        app.preferences.unsubscribe(lead.lead_id, "import")
        return "unsubscribed (opted out)"
    new = Lead(lead_id_for(form.email, app.lead_id_key), form.email, now, name=form.name, timezone=form.tz)
    left = unsubscribed(new, OPT_OUT_REASON, now)
    assert left is not None  # an active lead always can
    if not app.store.create_lead(replace(left, attributes=dict(form.attributes))):
        current = app.store.get_lead(new.lead_id)  # made meanwhile: unsubscribe that one
        if current is not None and current.status is LeadStatus.ACTIVE:
            app.preferences.unsubscribe(current.lead_id, "import")
    return "unsubscribed (opted out)"


class _Pace:
    """At most `rate` starts a second across the threads."""

    def __init__(self, rate: float) -> None:
        self.gap = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.gap:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.gap
        if start > now:
            time.sleep(start - now)


def _caught(work: Callable[[Row], None]) -> Callable[[Row], BaseException | None]:
    def run_one(row: Row) -> BaseException | None:
        try:
            work(row)
        except Exception as exc:
            return exc
        return None

    return run_one
