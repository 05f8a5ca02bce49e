"""The HTML report of a backtest: its figures and plots as inline SVG, one self-contained file.

No script, no network, no plotting library: polylines drawn from the curves, so the report
renders offline anywhere a browser does. Plots: equity and drawdown over recorded time, one
line per run of a sweep, and a table of each run's config overrides and figures.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

_W, _H, _PAD = 900, 260, 40
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def _svg(title: str, plot_id: str, curves: list[tuple[str, np.ndarray, np.ndarray]]) -> str:
    xs = [c[1] for c in curves if c[1].size]
    ys = [c[2] for c in curves if c[2].size]
    x0 = min(float(x.min()) for x in xs) if xs else 0.0
    x1 = max(float(x.max()) for x in xs) if xs else 1.0
    y0 = min(float(y.min()) for y in ys) if ys else 0.0
    y1 = max(float(y.max()) for y in ys) if ys else 1.0
    sx = (_W - 2 * _PAD) / ((x1 - x0) or 1.0)
    sy = (_H - 2 * _PAD) / ((y1 - y0) or 1.0)
    parts = [f'<svg id="{plot_id}" class="plot" xmlns="http://www.w3.org/2000/svg" '
             f'width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}">',
             f'<rect width="{_W}" height="{_H}" fill="#fff" stroke="#ccc"/>',
             f'<text x="{_PAD}" y="22" font-size="15" font-family="sans-serif">'
             f'{html.escape(title)}</text>',
             f'<text x="4" y="{_PAD + 4}" font-size="11">{y1:.2f}</text>',
             f'<text x="4" y="{_H - _PAD}" font-size="11">{y0:.2f}</text>']
    for i, (label, x, y) in enumerate(curves):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = " ".join(f"{_PAD + (a - x0) * sx:.1f},{_H - _PAD - (b - y0) * sy:.1f}"
                       for a, b in zip(x.tolist(), y.tolist(), strict=True))
        parts.append(f'<polyline class="curve" fill="none" stroke="{colour}" stroke-width="1.5"'
                     f' points="{pts}"><title>{html.escape(label)}</title></polyline>')
        parts.append(f'<text x="{_W - 160}" y="{22 + 14 * i}" font-size="11" fill="{colour}">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render(runs: list[dict[str, Any]]) -> str:
    """The report of runs, each {"label", "equity_ns", "equity", "drawdown", "summary",
    "overrides"}."""
    def curves(key: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(r["label"], (np.asarray(r["equity_ns"]) - r["equity_ns"][0]) / 1e9
                 if len(r["equity_ns"]) else np.zeros(0), np.asarray(r[key])) for r in runs]

    keys = ["pnl", "sharpe", "max_drawdown", "turnover", "fills", "orders", "ticks",
            "recorded_span_s"]
    head = "".join(f"<th>{k}</th>" for k in ["run", "overrides", *keys])
    rows = "".join(
        "<tr>" + f"<td>{html.escape(r['label'])}</td><td>{html.escape(r['overrides'])}</td>"
        + "".join(f"<td>{_cell(r['summary'][k])}</td>" for k in keys) + "</tr>" for r in runs)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nautilusd backtest</title>
<style>body{{font-family:sans-serif;margin:20px}}td,th{{border:1px solid #ccc;padding:3px 6px;
font-size:12px}}table{{border-collapse:collapse;margin:12px 0}}</style></head><body>
<h1>Backtest</h1>
<table id="runs"><tr>{head}</tr>{rows}</table>
{_svg("Equity (P&L) over recorded time, s", "equity-plot", curves("equity"))}
{_svg("Drawdown over recorded time, s", "drawdown-plot", curves("drawdown"))}
</body></html>
"""


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))
