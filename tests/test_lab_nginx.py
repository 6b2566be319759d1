"""What the real nginx wrote, checked against ``reference/nginx-logs.md`` and the lab's truth.

The lab (``tests/lab``) runs Debian's nginx 1.22.1 + OpenSSL 3.0 with ``TZ=Asia/Kolkata``
and plays known scenarios; these tests pin down every line nginx wrote about them, so a
parser built from the reference is tested against reality, not against hand-typed lines.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import LabRun
from tests.lab.nginx import LAB_TZ, LB_ADDR

pytestmark = pytest.mark.nginx

# nginx-logs.md §1.1: the error-log line grammar (ngx_log_error_core, 1.10 → master).
ERROR_LINE = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[([a-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$")
# The recommended log_format (tests/lab/nginx.py RECOMMENDED_FORMAT), default escaping.
Q = r'"((?:[^"\\]|\\.)*)"'
ACCESS_LINE = re.compile(
    rf"^(\S+) - (\S+) \[([^\]]+)\] {Q} (\d{{3}}) (\d+) {Q} {Q} (\S+) (\S+) {Q} (\S+) (\S+) (\S+) "
    r"(\d+) (\d+) (\d+\.\d{3}) (\d+\.\d{3})$")
ACCESS_FIELDS = ("remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent",
                 "http_referer", "http_user_agent", "ssl_protocol", "ssl_cipher", "ssl_server_name",
                 "ssl_session_reused", "proxy_protocol_addr", "realip_remote_addr", "connection",
                 "connection_requests", "msec", "request_time")

_SSL = "SSL_do_handshake() failed (SSL: error:{}) while SSL handshaking"
# What nginx 1.22.1 + OpenSSL 3.0 writes per reason code (nginx-logs.md §3, §8;
# handshake-reasons.md), keyed by (reason, "http" | "stream").
MESSAGES = {
    ("inappropriate_fallback", "http"): _SSL.format("0A000175:SSL routines::inappropriate fallback"),
    ("inappropriate_fallback", "stream"): _SSL.format("0A000175:SSL routines::inappropriate fallback"),
    ("unsupported_protocol", "http"): _SSL.format("0A000102:SSL routines::unsupported protocol"),
    ("unsupported_protocol", "stream"): _SSL.format("0A000102:SSL routines::unsupported protocol"),
    ("no_shared_cipher", "http"): _SSL.format("0A0000C1:SSL routines::no shared cipher"),
    ("client_rejected_cert", "http"): _SSL.format(
        "0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48"),
    ("peer_closed", "http"): "peer closed connection in SSL handshake (104: Connection reset by peer)"
                             " while SSL handshaking",
    ("timeout", "http"): "client timed out (110: Connection timed out) while SSL handshaking",
    ("plain_http", "http"): "client sent plain HTTP request to HTTPS port while reading client request headers",
    ("plain_http", "stream"): _SSL.format("0A00009C:SSL routines::http request"),
    ("not_tls", "http"): _SSL.format("0A00010B:SSL routines::wrong version number"),
}
PHASE_SUFFIX = {0: ".2.gz", 1: ".1", 2: ""}  # two rotations: oldest gzipped


def read_lines(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", "backslashreplace").splitlines()


def log(run: LabRun, name: str, phase: int) -> list[str]:
    return read_lines(run.logs / f"{name}{PHASE_SUFFIX[phase]}")


def error_entries(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        m = ERROR_LINE.match(line)
        assert m, f"not in the nginx-logs.md §1.1 grammar: {line!r}"
        when, level, pid, tid, conn, text = m.groups()
        message, _, context = text.partition(", client: ")
        client, _, rest = context.partition(", server: ")
        out.append({"time": when, "level": level, "pid": pid, "tid": tid,
                    "conn": int(conn) if conn else None, "message": message, "client": client,
                    "server": rest.partition(",")[0], "line": line})
    return out


def failure_entries(run: LabRun, phase: int, name: str = "error.log") -> list[dict[str, Any]]:
    """Error-log entries about connections: everything but notices and stream ``connected to``."""
    return [e for e in error_entries(log(run, name, phase))
            if e["level"] not in ("notice", "debug") and " connected to " not in e["message"]]


def access_entries(run: LabRun, phase: int) -> list[dict[str, str]]:
    out = []
    for line in log(run, "access.log", phase):
        m = ACCESS_LINE.match(line)
        assert m, f"not in the recommended format: {line!r}"
        out.append(dict(zip(ACCESS_FIELDS, m.groups(), strict=True)))
    return out


def failures(run: LabRun, phase: int | None = None) -> list[dict[str, Any]]:
    return [a for a in run.truth["attempts"]
            if a["reason"] is not None and (phase is None or a["phase"] == phase)]


def sessions(run: LabRun, phase: int | None = None) -> list[dict[str, Any]]:
    return [a for a in run.truth["attempts"]
            if a["reason"] is None and (phase is None or a["phase"] == phase)]


def module(listener: str) -> str:
    return "stream" if listener == "stream" else "http"


def shown_client(attempt: dict[str, Any]) -> str:
    """nginx-logs.md §4: http behind PROXY shows the LB; stream realip shows the real client."""
    return LB_ADDR if attempt["listener"].startswith("proxy") else attempt["client"]


def in_error_log(attempt: dict[str, Any]) -> bool:
    """Every failure has an error line except a stream handshake timeout (nginx-logs.md §3)."""
    return not (attempt["reason"] == "timeout" and attempt["listener"] == "stream")


def test_every_client_saw_what_its_scenario_wanted(lab: LabRun) -> None:
    wrong = [(a["scenario"], a["client"], a["want"], a["saw"]) for a in lab.truth["attempts"]
             if a["saw"] != a["want"]]
    assert wrong == []
    assert lab.truth["rotations"] == 2
    assert lab.truth["nginx"]["nginx"] == "1.22.1"


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_error_log_has_exactly_one_info_line_per_failed_attempt(lab: LabRun, phase: int) -> None:
    """Each failure, in the file of its rotation phase, at [info], with the reference's text."""
    got = Counter((e["level"], e["message"], e["client"], e["server"]) for e in failure_entries(lab, phase))
    expected: Counter[tuple[str, str, str, str]] = Counter()
    for a in filter(in_error_log, failures(lab, phase)):
        server = ("lab.test" if a["reason"] == "plain_http" and a["listener"] != "stream"
                  else f"127.0.0.1:{lab.truth['ports'][a['listener']]}")
        expected[("info", MESSAGES[(a["reason"], module(a["listener"]))], shown_client(a), server)] += 1
    assert got == expected


def test_inappropriate_fallback_line_is_info_with_openssl3_spelling(lab: LabRun) -> None:
    lines = [e for p in (0, 1, 2) for e in failure_entries(lab, p) if "inappropriate fallback" in e["message"]]
    assert len(lines) == sum(a["reason"] == "inappropriate_fallback" for a in failures(lab))
    assert {e["level"] for e in lines} == {"info"}
    assert all("error:0A000175:SSL routines::inappropriate fallback" in e["message"] for e in lines)
    # Debian's build has threads: PID#TID with the kernel tid, which is the pid (§1.1).
    assert all(e["pid"] == e["tid"] for e in lines)


def test_proxy_listener_failures_name_the_load_balancer_only(lab: LabRun) -> None:
    """http behind PROXY protocol: ``client: 127.0.0.5``; the real client is in no error line."""
    entries = [e for p in (0, 1, 2) for e in failure_entries(lab, p)]
    proxy_ports = {f"127.0.0.1:{lab.truth['ports'][n]}" for n in ("proxy", "proxy_debug")}
    behind = [e for e in entries if e["server"] in proxy_ports]
    assert behind
    assert {e["client"] for e in behind} == {LB_ADDR}
    hidden = {a["client"] for a in failures(lab) if a["listener"] == "proxy"}
    all_text = "\n".join(line for p in (0, 1, 2) for line in log(lab, "error.log", p))
    assert hidden
    assert not any(c in all_text for c in hidden)


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_debug_log_names_the_real_client_with_the_same_connection(lab: LabRun, phase: int) -> None:
    """nginx-logs.md §4.3: ``PROXY protocol src:`` at debug, same ``*N`` as the failure."""
    debug = error_entries(log(lab, "proxy-debug.log", phase))
    main = {e["line"] for e in failure_entries(lab, phase)}
    src = {e["conn"]: e["message"] for e in debug if e["message"].startswith("PROXY protocol src: ")}
    infos = [e for e in debug if e["level"] == "info"]
    expected = [a for a in failures(lab, phase) if a["listener"] == "proxy_debug"]
    assert len(infos) == len(expected)
    for a, e in zip(sorted(expected, key=lambda a: a["started"]), sorted(infos, key=lambda e: e["conn"]),
                    strict=True):
        assert re.fullmatch(rf"PROXY protocol src: {re.escape(a['client'])} \d+, dst: 192\.0\.2\.10 443",
                            src[e["conn"]])
        assert e["client"] == LB_ADDR
        assert e["line"] in main  # the same line, byte for byte, in the main error log (§1.6)


def test_stream_failures_name_the_real_client(lab: LabRun) -> None:
    """nginx-logs.md §4.2: stream realip runs before SSL; ``connected to`` still shows the LB."""
    if not lab.truth["stream"]:
        pytest.fail("the stream module did not load")
    port = lab.truth["ports"]["stream"]
    for phase in (0, 1, 2):
        entries = error_entries(log(lab, "error.log", phase))
        connected = {e["conn"]: e["message"] for e in entries if " connected to " in e["message"]}
        fails = [e for e in entries if e["server"] == f"127.0.0.1:{port}"]
        expected = sorted(a["client"] for a in failures(lab, phase) if a["listener"] == "stream" and in_error_log(a))
        assert sorted(e["client"] for e in fails) == expected
        for e in fails:
            assert re.fullmatch(rf"client {re.escape(LB_ADDR)}:\d+ connected to 127\.0\.0\.1:{port}",
                                connected[e["conn"]])


def test_stream_access_log_has_500_for_failures_and_200_for_sessions(lab: LabRun) -> None:
    """nginx-logs.md §5: one stream entry per session; failures 500 with ``(NONE)`` cipher."""
    import json

    got: Counter[tuple[str, str, bool]] = Counter()
    conns_500: set[int] = set()
    for phase in (0, 1, 2):
        for line in log(lab, "stream.log", phase):
            rec = json.loads(line)
            assert rec["proxy_protocol_addr"] == rec["remote_addr"]
            got[(rec["remote_addr"], rec["status"], rec["ssl_cipher"] == "(NONE)")] += 1
            if rec["status"] == "500":
                conns_500.add(int(rec["connection"]))
    expected: Counter[tuple[str, str, bool]] = Counter()
    for a in lab.truth["attempts"]:
        if a["listener"] == "stream":
            expected[(a["client"], "500" if a["reason"] else "200", bool(a["reason"]))] += 1
    assert got == expected
    port = lab.truth["ports"]["stream"]
    stream_fail_conns = {e["conn"] for p in (0, 1, 2) for e in failure_entries(lab, p)
                         if e["server"] == f"127.0.0.1:{port}"}
    assert stream_fail_conns <= conns_500  # $connection == *N (§1.2)
    # The handshake timeouts are the 500 entries with no error line at all (§3).
    timeouts = [a for a in lab.truth["attempts"] if a["listener"] == "stream" and not in_error_log(a)]
    assert timeouts
    assert len(conns_500 - stream_fail_conns) == len(timeouts)


def test_access_log_has_no_line_for_failed_handshakes(lab: LabRun) -> None:
    """nginx-logs.md §5: only sessions and plain HTTP (400) reach the access log."""
    got: Counter[tuple[str, ...]] = Counter()
    for phase in (0, 1, 2):
        for r in access_entries(lab, phase):
            got[(r["remote_addr"], r["status"], r["ssl_protocol"], r["realip_remote_addr"],
                 r["proxy_protocol_addr"])] += 1
    expected: Counter[tuple[str, ...]] = Counter()
    for a in lab.truth["attempts"]:
        behind = a["listener"].startswith("proxy")
        if a["listener"] == "stream":
            continue
        if a["reason"] is None:
            real = (a["client"], "200", a["protocol"], LB_ADDR if behind else a["client"],
                    a["client"] if behind else "-")
            expected[real] += a["requests"]
        elif a["reason"] == "plain_http":
            # §4.1: the 400 is finalized before realip runs, so $remote_addr is still the LB.
            peer = LB_ADDR if behind else a["client"]
            expected[(peer, "400", "-", peer, a["client"] if behind else "-")] += 1
    assert got == expected
    ssl_failure_conns = {e["conn"] for p in (0, 1, 2) for e in failure_entries(lab, p)
                         if "SSL handshaking" in e["message"]}
    access_conns = {int(r["connection"]) for p in (0, 1, 2) for r in access_entries(lab, p)}
    assert ssl_failure_conns
    assert not (ssl_failure_conns & access_conns)


def test_keepalive_requests_share_a_connection(lab: LabRun) -> None:
    rows = [r for p in (0, 1, 2) for r in access_entries(lab, p) if r["status"] == "200"]
    by_conn: dict[str, list[int]] = {}
    for r in rows:
        by_conn.setdefault(r["connection"], []).append(int(r["connection_requests"]))
    expected = sorted(a["requests"] for a in sessions(lab) if a["listener"] != "stream")
    assert sorted(len(v) for v in by_conn.values()) == expected
    assert all(v == list(range(1, len(v) + 1)) for v in by_conn.values())


def test_times_are_asia_kolkata_wall_clock(lab: LabRun) -> None:
    """nginx-logs.md §1.1: error-log times are local without offset; $time_local has +0530."""
    zone = ZoneInfo(LAB_TZ)
    assert lab.truth["tz"] == LAB_TZ
    for phase in (0, 1, 2):
        for r in access_entries(lab, phase):
            msec = float(r["msec"])
            assert r["time_local"] == datetime.fromtimestamp(int(msec), zone).strftime("%d/%b/%Y:%H:%M:%S %z")
            assert r["time_local"].endswith(" +0530")
    # Every failure line's wall-clock time, read in Asia/Kolkata, lies inside its attempt.
    for phase in (0, 1, 2):
        lines: dict[tuple[str, str], list[float]] = {}
        for e in failure_entries(lab, phase):
            t = datetime.strptime(e["time"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=zone).timestamp()
            lines.setdefault((e["message"], e["client"]), []).append(t)
        attempts: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for a in filter(in_error_log, failures(lab, phase)):
            key = (MESSAGES[(a["reason"], module(a["listener"]))], shown_client(a))
            attempts.setdefault(key, []).append(a)
        for key, group in attempts.items():
            times = sorted(lines[key])
            for a, t in zip(sorted(group, key=lambda a: a["ended"]), times, strict=True):
                assert int(a["started"]) <= t <= a["ended"] + 1, (key, a["started"], t)
