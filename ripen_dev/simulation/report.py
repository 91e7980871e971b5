"""The simulation's HTML report: one self-contained file (inline SVG charts drawn here, no script, no CDN).

Charts: the funnel per email step, emails sent per day, where leads stand day by day (stages and
outcomes, stacked), and days to sales-ready. Every chart has its numbers in a table too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ripen_dev.simulation.funnel import Tally
from ripen_dev.simulation.simulate import SimulationResult
from ripen_dev.simulation.summary import share, total_funnel

PALETTE = (
    "#1f77b4",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#17becf",
    "#bcbd22",
    "#8c564b",
    "#e377c2",
    "#d62728",
    "#7f7f7f",
    "#aec7e8",
    "#98df8a",
)
LABEL_COLOURS = {
    "not signed up yet": "#e5e7eb",
    "awaiting confirmation": "#cbd5e1",
    "sales-ready": "#16a34a",
    "goal-reached": "#0d9488",
    "completed": "#94a3b8",
    "unsubscribed": "#f59e0b",
    "suppressed": "#dc2626",
    "expired": "#64748b",
}
STAGE_COLOURS = ("#93c5fd", "#3b82f6", "#1d4ed8", "#1e3a8a", "#6366f1", "#a855f7")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    colour: str


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    content = "".join(body)
    return Markup(  # noqa: S704 - built here from numbers and escaped names only
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" class="chart">{content}</svg>'
    )


def _nice_max(value: float) -> float:
    """A round top for an axis of four steps, each a whole number."""
    if value <= 4:
        return 4
    magnitude = int(10 ** (len(str(int(value))) - 1))
    for tenths in (10, 12, 16, 20, 24, 30, 40, 50, 60, 80, 100):
        top = tenths * magnitude // 10
        if value <= top and top % 4 == 0 and tenths * magnitude % 10 == 0:
            return top
    return 10 * magnitude


def _axis(x0: int, y0: int, width: int, height: int, top: float) -> list[str]:
    fmt = "{:,.0f}" if top % 4 == 0 else "{:,.1f}"
    parts = []
    for i in range(5):
        value = top * i / 4
        y = y0 + height - height * i / 4
        parts.append(f'<line x1="{x0}" x2="{x0 + width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{fmt.format(value)}</text>')
    return parts


def _legend(series: list[Series], x: int, y: int) -> list[str]:
    parts, offset = [], 0
    for s in series:
        parts.append(f'<rect x="{x + offset}" y="{y - 10}" width="12" height="12" fill="{s.colour}"/>')
        parts.append(f'<text x="{x + offset + 16}" y="{y}" class="legend">{escape(s.name)}</text>')
        offset += 24 + 7 * len(s.name)
    return parts


def grouped_bars(label: str, categories: list[str], series: list[Series]) -> Markup:
    width, height, left, top_pad, bottom = 760, 340, 64, 34, 90
    plot_w, plot_h = width - left - 16, height - top_pad - bottom
    top = _nice_max(max((v for s in series for v in s.values), default=0))
    parts = _axis(left, top_pad, plot_w, plot_h, top)
    group = plot_w / max(1, len(categories))
    bar = group * 0.8 / max(1, len(series))
    for ci, category in enumerate(categories):
        gx = left + ci * group + group * 0.1
        for si, s in enumerate(series):
            value = s.values[ci]
            h = plot_h * value / top
            x = gx + si * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar * 0.92:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(category)}: {value:,.0f} {escape(s.name)}</title></rect>'
            )
        cx = gx + group * 0.4
        parts.append(
            f'<text x="{cx:.1f}" y="{top_pad + plot_h + 14}" text-anchor="end" class="tick" '
            f'transform="rotate(-35 {cx:.1f} {top_pad + plot_h + 14})">{escape(category)}</text>'
        )
    parts += _legend(series, left, 18)
    return _svg(width, height, label, parts)


def columns(label: str, values: list[float], labels: list[str], colour: str, every: int = 7) -> Markup:
    width, height, left, top_pad, bottom = 760, 260, 64, 16, 40
    plot_w, plot_h = width - left - 16, height - top_pad - bottom
    top = _nice_max(max(values, default=0))
    parts = _axis(left, top_pad, plot_w, plot_h, top)
    slot = plot_w / max(1, len(values))
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = left + i * slot
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{top_pad + plot_h - h:.1f}" width="{max(slot * 0.8, 0.5):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{escape(labels[i])}: {value:,.0f}</title></rect>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" class="tick">'
                f"{escape(labels[i])}</text>"
            )
    return _svg(width, height, label, parts)


def stacked_area(label: str, series: list[Series], days: int) -> Markup:
    width, height, left, top_pad, bottom = 760, 340, 64, 16, 40
    plot_w, plot_h = width - left - 16, height - top_pad - bottom - 56
    totals = [sum(s.values[d] for s in series) for d in range(days)]
    top = max(totals, default=0) or 1
    parts = _axis(left, top_pad, plot_w, plot_h, top)

    def x(day: int) -> float:
        return left + (plot_w * day / max(1, days - 1))

    base = [0.0] * days
    for s in series:
        upper = [base[d] + s.values[d] for d in range(days)]
        points = [f"{x(d):.1f},{top_pad + plot_h - plot_h * upper[d] / top:.1f}" for d in range(days)]
        points += [f"{x(d):.1f},{top_pad + plot_h - plot_h * base[d] / top:.1f}" for d in reversed(range(days))]
        parts.append(
            f'<polygon points="{" ".join(points)}" fill="{s.colour}"><title>{escape(s.name)}</title></polygon>'
        )
        base = upper
    for d in range(0, days, 7):
        parts.append(
            f'<text x="{x(d):.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" class="tick">day {d}</text>'
        )
    legend_y = top_pad + plot_h + 44
    parts += _legend(series[: len(series) // 2 + 1], left, legend_y)
    parts += _legend(series[len(series) // 2 + 1 :], left, legend_y + 20)
    return _svg(width, height, label, parts)


def stage_series(tally: Tally) -> list[Series]:
    by_day = tally.stages_by_day()
    stages = [label for label in tally.labels if label not in LABEL_COLOURS]
    series = []
    for label, values in by_day.items():
        if not any(values):
            continue
        colour = LABEL_COLOURS.get(label) or STAGE_COLOURS[stages.index(label) % len(STAGE_COLOURS)]
        series.append(Series(label, [float(v) for v in values], colour))
    return series


def histogram(values: list[float], bucket: float = 1.0) -> tuple[list[float], list[str]]:
    if not values:
        return [], []
    buckets = int(max(values) // bucket) + 1
    counts = [0.0] * buckets
    for value in values:
        counts[int(value // bucket)] += 1
    return counts, [f"{i * bucket:g}" for i in range(buckets)]


def render_report(result: SimulationResult) -> str:
    plan, tally = result.plan, result.tally
    steps = list(tally.steps.values())
    funnel_chart = grouped_bars(
        "Funnel per email step: sent, delivered, opened, clicked",
        [f.step for f in steps],
        [
            Series("sent", [float(f.sent) for f in steps], PALETTE[0]),
            Series("delivered", [float(f.delivered) for f in steps], PALETTE[4]),
            Series("opened", [float(f.opened) for f in steps], PALETTE[1]),
            Series("clicked", [float(f.clicked) for f in steps], PALETTE[2]),
        ],
    )
    day_labels = [(plan.start + timedelta(days=d)).strftime("%b %d") for d in range(plan.days)]
    sends_chart = columns(
        "Emails sent per day", [float(v) for v in tally.sends_per_day], day_labels, PALETTE[0], every=14
    )
    stages = stage_series(tally)
    stage_chart = stacked_area("Where leads stand at the end of each day", stages, plan.days)
    counts, buckets = histogram(tally.days_to_sales_ready)
    ready_chart = columns("Days from signup to sales-ready", counts, buckets, "#16a34a", every=2) if counts else None
    weekly = list(range(0, plan.days, 7))
    if plan.days - 1 not in weekly:
        weekly.append(plan.days - 1)
    environment = Environment(
        loader=PackageLoader("ripen_dev.simulation", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )
    summary = tally.days_to_sales_ready_summary()
    return environment.get_template("report.html").render(
        plan=plan,
        result=result,
        tally=tally,
        steps=steps,
        total=total_funnel(tally),
        share=share,
        funnel_chart=funnel_chart,
        sends_chart=sends_chart,
        stage_chart=stage_chart,
        ready_chart=ready_chart,
        stages=stages,
        weekly=weekly,
        ready_summary=summary,
        outcomes=[
            (label, tally.outcomes[label])
            for label in [*tally.labels, *(k for k in tally.outcomes if k not in tally.labels)]
            if tally.outcomes[label]
        ],
        broken=tally.identities(),
    )


def write_report(result: SimulationResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(result), encoding="utf-8")
    return path
