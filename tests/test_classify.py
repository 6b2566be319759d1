"""Classes of failures (SPEC §6): scanners, health checks, ignored traffic, exact thresholds.

Failure rows have the nginx error-log reader's shape (tests/test_correlate.py); the nginx
texts are the ones ``reference/nginx-logs.md`` §3 quotes from a test host:
``client closed connection while SSL handshaking`` (recv() returned 0 before any byte),
``recv() failed (104: Connection reset by peer) while SSL handshaking`` (RST before any
byte), ``peer closed connection in SSL handshake (104: ...)`` (after bytes, in http).
Capture rows have the capture reader's shape (logcorr/sources/pcaprows.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from logcorr.attribution import merge_capture
from logcorr.classify import (
    SCANNER_BURST_S,
    SCANNER_MIN_FAILURES,
    SCANNER_MIN_INCOMPATIBLE,
    SCANNER_MIN_PROBES,
    SCANNER_MIN_REASONS,
    probes,
)
from logcorr.correlate import correlate
from tests.test_correlate import LB, LB_NETS, failures, sessions, ts

SCAN = "192.0.2.200"
REASONS = ["peer_closed", "inappropriate_fallback", "unsupported_protocol", "no_shared_cipher"]


def burst(n: int, kinds: int, span_s: float, client: str = SCAN) -> list[dict[str, Any]]:
    """``n`` failures of ``kinds`` reasons (round robin) evenly over ``span_s`` seconds."""
    step = span_s / (n - 1) if n > 1 else 0.0
    return [{"ts": ts(100 + i * step), "client_addr": client, "reason": REASONS[i % kinds]} for i in range(n)]


def classes(m: pd.DataFrame) -> dict[str, int]:
    one = m.drop_duplicates("failure_key")
    return {str(k): int(v) for k, v in one["class"].value_counts().sort_index().items()}


def test_thresholds_are_what_the_docstring_defends() -> None:
    assert (SCANNER_BURST_S, SCANNER_MIN_FAILURES, SCANNER_MIN_REASONS, SCANNER_MIN_INCOMPATIBLE,
            SCANNER_MIN_PROBES) == (60.0, 10, 3, 2, 5)


@pytest.mark.parametrize(("n", "kinds", "span_s", "expected"), [
    (10, 3, 9.0, {"scanner": 10}),  # the smallest burst: 10 failures, 3 reasons, within 60 s
    (40, 4, 5.0, {"scanner": 40}),  # nmap on a LAN: dozens in seconds
    (9, 3, 5.0, {"client": 9}),  # one short
    (12, 2, 1.0, {"client": 12}),  # a browser's fallback dance on 6 connections: 2 reasons
    (10, 3, 61.0, {"client": 10}),  # spread wider than the burst window (9 in any 60 s)
])
def test_scanner_burst(n: int, kinds: int, span_s: float, expected: dict[str, int]) -> None:
    m = correlate(failures(*burst(n, kinds, span_s)), sessions(), 300)
    assert classes(m) == expected
    if "scanner" in expected:
        assert m["evidence"].iloc[0].startswith(f"{n} failures of {kinds} reasons")


@pytest.mark.parametrize(("reasons", "expected"), [
    (["no_shared_cipher", "no_shared_group"], "scanner"),  # two incompatible reasons: enumeration
    (["unsupported_protocol", "no_shared_cipher"], "scanner"),
    (["peer_closed", "inappropriate_fallback"], "client"),  # retries through a broken path
    (["no_shared_cipher", "peer_closed"], "client"),  # one incompatible reason, one network
])
def test_scanner_burst_of_two_reasons(reasons: list[str], expected: str) -> None:
    rows = [{"ts": ts(100 + i * 0.1), "client_addr": SCAN, "reason": reasons[i % 2]} for i in range(10)]
    assert classes(correlate(failures(*rows), sessions(), 300)) == {expected: 10}


def test_a_burst_marks_the_address_and_leaves_other_clients_alone() -> None:
    f = failures(*burst(10, 3, 9.0), {"ts": ts(101), "client_addr": "10.0.1.23"},
                 {"ts": ts(5000), "client_addr": SCAN, "reason": "peer_closed"})  # later: still the scanner
    m = correlate(f, sessions(), 300)
    one = m.drop_duplicates("failure_key")
    by = {c: set(g["class"]) for c, g in one.groupby("client_addr")}
    assert by == {SCAN: {"scanner"}, "10.0.1.23": {"client"}}


def test_listed_and_ignored_addresses() -> None:
    f = failures({"ts": ts(0), "client_addr": "198.51.100.7", "reason": "no_shared_cipher"},
                 {"ts": ts(1), "client_addr": "198.51.100.8", "reason": "no_shared_cipher"},
                 {"ts": ts(2), "client_addr": "203.0.113.9", "reason": "no_shared_cipher"})
    m = correlate(f, sessions(), 300, scanner_cidrs=["198.51.100.8/32"], ignore_cidrs=["198.51.100.0/24"])
    # --ignore wins over --scanner: the block covers both
    assert m[["client_addr", "class", "evidence"]].astype(object).fillna("-").values.tolist() == [
        ["198.51.100.7", "ignored", "listed with --ignore"],
        ["198.51.100.8", "ignored", "listed with --ignore"],
        ["203.0.113.9", "client", "-"]]
    m = correlate(f, sessions(), 300, scanner_cidrs=["198.51.100.8"])
    assert m["class"].tolist() == ["client", "scanner", "client"]


@pytest.mark.parametrize(("client", "text", "expected"), [
    (LB, "client closed connection", "health_check"),
    (LB, "recv() failed (104: Connection reset by peer)", "health_check"),
    ("127.0.0.1", "client closed connection", "health_check"),  # a no-byte probe from anywhere
    # after bytes (http): a real client's reset after its hello, not a health check
    (LB, "peer closed connection in SSL handshake (104: Connection reset by peer)", "client"),
    ("10.0.1.23", "peer closed connection in SSL handshake", "client"),
])
def test_health_checks_from_logs_alone(client: str, text: str, expected: str) -> None:
    f = failures({"ts": ts(0), "client_addr": client, "reason": "peer_closed", "reason_text": text})
    m = correlate(f, sessions(), 300, lb_networks=LB_NETS)
    assert m["class"].tolist() == [expected]


def _capture_row(action: str, reason_text: str) -> dict[str, Any]:
    return {"ts": ts(0.3), "source": "pcap", "client_addr": LB, "client_is_real": None, "lb_addr": None,
            "reason": "peer_closed", "reason_text": reason_text, "action": action, "file": "lb.pcap",
            "line": 7, "conn_id": None, "server_addr": None, "attribution": "pcap_tcp_peer",
            "ts_precision_s": 1e-6, "level": None}


@pytest.mark.parametrize(("action", "expected"), [
    ("connect_close", "health_check"),  # the capture saw no byte: exact
    ("proxy_local", "health_check"),
    ("SSL handshaking", "client"),  # the capture saw a hello: the logs' guess is overruled
])
def test_a_capture_decides_for_the_error_log_line_it_explains(action: str, expected: str) -> None:
    nginx = {"ts": ts(0), "client_addr": LB, "client_is_real": False, "attribution": "lb", "lb_addr": LB,
             "reason": "peer_closed", "reason_text": "client closed connection", "level": "info"}
    f = merge_capture(failures(nginx, _capture_row(action, "connection closed (FIN)")))
    m = correlate(f, sessions(), 300, lb_networks=LB_NETS)
    assert m["failure_key"].nunique() == 1  # one failure,
    assert len(m) == 2  # both rows kept
    assert m["class"].tolist() == [expected, expected]


def _hello(client: str, versions: list[str], suites: list[int], hello_version: str = "TLSv1.2") -> dict[str, Any]:
    return {"client_addr": client, "versions": versions, "cipher_suites": suites, "hello_version": hello_version}


def test_capture_probes_that_enumerate_versions_or_suites() -> None:
    nmap = [_hello("192.0.2.1", [], [0xC02F, 0xC030, 0x009C], v) for v in ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.2")]
    testssl = [_hello("192.0.2.2", ["TLSv1.3", "TLSv1.2"], [c]) for c in (0x1301, 0x1302, 0x1303, 0xC02F, 0xC030)]
    device = [_hello("10.0.9.9", [], [0x002F]) for _ in range(20)]  # one suite, always the same
    old = [_hello("10.0.9.8", [], [0xC02F, 0xC030, 0x009C, 0x002F], "TLSv1") for _ in range(20)]  # TLS 1.0 only
    few = [_hello("192.0.2.3", [], [0x1301], v) for v in ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2")]  # 4 < 5 probes
    found = probes(pd.DataFrame(nmap + testssl + device + old + few))
    assert found == {
        "192.0.2.1": "5 probe hellos (one version or at most 2 suites each) naming 4 versions "
                     "(SSLv3, TLSv1, TLSv1.1, TLSv1.2)",
        "192.0.2.2": "5 probe hellos (one version or at most 2 suites each) naming 5 cipher suites",
    }


def test_a_real_nmap_scan_is_a_scanner_and_not_a_client(tmp_path: Path) -> None:
    """nmap ssl-enum-ciphers against the lab nginx: every failure it causes is the scanner's."""
    import shutil
    import socket
    import ssl
    import subprocess

    import logcorr
    from tests.conftest import require_nginx
    from tests.lab.nginx import running

    require_nginx()
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.fail("nmap is missing: apt-get install -y nmap", pytrace=False)
    with running(tmp_path / "lab") as lab:
        host, port = lab.address("direct")
        subprocess.run([nmap, "-Pn", "-n", "-p", str(port), "--script", "ssl-enum-ciphers", host],
                       check=True, capture_output=True, timeout=300)
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection((host, port), source_address=("127.0.0.30", 0)) as raw, \
                ctx.wrap_socket(raw) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: lab.test\r\nConnection: close\r\n\r\n")
            tls.recv(1024)
        logs = lab.logs
    logcorr.ingest([str(logs)], tmp_path / "data")
    ds = logcorr.open(tmp_path / "data")
    stored = ds.tables["handshake_failures"]
    doc = ds.report(window="5m").data
    assert stored >= SCANNER_MIN_FAILURES
    assert [s["client"] for s in doc["scanners"]] == [host]
    assert doc["scanners"][0]["failures"] == stored
    assert len(doc["scanners"][0]["reasons"]) >= 2
    assert doc["totals"]["handshake_failures"] == 0
    assert doc["totals"]["scanner_failures"] == stored
    assert doc["unrecovered_clients"] == []
    assert doc["verdict"]["status"] == "benign"
    assert doc["verdict"]["summary"] == (f"No handshake failures in this period; 1 TLS session (connections); "
                                         f"{stored} failures from 1 scanner reported apart.")


def test_a_scanners_own_no_byte_probe_is_part_of_its_scan() -> None:
    f = failures(*burst(10, 3, 9.0),
                 {"ts": ts(105), "client_addr": SCAN, "reason": "peer_closed", "reason_text": "client closed connection"},
                 {"ts": ts(105), "client_addr": LB, "reason": "peer_closed", "reason_text": "client closed connection"})
    m = correlate(f, sessions(), 300, lb_networks=LB_NETS)
    assert classes(m) == {"health_check": 1, "scanner": 11}


def test_an_empty_proxy_header_is_a_health_check_from_logs_alone() -> None:
    f = failures({"ts": ts(0), "client_addr": LB, "reason": "other", "reason_text": 'broken header: ""'},
                 {"ts": ts(1), "client_addr": LB, "reason": "other", "reason_text": 'broken header: "GET / HTTP/1.1"'})
    assert correlate(f, sessions(), 300, lb_networks=LB_NETS)["class"].tolist() == ["health_check", "client"]
