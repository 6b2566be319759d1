"""The HTML report: self-contained, renders in headless Chromium, log strings inert.

The report is built by hand (:func:`make_report`) in the shape of
``logcorr.report.build.Report`` (SPEC §7 keys in ``data``, DataFrames in ``frames``), so
these tests pin the renderer, not the numbers' computation.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from logcorr.report.html import render_html
from tests.browser import Browser, require_chromium

ROOT = Path(__file__).resolve().parent.parent

# Strings an attacker controls by what they send to port 443 or put in a log line.
XSS_SCRIPT = "<script>document.title='pwned'</script>"
XSS_ATTR = "\"><img src=x onerror=\"document.title='pwned'\">"
ANSI = "\x1b[31mred\x1b[0m"
MARKUP = "[bold red]loud[/bold red]"


@dataclass
class FakeReport:
    """Report-like: ``data`` (SPEC §7 object) and ``frames``."""

    data: dict[str, Any]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def make_matches(hostile: bool = False) -> pd.DataFrame:
    """Twelve failures in one hour: 8 recovered fallbacks, 3 no_shared_cipher, 1 not_tls."""
    rows: list[dict[str, Any]] = []
    for i, delay in enumerate([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0]):
        rows.append({"client_addr": f"10.0.1.{20 + i % 3}", "reason": "inappropriate_fallback",
                     "ts": _ts(f"2026-11-26T17:{5 * i:02d}:00"), "recovered": True, "delay_s": delay})
    for i, client in enumerate(["198.51.100.7", "198.51.100.7", "203.0.113.9"]):
        rows.append({"client_addr": client, "reason": "no_shared_cipher",
                     "ts": _ts(f"2026-11-26T17:{12 + 20 * i:02d}:30"), "recovered": False,
                     "delay_s": None})
    rows.append({"client_addr": "192.0.2.66", "reason": "not_tls",
                 "ts": _ts("2026-11-26T17:40:00"), "recovered": False, "delay_s": None})
    if hostile:
        rows.append({"client_addr": XSS_ATTR, "reason": XSS_SCRIPT,
                     "ts": _ts("2026-11-26T17:50:00"), "recovered": True, "delay_s": 3.0})
    frame = pd.DataFrame(rows)
    frame.insert(0, "failure_id", [f"f{i}" for i in range(len(frame))])
    frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
    frame["source"] = "nginx_error"
    frame["attributable"] = True
    frame["attribution"] = "error_log_client"
    frame["recovered_at"] = frame["ts"] + pd.to_timedelta(frame["delay_s"], unit="s")
    frame["recovered_protocol"] = frame["recovered"].map({True: "TLSv1.2", False: None})
    frame["recovered_cipher"] = None
    frame["file"] = "/var/log/nginx/error.log"
    frame["line"] = range(1, len(frame) + 1)
    return frame


def make_report(hostile: bool = False, frames: bool = True, lb: bool = True) -> FakeReport:
    """A complete report; ``hostile`` puts attacker-controlled strings everywhere a log string goes."""
    client = XSS_SCRIPT if hostile else "198.51.100.7"
    clients = [
        {"client": client, "failures": 2, "reasons": {"no_shared_cipher": 2},
         "first_seen": "2026-11-26T17:12:30Z", "last_seen": "2026-11-26T17:32:30Z",
         "ever_succeeded": False},
        {"client": XSS_ATTR if hostile else "203.0.113.9", "failures": 1,
         "reasons": {"no_shared_cipher": 1}, "first_seen": "2026-11-26T17:52:30Z",
         "last_seen": "2026-11-26T17:52:30Z", "ever_succeeded": True},
        {"client": (ANSI + MARKUP) if hostile else "192.0.2.66", "failures": 1,
         "reasons": {"not_tls": 1}, "first_seen": "2026-11-26T17:40:00Z",
         "last_seen": "2026-11-26T17:40:00Z", "ever_succeeded": False},
    ]
    data: dict[str, Any] = {
        "schema": "logcorr.report/2",
        "window_seconds": 300,
        "min_protocol": "TLSv1.2",
        "period": {"start": "2026-11-26T17:00:00Z", "end": "2026-11-26T18:00:00Z"},
        "totals": {"handshake_failures": 12, "tls_sessions": 988, "failure_rate": 0.012},
        "reasons": [
            {"reason": "inappropriate_fallback", "family": "retry", "failures": 8, "clients": 3,
             "attributable": 8, "recovered": 8, "unrecovered": 0, "recovery_rate": 1.0,
             "median_recovery_s": 2.0, "p90_recovery_s": 4.3, "failure_rate": 0.008},
            {"reason": "no_shared_cipher", "family": "incompatible", "failures": 3, "clients": 2,
             "attributable": 3, "recovered": 0, "unrecovered": 3, "recovery_rate": 0.0,
             "median_recovery_s": None, "p90_recovery_s": None, "failure_rate": 0.003},
            {"reason": "not_tls", "family": "noise", "failures": 1, "clients": 1,
             "attributable": 1, "recovered": 0, "unrecovered": 1, "recovery_rate": 0.0,
             "median_recovery_s": None, "p90_recovery_s": None, "failure_rate": 0.001},
        ],
        "unrecovered_clients": clients,
        "lb": None,
        "verdict": {
            "status": "attention",
            "summary": "8 of 12 failures were fallback retries that recovered within 5 s; "
                       "3 clients never got in.",
            "findings": [
                {"kind": "client_needs", "text": f"{client} offered only RC4-SHA; the server accepts none of its ciphers.",
                 "clients": [client], "counts": {"clients": 1}},
                {"kind": "noise_only", "text": "192.0.2.66 sent bytes that are not TLS (a scanner).",
                 "clients": ["192.0.2.66"], "counts": {"clients": 1}}],
            "limited_by": [],
        },
        "coverage": {"access_lines": 990, "access_lines_without_tls": 2, "access_lines_without_tls_answered": 0,
                     "rejects": 1, "error_log_periods_without_access_log": [
                         {"host": XSS_ATTR if hostile else "web-1", "start": "2026-11-26T16:00:00Z",
                          "end": "2026-11-26T17:00:00Z", "failures": 4}],
                     "unattributable_failures": 0, "ignored": 0},
        "scanners": [{"client": XSS_SCRIPT if hostile else "192.0.2.200", "failures": 40,
                      "reasons": {"peer_closed": 30, "unsupported_protocol": 6, "no_shared_cipher": 4},
                      "first_seen": "2026-11-26T17:05:00Z", "last_seen": "2026-11-26T17:05:09Z",
                      "evidence": (ANSI + MARKUP) if hostile else "40 failures of 3 reasons within 9 s",
                      "tls_sessions": 0}],
        "health_checks": {"count": 7, "by_lb": {XSS_ATTR if hostile else "10.0.1.23": 7}},
        "hosts": [{"host": XSS_SCRIPT if hostile else "web-1", "handshake_failures": 12, "tls_sessions": 988,
                   "scanner_failures": 40, "health_checks": 7}],
    }
    if hostile:
        data["reasons"].append({"reason": XSS_SCRIPT, "family": XSS_ATTR, "failures": 1,
                                "clients": 1, "attributable": 1, "recovered": 1, "unrecovered": 0,
                                "recovery_rate": 1.0, "median_recovery_s": 3.0,
                                "p90_recovery_s": 3.0, "failure_rate": 0.001})
    if lb:
        data["lb"] = {
            "summary": "nginx logged 11 of the load balancer's 13 TLS errors.",
            "load_balancers": [{
                "name": XSS_ATTR if hostile else "app/web-prod/50dc6c495c0c9188",
                "topology": "ALB in front of nginx, PROXY protocol off",
                "periods": [
                    {"start": "2026-11-26T17:00:00Z", "lb_tls_errors": 7, "lb_new_connections": 510,
                     "nginx_failures": 6, "nginx_connections": 503, "explained_share": 6 / 7},
                    {"start": "2026-11-26T17:30:00Z", "lb_tls_errors": 6, "lb_new_connections": 490,
                     "nginx_failures": 5, "nginx_connections": 485, "explained_share": 5 / 6},
                ],
            }],
        }
    report = FakeReport(data)
    if frames:
        matches = make_matches(hostile)
        report.frames["matches"] = matches
        report.frames["timeline"] = (
            matches.assign(bucket_start=matches["ts"].dt.floor("15min"))
            .groupby(["bucket_start", "reason"]).size().rename("failures").reset_index())
        rec = matches[matches["recovered"]]
        report.frames["delays"] = rec[["reason", "delay_s"]].reset_index(drop=True)
    return report


# --- the page as text -------------------------------------------------------------------


def test_page_is_self_contained() -> None:
    page = render_html(make_report())
    assert page.startswith("<!DOCTYPE html>")
    # No network: nothing loaded from anywhere (SVG namespaces are identifiers, not loads).
    assert not re.search(r"""(?:src|href|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", page, re.I)
    assert "default-src 'none'" in page
    assert page.count("<svg") == 4  # timeline, share failing, delays, one LB
    assert "<!DOCTYPE svg" not in page
    assert "<?xml" not in page
    assert "report format logcorr.report/2 (the JSON keys are a stable interface) · window 300 s · min protocol TLSv1.2" in page


def test_page_without_frames_derives_charts_from_matches() -> None:
    report = make_report(lb=False)
    del report.frames["timeline"], report.frames["delays"]
    page = render_html(report)
    assert page.count("<svg") == 3
    assert 'aria-label="failures by reason over time"' in page
    assert 'aria-label="recovery delay per reason"' in page


@pytest.mark.parametrize("dtype", ["object", "boolean"])
def test_charts_from_matches_with_unattributable_rows(dtype: str) -> None:
    from logcorr.report import charts

    matches = make_matches()
    recovered = matches["recovered"].astype("object")
    recovered.iloc[-1] = None  # the not_tls failure: unattributable, recovered is null
    matches["recovered"] = recovered.astype(dtype)
    delays = charts.delays_from_matches(matches)
    assert delays["delay_s"].tolist() == [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0, 5.0]
    timeline = charts.timeline_from_matches(matches)
    # 52.5 minutes from first to last failure: one-minute buckets (at most 60 bars).
    assert timeline["failures"].tolist() == [1] * 12
    assert timeline["bucket_start"].dt.minute.tolist() == [0, 5, 10, 12, 15, 20, 25, 30, 32, 35, 40, 52]
    assert (timeline["bucket_start"].dt.second == 0).all()
    assert str(timeline["bucket_start"].dt.tz) == "UTC"


def test_page_with_no_frames_and_no_failures_still_renders() -> None:
    report = make_report(frames=False, lb=False)
    report.data["unrecovered_clients"] = []
    page = render_html(report)
    assert page.count("<svg") == 1  # share failing, from the reasons alone
    assert "No handshake failures in this period." in page
    assert "Every attributable failing client came back inside the window." in page


def test_hostile_strings_are_escaped_in_the_text() -> None:
    page = render_html(make_report(hostile=True))
    assert page.count("<script>") == 1  # ours, at the end
    assert "<img" not in page
    assert "\x1b" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page  # html.escape
    assert "&quot;&gt;&lt;img src=x onerror=&quot;document.title=&#x27;pwned&#x27;&quot;&gt;" in page
    assert "\\x1b[31mred" in page  # control characters made visible
    # In SVG text matplotlib writes its own escapes: still no raw tag.
    svg_text = "".join(re.findall(r"<svg.*?</svg>", page, re.S))
    assert "&lt;script&gt;" in svg_text
    assert "<script" not in svg_text


def test_charts_read_dollar_signs_literally() -> None:
    from logcorr.report import charts

    svg = charts.failure_share_svg([{"reason": r"$\frac", "failure_rate": 0.5}], {}, {})
    assert svg is not None
    assert r"$\frac" in svg


# --- the page in a browser --------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser(require_chromium())
    try:
        yield b
    finally:
        b.close()


def test_page_renders_in_chromium(browser: Browser, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_html(make_report()), encoding="utf-8")
    page = browser.open(path)
    assert page.evaluate("document.title") == "logcorr report"
    assert page.evaluate("document.querySelector('.badge').textContent") == "attention"
    assert page.evaluate("document.getElementById('summary').textContent").startswith(
        "8 of 12 failures were fallback retries")
    assert page.evaluate("document.querySelectorAll('svg.chart').length") == 4
    # Each chart is laid out with a real size.
    widths = page.evaluate("Array.from(document.querySelectorAll('svg.chart'), "
                           "s => Math.round(s.getBoundingClientRect().width))")
    assert all(w > 500 for w in widths)
    clients = "Array.from(document.querySelectorAll('#clients tbody tr'), tr => tr.cells[0].textContent)"
    assert page.evaluate(clients) == ["198.51.100.7", "203.0.113.9", "192.0.2.66"]
    # Sorting: click "client" (text, ascending), then "failures" twice (numeric, descending).
    page.evaluate("document.querySelectorAll('#clients th')[0].click()")
    assert page.evaluate(clients) == ["192.0.2.66", "198.51.100.7", "203.0.113.9"]
    page.evaluate("document.querySelectorAll('#clients th')[1].click()")
    page.evaluate("document.querySelectorAll('#clients th')[1].click()")
    assert page.evaluate(clients)[0] == "198.51.100.7"
    assert page.evaluate("document.querySelectorAll('#clients th')[1].getAttribute('aria-sort')") == "descending"
    assert page.evaluate("document.querySelectorAll('#lb tbody tr').length") == 2
    assert page.errors() == []
    assert page.requests() == [path.resolve().as_uri()]


def test_hostile_strings_are_inert_in_chromium(browser: Browser, tmp_path: Path) -> None:
    page_text = render_html(make_report(hostile=True))
    # Escaping alone must hold: take the CSP away, which would otherwise block the script too.
    page_text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page_text)
    path = tmp_path / "hostile.html"
    path.write_text(page_text, encoding="utf-8")
    page = browser.open(path)
    assert page.evaluate("document.title") == "logcorr report"
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.scripts.length") == 1
    clients = page.evaluate("Array.from(document.querySelectorAll('#clients tbody tr'), "
                            "tr => tr.cells[0].textContent)")
    assert clients == [XSS_SCRIPT, XSS_ATTR, "\\x1b[31mred\\x1b[0m" + MARKUP]
    findings = page.evaluate("document.getElementById('findings').textContent")
    assert findings.startswith(XSS_SCRIPT + " offered only RC4-SHA")
    lb_title = page.evaluate("document.querySelector('#lb h3').textContent")
    assert lb_title == XSS_ATTR
    svg_labels = page.evaluate("Array.from(document.querySelectorAll('svg text'), t => t.textContent)")
    assert XSS_SCRIPT in svg_labels
    assert page.errors() == []
    assert page.requests() == [path.resolve().as_uri()]


def test_screenshot_tool_writes_a_png(tmp_path: Path) -> None:
    require_chromium()
    src = tmp_path / "report.html"
    src.write_text(render_html(make_report()), encoding="utf-8")
    out = tmp_path / "shot" / "report.png"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "screenshot.py"), str(src), str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width == 1280
    assert height > 1000  # the whole page, not one screen
    assert 20_000 < len(data) < 5_000_000


def test_addresses_never_break_and_the_bucket_is_stated(browser: Browser, tmp_path: Path) -> None:
    """Issue 14.7: `word-break: break-all` split "198.51.100.1 / 1" on a narrow window."""
    rep = make_report()
    rep.data["timeline_bucket_s"] = 5
    path = tmp_path / "report.html"
    path.write_text(render_html(rep), encoding="utf-8")
    page = browser.open(path)
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=page.session)
    lines = page.evaluate("Array.from(document.querySelectorAll('td.addr'), td => {"
                          " const r = document.createRange(); r.selectNodeContents(td);"
                          " return new Set(Array.from(r.getClientRects(), x => Math.round(x.top))).size; })")
    assert lines
    assert set(lines) == {1}
    assert "Bars of 5 s" in page.evaluate("document.body.textContent")


@pytest.mark.parametrize(("span", "width", "label"), [
    (7, 1, "1 s"), (300, 5, "5 s"), (3600, 60, "1 min"), (86400, 3600, "1 h"),
    (30 * 86400, 86400, "1 day"), (400 * 86400, 7 * 86400, "1 week")])
def test_timeline_bucket_follows_the_period(span: float, width: int, label: str) -> None:
    from logcorr.report.buckets import bucket_label, bucket_s

    assert (bucket_s(span), bucket_label(bucket_s(span))) == (width, label)
