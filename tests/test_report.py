"""The report (SPEC §7): whole documents for hand-built scenarios, verdicts, renderers.

Scenarios are failures and sessions as the nginx readers give them (error-log lines at
whole seconds, access-log sessions with ``$ssl_protocol``), correlated by
``logcorr.correlate.correlate`` and built by ``build_report``; expected numbers are worked
out by hand in the comments.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import pytest

from logcorr.correlate import correlate
from logcorr.report.build import Report, build_report
from logcorr.report.render import md_escape, render_json, render_markdown, render_text
from logcorr.report.verdict import pct
from tests.test_correlate import LB, LB_NETS, failures, sessions, ts

UNTIL = pd.Timestamp("2026-11-26T18:00:00Z")


def report(f: pd.DataFrame, s: pd.DataFrame, **kwargs: Any) -> Report:
    m = correlate(f, s, 300, "TLSv1.2", lb_networks=LB_NETS)
    return build_report(f, s, m, window_s=300, min_protocol="TLSv1.2", **kwargs)


def scenario() -> tuple[pd.DataFrame, pd.DataFrame]:
    f = failures(
        {"ts": ts(0), "client_addr": "10.0.1.23"},  # recovered by a (1.4 s)
        {"ts": ts(1), "client_addr": "10.0.1.23"},  # recovered by a (0.4 s): Android's second fallback
        {"ts": ts(600), "client_addr": "10.0.1.24"},  # recovered by c (2.0 s)
        {"ts": ts(1200), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"},
        {"ts": ts(1800), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"},
        {"ts": ts(2400), "client_addr": "192.0.2.66", "reason": "not_tls"},  # a scanner
        {"ts": ts(3000), "client_addr": LB, "reason": "peer_closed"},  # unattributable
        {"ts": ts(3300), "client_addr": "192.0.2.80", "client_side": False, "reason": "other"},  # upstream
    )
    s = sessions(
        {"ts": ts(1.4), "client_addr": "10.0.1.23"},  # a
        {"ts": ts(2), "client_addr": "10.0.1.23", "is_connection": False},  # b: 2nd request of a's connection
        {"ts": ts(602), "client_addr": "10.0.1.24", "ssl_protocol": "TLSv1.3"},  # c
        {"ts": ts(300), "client_addr": "203.0.113.1", "is_connection": None},  # d: unknown counts
        {"ts": ts(5400), "client_addr": "10.0.1.24"},  # e: after --until
    )
    return f, s


LOCKOUT = {"kind": "unrecovered_real_clients", "clients": ["198.51.100.7"],
           "counts": {"reason": "no_shared_cipher", "failures": 2, "clients": 1, "never_got_in": 1},
           "text": "2 no_shared_cipher failures from 1 real client did not recover within 5m and never "
                   "got in at all (e.g. 198.51.100.7): the clients offer only cipher suites the "
                   "server disabled (old clients with RC4, 3DES or CBC-only lists, or ECDSA-only clients "
                   "against an RSA certificate). Server-side fix: if these clients matter, enable a suite "
                   "they offer (read it from a capture) or add an ECDSA certificate beside the RSA one."}
NOISE = {"kind": "noise_only", "clients": ["192.0.2.66"],
         "counts": {"failures": 1, "clients": 1, "reasons": {"not_tls": 1}},
         "text": "1 address produced only noise (not_tls 1) and never completed a handshake "
                 "(e.g. 192.0.2.66): plain HTTP or non-TLS bytes sent to the TLS port by misdirected "
                 "clients or probes; nothing to fix."}
UNATTRIBUTABLE = {"kind": "unattributable", "clients": ["10.0.0.5"],
                  "counts": {"failures": 1, "reasons": {"peer_closed": 1}},
                  "text": "1 failure (14%) cannot be attributed to a client: nginx logged only the load "
                  "balancer as the client (e.g. 10.0.0.5). To name the real clients: enable PROXY "
                  "protocol on the load balancer and \"listen ... proxy_protocol\" in nginx, then take "
                  "a capture of port 443 or set \"error_log ... debug\" to log \"PROXY protocol src:\" "
                  "lines; or terminate TLS in the stream module with realip; or use a load balancer "
                  "that preserves client IPs."}
NOTE = {"kind": "note", "text": "from the LB section", "clients": [], "counts": {}}


def test_whole_document() -> None:
    f, s = scenario()
    lb = {"summary": "lb summary"}
    rep = report(f, s, since=ts(0), until=UNTIL, lb=lb, extra_findings=["from the LB section"])
    # 7 client-side failures; sessions in the period a, b, c, d; connections a, c, d (b is a
    # second request) → rate 7 / (7 + 3).  Fallback delays 1.4, 0.4, 2.0: median 1.4,
    # p90 = 1.4 + 0.8 × (2.0 − 1.4) = 1.88.
    assert rep.data == {
        "schema": "logcorr.report/2",
        "window_seconds": 300,
        "min_protocol": "TLSv1.2",
        "period": {"start": "2026-11-26T17:00:00Z", "end": "2026-11-26T18:00:00Z"},
        "totals": {"handshake_failures": 7, "tls_sessions": 3, "failure_rate": 0.7, "tls_requests": 4,
                   "unlabelled_requests": 0, "attributable": 6, "unattributable": 1, "recovered": 3,
                   "unrecovered": 3, "scanner_failures": 0, "failure_rate_with_scanners": 0.7,
                   "health_checks": 0, "ignored_failures": 0},
        "reasons": [
            {"reason": "inappropriate_fallback", "family": "retry", "failures": 3, "clients": 2,
             "attributable": 3, "recovered": 3, "unrecovered": 0, "recovery_rate": 1.0,
             "median_recovery_s": 1.4, "p90_recovery_s": 1.88, "failure_rate": 0.3},
            {"reason": "no_shared_cipher", "family": "incompatible", "failures": 2, "clients": 1,
             "attributable": 2, "recovered": 0, "unrecovered": 2, "recovery_rate": 0.0,
             "median_recovery_s": None, "p90_recovery_s": None, "failure_rate": 0.2},
            {"reason": "not_tls", "family": "noise", "failures": 1, "clients": 1,
             "attributable": 1, "recovered": 0, "unrecovered": 1, "recovery_rate": 0.0,
             "median_recovery_s": None, "p90_recovery_s": None, "failure_rate": 0.1},
            {"reason": "peer_closed", "family": "network", "failures": 1, "clients": 0,
             "attributable": 0, "recovered": 0, "unrecovered": 0, "recovery_rate": None,
             "median_recovery_s": None, "p90_recovery_s": None, "failure_rate": 0.1},
        ],
        "unrecovered_clients": [
            {"client": "198.51.100.7", "failures": 2, "reasons": {"no_shared_cipher": 2},
             "first_seen": "2026-11-26T17:20:00Z", "last_seen": "2026-11-26T17:30:00Z",
             "ever_succeeded": False},
            {"client": "192.0.2.66", "failures": 1, "reasons": {"not_tls": 1},
             "first_seen": "2026-11-26T17:40:00Z", "last_seen": "2026-11-26T17:40:00Z",
             "ever_succeeded": False},
        ],
        "lb": lb,
        # access lines: sessions a, b, c, d in the period (e is after --until)
        "coverage": {"access_lines": 4, "access_lines_without_tls": 0, "access_lines_without_tls_answered": 0,
                     "rejects": 0, "error_log_periods_without_access_log": [], "unattributable_failures": 1,
                     "ignored": 0},
        "scanners": [],
        "health_checks": {"count": 0, "by_lb": {}},
        "hosts": [{"host": "(no host recorded)", "handshake_failures": 7, "tls_sessions": 3,
                   "scanner_failures": 0, "health_checks": 0}],
        "verdict": {
            "status": "action",
            "summary": "7 handshake failures from 4 clients (70% of connections); 50% of the 6 "
                       "attributable were followed by a TLS 1.2+ session from the same client within "
                       "5m (median 1.4 s); 2 real clients did not recover within 5m, 2 of them never got "
                       "in at all; 1 of those was refused for what they offer (failures: no_shared_cipher 2)",
            "findings": [LOCKOUT, NOISE, UNATTRIBUTABLE, NOTE],
            "limited_by": [],
        },
        "timeline_bucket_s": 60,  # an hour's period: one-minute bars
    }
    # JSON: the same object, SPEC key order
    doc = render_json(rep)
    assert json.loads(doc) == rep.data
    assert list(json.loads(doc)) == ["schema", "window_seconds", "min_protocol", "period", "totals",
                                     "reasons", "unrecovered_clients", "lb", "coverage", "scanners",
                                     "health_checks", "hosts", "verdict", "timeline_bucket_s"]
    # frames for charts and notebooks
    assert rep.frames["timeline"].values.tolist() == [
        [ts(0), "inappropriate_fallback", 2], [ts(600), "inappropriate_fallback", 1],
        [ts(1200), "no_shared_cipher", 1], [ts(1800), "no_shared_cipher", 1],
        [ts(2400), "not_tls", 1], [ts(3000), "peer_closed", 1]]
    assert rep.frames["delays"]["delay_s"].tolist() == pytest.approx([1.4, 0.4, 2.0])
    assert rep.frames["reasons"]["failures"].tolist() == [3, 2, 1, 1]
    assert rep.frames["unrecovered_clients"]["first_seen"].tolist() == [ts(1200), ts(2400)]
    assert len(rep.frames["matches"]) == 7


def test_period_defaults_to_the_data_and_filters_failures() -> None:
    f, s = scenario()
    rep = report(f, s)
    assert rep.data["period"] == {"start": "2026-11-26T17:00:00Z", "end": "2026-11-26T18:30:00Z"}
    assert rep.data["totals"]["tls_sessions"] == 4  # e counts without --until
    later = report(f, s, since=ts(1200), until=ts(2400))  # [since, until): 2 no_shared_cipher
    assert later.data["totals"]["handshake_failures"] == 2
    assert later.data["totals"]["tls_sessions"] == 0
    assert later.data["totals"]["failure_rate"] == 1.0
    assert [r["reason"] for r in later.data["reasons"]] == ["no_shared_cipher"]


def test_no_sessions_means_recovery_cannot_be_judged() -> None:
    f, _ = scenario()
    rep = report(f, sessions())
    verdict = rep.data["verdict"]
    assert verdict["status"] == "attention"
    assert verdict["summary"] == ("7 handshake failures and no TLS sessions in the data: recovery "
                                  "cannot be judged; ingest the access log with $ssl_protocol")
    assert {r["reason"]: r["recovery_rate"] for r in rep.data["reasons"]} == {
        "inappropriate_fallback": None, "no_shared_cipher": None, "not_tls": None, "peer_closed": None}
    assert rep.data["totals"]["failure_rate"] == 1.0
    assert verdict["findings"] == [UNATTRIBUTABLE]


def test_no_failures() -> None:
    _, s = scenario()
    rep = report(failures(), s)
    # sessions a, c, d, e are connections (b is a second request)
    assert rep.data["verdict"] == {"status": "benign",
                                   "summary": "No handshake failures in this period; 4 TLS sessions (connections).",
                                   "findings": [], "limited_by": []}
    assert rep.data["reasons"] == []
    assert rep.data["unrecovered_clients"] == []
    assert rep.data["totals"]["failure_rate"] == 0.0
    assert "(no handshake failures in this period)" in render_text(rep)
    assert "No handshake failures in this period." in render_markdown(rep)


def _retries(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fails = [{"ts": ts(60 * i), "client_addr": f"10.0.1.{i}"} for i in range(n)]
    goods = [{"ts": ts(60 * i + 0.4), "client_addr": f"10.0.1.{i}"} for i in range(n)]
    return fails, goods


def test_verdict_benign_for_retries_that_came_back() -> None:
    fails, goods = _retries(20)
    # one straggler whose retry came after the window: 1/21 < 5 %, and it succeeded later
    fails.append({"ts": ts(3000), "client_addr": "10.0.1.99"})
    goods.append({"ts": ts(3000 + 400), "client_addr": "10.0.1.99"})
    verdict = report(failures(*fails), sessions(*goods)).data["verdict"]
    assert verdict["status"] == "benign"
    assert verdict["summary"] == (
        "21 inappropriate-fallback failures from 21 clients (50% of connections); 95% were followed "
        "by a TLS 1.2+ session from the same client within 5m (median 0.4 s): fallback retries that "
        "came back, as RFC 7507 intends")
    assert verdict["findings"] == [{
        "kind": "unrecovered_real_clients",
        "text": "1 failure from 1 real client did not recover within 5m (inappropriate_fallback 1; e.g. 10.0.1.99).",
        "clients": ["10.0.1.99"], "counts": {"failures": 1, "clients": 1, "reasons": {"inappropriate_fallback": 1}}}]


def test_verdict_action_for_clients_locked_out() -> None:
    fails, goods = _retries(20)
    fails += [{"ts": ts(100 + i), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"} for i in range(3)]
    verdict = report(failures(*fails), sessions(*goods)).data["verdict"]
    assert verdict["status"] == "action"
    assert verdict["summary"].endswith("; 1 real client did not recover within 5m, 1 of them never got in "
                                       "at all; 1 of those was refused for what they offer "
                                       "(failures: no_shared_cipher 3)")
    assert verdict["findings"][0]["text"].startswith("3 no_shared_cipher failures from 1 real client did not "
                                                     "recover within 5m and never got in at all")
    assert verdict["findings"][0]["counts"] == {"reason": "no_shared_cipher", "failures": 3, "clients": 1,
                                                "never_got_in": 1}


def test_a_locked_out_client_that_got_in_another_time_is_attention_not_never_got_in() -> None:
    # SPEC §7: "never got in" counts only ever_succeeded false; a client whose only
    # success came an hour later did not recover within the window, but got in.
    fails, goods = _retries(20)
    fails += [{"ts": ts(100 + i), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"} for i in range(3)]
    goods.append({"ts": ts(4000), "client_addr": "198.51.100.7"})
    rep = report(failures(*fails), sessions(*goods))
    verdict = rep.data["verdict"]
    assert verdict["status"] == "attention"
    assert verdict["summary"].endswith("; 1 real client did not recover within 5m, each got in at another time "
                                       "(never got in: 0); 1 was refused for what they offer "
                                       "(failures: no_shared_cipher 3)")
    assert verdict["findings"][0]["counts"]["never_got_in"] == 0
    assert [(c["client"], c["ever_succeeded"]) for c in rep.data["unrecovered_clients"]] == [("198.51.100.7", True)]


def test_verdict_action_for_scsv_on_every_connection() -> None:
    # fallback failures, never any session (SCSV on every connection), plus a path hint
    fails, goods = _retries(20)
    fails += [{"ts": ts(100 * i), "client_addr": "203.0.113.50"} for i in range(4)]
    fails.append({"ts": ts(50), "client_addr": "203.0.113.50", "reason": "peer_closed"})
    verdict = report(failures(*fails), sessions(*goods)).data["verdict"]
    assert verdict["status"] == "action"
    assert verdict["findings"][0]["kind"] == "scsv_every_connection"
    assert verdict["findings"][0]["text"].startswith(
        "1 client had 4 inappropriate_fallback failures and never got in at all "
        "(e.g. 203.0.113.50): each of their hellos carried TLS_FALLBACK_SCSV")
    assert "1 of them also had peer_closed/timeout failures" in verdict["findings"][0]["text"]
    assert verdict["findings"][0]["counts"] == {"failures": 4, "clients": 1, "with_network_failures": 1}
    assert ".md" not in " ".join(f["text"] for f in verdict["findings"])  # self-contained (issue 10.9)


def test_verdict_attention_for_a_large_unattributable_share() -> None:
    fails, goods = _retries(10)
    fails += [{"ts": ts(30 + i), "client_addr": LB, "reason": "peer_closed"} for i in range(2)]
    verdict = report(failures(*fails), sessions(*goods)).data["verdict"]
    assert verdict["status"] == "attention"
    assert verdict["summary"].endswith("; 17% cannot be attributed to a client")
    assert verdict["findings"][0]["text"].startswith("2 failures (17%) cannot be attributed to a client")


def _numbers(rep: Report) -> list[str]:
    """Every number of the reasons and clients as the renderers format them."""
    out = []
    for r in rep.data["reasons"]:
        out += [f"{r['failures']:,}", f"{100 * r['failure_rate']:.2f}%", f"{r['recovered']}/{r['attributable']}"]
        if r["median_recovery_s"] is not None:
            out += [f"{r['median_recovery_s']:g} s", f"{r['p90_recovery_s']:g} s"]
    for c in rep.data["unrecovered_clients"]:
        out += [c["client"], c["first_seen"].replace("T", " ").removesuffix("Z")]
    t = rep.data["totals"]
    out.append(f"{t['handshake_failures']} handshake failures, {t['tls_sessions']} TLS sessions "
               f"(connections), failure rate {100 * t['failure_rate']:.2f}%")
    return out


def test_text_and_markdown_carry_the_same_numbers() -> None:
    f, s = scenario()
    rep = report(f, s, since=ts(0), until=UNTIL)
    text, md = render_text(rep), render_markdown(rep)
    for value in _numbers(rep):
        assert value in text, value
        assert value in md, value
    for value in ("1.88 s", "70.00%"):
        assert value in text
        assert value in md
    assert text.startswith("VERDICT: ACTION\n" + rep.data["verdict"]["summary"] + "\n")
    assert "**Verdict: ACTION** — 7 handshake failures" in md
    row = next(line for line in text.splitlines() if line.startswith("no_shared_cipher"))
    assert row.split() == ["no_shared_cipher", "incompatible", "2", "20.00%", "1", "0/2", "2", "0.00%", "-", "-"]
    assert "| inappropriate\\_fallback" not in md  # codes are not over-escaped
    assert "| inappropriate_fallback | retry | 3 | 30.00% | 2 | 3/3 | 0 | 100.00% | 1.4 s | 1.88 s |" in md


HOSTILE_ESC = "\x1b[31mred\x1b[0m"
HOSTILE_HTML = "<script>alert(1)</script>|`x`"


def test_hostile_strings_are_escaped() -> None:
    f = failures({"ts": ts(0), "client_addr": HOSTILE_ESC, "reason": "no_shared_cipher"},
                 {"ts": ts(1), "client_addr": HOSTILE_HTML, "reason": "no_shared_cipher"},
                 {"ts": ts(2), "client_addr": "192.0.2.1", "reason": "bad\x07\x7freason\nnext"})
    rep = report(f, sessions({"ts": ts(5), "client_addr": "10.0.1.1"}))
    text, md = render_text(rep), render_markdown(rep)
    for raw in ("\x1b", "\x07", "\x7f"):
        assert raw not in text
        assert raw not in md
    assert "<script>" not in md
    assert "\\x1b[31mred\\x1b[0m" in text
    assert "bad\\x07\\x7freason\\nnext" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|\\`x\\`" in md
    # a "|" from a log cannot add a column: every table row has as many unescaped pipes as its header
    for block in md.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            counts = {len(re.findall(r"(?<!\\)\|", r)) for r in rows}
            assert len(counts) == 1, rows
    assert json.loads(render_json(rep))["unrecovered_clients"][0]["client"] in {HOSTILE_ESC, HOSTILE_HTML}
    assert "\x1b" not in render_json(rep)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("a|b", "a\\|b"), ("<b>", "&lt;b&gt;"), ("`code`", "\\`code\\`"), ("[x](http://e)", "\\[x\\](http://e)"),
     ("a\nb", "a b"), ("\x1b[2J", "\\\\x1b\\[2J"), ("AT&T", "AT&amp;T"), ("inappropriate_fallback", "inappropriate_fallback")],
)
def test_md_escape(raw: str, escaped: str) -> None:
    assert md_escape(raw) == escaped


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.0, "0%"), (0.0004, "<0.1%"), (0.012, "1.2%"), (0.5, "50%"), (0.952, "95%"), (0.9996, "99.9%"),
     (1.0, "100%")],
)
def test_pct_never_rounds_to_a_misleading_0_or_100(share: float, text: str) -> None:
    assert pct(share) == text


# --- schema 2: classes, coverage, one meaning of client counts ----------------------------

def _report2(f: pd.DataFrame, s: pd.DataFrame, plain: pd.DataFrame | None = None, **kwargs: Any) -> Report:
    cidrs = {k: kwargs.pop(k) for k in ("scanner_cidrs", "ignore_cidrs") if k in kwargs}
    m = correlate(f, s, 300, "TLSv1.2", lb_networks=LB_NETS, **cidrs)
    return build_report(f, s, m, window_s=300, min_protocol="TLSv1.2", plain=plain,
                        ignore_cidrs=cidrs.get("ignore_cidrs", ()), **kwargs)


def plain_requests(*rows: dict[str, Any]) -> pd.DataFrame:
    """Access lines without TLS fields, as the access-log reader stores them (``combined``)."""
    base = {"source": "nginx_access", "status": 200, "file": "/var/log/nginx/access.log"}
    out = pd.DataFrame([{**base, "line": 100 + i, **r} for i, r in enumerate(rows)])
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[us, UTC]")
    return out


def test_scanners_health_checks_and_ignored_are_apart_from_the_headline() -> None:
    scan = [{"ts": ts(100 + i * 0.5), "client_addr": "192.0.2.200",
             "reason": ["unsupported_protocol", "peer_closed", "no_shared_cipher"][i % 3]} for i in range(12)]
    f = failures(*scan,
                 {"ts": ts(0), "client_addr": "10.0.1.23"},  # recovered (0.4 s)
                 {"ts": ts(10), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"},  # locked out
                 {"ts": ts(20), "client_addr": LB, "reason": "peer_closed", "reason_text": "client closed connection"},
                 {"ts": ts(21), "client_addr": LB, "reason": "peer_closed",
                  "reason_text": "recv() failed (104: Connection reset by peer)"},
                 {"ts": ts(30), "client_addr": "203.0.113.66", "reason": "no_shared_cipher"})  # --ignore
    s = sessions({"ts": ts(0.4), "client_addr": "10.0.1.23"},
                 {"ts": ts(105), "client_addr": "192.0.2.200"},  # a scanner's complete handshake
                 {"ts": ts(31), "client_addr": "203.0.113.66"},  # ignored entirely
                 *({"ts": ts(200 + i), "client_addr": f"10.0.2.{i}"} for i in range(6)))
    rep = _report2(f, s, ignore_cidrs=["203.0.113.0/24"])
    d = rep.data
    # headline: 2 client failures over 2 + 7 connections (scanner's and ignored sessions out)
    assert {k: d["totals"][k] for k in ("handshake_failures", "tls_sessions", "failure_rate", "scanner_failures",
                                        "failure_rate_with_scanners", "health_checks", "ignored_failures")} == {
        "handshake_failures": 2, "tls_sessions": 7, "failure_rate": round(2 / 9, 4), "scanner_failures": 12,
        # with them: (2 + 12) / (9 + 12 + the scanner's 1 connection)
        "failure_rate_with_scanners": round(14 / 22, 4), "health_checks": 2, "ignored_failures": 1}
    assert [r["reason"] for r in d["reasons"]] == ["inappropriate_fallback", "no_shared_cipher"]
    assert [c["client"] for c in d["unrecovered_clients"]] == ["198.51.100.7"]
    assert d["scanners"] == [{
        "client": "192.0.2.200", "failures": 12,
        "reasons": {"no_shared_cipher": 4, "peer_closed": 4, "unsupported_protocol": 4},
        "first_seen": "2026-11-26T17:01:40Z", "last_seen": "2026-11-26T17:01:45.5Z",
        "evidence": "12 failures of 3 reasons (no_shared_cipher, peer_closed, unsupported_protocol) within 5.5 s",
        "tls_sessions": 1}]
    assert d["health_checks"] == {"count": 2, "by_lb": {LB: 2}}
    assert d["coverage"]["ignored"] == 1
    assert d["coverage"]["unattributable_failures"] == 0  # the LB's no-byte closes are health checks
    assert d["hosts"] == [{"host": "(no host recorded)", "handshake_failures": 2, "tls_sessions": 7,
                           "scanner_failures": 12, "health_checks": 2}]
    kinds = [f["kind"] for f in d["verdict"]["findings"]]
    assert kinds == ["unrecovered_real_clients", "scanners", "health_checks"]
    assert d["verdict"]["findings"][1]["clients"] == ["192.0.2.200"]
    assert d["verdict"]["summary"].startswith(
        "2 handshake failures from 2 clients (22% of connections), besides 12 failures from 1 scanner "
        "and 2 health checks; 50% were followed")
    assert d["verdict"]["status"] == "action"


def test_copies_and_linked_rows_count_once() -> None:
    main = {"ts": ts(0), "client_addr": "198.51.100.7", "reason": "no_shared_cipher", "conn_id": 7,
            "file": "/var/log/nginx/error.log", "line": 10}
    copy = {**main, "file": "/var/log/nginx/debug.log", "line": 99}
    rep = _report2(failures(main, copy), sessions({"ts": ts(50), "client_addr": "10.0.1.1"}))
    assert len(rep.frames["matches"]) == 2
    assert rep.data["totals"]["handshake_failures"] == 1
    assert rep.data["reasons"][0]["failures"] == 1
    assert rep.data["unrecovered_clients"][0]["failures"] == 1


def test_access_lines_without_tls_fields_mean_the_client_got_in() -> None:
    # The default combined format: no $ssl_protocol.  198.51.100.7 fails on no_shared_cipher
    # and is answered on another connection a second later (issue 10.3).
    f = failures({"ts": ts(0), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"},
                 {"ts": ts(5), "client_addr": "198.51.100.8", "reason": "no_shared_cipher"})
    plain = plain_requests({"ts": ts(1), "client_addr": "198.51.100.7"},
                           {"ts": ts(2), "client_addr": "10.0.1.1"},
                           {"ts": ts(3), "client_addr": "10.0.1.2"},
                           {"ts": ts(4), "client_addr": "198.51.100.8", "status": 400},  # plain HTTP to 443
                           {"ts": ts(6), "client_addr": "198.51.100.8", "status": 301})  # a port-80 redirect
    rep = _report2(f, sessions(), plain)
    d = rep.data
    assert d["coverage"] == {"access_lines": 5, "access_lines_without_tls": 5,
                             "access_lines_without_tls_answered": 3, "rejects": 0,
                             "error_log_periods_without_access_log": [], "unattributable_failures": 0,
                             "ignored": 0}
    # rate: 2 failures / (2 + 0 connections + 3 answered lines), not 100%
    assert (d["totals"]["failure_rate"], d["totals"]["unlabelled_requests"]) == (0.4, 3)
    # not a recovery at TLSv1.2, but not locked out either
    assert [(c["client"], c["ever_succeeded"]) for c in d["unrecovered_clients"]] == [
        ("198.51.100.7", True), ("198.51.100.8", False)]
    assert d["reasons"][0]["recovered"] == 0
    v = d["verdict"]
    assert v["status"] == "action"
    assert v["summary"].endswith("; 2 real clients did not recover within 5m, 1 of them never got in at all; "
                                 "1 of those was refused for what they offer "
                                 "(failures: no_shared_cipher 2); coverage limits this verdict: "
                                 "3 access lines without TLS fields")
    assert v["limited_by"] == ["coverage_access_lines_without_tls"]
    assert v["findings"][0]["counts"] == {"reason": "no_shared_cipher", "failures": 2, "clients": 2,
                                          "never_got_in": 1}


def test_stream_sessions_with_status_500_are_not_recoveries() -> None:
    # nginx-logs.md §5: the stream module fills $ssl_protocol once a hello was read, and
    # logs $status 500 for the failed handshake: not a session.
    f = failures({"ts": ts(0), "client_addr": "203.0.113.22"})
    s = sessions({"ts": ts(0.7), "client_addr": "203.0.113.22", "source": "nginx_stream", "status": 500},
                 {"ts": ts(0.8), "client_addr": "203.0.113.23", "source": "nginx_stream", "status": 200})
    rep = _report2(f, s)
    assert rep.frames["matches"]["recovered"].tolist() == [False]
    assert rep.data["totals"]["tls_sessions"] == 1
    assert rep.data["unrecovered_clients"][0]["ever_succeeded"] is False


def test_error_log_hours_without_access_log() -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23"}, {"ts": ts(3700), "client_addr": "10.0.1.24"},
                 {"ts": ts(7300), "client_addr": "10.0.1.25"}, {"ts": ts(7400), "client_addr": "10.0.1.26"})
    s = sessions({"ts": ts(3650), "client_addr": "10.0.1.24"})  # 18:00-19:00 has an access line
    cov = _report2(f, s).data["coverage"]["error_log_periods_without_access_log"]
    assert cov == [{"host": "(no host recorded)", "start": "2026-11-26T17:00:00Z", "end": "2026-11-26T18:00:00Z",
                    "failures": 1},
                   {"host": "(no host recorded)", "start": "2026-11-26T19:00:00Z", "end": "2026-11-26T20:00:00Z",
                    "failures": 2}]


def test_hosts_section_uses_the_host_column() -> None:
    f = failures({"ts": ts(0), "client_addr": "10.0.1.23", "host": "web-1"},
                 {"ts": ts(1), "client_addr": "10.0.1.24", "host": "web-2", "conn_id": 1},
                 {"ts": ts(2), "client_addr": "10.0.1.25", "host": "web-2"})
    s = sessions({"ts": ts(0.5), "client_addr": "10.0.1.23", "host": "web-2"},
                 {"ts": ts(9), "client_addr": "10.0.1.9", "host": "web-3"})
    d = _report2(f, s).data
    assert d["hosts"] == [
        {"host": "web-1", "handshake_failures": 1, "tls_sessions": 0, "scanner_failures": 0, "health_checks": 0},
        {"host": "web-2", "handshake_failures": 2, "tls_sessions": 1, "scanner_failures": 0, "health_checks": 0},
        {"host": "web-3", "handshake_failures": 0, "tls_sessions": 1, "scanner_failures": 0, "health_checks": 0}]
    # recovery is per client across hosts (SPEC §6): failed on web-1, got in on web-2
    assert d["reasons"][0]["recovered"] == 1


def test_fallback_clause_states_the_evidence() -> None:
    """SPEC §7: the summary says why clients fell back from preceded_by, not by assumption."""
    from logcorr.report.verdict import fallback_clause

    assert fallback_clause(None) is None
    assert fallback_clause({"fallbacks": 0}) is None
    assert fallback_clause({"fallbacks": 20, "after_network_failure_within_2s": 17}) == (
        "17 of 20 fallbacks followed a failed first attempt (peer closed or timed out) from the same "
        "client within 2 s")
    assert fallback_clause({"fallbacks": 12, "after_network_failure_within_2s": 3,
                            "captured_first_attempts": 6, "captured_reset_within_2s": 3}) == (
        "3 of 12 fallbacks followed a failed first attempt (peer closed or timed out) from the same "
        "client within 2 s; the capture saw 3 of 6 first attempts reset within 2 s; for the other 9 "
        "the logs show no failed first attempt (it did not reach nginx, or the client sends "
        "TLS_FALLBACK_SCSV on every connection)")
