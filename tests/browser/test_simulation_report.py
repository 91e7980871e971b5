"""The simulation report opens in Chromium as one self-contained file, with its charts and its numbers."""

from __future__ import annotations

import pytest

from ripen_dev.simulation.model import load_model
from ripen_dev.simulation.report import write_report
from ripen_dev.simulation.simulate import simulate
from tests.conftest import REPO
from tests.support.simulation import plan_for

pytestmark = pytest.mark.browser


def test_the_report_shows_the_funnel_charts_and_figures_of_the_run(page, catalog, tmp_path):
    # Given a simulation of the trial sequence
    trial = catalog.current("trial-nurture")
    model = load_model(REPO / "examples" / "simulation" / "trial-nurture.yaml")
    result = simulate(plan_for(trial, model, leads=800, days=40, seed=3), 1)
    tally = result.tally
    report = write_report(result, tmp_path / "report.html")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    # When a marketer opens the report
    page.goto(report.as_uri())
    # Then it loads nothing from anywhere else
    assert requests == [report.as_uri()]
    assert page.get_by_role("heading", name="Funnel per email step").is_visible()
    # And each email step has its row, with the simulation's numbers
    rows = page.locator("table.funnel tbody tr")
    assert rows.count() == len(tally.steps)
    case_study = tally.steps["case-study"]
    cells = page.locator('table.funnel tr[data-step="case-study"] td').all_inner_texts()
    assert cells[0] == "case-study"
    assert cells[1] == f"{case_study.sent:,}"
    assert cells[3] == f"{case_study.delivered:,}"
    assert cells[4].startswith(f"{case_study.opened:,}")
    total = page.locator('table.funnel tr[data-step="total"] td').all_inner_texts()
    assert total[1] == f"{sum(f.sent for f in tally.steps.values()):,}"
    # And the key figures
    assert page.locator('[data-figure="leads"]').inner_text() == "800"
    assert page.locator('[data-figure="emails"]').inner_text() == f"{tally.emails:,}"
    assert page.locator('[data-figure="sales-ready"]').inner_text() == f"{tally.sales_ready:,}"
    median, p90 = tally.days_to_sales_ready_summary() or (0.0, 0.0)
    assert page.locator('[data-figure="days-to-sales-ready"]').inner_text() == f"{median:.1f} / {p90:.1f}"
    # And the four charts are drawn: funnel, sends per day, stages over time, days to sales-ready
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    labels = [charts.nth(i).get_attribute("aria-label") for i in range(4)]
    assert labels == [
        "Funnel per email step: sent, delivered, opened, clicked",
        "Emails sent per day",
        "Where leads stand at the end of each day",
        "Days from signup to sales-ready",
    ]
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 100
    assert page.locator("svg.chart rect").count() > len(tally.steps) * 4
    # And where the leads stand after the run adds up to every lead
    outcome_counts = page.locator("table.outcomes tbody tr td:nth-child(2)").all_inner_texts()
    assert sum(int(c.replace(",", "")) for c in outcome_counts) == 800
    assert page.locator(".broken").count() == 0
    # And it fits a phone: only the wide tables scroll, inside their own box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
