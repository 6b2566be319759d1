"""The HTML report: one self-contained page (inline CSS, inline SVG charts, a few lines of JS).

The page opens without a network: no external script, font, stylesheet or image, and a
``Content-Security-Policy`` that forbids fetching anything (``default-src 'none'``) and
allows exactly one script, ours, by its SHA-256 hash.  Every string that came from a log
(client addresses, reason texts, findings that quote them, LB names) goes through
:func:`html.escape` — the CSP is a second fence, not the first (SPEC §7).
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from logcorr.report import buckets, charts
from logcorr.report.policy_render import html_sections
from logcorr.report.render import (
    GLOSSARY,
    attribution_line,
    client_counts,
    coverage_lines,
    finding_text,
    health_line,
    schema_line,
    when,
)
from logcorr.textsafe import clean


class ReportLike(Protocol):
    """What the renderers need of :class:`logcorr.report.build.Report`."""

    data: dict[str, Any]
    frames: dict[str, pd.DataFrame]


_STATUS_COLOUR = {"benign": "#1a7f37", "attention": "#b35900", "action": "#c0222b"}

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: var(--bg); }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 8px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
.muted { color: var(--muted); }
.verdict { border-left: 6px solid var(--status); background: var(--soft); padding: 12px 16px;
           margin: 16px 0; border-radius: 4px; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff;
         background: var(--status); font-weight: 600; text-transform: uppercase; font-size: 12px; }
.verdict p { margin: 8px 0 4px; font-size: 15px; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.kpi { flex: 1 1 150px; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.kpi b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; overflow-wrap: break-word; }
td.t { white-space: nowrap; overflow-wrap: normal; }
.scroll { overflow-x: auto; }
th { background: var(--soft); font-weight: 600; overflow-wrap: normal; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.addr { font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: nowrap; overflow-wrap: normal; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
svg.chart { width: 100%; height: auto; display: block; margin: 4px 0 8px; }
footer { max-width: 1040px; margin: 24px auto; padding: 8px 20px; color: var(--muted);
         font-size: 12px; border-top: 1px solid var(--line); }
"""

# Sort a table on header click: numbers by data-sort (or the cell text), others as text.
_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var key = function (tr) {
        var td = tr.cells[col];
        return td.hasAttribute("data-sort") ? td.getAttribute("data-sort") : td.textContent;
      };
      var numeric = th.classList.contains("n");
      var num = function (v) { var n = parseFloat(v); return isNaN(n) ? -1e300 : n; };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = numeric ? num(x) - num(y) : x.localeCompare(y);
        return asc ? c : -c;
      }).forEach(function (tr) { body.appendChild(tr); });
    });
  });
});
"""


def _e(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute (control characters made visible)."""
    return html.escape(clean("" if value is None else str(value)), quote=True)


def _num(value: Any, fmt: str = "{:,}") -> str:
    return "—" if value is None else fmt.format(value)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100.0 * float(value):.2f}%"


def _secs(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f} s"


def _when(iso: Any) -> str:
    """To the second, as in every format (:func:`logcorr.report.render.when`)."""
    return when(iso, "—")


def _table(headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[tuple[str, Any, str | None]]],
           *, sortable: bool = False, table_id: str = "") -> str:
    """A table; ``headers`` are (label, numeric); each cell is (text, sort key, css class)."""
    head = "".join(f'<th{" class=n" if n else ""} scope="col">{_e(h)}</th>' for h, n in headers)
    body = []
    for row in rows:
        cells = []
        for text, key, cls in row:
            attrs = f' class="{cls}"' if cls else ""
            if key is not None:
                attrs += f' data-sort="{_e(key)}"'
            cells.append(f"<td{attrs}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    return (f'<div class="scroll"><table{ident}{cls}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _frame(report: ReportLike, name: str) -> pd.DataFrame | None:
    frames = getattr(report, "frames", None) or {}
    frame = frames.get(name)
    return frame if isinstance(frame, pd.DataFrame) else None


def _verdict(data: Mapping[str, Any]) -> str:
    verdict = data.get("verdict") or {}
    status = str(verdict.get("status") or "attention")
    colour = _STATUS_COLOUR.get(status, "#59636e")
    findings = "".join(f'<li data-kind="{_e(f.get("kind") if isinstance(f, Mapping) else "note")}">'
                       f"{_e(finding_text(f))}</li>" for f in verdict.get("findings") or [])
    return (f'<section class="verdict" id="verdict" style="--status: {colour}">'
            f'<span class="badge">{_e(status)}</span>'
            f'<p id="summary">{_e(verdict.get("summary"))}</p>'
            + (f'<ul id="findings">{findings}</ul>' if findings else "")
            + "</section>")


def _kpis(data: Mapping[str, Any]) -> str:
    totals = data.get("totals") or {}
    items = [("handshake failures", _num(totals.get("handshake_failures"))),
             ("TLS sessions", _num(totals.get("tls_sessions"))),
             ("failure rate", _pct(totals.get("failure_rate"))),
             ("clients not recovered within the window", _num(client_counts(data)[0])),
             ("clients that never got in", _num(client_counts(data)[1]))]
    if totals.get("scanner_failures"):
        items.append(("scanner failures (apart)", _num(totals.get("scanner_failures"))))
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><b>{_e(v)}</b><span class="muted">{_e(k)}</span></div>' for k, v in items
    ) + "</div>"


def _reasons_table(data: Mapping[str, Any]) -> str:
    headers = [("reason", False), ("family", False), ("failures", True), ("clients", True),
               ("attributable", True), ("recovered", True), ("unrecovered", True),
               ("recovery rate", True), ("median delay", True), ("p90 delay", True),
               ("share failing", True)]
    rows = []
    for r in data.get("reasons") or []:
        rows.append([(r.get("reason"), None, None), (r.get("family"), None, None),
                     (_num(r.get("failures")), r.get("failures"), "n"),
                     (_num(r.get("clients")), r.get("clients"), "n"),
                     (_num(r.get("attributable")), r.get("attributable"), "n"),
                     (_num(r.get("recovered")), r.get("recovered"), "n"),
                     (_num(r.get("unrecovered")), r.get("unrecovered"), "n"),
                     (_pct(r.get("recovery_rate")), r.get("recovery_rate"), "n"),
                     (_secs(r.get("median_recovery_s")), r.get("median_recovery_s"), "n"),
                     (_secs(r.get("p90_recovery_s")), r.get("p90_recovery_s"), "n"),
                     (_pct(r.get("failure_rate")), r.get("failure_rate"), "n")])
    return _table(headers, rows, sortable=True, table_id="reasons")


def _clients_table(data: Mapping[str, Any]) -> str:
    clients = data.get("unrecovered_clients") or []
    if not clients:
        return '<p class="muted">Every attributable failing client came back inside the window.</p>'
    headers = [("client", False), ("failures", True), ("reasons", False),
               ("first seen (UTC)", False), ("last seen (UTC)", False), ("ever succeeded", False)]
    rows = []
    for c in clients:
        reasons = c.get("reasons") or {}
        text = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        rows.append([(c.get("client"), None, "addr"), (_num(c.get("failures")), c.get("failures"), "n"),
                     (text, None, None), (_when(c.get("first_seen")), c.get("first_seen"), "t"),
                     (_when(c.get("last_seen")), c.get("last_seen"), "t"),
                     ("yes" if c.get("ever_succeeded") else "no", None, None)])
    return (f'<p class="muted">{len(clients):,} clients failed and did not come back inside the '
            f"window; {client_counts(data)[1]:,} of them never got in at all. Click a header to sort.</p>"
            + _table(headers, rows, sortable=True, table_id="clients"))


def _scanners_table(data: Mapping[str, Any]) -> str:
    scanners = data.get("scanners") or []
    if not scanners:
        return '<p class="muted">No scanners.</p>'
    headers = [("scanner", False), ("failures", True), ("reasons", False), ("first seen (UTC)", False),
               ("last seen (UTC)", False), ("evidence", False)]
    rows = [[(x.get("client"), None, "addr"), (_num(x.get("failures")), x.get("failures"), "n"),
             (", ".join(f"{k} {v}" for k, v in (x.get("reasons") or {}).items()), None, None),
             (_when(x.get("first_seen")), x.get("first_seen"), "t"),
             (_when(x.get("last_seen")), x.get("last_seen"), "t"), (x.get("evidence"), None, None)]
            for x in scanners]
    return _table(headers, rows, sortable=True, table_id="scanners")


def _coverage_section(data: Mapping[str, Any]) -> str:
    items = "".join(f"<li>{_e(line)}</li>" for line in [*coverage_lines(data), health_line(data)])
    return f'<ul id="coverage">{items}</ul>'


def _hosts_table(data: Mapping[str, Any]) -> str:
    headers = [("host", False), ("failures", True), ("TLS sessions", True), ("scanner failures", True),
               ("health checks", True)]
    rows = [[(h.get("host"), None, None), (_num(h.get("handshake_failures")), h.get("handshake_failures"), "n"),
             (_num(h.get("tls_sessions")), h.get("tls_sessions"), "n"),
             (_num(h.get("scanner_failures")), h.get("scanner_failures"), "n"),
             (_num(h.get("health_checks")), h.get("health_checks"), "n")] for h in data.get("hosts") or []]
    return _table(headers, rows, table_id="hosts")


def _lb_section(lb: Mapping[str, Any] | None) -> str:
    if not lb:
        return ""
    parts = ['<section id="lb"><h2>Load balancer against nginx</h2>']
    if lb.get("summary"):
        parts.append(f"<p>{_e(lb['summary'])}</p>")
    headers = [("period start (UTC)", False), ("LB TLS errors", True), ("LB new connections", True),
               ("nginx failures", True), ("nginx connections", True), ("explained", True)]
    for balancer in lb.get("load_balancers") or []:
        name = str(balancer.get("name") or "load balancer")
        parts.append(f"<h3>{_e(name)}</h3>")
        if balancer.get("topology"):
            parts.append(f'<p class="muted">{_e(balancer["topology"])}</p>')
        periods = balancer.get("periods") or []
        chart = charts.lb_svg(periods, name)
        if chart:
            parts.append(chart)
        rows = [[(_when(p.get("start")), p.get("start"), "t"),
                 (_num(p.get("lb_tls_errors")), p.get("lb_tls_errors"), "n"),
                 (_num(p.get("lb_new_connections")), p.get("lb_new_connections"), "n"),
                 (_num(p.get("nginx_failures")), p.get("nginx_failures"), "n"),
                 (_num(p.get("nginx_connections")), p.get("nginx_connections"), "n"),
                 (_pct(p.get("explained_share")), p.get("explained_share"), "n")] for p in periods]
        parts.append(_table(headers, rows, sortable=True))
    parts.append("</section>")
    return "".join(parts)


def _chart_or_note(svg: str | None, note: str) -> str:
    return svg if svg else f'<p class="muted">{_e(note)}</p>'


def render_html(report: ReportLike) -> str:
    """The whole page as one string: verdict, charts, tables, LB comparison, footer."""
    data = report.data
    period = data.get("period") or {}
    reasons = data.get("reasons") or []
    colours = charts.palette([str(r.get("reason")) for r in reasons])

    timeline = _frame(report, "timeline")
    matches = _frame(report, "matches")
    bucket = data.get("timeline_bucket_s")
    if timeline is None and matches is not None:
        timeline = charts.timeline_from_matches(matches, bucket)
    delays = _frame(report, "delays")
    if delays is None and matches is not None:
        delays = charts.delays_from_matches(matches)
    window_s = float(data.get("window_seconds") or 0)

    script_hash = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'")
    span = f"{_e(_when(period.get('start')))} – {_e(_when(period.get('end')))}"
    footer = (f"{_e(schema_line(data))} · window {_num(data.get('window_seconds'))} s · "
              f"min protocol {_e(data.get('min_protocol'))} · period {span} (UTC) · "
              "generated by logcorr")
    body = [
        "<main>",
        "<h1>TLS handshake failures</h1>",
        f'<p class="muted">{span} (UTC)</p>',
        _verdict(data),
        _kpis(data),
        "<h2>Failures by reason over time</h2>",
        (f'<p class="muted">Bars of {_e(buckets.bucket_label(int(bucket)))} (the width is chosen so '
         "that the period shows at most 60 bars).</p>" if bucket else ""),
        _chart_or_note(charts.timeline_svg(timeline, colours, bucket) if timeline is not None else None,
                       "No handshake failures in this period."),
        "<h2>Reasons</h2>",
        _reasons_table(data),
        "<h2>Share of connections failing</h2>",
        _chart_or_note(charts.failure_share_svg(reasons, data.get("totals") or {}, colours),
                       "No TLS connections counted in this period."),
        "<h2>Recovery delay per reason</h2>",
        _chart_or_note(charts.delays_svg(delays, colours, window_s) if delays is not None else None,
                       "No failure was followed by a good session inside the window."),
        "<h2>Clients that did not recover within the window</h2>",
        _clients_table(data),
        "<h2>Scanners (not counted as clients)</h2>",
        _scanners_table(data),
        "<h2>Coverage and health checks</h2>",
        _coverage_section(data),
        "<h2>Hosts</h2>",
        _hosts_table(data),
        _lb_section(data.get("lb")),
        html_sections(data, getattr(report, "frames", None)),
        '<h2 id="glossary">How to read this</h2>',
        "<dl>" + "".join(f"<dt>{_e(term)}</dt><dd>{_e(meaning)}</dd>" for term, meaning in GLOSSARY)
        + (f"<dt>client named by</dt><dd>{_e(named.removeprefix('client named by: '))}</dd>"
           if (named := attribution_line(data)) else "") + "</dl>",
        "</main>",
        f'<footer id="params">{footer}</footer>',
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>logcorr report</title>"
            f"<style>{_CSS}</style></head><body>\n"
            + "\n".join(body)
            + f"\n<script>{_JS}</script>\n</body></html>\n")
