"""The terminal report: plain when piped, colour on a terminal, log strings inert."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from logcorr.report.terminal import print_report, render_rich
from tests.test_html import ANSI, MARKUP, XSS_SCRIPT, make_report

ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")


def _plain(**kwargs: object) -> str:
    buf = io.StringIO()
    print_report(make_report(**kwargs), file=buf)  # type: ignore[arg-type]
    return buf.getvalue()


def test_piped_output_is_plain_text_with_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = _plain()
    assert "\x1b" not in out
    assert "ATTENTION" in out
    assert "8 of 12 failures were fallback retries that recovered within 5 s; 3 clients never got in." in out
    assert ("12 handshake failures · 988 TLS sessions · failure rate 1.20%\n3 clients did not recover "
            "within the window · 2 never got in\n") in out
    assert "period 2026-11-26 17:00:00 – 2026-11-26 18:00:00 UTC" in out
    # One line per reason at the piped width (120): every column, in order.
    rows: dict[str, list[str]] = {}
    for line in out.splitlines():  # first line of each row (a folded cell continues below)
        if line.strip():
            rows.setdefault(line.split()[0], line.split())
    assert rows["inappropriate_fallback"] == ["inappropriate_fallback", "retry", "8", "0.80%", "3",
                                              "8/8", "(100%)", "0", "2.0s", "4.3s"]
    assert rows["no_shared_cipher"] == ["no_shared_cipher", "incompatible", "3", "0.30%", "2",
                                        "0/3", "(0%)", "3", "—", "—"]
    assert rows["198.51.100.7"] == ["198.51.100.7", "2", "no_shared_cipher", "2", "2026-11-26",
                                    "17:12:30", "2026-11-26", "17:32:30", "no"]
    assert rows["203.0.113.9"][-1] == "yes"
    assert rows["192.0.2.200"][:2] == ["192.0.2.200", "40"]  # scanners, apart
    assert "health checks 7 (by peer: 10.0.1.23 7)" in out
    assert "no access log 2026-11-26 16:00:00 to 2026-11-26 17:00:00 UTC on web-1: 4 error-log failures" in out
    assert rows["web-1"] == ["web-1", "12", "988", "40", "7"]
    lb_rows = [line.split() for line in out.splitlines() if line.startswith(" 2026-11-26 17:")]
    assert lb_rows == [["2026-11-26", "17:00:00", "7", "510", "6", "503", "85.71%"],
                       ["2026-11-26", "17:30:00", "6", "490", "5", "485", "83.33%"]]
    assert "report format logcorr.report/2 (the JSON keys are a stable interface) · window 300 s · min protocol TLSv1.2" in out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_no_lb_and_no_unrecovered_clients() -> None:
    report = make_report(lb=False)
    report.data["unrecovered_clients"] = []
    buf = io.StringIO()
    print_report(report, file=buf)  # type: ignore[arg-type]
    out = buf.getvalue()
    assert "Every attributable failing client came back inside the window." in out
    assert "Load balancer" not in out


def test_forced_terminal_has_colour() -> None:
    buf = io.StringIO()
    print_report(make_report(), file=buf, color=True)  # type: ignore[arg-type]
    out = buf.getvalue()
    codes = ANSI_CODE.findall(out)
    assert "\x1b[33m" in codes  # yellow: status "attention"
    assert "\x1b[1m" in codes  # bold numbers
    assert "8 of 12 failures" in ANSI_CODE.sub("", out)


def test_colour_off_on_a_forced_terminal_console() -> None:
    buf = io.StringIO()
    print_report(make_report(), file=buf, color=False)  # type: ignore[arg-type]
    assert "\x1b" not in buf.getvalue()


@pytest.mark.parametrize("color", [False, True])
def test_hostile_strings_are_inert(color: bool) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, color_system="standard" if color else None,
                      width=200, highlight=False)
    render_rich(make_report(hostile=True), console)
    out = buf.getvalue()
    text = ANSI_CODE.sub("", out)
    # The only ESC bytes are rich's own SGR codes (none when plain); the client's are shown.
    assert "\x1b" not in text
    assert "\\x1b[31mred\\x1b[0m" + MARKUP in text  # markup shown literally, not applied
    assert XSS_SCRIPT in text
    assert ANSI not in out
    if not color:
        assert out == text


def test_reasons_fit_80_columns_without_breaking_words() -> None:
    """Issue 14.7: at 80 columns "inappropriate_fallback" became "inappropriate_ / fallback"."""
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False, no_color=True, highlight=False)
    report = make_report()
    report.data["reasons"].append({**report.data["reasons"][0], "reason": "client_rejected_cert"})
    render_rich(report, console)
    out = buf.getvalue()
    table = out[out.index("Reasons"):out.index("Clients that did not recover")]
    assert max(len(line.rstrip()) for line in table.splitlines()) <= 80
    header = next(line for line in table.splitlines() if line.strip().startswith("reason"))
    assert header.split() == ["reason", "failures", "clients", "recovered", "unrec.", "median"]
    for r in report.data["reasons"]:
        line = next(line for line in table.splitlines() if line.strip().startswith(r["reason"]))
        assert line.split()[0] == r["reason"]  # whole, on one line
