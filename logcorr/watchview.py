"""The outputs of ``logcorr watch`` each round: a live view on a terminal, JSON lines when
piped, the self-reloading HTML page, and the verdict-change event line.

The live view shows the ``--last`` period: the verdict, failures by reason with recovery,
the newest clients that never got in, coverage, and the ingest lag.  Log-derived strings
are made inert as in :mod:`logcorr.report.terminal` (``clean`` + :class:`rich.text.Text`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from logcorr.errors import LogcorrError
from logcorr.report.terminal import _reasons, _t, _table, _when
from logcorr.timewindow import format_window

if TYPE_CHECKING:
    from logcorr.watch import RoundState, Watcher

NEWEST_CLIENTS = 10
FINDINGS = 3  # the live view keeps the verdict short; the JSON and HTML reports have them all
_STYLE = {"benign": "green", "attention": "yellow", "action": "bold red"}


def _lag(seconds: float | None) -> str:
    if seconds is None:
        return "no events yet"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return format_window(round(seconds)) + " behind"


def _verdict(data: Mapping[str, Any]) -> Panel:
    verdict = data.get("verdict") or {}
    status = str(verdict.get("status") or "benign")
    style = _STYLE.get(status, "yellow")
    lines: list[Text] = [_t(verdict.get("summary"))]
    findings = verdict.get("findings") or []
    for finding in findings[:FINDINGS]:  # strings (schema 1) or objects with a text (schema 2)
        text = finding.get("text") if isinstance(finding, Mapping) else finding
        lines.append(Text("• ") + _t(text))
    if len(findings) > FINDINGS:
        lines.append(Text(f"… {len(findings) - FINDINGS} more findings in the JSON and HTML reports",
                          style="dim"))
    return Panel(Group(*lines), title=Text(status.upper(), style=style), title_align="left",
                 border_style=style, box=box.ROUNDED)


def _newest_never_in(data: Mapping[str, Any]) -> RenderableType:
    clients = [c for c in data.get("unrecovered_clients") or [] if not c.get("ever_succeeded")]
    if not clients:
        return Text("No real client was locked out in this period.", style="green")
    clients.sort(key=lambda c: str(c.get("last_seen") or ""), reverse=True)
    table = _table(f"Newest clients that never got in ({len(clients):,})",
                   [("client", False), ("failures", True), ("reasons", False), ("last seen (UTC)", False)],
                   first_width=15)
    for c in clients[:NEWEST_CLIENTS]:
        reasons = c.get("reasons") or {}
        text = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
        table.add_row(_t(c.get("client")), f"{int(c.get('failures') or 0):,}", _t(text),
                      _when(c.get("last_seen")))
    return table


def _coverage(data: Mapping[str, Any]) -> Text:
    cov = data.get("coverage") or {}
    totals = data.get("totals") or {}
    parts = [f"{int(totals.get('handshake_failures') or 0):,} failures",
             f"{int(totals.get('tls_sessions') or 0):,} TLS sessions"]
    unattr = cov.get("unattributable_failures", totals.get("unattributable"))
    if unattr:
        parts.append(f"{int(unattr):,} unattributable")
    for key, label in (("rejects", "rejected lines"), ("access_lines_without_tls", "access lines without TLS fields"),
                       ("ignored", "ignored")):
        if cov.get(key):
            parts.append(f"{int(cov[key]):,} {label}")
    scanners = data.get("scanners") or []
    if scanners:
        parts.append(f"{len(scanners):,} scanners")
    checks = (data.get("health_checks") or {}).get("count")
    if checks:
        parts.append(f"{int(checks):,} health checks")
    gaps = cov.get("error_log_periods_without_access_log") or []
    if gaps:
        parts.append(f"{len(gaps)} error-log periods without access log")
    return Text.assemble(("Coverage: ", "bold"), " · ".join(parts))


def live_view(state: RoundState, watcher: Watcher) -> RenderableType:
    """The whole live view for one round."""
    data = state.report.data if state.report is not None else {}
    cfg = watcher.config
    period = data.get("period") or {}
    head = Text(f"logcorr watch · round {state.number} · last {format_window(cfg.last_s)} "
                f"({_when(period.get('start'))} – {_when(period.get('end'))} UTC) · "
                f"window {format_window(cfg.window_s)} · ingest lag {_lag(state.lag_s)} · "
                f"{state.new_lines:,} new lines · {watcher.wakeup.mode}", style="dim")
    parts: list[RenderableType] = [head, _verdict(data), _reasons(data, 120), _newest_never_in(data),
                                   _coverage(data)]
    if state.errors:
        parts.append(Text(f"{len(state.errors)} input file(s) could not be read (see stderr)", style="yellow"))
    return Group(*parts)


def change_line(state: RoundState) -> Text:
    """``verdict benign → attention: <summary>`` (the summary made inert)."""
    assert state.change is not None
    before, after = state.change
    data = state.report.data if state.report is not None else {}
    summary = (data.get("verdict") or {}).get("summary") or ""
    return Text.assemble(("verdict ", "bold"), (str(before), _STYLE.get(str(before), "")), " → ",
                         (after, _STYLE.get(after, "")), ": ", _t(summary))


class Output:
    """Sends each round where it goes; a context manager (the live view needs closing)."""

    def __init__(self, json_lines: bool | None = None, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = Console(file=err if err is not None else sys.stderr, highlight=False, emoji=False,
                           soft_wrap=True)
        self.json_lines = (not self.out.isatty()) if json_lines is None else json_lines
        self.live: Live | None = None
        self._html_key: str | None = None
        self.console: Console | None = None
        if not self.json_lines:
            self.console = Console(file=self.out, highlight=False, emoji=False)

    def __enter__(self) -> Output:
        if self.console is not None:
            self.live = Live(Text("logcorr watch: first round…", style="dim"), console=self.console,
                             auto_refresh=False, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def warn(self, message: str) -> None:
        line = Text("logcorr watch: ") + _t(message)
        if self.live is not None:
            self.live.console.print(line)
        else:
            self.err.print(line)

    def emit(self, state: RoundState, watcher: Watcher) -> None:
        from logcorr.watch import round_json, write_html

        if state.change is not None:
            if self.live is not None:
                self.live.console.print(change_line(state))
            else:
                self.err.print(Text("logcorr watch: ") + change_line(state))
        if self.json_lines:
            self.out.write(round_json(state) + "\n")
            self.out.flush()
        elif self.live is not None:
            self.live.update(live_view(state, watcher), refresh=True)
        cfg = watcher.config
        if cfg.html is not None and state.report is not None:
            # The page is rewritten when the report changed (charts cost ~1 s to draw);
            # the browser reloads it every round either way.
            key = json.dumps(state.report.data, sort_keys=True, default=str)
            if key == self._html_key and cfg.html.exists():
                return
            try:
                write_html(cfg.html, state.report, max(1, round(cfg.every_s)))
                self._html_key = key
            except LogcorrError as exc:  # a page that cannot be written is a warning
                self.warn(str(exc))
