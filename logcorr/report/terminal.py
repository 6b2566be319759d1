"""The text report for a terminal: rich tables, colour on a terminal, plain text when piped.

Strings that came from a log (client addresses, findings that quote them, LB names) are
made inert twice over: :func:`logcorr.textsafe.clean` turns ESC and the other C0/C1
controls into visible ``\\xHH``, and they are handed to rich as :class:`rich.text.Text`
objects, which rich never parses for markup (``[bold]`` stays literal) or emoji codes.
Our own labels use rich markup; log strings never do (SPEC §7).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from logcorr.report.policy_render import text_sections
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

if TYPE_CHECKING:  # html imports matplotlib; the terminal report must not pay for that
    from logcorr.report.html import ReportLike

_STATUS_STYLE = {"benign": "green", "attention": "yellow", "action": "bold red"}
_MAX_CLIENTS = 25  # more than this is a job for --format json / the notebook
_PLAIN_WIDTH = 120  # when piped: wide enough for the reasons table on one line per row


def _t(value: Any, style: str = "") -> Text:
    """A log-derived value as inert, one-line text."""
    text = clean("" if value is None else str(value)).replace("\n", "\\n").replace("\t", " ")
    return Text(text, style=style)


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:,}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100.0 * float(value):.2f}%"


def _secs(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1f}s"


def _when(iso: Any) -> str:
    """To the second, as in every format (:func:`logcorr.report.render.when`)."""
    return clean(when(iso, "—"))


def _table(title: str, columns: list[tuple[str, bool]], first_width: int = 0) -> Table:
    """A borderless table; the first column keeps at least ``first_width`` characters."""
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for i, (name, numeric) in enumerate(columns):
        table.add_column(name, justify="right" if numeric else "left", overflow="fold",
                         min_width=first_width if i == 0 and first_width else None)
    return table


def _verdict(data: Mapping[str, Any]) -> Panel:
    verdict = data.get("verdict") or {}
    status = str(verdict.get("status") or "attention")
    style = _STATUS_STYLE.get(status, "yellow")
    lines: list[Text] = [_t(verdict.get("summary"))]
    for finding in verdict.get("findings") or []:
        lines.append(Text("• ") + _t(finding_text(finding)))
    return Panel(Group(*lines), title=Text(status.upper(), style=style), title_align="left",
                 border_style=style, box=box.ROUNDED)


def _totals(data: Mapping[str, Any]) -> Text:
    totals = data.get("totals") or {}
    period = data.get("period") or {}
    n_clients, n_never = client_counts(data)
    text = Text()
    text.append(_num(totals.get("handshake_failures")), style="bold")
    text.append(" handshake failures · ")
    text.append(_num(totals.get("tls_sessions")), style="bold")
    text.append(" TLS sessions · failure rate ")
    text.append(_pct(totals.get("failure_rate")), style="bold")
    text.append("\n")
    text.append(_num(n_clients), style="bold")
    text.append(" clients did not recover within the window · ")
    text.append(_num(n_never), style="bold red" if n_never else "bold")
    text.append(" never got in")
    if totals.get("scanner_failures"):
        text.append(f"\nscanners apart: {_num(totals.get('scanner_failures'))} failures "
                    f"(failure rate {_pct(totals.get('failure_rate_with_scanners'))} with them)")
    text.append("\nperiod ")
    text.append(f"{_when(period.get('start'))} – {_when(period.get('end'))} UTC")
    named = attribution_line(data)
    if named:
        text.append("\n" + clean(named))
    return text


def _reasons(data: Mapping[str, Any], width: int) -> Table:
    # One-line headers; "recovered" is recovered of attributable ("8/8") with the recovery
    # rate in brackets.  Below 110 columns the family, the share failing and p90 go (the
    # reason code names the family; the JSON and HTML keep them all), and no cell is
    # folded: an 80-column terminal gets whole words (issue 14.7).
    wide = width >= 110
    columns = [("reason", False), *([("family", False)] if wide else []), ("failures", True),
               *([("share failing", True)] if wide else []), ("clients", True), ("recovered", True),
               ("unrecovered" if wide else "unrec.", True), ("median", True),
               *([("p90", True)] if wide else [])]
    table = _table("Reasons", columns, first_width=22)
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ellipsis"
    for r in data.get("reasons") or []:
        unrecovered = r.get("unrecovered") or 0
        recovered = f"{_num(r.get('recovered'))}/{_num(r.get('attributable'))}"
        if r.get("recovery_rate") is not None:
            recovered += f" ({100.0 * float(r['recovery_rate']):.0f}%)"
        table.add_row(_t(r.get("reason")), *([_t(r.get("family"))] if wide else []),
                      _num(r.get("failures")), *([_pct(r.get("failure_rate"))] if wide else []),
                      _num(r.get("clients")), recovered,
                      Text(_num(r.get("unrecovered")), style="red" if unrecovered else ""),
                      _secs(r.get("median_recovery_s")), *([_secs(r.get("p90_recovery_s"))] if wide else []))
    return table


def _clients(data: Mapping[str, Any]) -> Table | Text:
    clients = data.get("unrecovered_clients") or []
    if not clients:
        return Text("Every attributable failing client came back inside the window.", style="green")
    table = _table(f"Clients that did not recover within the window ({len(clients):,}; "
                   f"never got in: {client_counts(data)[1]:,})",
                   [("client", False), ("failures", True), ("reasons", False),
                    ("first seen (UTC)", False), ("last seen (UTC)", False), ("ever succeeded", False)],
                   first_width=15)
    for c in clients[:_MAX_CLIENTS]:
        reasons = c.get("reasons") or {}
        text = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        table.add_row(_t(c.get("client")), _num(c.get("failures")), _t(text), _when(c.get("first_seen")),
                      _when(c.get("last_seen")), "yes" if c.get("ever_succeeded") else "no")
    if len(clients) > _MAX_CLIENTS:
        table.caption = f"… and {len(clients) - _MAX_CLIENTS:,} more (all of them in --format json)"
        table.caption_justify = "left"
    return table


def _lb(lb: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    if lb.get("summary"):
        out.append(Text("Load balancer: ", style="bold") + _t(lb["summary"]))
    for balancer in lb.get("load_balancers") or []:
        table = _table("", [("period start (UTC)", False), ("LB TLS errors", True),
                            ("LB new conns", True), ("nginx failures", True),
                            ("nginx conns", True), ("explained", True)])
        table.title = Text("Load balancer ", style="bold") + _t(balancer.get("name"), "bold")
        if balancer.get("topology"):
            table.caption = _t(balancer["topology"])
            table.caption_justify = "left"
        for p in balancer.get("periods") or []:
            table.add_row(_when(p.get("start")), _num(p.get("lb_tls_errors")),
                          _num(p.get("lb_new_connections")), _num(p.get("nginx_failures")),
                          _num(p.get("nginx_connections")), _pct(p.get("explained_share")))
        out.append(table)
    return out


def _scanners(data: Mapping[str, Any]) -> Table | Text:
    scanners = data.get("scanners") or []
    if not scanners:
        return Text("No scanners.", style="dim")
    table = _table(f"Scanners ({len(scanners):,}; not counted as clients)",
                   [("scanner", False), ("failures", True), ("reasons", False), ("first seen (UTC)", False),
                    ("evidence", False)], first_width=15)
    for x in scanners[:_MAX_CLIENTS]:
        reasons = ", ".join(f"{k} {v}" for k, v in (x.get("reasons") or {}).items())
        table.add_row(_t(x.get("client")), _num(x.get("failures")), _t(reasons), _when(x.get("first_seen")),
                      _t(x.get("evidence")))
    return table


def _coverage(data: Mapping[str, Any]) -> Text:
    text = Text("Coverage", style="bold")
    for line in coverage_lines(data):
        text.append("\n• ")
        text.append_text(_t(line))
    text.append("\n")
    text.append_text(_t(health_line(data)))
    return text


def _hosts(data: Mapping[str, Any]) -> Table:
    table = _table("Hosts", [("host", False), ("failures", True), ("TLS sessions", True),
                             ("scanner failures", True), ("health checks", True)])
    for h in data.get("hosts") or []:
        table.add_row(_t(h.get("host")), _num(h.get("handshake_failures")), _num(h.get("tls_sessions")),
                      _num(h.get("scanner_failures")), _num(h.get("health_checks")))
    return table


def render_rich(report: ReportLike, console: Console) -> None:
    """Print the report on ``console``: verdict, totals, reasons, clients, LB, parameters."""
    data = report.data
    console.print(_verdict(data))
    console.print(_totals(data))
    console.print()
    console.print(_reasons(data, console.width))
    console.print(_clients(data))
    console.print(_scanners(data))
    console.print(_coverage(data))
    if data.get("hosts"):
        console.print(_hosts(data))
    if data.get("lb"):
        console.print()
        for part in _lb(data["lb"]):
            console.print(part)
    for line in text_sections(data):
        console.print(Text(line))
    console.print()
    for term, meaning in GLOSSARY:
        console.print(Text(f"{term}: {meaning}", style="dim"))
    footer = Text(f"{clean(schema_line(data))} · window {_num(data.get('window_seconds'))} s · "
                  f"min protocol {clean(str(data.get('min_protocol')))}", style="dim")
    console.print(footer)


def print_report(report: ReportLike, file: IO[str] | None = None, color: bool | None = None) -> None:
    """Print the report to ``file`` (stdout): colour on a terminal, plain text when piped.

    ``color`` forces colour on (True) or off (False); None decides from the file (and
    honours ``NO_COLOR``).
    """
    out = file if file is not None else sys.stdout
    console = Console(file=out, force_terminal=color, no_color=(color is False) or None,
                      highlight=False, emoji=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PLAIN_WIDTH
    render_rich(report, console)
