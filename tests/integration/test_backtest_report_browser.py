"""The HTML report of a backtest sweep in real headless Chromium: it loads from the file with
no network, and its equity and drawdown plots are drawn (a curve per run, with length and
extent on the page). A screenshot is kept as an artifact."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import headless_chromium

from engines.backtest import save_ticks
from engines.backtest.cli import synthetic_ticks
from nautilusd.ctl.main import main as nautilusctl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

pytest.importorskip("selenium.webdriver")
pytest.importorskip("pyarrow")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with headless_chromium(tmp_path, "--window-size=1200,1000") as chrome:
        yield chrome


def test_report_when_opened_in_chromium_shows_its_plots(
        tmp_path: Path, browser: Any, record_property: Any) -> None:
    """A 2-run sweep's report: both plots on the page, each with one drawn curve per run, and
    the runs table with both runs' figures."""
    data = tmp_path / "ticks.parquet"
    symbols = ("AAPL", "MSFT")
    save_ticks(synthetic_ticks(30_000, 2, 120.0), symbols, data)
    out, err = io.StringIO(), io.StringIO()
    code = nautilusctl(["backtest", "--data", str(data), "--out", str(tmp_path / "bt"),
                        "--sweep", "strategy.threshold_bps=1,3", "--workers", "2"], out, err)
    assert code == 0, err.getvalue()
    report = tmp_path / "bt" / "report.html"
    browser.get(report.as_uri())
    assert browser.title == "nautilusd backtest"
    for plot in ("equity-plot", "drawdown-plot"):
        geometry = browser.execute_script(
            "const svg = document.getElementById(arguments[0]);"
            "const box = svg.getBoundingClientRect();"
            "const curves = [...svg.querySelectorAll('polyline.curve')].map(c =>"
            " ({length: c.getTotalLength(), width: c.getBBox().width,"
            "   points: c.points.numberOfItems}));"
            "return {width: box.width, height: box.height, curves: curves};", plot)
        assert geometry["width"] > 500 and geometry["height"] > 200, (plot, geometry)
        assert len(geometry["curves"]) == 2, (plot, geometry)
        for curve in geometry["curves"]:
            assert curve["points"] > 50 and curve["length"] > 100 and curve["width"] > 400, \
                (plot, curve)
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#runs tr')].slice(1).map(r => r.cells[0]"
        ".textContent);")
    assert rows == ["run-000", "run-001"]
    shot = tmp_path / "backtest-report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    record_property("screenshot", str(shot))
    print(f"backtest report screenshot: {shot}")
