"""Renderers of a built report: JSON, plain text for a terminal, Markdown for a ticket.

They format, never compute: every number comes from ``report.data`` (built once by
:func:`logcorr.report.build.build_report`), so the three formats agree.  Strings that came
from a log (client addresses, reason codes of unknown origin, findings that quote them, LB
names) are escaped for the format (SPEC §7): in text, control characters and escape
sequences become visible ``\\xHH`` (:func:`logcorr.textsafe.clean`); in Markdown also ``|``,
``<``, ``>``, ``&``, backticks, ``*``, ``[`` and ``]`` are neutralised, so a log line can
neither break a table nor inject HTML or links.  The coloured terminal report is
``logcorr.report.terminal``; the HTML page is ``logcorr.report.html``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from logcorr.report.policy_render import markdown_sections, text_sections
from logcorr.textsafe import clean


class ReportLike(Protocol):
    """What the renderers need of :class:`logcorr.report.build.Report`."""

    data: dict[str, Any]


_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")
_REASON_HEAD = ["reason", "family", "failures", "share failing", "clients", "recovered",
                "unrecovered", "recovery rate", "median", "p90"]
_CLIENT_HEAD = ["client", "failures", "reasons", "first seen (UTC)", "last seen (UTC)",
                "ever succeeded"]


_SCANNER_HEAD = ["scanner", "failures", "reasons", "first seen (UTC)", "last seen (UTC)", "evidence"]
_HOST_HEAD = ["host", "failures", "TLS sessions", "scanner failures", "health checks"]


def finding_text(item: Any) -> str:
    """The sentence of a finding object (SPEC §7 schema 2), or the item itself when a string."""
    return str(item.get("text", "")) if isinstance(item, Mapping) else str(item)


def client_counts(data: Mapping[str, Any]) -> tuple[int, int]:
    """(clients that did not recover within the window, of them: never got in at all)."""
    clients = data.get("unrecovered_clients") or []
    return len(clients), sum(1 for c in clients if not c.get("ever_succeeded"))


def coverage_lines(data: Mapping[str, Any]) -> list[str]:
    """What the data cannot show (SPEC §7 ``coverage``), one plain line each."""
    c = data.get("coverage") or {}
    if not c:
        return []
    out = [f"access lines {_num(c.get('access_lines'))} ({_num(c.get('access_lines_without_tls'))} without "
           f"TLS fields, {_num(c.get('access_lines_without_tls_answered'))} of them answered); "
           f"rejected input lines {_num(c.get('rejects'))}; unattributable failures "
           f"{_num(c.get('unattributable_failures'))}; ignored failures {_num(c.get('ignored'))}"]
    for p in c.get("error_log_periods_without_access_log") or []:
        out.append(f"no access log {_when(p.get('start'))} to {_when(p.get('end'))} UTC on {p.get('host')}: "
                   f"{_num(p.get('failures'))} error-log failures")
    return out


def health_line(data: Mapping[str, Any]) -> str:
    h = data.get("health_checks") or {}
    by = h.get("by_lb") or {}
    peers = ", ".join(f"{k} {int(v):,}" for k, v in by.items())
    return f"health checks {_num(h.get('count', 0))}" + (f" (by peer: {peers})" if peers else "")


def scanner_cells(s: Mapping[str, Any]) -> list[str]:
    reasons = s.get("reasons") or {}
    return [str(s.get("client")), _num(s.get("failures")), ", ".join(f"{k} {v}" for k, v in reasons.items()),
            _when(s.get("first_seen")), _when(s.get("last_seen")), str(s.get("evidence") or "")]


def host_cells(h: Mapping[str, Any]) -> list[str]:
    return [str(h.get("host")), _num(h.get("handshake_failures")), _num(h.get("tls_sessions")),
            _num(h.get("scanner_failures")), _num(h.get("health_checks"))]


def render_json(report: ReportLike) -> str:
    """The SPEC §7 object, indented by 2, keys in SPEC order; non-ASCII as ``\\u`` escapes."""
    from logcorr.report.jsontext import dumps

    return dumps(report.data) + "\n"


# -- shared cell formatting (same strings in text and Markdown) -------------------------

def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100.0 * float(value):.2f}%"


def _secs(value: Any) -> str:
    return "-" if value is None else f"{float(value):g} s"


def when(value: Any, missing: str = "-") -> str:
    """A UTC time of the report (``2026-11-26T21:14:42.784324Z``) as ``2026-11-26 21:14:42``.

    One precision in every format: to the second (the headers say UTC).  The JSON report
    keeps the fraction.
    """
    if value is None:
        return missing
    text = str(value).replace("T", " ", 1).removesuffix("Z").removesuffix("+00:00")
    return text.split(".", 1)[0]


def _when(value: Any) -> str:
    return when(value)


def _reason_cells(r: Mapping[str, Any]) -> list[str]:
    return [str(r.get("reason")), str(r.get("family")), _num(r.get("failures")),
            _pct(r.get("failure_rate")), _num(r.get("clients")),
            f"{_num(r.get('recovered'))}/{_num(r.get('attributable'))}", _num(r.get("unrecovered")),
            _pct(r.get("recovery_rate")), _secs(r.get("median_recovery_s")),
            _secs(r.get("p90_recovery_s"))]


def _client_cells(c: Mapping[str, Any]) -> list[str]:
    reasons = c.get("reasons") or {}
    return [str(c.get("client")), _num(c.get("failures")),
            ", ".join(f"{k} {v}" for k, v in reasons.items()),
            _when(c.get("first_seen")), _when(c.get("last_seen")),
            "yes" if c.get("ever_succeeded") else "no"]


def _totals_line(data: Mapping[str, Any]) -> str:
    t = data.get("totals") or {}
    unrec, never = client_counts(data)
    line = (f"{_num(t.get('handshake_failures'))} handshake failures, "
            f"{_num(t.get('tls_sessions'))} TLS sessions (connections), "
            f"failure rate {_pct(t.get('failure_rate'))}")
    if t.get("scanner_failures"):
        line += (f" (scanners apart: {_num(t.get('scanner_failures'))} failures, "
                 f"{_pct(t.get('failure_rate_with_scanners'))} with them)")
    return line + f"; clients not recovered within the window {unrec:,}, never got in {never:,}"


def _params_line(data: Mapping[str, Any]) -> str:
    period = data.get("period") or {}
    return (f"period {_when(period.get('start'))} to {_when(period.get('end'))} UTC; "
            f"window {_num(data.get('window_seconds'))} s; min protocol {data.get('min_protocol')}")


# -- text ---------------------------------------------------------------------------------

def _t(value: Any) -> str:
    """A log-derived value as inert one-line terminal text."""
    return clean(str(value)).replace("\n", "\\n").replace("\t", " ")


def _text_table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    cells = [list(head), *[[_t(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return [line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])]


# How a failure's client was named (the JSON's ``attribution`` keys, SPEC §6), in words.
ATTRIBUTION_WORDS: dict[str, str] = {
    "pcap_proxy_header": "a PROXY header in the capture",
    "proxy_debug_line": "an nginx debug line (PROXY protocol src:)",
    "stream_realip": "the stream module's realip",
    "error_log_client": "the error log's client:",
    "pcap_tcp_peer": "the capture's TCP peer",
    "capture_peer": "the capture's TCP peer",
    "lb_log": "the load balancer's own log",
    "log_client": "the log's client address",
    "unattributable_lb": "nobody: only a load balancer's address was logged",
    "unattributable_ambiguous_capture": "nobody: the capture could not tell which connection",
    "unattributable_no_client": "nobody: no client address was logged",
}

# Words of the report a newcomer asks about (issue 14.7), in every format.
GLOSSARY: list[tuple[str, str]] = [
    ("family", "what kind of reason it is: retry (a fallback the server refused on purpose), "
               "incompatible (nothing in common), certificate, noise (not TLS at all), network "
               "(closed or timed out), other alert, other"),
    ("attributable", "failures whose real client is known (not a load balancer's address)"),
    ("recovered", "attributable failures followed by a session at --min-protocol or better from "
                  "the same client within the window"),
    ("never got in", "no successful session at all in the data, at any time"),
    ("share failing", "failures of the reason over failures plus TLS connections"),
    ("scanners, health checks", "reported apart, never counted as clients"),
]


def attribution_words(code: Any) -> str:
    """The words for an ``attribution`` code (the code itself when unknown)."""
    return ATTRIBUTION_WORDS.get(str(code), str(code))


def attribution_line(data: Mapping[str, Any]) -> str | None:
    """``client named by: a PROXY header in the capture 13, ...`` (None without failures)."""
    counts = data.get("attribution") or {}
    if not counts:
        return None
    return "client named by: " + ", ".join(f"{attribution_words(k)} {int(v):,}" for k, v in counts.items())


def schema_line(data: Mapping[str, Any]) -> str:
    return f"report format {data.get('schema')} (the JSON keys are a stable interface)"


def _attribution_lines(data: Mapping[str, Any]) -> list[str]:
    """How each failure's client was named (error-log client:, PROXY header in a capture, ...)."""
    line = attribution_line(data)
    return [_t(line)] if line else []


def render_text(report: ReportLike) -> str:
    """Plain text for a terminal or a pipe: verdict first, then reasons, clients, findings."""
    data = report.data
    verdict = data.get("verdict") or {}
    out = [f"VERDICT: {_t(verdict.get('status', '')).upper()}", _t(verdict.get("summary", "")), "",
           _totals_line(data), _params_line(data), *_attribution_lines(data), "", "Reasons"]
    reasons = data.get("reasons") or []
    if reasons:
        out += _text_table(_REASON_HEAD, [_reason_cells(r) for r in reasons], set(range(2, 10)))
    else:
        out.append("(no handshake failures in this period)")
    clients = data.get("unrecovered_clients") or []
    out += ["", f"Clients that did not recover within the window ({len(clients):,}; never got in: "
            f"{client_counts(data)[1]:,})"]
    if clients:
        out += _text_table(_CLIENT_HEAD, [_client_cells(c) for c in clients], {1})
    else:
        out.append("(none: every attributable failing client came back inside the window)")
    findings = verdict.get("findings") or []
    if findings:
        out += ["", "Findings"] + [f"- {_t(finding_text(f))}" for f in findings]
    scanners = data.get("scanners") or []
    out += ["", f"Scanners ({len(scanners):,}; not counted as clients)"]
    out += _text_table(_SCANNER_HEAD, [scanner_cells(x) for x in scanners], {1}) if scanners else ["(none)"]
    out += ["", _t(health_line(data))]
    out += ["", "Coverage", *(f"- {_t(line)}" for line in coverage_lines(data))]
    hosts = data.get("hosts") or []
    if hosts:
        out += ["", "Hosts", *_text_table(_HOST_HEAD, [host_cells(h) for h in hosts], {1, 2, 3, 4})]
    lb = data.get("lb")
    if isinstance(lb, Mapping) and lb.get("summary"):
        out += ["", f"Load balancer: {_t(lb['summary'])}"]
    out += text_sections(data)
    out += ["", "How to read this", *(f"- {term}: {meaning}" for term, meaning in GLOSSARY)]
    out += ["", _t(schema_line(data))]
    return "\n".join(out) + "\n"


# -- Markdown ------------------------------------------------------------------------------

def md_escape(value: Any) -> str:
    """A log-derived value made literal inside Markdown text or a table cell."""
    text = clean(str(value)).replace("\r", "").replace("\n", " ").replace("\t", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    align = ["---:" if i in numeric else "---" for i in range(len(head))]
    return [f"| {' | '.join(head)} |", f"| {' | '.join(align)} |",
            *(f"| {' | '.join(md_escape(c) for c in row)} |" for row in rows)]


def render_markdown(report: ReportLike) -> str:
    """Markdown for a ticket: verdict, totals, reasons and clients as tables, findings."""
    data = report.data
    verdict = data.get("verdict") or {}
    out = ["# TLS handshake failures (logcorr)", "",
           f"**Verdict: {md_escape(str(verdict.get('status', '')).upper())}** — "
           f"{md_escape(verdict.get('summary', ''))}", "",
           md_escape(_totals_line(data)) + "  ", md_escape(_params_line(data)) + "  ",
           *(md_escape(line) for line in _attribution_lines(data)), ""]
    findings = verdict.get("findings") or []
    if findings:
        out += ["## Findings", "", *(f"- {md_escape(finding_text(f))}" for f in findings), ""]
    out += ["## Reasons", ""]
    reasons = data.get("reasons") or []
    if reasons:
        out += _md_table(_REASON_HEAD, [_reason_cells(r) for r in reasons], set(range(2, 10)))
    else:
        out.append("No handshake failures in this period.")
    clients = data.get("unrecovered_clients") or []
    out += ["", f"## Clients that did not recover within the window ({len(clients):,}; never got in: "
            f"{client_counts(data)[1]:,})", ""]
    if clients:
        out += _md_table(_CLIENT_HEAD, [_client_cells(c) for c in clients], {1})
    else:
        out.append("Every attributable failing client came back inside the window.")
    scanners = data.get("scanners") or []
    out += ["", f"## Scanners ({len(scanners):,}; not counted as clients)", ""]
    out += _md_table(_SCANNER_HEAD, [scanner_cells(x) for x in scanners], {1}) if scanners else ["None."]
    out += ["", "## Health checks", "", md_escape(health_line(data))]
    out += ["", "## Coverage", "", *(f"- {md_escape(line)}" for line in coverage_lines(data))]
    hosts = data.get("hosts") or []
    if hosts:
        out += ["", "## Hosts", "", *_md_table(_HOST_HEAD, [host_cells(h) for h in hosts], {1, 2, 3, 4})]
    lb = data.get("lb")
    if isinstance(lb, Mapping) and lb.get("summary"):
        out += ["", "## Load balancer", "", md_escape(lb["summary"])]
    out += markdown_sections(data)
    out += ["", "## How to read this", "", *(f"- **{term}**: {md_escape(meaning)}" for term, meaning in GLOSSARY)]
    out += ["", f"_{md_escape(schema_line(data))}_"]
    return "\n".join(out) + "\n"
