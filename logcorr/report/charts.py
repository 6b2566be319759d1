"""Charts of the HTML report, drawn by matplotlib as inline SVG strings.

Each function takes plain data (DataFrames or the report's dicts) and returns one
``<svg>`` element as text, or ``None`` when there is nothing to draw.  The SVG is
self-contained: text stays ``<text>`` (``svg.fonttype = "none"``, so it is small,
selectable and searchable in the page), there are no external references, and the
``Agg`` canvas is attached explicitly to every figure (no pyplot), so that no GUI
backend is ever loaded and a notebook's own matplotlib backend is left alone.
matplotlib escapes ``<``, ``>``, ``&`` and quotes in SVG text; ``tests/test_html.py``
checks that with a ``<script>`` label.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from logcorr.report import buckets
from logcorr.textsafe import clean

# Colour-blind-safe qualitative palette (Okabe & Ito 2008), then matplotlib's tab10.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
            "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf"]

# Figure width in inches: the SVG is drawn at the page's content width (~1000 px), so a
# 9 pt font stays about the size of the page's own text.
_WIDTH = 10.4

# Bucket widths for the timeline, smallest first; the first that gives ≤ 60 bars wins.

_RC: dict[Any, Any] = {  # rc_context is typed with literal keys
    "svg.fonttype": "none",
    "font.size": 9.0,
    "font.family": ["DejaVu Sans", "sans-serif"],
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10.0,
}


def label(text: object) -> str:
    """A log-derived string made literal for matplotlib text.

    Control characters become ``\\xHH`` (XML forbids them), ``$`` is escaped so that
    matplotlib does not read the text as mathtext (a stray ``$\\frac`` would raise while
    drawing), and a leading ``_`` is shielded because legends hide such labels.
    """
    out = clean(str(text)).replace("$", r"\$")
    return " " + out if out.startswith("_") else out


def palette(reasons: Sequence[str]) -> dict[str, str]:
    """One colour per reason, stable for the whole page (reasons in report order)."""
    return {r: _PALETTE[i % len(_PALETTE)] for i, r in enumerate(dict.fromkeys(reasons))}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # explicit Agg canvas; savefig(format="svg") writes the SVG
    return fig


def _svg(fig: Figure, name: str) -> str:
    """Serialise ``fig`` as an ``<svg>`` element (no XML prolog, no DOCTYPE, no date)."""
    buf = io.StringIO()
    # A per-chart salt keeps clip-path ids unique when several SVGs share one page,
    # and fixed ids keep the page byte-for-byte reproducible.
    rc: dict[Any, Any] = {**_RC, "svg.hashsalt": f"logcorr-{name}"}
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.find("<svg")
    svg = text[start:].strip()
    # Scale with the page: drop fixed pt sizes, keep the viewBox.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    return svg.replace("<svg", f'<svg class="chart" role="img" aria-label="{html.escape(name)}"', 1)


def timeline_from_matches(matches: pd.DataFrame, bucket_s: int | None = None) -> pd.DataFrame:
    """Failures per (bucket, reason) from the ``matches`` table, for reports without a timeline."""
    if matches is None or matches.empty or "ts" not in matches:
        return pd.DataFrame({"bucket_start": pd.Series([], dtype="datetime64[us, UTC]"),
                             "reason": pd.Series([], dtype="object"),
                             "failures": pd.Series([], dtype="int64")})
    ts = pd.to_datetime(matches["ts"], utc=True)
    if bucket_s is None:
        bucket_s = buckets.bucket_s((ts.max() - ts.min()).total_seconds())
    frame = pd.DataFrame({"bucket_start": ts.dt.floor(f"{bucket_s}s"),
                          "reason": matches["reason"].astype("object").fillna("other")})
    out = frame.groupby(["bucket_start", "reason"], sort=True).size().rename("failures")
    return out.reset_index()


def delays_from_matches(matches: pd.DataFrame) -> pd.DataFrame:
    """Recovery delays (recovered failures only) from the ``matches`` table."""
    if matches is None or matches.empty or "delay_s" not in matches:
        return pd.DataFrame({"reason": pd.Series([], dtype="object"),
                             "delay_s": pd.Series([], dtype="float64")})
    # ``recovered`` is nullable (null when unattributable, SPEC §4): object or "boolean".
    recovered = matches["recovered"].astype("boolean").fillna(False).astype(bool)
    rec = matches[recovered & matches["delay_s"].notna()]
    return pd.DataFrame({"reason": rec["reason"].astype("object").to_numpy(),
                         "delay_s": rec["delay_s"].astype("float64").to_numpy()})


def _naive_utc(values: pd.Series) -> np.ndarray:
    ts = pd.to_datetime(values, utc=True).dt.tz_localize(None)
    return mdates.date2num(ts.to_numpy())  # type: ignore[no-any-return]


def timeline_svg(timeline: pd.DataFrame, colours: Mapping[str, str], bucket_s: int | None = None) -> str | None:
    """Stacked bars: failures per time bucket, one colour per reason (UTC axis).

    ``bucket_s``: the bucket width, stated on the y axis ("failures per 5 s").
    """
    if timeline is None or timeline.empty:
        return None
    wide = timeline.pivot_table(index="bucket_start", columns="reason", values="failures",
                                aggfunc="sum", fill_value=0).sort_index()
    order = [r for r in colours if r in wide.columns] + [r for r in wide.columns if r not in colours]
    wide = wide[order]
    x = _naive_utc(pd.Series(wide.index))
    steps = np.diff(x)
    width = float(np.min(steps[steps > 0])) * 0.85 if (steps > 0).any() else 1 / 24 / 60 * 0.85
    with matplotlib.rc_context(_RC):
        fig = _figure(_WIDTH, 3.4)
        ax = fig.add_subplot()
        bottom = np.zeros(len(wide))
        for reason in wide.columns:
            values = wide[reason].to_numpy(dtype=float)
            ax.bar(x, values, width=width, bottom=bottom, label=label(reason), align="edge",
                   color=colours.get(reason, "#999999"), linewidth=0)
            bottom += values
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"failures per {buckets.bucket_label(bucket_s)}" if bucket_s else "failures")
        ax.set_xlabel("time (UTC)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
        return _svg(fig, "failures by reason over time")


def delays_svg(delays: pd.DataFrame, colours: Mapping[str, str], window_s: float) -> str | None:
    """Box and strip plot: recovery delay per reason, from 0 to the window."""
    if delays is not None:
        delays = delays[delays["delay_s"].notna()]
    if delays is None or delays.empty:
        return None
    groups = [(r, g["delay_s"].to_numpy(dtype=float)) for r, g in delays.groupby("reason", sort=False)]
    groups.sort(key=lambda rg: list(colours).index(rg[0]) if rg[0] in colours else len(colours))
    rng = np.random.default_rng(7)  # fixed jitter: the same report draws the same picture
    with matplotlib.rc_context(_RC):
        fig = _figure(_WIDTH, 0.8 + 0.45 * len(groups))
        ax = fig.add_subplot()
        ys = np.arange(len(groups))
        ax.boxplot([v for _, v in groups], positions=ys, orientation="horizontal", widths=0.6,
                   showfliers=False, medianprops={"color": "#222222"})
        for y, (reason, values) in zip(ys, groups, strict=True):
            jitter = rng.uniform(-0.18, 0.18, size=len(values))
            ax.scatter(values, y + jitter, s=16, alpha=0.8, color=colours.get(reason, "#999999"),
                       linewidths=0)
        ax.set_yticks(ys, [label(r) for r, _ in groups])
        # Zoom on the delays seen, not the whole window: retries come back in seconds.
        longest = float(delays["delay_s"].max())
        right = min(float(window_s), longest * 1.15) if window_s and window_s > longest else longest * 1.15
        ax.set_xlim(left=0, right=max(right, 1.0))
        ax.invert_yaxis()
        ax.set_xlabel(f"seconds from the failure to the client's next good session "
                      f"(window {window_s:g} s)")
        return _svg(fig, "recovery delay per reason")


def failure_share_svg(reasons: Sequence[Mapping[str, Any]], totals: Mapping[str, Any],
                      colours: Mapping[str, str]) -> str | None:
    """Horizontal bars: share of TLS connections that failed, per reason (percent)."""
    rows: list[tuple[str, float]] = []
    for r in reasons:
        rate = _reason_rate(r, totals)
        if rate is not None:
            rows.append((str(r.get("reason")), rate))
    if not rows:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(_WIDTH, 0.8 + 0.32 * len(rows))
        ax = fig.add_subplot()
        ys = np.arange(len(rows))
        values = [100.0 * v for _, v in rows]
        ax.barh(ys, values, color=[colours.get(r, "#999999") for r, _ in rows], height=0.6)
        for y, v in zip(ys, values, strict=True):
            ax.annotate(f"{v:.2f}%", (v, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.set_yticks(ys, [label(r) for r, _ in rows])
        ax.invert_yaxis()
        ax.set_xlim(right=max(values) * 1.2 if max(values) > 0 else 1.0)
        ax.set_xlabel("% of TLS connections that failed with this reason")
        return _svg(fig, "share of connections failing")


def _reason_rate(row: Mapping[str, Any], totals: Mapping[str, Any]) -> float | None:
    """The reason's ``failure_rate``, or its share of the total rate when the key is absent."""
    if row.get("failure_rate") is not None:
        return float(row["failure_rate"])
    total_fail = totals.get("handshake_failures") or 0
    rate = totals.get("failure_rate")
    if not total_fail or rate is None:
        return None
    return float(rate) * float(row.get("failures") or 0) / float(total_fail)


def lb_svg(periods: Sequence[Mapping[str, Any]], name: str) -> str | None:
    """Per metric period: the load balancer's TLS errors beside the failures nginx logged."""
    if not periods:
        return None
    starts = pd.Series([p.get("start") for p in periods])
    x = _naive_utc(starts)
    lb = np.array([float(p.get("lb_tls_errors") or 0) for p in periods])
    ng = np.array([float(p.get("nginx_failures") or 0) for p in periods])
    steps = np.diff(x)
    width = float(np.min(steps[steps > 0])) * 0.4 if (steps > 0).any() else 1 / 24 / 60 * 2
    with matplotlib.rc_context(_RC):
        fig = _figure(_WIDTH, 2.6)
        ax = fig.add_subplot()
        ax.bar(x - width / 2, lb, width=width, color="#D55E00", label="load balancer TLS errors")
        ax.bar(x + width / 2, ng, width=width, color="#0072B2", label="nginx handshake failures")
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("metric period start (UTC)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
        return _svg(fig, f"load balancer {name}")
