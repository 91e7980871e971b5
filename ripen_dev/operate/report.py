"""`ripen report`: what happened, per sequence, version and email step, from the Stats table (through
its one reader, `ripen.ports.stats.funnel_of`), and the outcomes of enrollments (sales-ready, goal) from
the Enrollments table, with the median days to them and the hand-offs of the period.

The HTML report draws its charts with the simulation report's renderer (`ripen_dev.simulation.report`),
so "what we simulated" and "what happened" read side by side.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ripen.core import engagement as counters
from ripen.core.records import EnrollmentRecord
from ripen.core.state import Status
from ripen.ports.stats import funnel_of
from ripen_dev import prices
from ripen_dev.operate.progress import Progress

if TYPE_CHECKING:
    from ripen.app import App

GOAL = "goal_reached"  # the counter goals are written under, once product events count them
COLUMNS = (
    ("sent", counters.SENT),
    ("delivered", counters.DELIVERED),
    ("opened", counters.OPENED),
    ("machine_opens", counters.MACHINE_OPENS),
    ("clicked", counters.CLICKED),
    ("bounced", counters.BOUNCED),
    ("complained", counters.COMPLAINED),
    ("unsubscribed", counters.UNSUBSCRIBED),
    ("goals", GOAL),
    ("sales_ready", counters.SALES_READY),
)


@dataclass
class StepRow:
    version: int
    step: str
    counts: dict[str, int]
    links: dict[str, int]


@dataclass
class SequenceReport:
    name: str
    steps: list[StepRow] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # enrollments by status (its value)
    days_to_sales_ready: list[float] = field(default_factory=list)
    days_to_goal: list[float] = field(default_factory=list)

    def total(self, column: str) -> int:
        return sum(row.counts[column] for row in self.steps)

    @property
    def entered(self) -> int:
        return sum(self.outcomes.values())

    def rate(self, status: Status) -> float | None:
        return self.outcomes[status.value] / self.entered if self.entered else None


@dataclass
class Report:
    source: str
    since: date | None
    sequences: list[SequenceReport]
    handoffs: list[dict[str, Any]]
    generated_at: datetime

    @property
    def emails(self) -> int:
        return sum(s.total("sent") for s in self.sequences)


def build(
    app: App, sequence: str | None = None, since: date | None = None, source: str = "", progress: Progress | None = None
) -> Report:
    names = [sequence] if sequence else app.catalog.names()
    reports = {name: SequenceReport(name) for name in names}
    for name in names:
        for (version, step), counts in sorted(funnel_of(app.stats, name, since).items()):
            links = {
                k.removeprefix(counters.LINK_PREFIX): v for k, v in counts.items() if k.startswith(counters.LINK_PREFIX)
            }
            row = {column: counts.get(counter, 0) for column, counter in COLUMNS}
            reports[name].steps.append(StepRow(version, step, row, dict(sorted(links.items()))))
        if progress is not None:
            progress.advance()
    handoffs: list[dict[str, Any]] = []
    for e in outcomes(app, set(names), progress):
        entered = e.entered_at
        ended_before = e.ended_at is None or e.ended_at.date() < since if since else False
        if since is not None and (entered is None or entered.date() < since) and ended_before:
            continue
        report = reports[e.sequence]
        report.outcomes[e.status] += 1
        days = (e.ended_at - entered).total_seconds() / 86400 if e.ended_at and entered else None
        if e.status == Status.SALES_READY and days is not None:
            report.days_to_sales_ready.append(days)
        if e.status == Status.GOAL_REACHED and days is not None:
            report.days_to_goal.append(days)
        if e.status == Status.SALES_READY and e.ended_at and (since is None or e.ended_at.date() >= since):
            handoffs.append(
                {
                    "lead_id": e.lead_id,
                    "sequence": e.sequence,
                    "score": e.score,
                    "stage": e.stage,
                    "at": e.ended_at.isoformat(),
                }
            )
    handoffs.sort(key=lambda h: h["at"])
    return Report(source, since, list(reports.values()), handoffs, app.clock.now())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the report reads of an enrollment."""

    lead_id: str
    sequence: str
    status: str
    entered_at: datetime | None
    ended_at: datetime | None
    score: float
    stage: str


OUTCOME_ATTRIBUTES = ("lead_id", "sequence", "status", "entered_at", "ended_at", "score", "stage")
SCAN_SEGMENTS = 4  # parallel scan: the Enrollments table read in four parts at once
SCAN_PAGE = 2_000  # items a scan request looks at
SCAN_READ_TIMEOUT = 60  # seconds


def outcomes(app: App, names: set[str], progress: Progress | None = None) -> Iterator[Outcome]:
    """The outcome of every enrollment of these sequences: a parallel scan of the Enrollments table
    reading only these attributes (operators only: no function scans), or the in-memory store's records."""
    from ripen.adapters.dynamodb import DynamoStore
    from ripen_dev.fakes.store import InMemoryStore

    store = app.store
    if isinstance(store, InMemoryStore):
        for record in list(store.enrollments.values()):
            e = record.enrollment
            if e.sequence in names:
                yield Outcome(e.lead_id, e.sequence, e.status.value, e.entered_at, e.ended_at, e.score, e.stage)
        return
    assert isinstance(store, DynamoStore)
    import boto3
    from botocore.config import Config

    from ripen.adapters.tables import EnrollmentItem

    s = app.settings
    # An operator's long read: pages of a scan, each given longer than a function's requests may take
    config = Config(read_timeout=SCAN_READ_TIMEOUT, retries={"mode": "standard", "total_max_attempts": 5})
    dynamodb: Any = boto3.session.Session().client(
        "dynamodb", region_name=s.region, endpoint_url=s.dynamodb_endpoint, config=config
    )
    values = {f":s{i}": {"S": name} for i, name in enumerate(sorted(names))}
    request = {
        "TableName": s.enrollments_table,
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(OUTCOME_ATTRIBUTES))),
        "FilterExpression": f"#a1 IN ({', '.join(values)})",
        "ExpressionAttributeNames": {f"#a{i}": a for i, a in enumerate(OUTCOME_ATTRIBUTES)},
        "ExpressionAttributeValues": values,
        "TotalSegments": SCAN_SEGMENTS,
        "Limit": SCAN_PAGE,
    }
    when: Any = EnrollmentItem.entered_at

    def segment(number: int) -> list[Outcome]:
        found = []
        for page in dynamodb.get_paginator("scan").paginate(**request, Segment=number):
            for item in page["Items"]:
                found.append(
                    Outcome(
                        item["lead_id"]["S"],
                        item["sequence"]["S"],
                        item["status"]["S"],
                        when.deserialize(when.get_value(item["entered_at"])) if "entered_at" in item else None,
                        when.deserialize(when.get_value(item["ended_at"])) if "ended_at" in item else None,
                        float(item["score"]["N"]) if "score" in item else 0.0,
                        item.get("stage", {}).get("S", ""),
                    )
                )
            if progress is not None:
                progress.advance(len(page["Items"]))
        return found

    with ThreadPoolExecutor(SCAN_SEGMENTS) as pool:
        for part in pool.map(segment, range(SCAN_SEGMENTS)):
            yield from part


def enrollments(app: App, names: set[str], progress: Progress | None = None) -> Iterable[EnrollmentRecord]:
    """Every enrollment of these sequences (a scan: operators only, no function scans)."""
    from ripen_dev.operate.scans import enrollments_in

    return enrollments_in(app.store, names, progress)


def cost(emails: int) -> dict[str, float]:
    """Estimated dollars per 1,000 emails: SES's price, and the infrastructure (DynamoDB, Lambda, SQS,
    EventBridge) at most `prices.TARGET_PER_THOUSAND`, the ceiling `make bench` holds it to."""
    ses = prices.SES_EMAIL * 1000
    return {
        "ses_per_1000": round(ses, 4),
        "infrastructure_per_1000_at_most": prices.TARGET_PER_THOUSAND,
        "total_per_1000_at_most": round(ses + prices.TARGET_PER_THOUSAND, 4),
        "period_total_at_most": round(emails / 1000 * (ses + prices.TARGET_PER_THOUSAND), 2),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def as_json(report: Report) -> dict[str, Any]:
    return {
        "stack": report.source,
        "since": report.since.isoformat() if report.since else None,
        "generated_at": report.generated_at.isoformat(),
        "sequences": [
            {
                "sequence": s.name,
                "steps": [
                    {"version": r.version, "step": r.step, **r.counts, "clicked_links": r.links} for r in s.steps
                ],
                "totals": {column: s.total(column) for column, _ in COLUMNS},
                "enrollments": dict(sorted(s.outcomes.items())),
                "conversion": {
                    "sales_ready": _round(s.rate(Status.SALES_READY)),
                    "goal": _round(s.rate(Status.GOAL_REACHED)),
                },
                "median_days": {"sales_ready": _median(s.days_to_sales_ready), "goal": _median(s.days_to_goal)},
            }
            for s in report.sequences
        ],
        "handoffs": report.handoffs,
        "emails": report.emails,
        "cost": cost(report.emails),
    }


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def text(report: Report) -> str:
    since = f" since {report.since.isoformat()}" if report.since else ""
    lines = [f"ripen report: {report.source}{since}"]
    header = f"  {'version/step':<28}" + "".join(f"{name:>13}" for name, _ in COLUMNS)
    for s in report.sequences:
        lines += ["", s.name, header]
        for r in s.steps:
            lines.append(f"  {f'v{r.version} {r.step}':<28}" + "".join(f"{r.counts[c]:>13,}" for c, _ in COLUMNS))
            if r.links:
                lines.append("      clicked links: " + ", ".join(f"{k} {v}" for k, v in r.links.items()))
        lines.append(f"  {'all steps':<28}" + "".join(f"{s.total(c):>13,}" for c, _ in COLUMNS))
        ready, goal = s.rate(Status.SALES_READY), s.rate(Status.GOAL_REACHED)
        lines.append(
            f"  enrollments {s.entered:,}: sales-ready {_pct(ready)} (median {_days(_median(s.days_to_sales_ready))}), "
            f"goal {_pct(goal)} (median {_days(_median(s.days_to_goal))})"
        )
    lines += ["", f"hand-offs to sales: {len(report.handoffs)}"]
    lines += [
        f"  {h['at']}  {h['lead_id']}  {h['sequence']}  score {h['score']:g}  {h['stage']}"
        for h in report.handoffs[:50]
    ]
    c = cost(report.emails)
    lines += [
        "",
        f"{report.emails:,} emails; estimated cost per 1,000 emails: ${c['total_per_1000_at_most']} at most "
        f"(SES ${c['ses_per_1000']} + infrastructure at most ${c['infrastructure_per_1000_at_most']}; "
        "prices: ripen_dev/prices.py)",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _days(value: float | None) -> str:
    return f"{value:g} days" if value is not None else "-"


def html(report: Report) -> str:
    from ripen_dev.simulation.report import PALETTE, Series, grouped_bars

    charts = {}
    for s in report.sequences:
        categories = [f"v{r.version} {r.step}" for r in s.steps]
        charts[s.name] = grouped_bars(
            f"{s.name}: sent, delivered, opened, clicked per email step",
            categories,
            [
                Series("sent", [float(r.counts["sent"]) for r in s.steps], PALETTE[0]),
                Series("delivered", [float(r.counts["delivered"]) for r in s.steps], PALETTE[4]),
                Series("opened", [float(r.counts["opened"]) for r in s.steps], PALETTE[1]),
                Series("clicked", [float(r.counts["clicked"]) for r in s.steps], PALETTE[2]),
            ],
        )
    environment = Environment(
        loader=PackageLoader("ripen_dev.operate", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )
    return environment.get_template("report.html").render(
        report=report, data=as_json(report), charts=charts, columns=[name for name, _ in COLUMNS]
    )


def write_html(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html(report), encoding="utf-8")
    return path
