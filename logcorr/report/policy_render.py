"""Text, Markdown and HTML for the client-side sections: successes, what-if, actions, fallbacks, drill-down.

Format only: every number is in ``report.data`` (:mod:`logcorr.report.policy_sections`),
every drill-down row in ``report.frames["client_timelines"]``.  Each renderer of the
report calls one function here.  Log-derived strings (addresses, user agents, SNI, reason
texts) are escaped for the format they are written into (SPEC §7).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from logcorr.textsafe import clean
from logcorr.whatif import iso

TOP_CIPHERS = 10
LISTED = 10  # clients named per what-if policy in text and Markdown
Table = Callable[[Sequence[str], Sequence[Sequence[str]], set[int]], list[str]]


def _n(v: Any) -> str:
    return "-" if v is None else f"{int(v):,}"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100.0 * float(v):.1f}%"


def _when(v: Any) -> str:
    return "-" if not v else str(v).replace("T", " ", 1).removesuffix("Z")


def _rows(data: Mapping[str, Any]) -> dict[str, tuple[list[str], list[list[str]], set[int]]]:
    """Every table of the sections as (head, rows, numeric columns), shared by text and Markdown."""
    s = data.get("successes") or {}
    best = {r["protocol"]: r["clients"] for r in s.get("best_protocol", [])}
    out: dict[str, tuple[list[str], list[list[str]], set[int]]] = {}
    out["protocols"] = (["protocol", "sessions", "clients", "clients whose best it is"],
                        [[r["protocol"], _n(r["sessions"]), _n(r["clients"]), _n(best.get(r["protocol"], 0))]
                         for r in s.get("by_protocol", [])], {1, 2, 3})
    out["ciphers"] = (["cipher (OpenSSL)", "IANA name", "sessions", "clients"],
                      [[r["cipher"], r.get("iana") or "?", _n(r["sessions"]), _n(r["clients"])]
                       for r in s.get("by_cipher", [])[:TOP_CIPHERS]], {2, 3})
    out["legacy"] = (["client", "sessions", "best protocol", "user agent", "last seen (UTC)"],
                     [[c["client"], _n(c["sessions"]), c["best_protocol"], c.get("user_agent") or "-",
                       _when(c.get("last_seen"))] for c in s.get("legacy_clients", [])], {1})
    out["what_if"] = (["policy", "lose access", "may lose access", "sessions lost", "failing clients let in"],
                      [[w["policy"] + (" (unverified)" if w.get("unverified") else ""),
                        _n(len(w["clients_losing_access"])), _n(len(w["clients_maybe_losing_access"])),
                        _pct(w["sessions_losing_share"]), _n(len(w["failing_clients_gaining_access"]))]
                       for w in data.get("what_if") or []], {1, 2, 3, 4})
    out["actions"] = (["directive", "for policy", "lets in", "locks out", "may lock out"],
                      [[a["directive"], a.get("policy") or "-", _n(a["lets_in"]), _n(a["locks_out"]),
                        _n(a.get("maybe_locks_out", 0))] for a in data.get("actions") or []], {2, 3, 4})
    return out


def _who(w: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, label in (("clients_losing_access", "loses access"), ("clients_maybe_losing_access", "may lose access")):
        for e in w[key][:LISTED]:
            lines.append(f"{e['client']} {label} ({e['rule']}: {e['evidence']})")
        if len(w[key]) > LISTED:
            lines.append(f"... and {len(w[key]) - LISTED} more that {label.split()[0]} ...")
    for e in w["failing_clients_gaining_access"][:LISTED]:
        cert = "; needs an ECDSA certificate" if e.get("needs_ecdsa_certificate") else ""
        lines.append(f"{e['client']} would get in ({e['evidence']}{cert})")
    return lines


def section_lines(data: Mapping[str, Any], table: Table, heading: Callable[[str], str],
                  escape: Callable[[Any], str]) -> list[str]:
    """The sections for a line-based format: ``table`` draws a table, ``heading`` a title."""
    if "successes" not in data:
        return []
    t = _rows(data)
    s = data["successes"]
    out = ["", heading("Who gets in"),
           escape(f"{_n(s.get('sessions'))} sessions from {_n(s.get('clients'))} real clients "
                  "(scanners, health checks and load balancers left out)"), ""]
    out += table(*t["protocols"]) if t["protocols"][1] else ["(no TLS sessions)"]
    if t["ciphers"][1]:
        out += ["", *table(*t["ciphers"])]
    legacy = t["legacy"][1]
    out += ["", heading(f"Clients whose best protocol is TLS 1.1 or older ({len(legacy):,})")]
    out += table(*t["legacy"]) if legacy else ["(none)"]
    out += ["", heading("What if the server used another policy"), *table(*t["what_if"])]
    for w in data.get("what_if") or []:
        who = _who(w)
        if who:
            out += ["", escape(f"{w['policy']}:"), *(f"- {escape(x)}" for x in who)]
    out += ["", heading("Actions")]
    for a in data.get("actions") or []:  # one item each: directives are too long for a table
        out.append(f"- {escape(a['directive'])}")
        out.append("  " + escape(f"{a.get('policy') or a.get('note') or ''}: lets in {_n(a['lets_in'])}, "
                                 f"locks out {_n(a['locks_out'])}, may lock out {_n(a.get('maybe_locks_out', 0))}"))
    if not data.get("actions"):
        out.append("(no change proposed)")
    fb = (data.get("fallback_evidence") or {}).get("text")
    if fb:
        out += ["", heading("Why clients fell back"), escape(fb[0].upper() + fb[1:])]
    return out


def _t(v: Any) -> str:
    return clean(str(v)).replace("\n", "\\n").replace("\t", " ")


def text_table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    """A plain aligned table (the text report's style)."""
    cells = [list(head), *[[_t(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    return [line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])]


def text_sections(data: Mapping[str, Any]) -> list[str]:
    """The sections as plain text lines (``render_text`` and the terminal report)."""
    return section_lines(data, text_table, lambda h: h, _t)


def md_table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    from logcorr.report.render import md_escape

    align = ["---:" if i in numeric else "---" for i in range(len(head))]
    return [f"| {' | '.join(head)} |", f"| {' | '.join(align)} |",
            *(f"| {' | '.join(md_escape(c) for c in row)} |" for row in rows)]


def markdown_sections(data: Mapping[str, Any]) -> list[str]:
    """The sections as Markdown lines."""
    from logcorr.report.render import md_escape

    return section_lines(data, md_table, lambda h: f"## {h}\n", md_escape)


# -- HTML ---------------------------------------------------------------------------------

def _e(v: Any) -> str:
    return html.escape(clean("" if v is None else str(v)), quote=True)


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    th = "".join(f'<th{" class=n" if i in numeric else ""} scope="col">{_e(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{_e(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def html_sections(data: Mapping[str, Any], frames: Mapping[str, pd.DataFrame] | None = None) -> str:
    """The sections as HTML: tables, the fallback evidence, and the per-client drill-down."""
    if "successes" not in data:
        return ""
    t = _rows(data)
    s = data["successes"]
    parts = ['<section id="successes"><h2>Who gets in</h2>',
             f'<p class="muted">{_e(_n(s.get("sessions")))} sessions from {_e(_n(s.get("clients")))} real '
             "clients (scanners, health checks and load balancers left out)</p>",
             _html_table(*t["protocols"]), _html_table(*t["ciphers"]),
             f"<h3>Clients whose best protocol is TLS 1.1 or older ({len(t['legacy'][1]):,})</h3>",
             _html_table(*t["legacy"]) if t["legacy"][1] else "<p>None.</p>", "</section>",
             '<section id="what-if"><h2>What if the server used another policy</h2>',
             _html_table(*t["what_if"])]
    for w in data.get("what_if") or []:
        who = _who(w)
        if who:
            items = "".join(f"<li>{_e(x)}</li>" for x in who)
            parts.append(f"<details><summary>{_e(w['policy'])}</summary><ul>{items}</ul></details>")
    parts += ["</section>", '<section id="actions"><h2>Actions</h2>',
              _html_table(*t["actions"]) if t["actions"][1] else "<p>No change proposed.</p>", "</section>"]
    fb = (data.get("fallback_evidence") or {}).get("text")
    if fb:
        parts.append(f'<section id="fallbacks"><h2>Why clients fell back</h2><p>{_e(fb[0].upper() + fb[1:])}</p>'
                     "</section>")
    parts.append(drilldown_html((frames or {}).get("client_timelines")))
    return "\n".join(parts)


def drilldown_html(timelines: pd.DataFrame | None) -> str:
    """One ``<details>`` per client: failures, sessions and hellos on one timeline, file:line per row."""
    if timelines is None or timelines.empty:
        return ""
    parts = ['<section id="clients"><h2>Per-client timelines</h2>',
             '<p class="muted">Failures, sessions and captured hellos of each client named above, in time '
             "order; every row gives the file and line it came from.</p>"]
    for client, rows in timelines.groupby("client", sort=True):
        kinds = rows["kind"].value_counts()
        summary = (f"{client}: {int(kinds.get('failure', 0))} failures, {int(kinds.get('session', 0))} sessions, "
                   f"{int(kinds.get('hello', 0))} captured hellos")
        body = [[_when(iso(r.ts)), r.kind, r.what, r.detail, f"{r.file}:{r.line}" if r.line >= 0 else r.file]
                for r in rows.itertuples(index=False)]
        table = _html_table(["time (UTC)", "kind", "what", "detail", "file:line"], body, set())
        parts.append(f'<details class="client" id="client-{_e(client)}"><summary>{_e(summary)}</summary>{table}</details>')
    parts.append("</section>")
    return "\n".join(parts)
