"""The messy lab's ground truth: what nginx wrote, read back after the run, and the report it implies.

Scanners and health checks open as many connections as they choose, so their attempts are
counted from the error and access logs after nginx stopped (:func:`from_logs`), using the
message table :data:`MESSAGES` (nginx 1.22.1 + OpenSSL 3.0, ``handshake-reasons.md``).
:func:`expected_report` turns the truth into the numbers ``logcorr report --format json``
must print (SPEC §6, §7).
"""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tests.lab.nginx import LAB_TZ, LB_ADDR, nginx_binary, versions

if TYPE_CHECKING:
    from tests.lab.fleet import Host
    from tests.lab.messy import Attempt

COMBINED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"')
PROTOCOL_ORDER = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
CHAIN_S = 10.0  # SPEC §7 preceded_by: the previous attempt within 10 s
EDGE_S = 1.5  # refuse truths whose times sit this close to a window edge

ERROR_LINE = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[([a-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$")
Q = r'"((?:[^"\\]|\\.)*)"'
COMBINED_LINE = re.compile(rf"^(\S+) - (\S+) \[([^\]]+)\] {Q} (\d{{3}}) (\d+) {Q} {Q}$")
RECOMMENDED_LINE = re.compile(
    rf"^(\S+) - (\S+) \[([^\]]+)\] {Q} (\d{{3}}) (\d+) {Q} {Q} (\S+) (\S+) {Q} (\S+) (\S+) (\S+) "
    r"(\d+) (\d+) (\d+\.\d{3}) (\d+\.\d{3})$")

# Error-log messages the lab's scanners and health checks produce → SPEC §5 code; None = not a
# handshake failure (handshake-reasons.md). Anything else raises: look at it, then add it.
MESSAGES: list[tuple[re.Pattern[str], str | None]] = [(re.compile(p), c) for p, c in [
    (r"SSL routines::no shared cipher\) while SSL handshaking$", "no_shared_cipher"),
    (r"SSL routines::(unsupported protocol|version too low)\) while SSL handshaking$", "unsupported_protocol"),
    (r"SSL routines::inappropriate fallback\) while SSL handshaking$", "inappropriate_fallback"),
    (r"SSL routines::(wrong version number|unknown protocol|http request)\) while SSL handshaking$", "not_tls"),
    (r"SSL routines::no application protocol\) while SSL handshaking$", "other"),
    (r"SSL routines::reason\(1000\):SSL alert number 0\) while SSL handshaking$", "peer_closed"),
    (r"alert (bad certificate|unsupported certificate|certificate revoked|certificate expired|"
     r"certificate unknown|unknown ca|bad certificate status response):SSL alert number \d+\) while SSL "
     r"handshaking$", "client_rejected_cert"),
    (r"SSL routines::[a-z0-9() ]+:SSL alert number \d+\) while SSL handshaking$", "peer_alert"),
    (r"SSL routines::[a-z ]+\) while SSL handshaking$", "other"),
    (r"^peer closed connection in SSL handshake( \(104: Connection reset by peer\))? while SSL handshaking$",
     "peer_closed"),
    (r"^recv\(\) failed \(104: Connection reset by peer\) while SSL handshaking$", "peer_closed"),
    (r"^client closed connection while SSL handshaking$", "peer_closed"),
    (r"^recv\(\) failed \(104: Connection reset by peer\) while reading PROXY protocol$", "peer_closed"),
    (r"^client sent invalid method while reading client request line$", "not_tls"),
    (r"^client timed out \(110: Connection timed out\) while SSL handshaking$", "timeout"),
    (r"^broken header: \".*\" while reading PROXY protocol$", "other"),
    (r"^client sent plain HTTP request to HTTPS port while reading client request headers$", "plain_http"),
    (r"while waiting for request$|^client closed connection while reading|keepalive connection$|"
     r"SSL_read\(\) failed|SSL_shutdown\(\) failed|^client timed out .* while reading", None),
]]


def nginx_versions() -> dict[str, str]:
    binary = nginx_binary()
    return versions(binary) if binary else {}


def classify(message: str) -> str | None:
    for pattern, code in MESSAGES:
        if pattern.search(message):
            return code
    raise ValueError(f"the messy lab met an nginx message it has no code for: {message!r}")


def _read(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8", "backslashreplace").splitlines()


def files(host: Host, name: str) -> list[Path]:
    """``name`` and its rotated copies (``name.1``, ``name.2.gz``), oldest first."""
    found = sorted(host.logs.glob(f"{name}.*"), key=lambda p: p.name, reverse=True)
    live = host.logs / name
    return found + ([live] if live.exists() else [])


def error_entries(host: Host) -> list[dict[str, Any]]:
    """Every error-log entry of ``host`` (all files), with epoch times (the lab's zone)."""
    tz = ZoneInfo(LAB_TZ)
    out = []
    for path in files(host, "error.log"):
        for n, line in enumerate(_read(path), 1):
            m = ERROR_LINE.match(line)
            if not m:
                continue
            when, level, _pid, _tid, conn, text = m.groups()
            message, _, context = text.partition(", client: ")
            client, _, rest = context.partition(", server: ")
            server = rest.partition(",")[0]
            ts = datetime.strptime(when, "%Y/%m/%d %H:%M:%S").replace(tzinfo=tz).timestamp()
            out.append({"file": path.name, "line_no": n, "ts": ts, "level": level,
                        "conn": int(conn) if conn else None, "message": message, "client": client,
                        "port": int(server.rpartition(":")[2]) if server[-1:].isdigit() else None,
                        "line": line})
    return out


def access_entries(host: Host) -> list[dict[str, Any]]:
    """Every access-log line of ``host``, with the format that parsed it."""
    out = []
    for path in files(host, "access.log"):
        for n, line in enumerate(_read(path), 1):
            m = RECOMMENDED_LINE.match(line)
            fmt = "recommended"
            if not m:
                m, fmt = COMBINED_LINE.match(line), "combined"
            if not m:
                raise ValueError(f"{path}:{n}: in neither lab format: {line!r}")
            ts = datetime.strptime(m.group(3), "%d/%b/%Y:%H:%M:%S %z").timestamp()
            out.append({"file": path.name, "line_no": n, "format": fmt, "remote_addr": m.group(1), "ts": ts,
                        "status": m.group(5), "protocol": m.group(9) if fmt == "recommended" else None,
                        "proxy_protocol_addr": m.group(13) if fmt == "recommended" else None,
                        "line": line})
    return out


def span(scan: dict[str, Any]) -> tuple[int, int]:
    """The error-log seconds a scanner run covers. A relayed scanner's entries name only the LB,
    so its span is tight (nginx writes each entry when the connection closes, before the tool
    exits) and the lab keeps other LB traffic 2 s away from it."""
    tail = 0 if scan["peer"] == LB_ADDR else 1
    return math.floor(scan["started"]), math.ceil(scan["ended"]) + tail


def _scanner_attempts(scan: dict[str, Any], errors: list[dict[str, Any]],
                      access: list[dict[str, Any]], port: int) -> list[Attempt]:
    from tests.lab.messy import Attempt

    lo, hi = span(scan)
    out = []
    for e in errors:
        # request-stage lines name the server_name, not the listen address (port None)
        if e["client"] != scan["peer"] or e["port"] not in (port, None) or not lo <= e["ts"] <= hi:
            continue
        code = classify(e["message"])
        if code is None:
            continue
        out.append(Attempt(scan["tool"], "scanner", scan["host"], scan["listener"], scan["client"], scan["peer"],
                           e["ts"], e["ts"], "", "failed", code, nginx_lines=[e["line"]]))
    for a in access:
        if (scan["client"] in (a["remote_addr"], a["proxy_protocol_addr"]) and lo <= a["ts"] <= hi
                and a["status"] != "400"):  # 400: the request line of a not-TLS failure
            out.append(Attempt(scan["tool"], "scanner", scan["host"], scan["listener"], scan["client"],
                               scan["peer"], a["ts"], a["ts"], "", "ok", None, a["format"], a["protocol"],
                               requests=1, nginx_lines=[a["line"]]))
    return out


# What the relay's checks make nginx write on a PROXY port (no client of the lab writes these: every
# relayed client's connection starts with a PROXY v1 header and then TLS bytes).
HEALTH_MESSAGES = frozenset({'broken header: "" while reading PROXY protocol',
                             "recv() failed (104: Connection reset by peer) while reading PROXY protocol",
                             "client closed connection while SSL handshaking"})


def _health_attempts(checks: list[dict[str, Any]], hosts: dict[str, Host],
                     errors: dict[str, list[dict[str, Any]]], scans: list[dict[str, Any]]) -> list[Attempt]:
    """Each check's error-log entry: the LB's no-byte entries on that port, in ``*N`` order.

    Entries inside a relayed scanner's span are the scanner's (testssl also closes before a hello).
    """
    from tests.lab.messy import Attempt

    busy = [span(s) for s in scans if s["peer"] == LB_ADDR]
    out = []
    for host in hosts:
        mine = sorted((c for c in checks if c["backend"] == host), key=lambda c: c["started"])
        if not mine:
            continue
        port = hosts[host].ports["proxy"]
        seen = sorted((e for e in errors[host] if e["client"] == LB_ADDR and e["port"] == port
                       and e["message"] in HEALTH_MESSAGES and not any(lo <= e["ts"] <= hi for lo, hi in busy)),
                      key=lambda e: e["conn"] or 0)
        if len(seen) != len(mine):
            raise RuntimeError(f"{host}: {len(mine)} health checks wrote {len(seen)} error entries: "
                               f"{[e['line'] for e in seen]}")
        for c, e in zip(mine, seen, strict=True):
            if not math.floor(c["started"]) <= e["ts"] <= c["ended"] + 2:
                raise RuntimeError(f"{host}: health check at {c['started']} matched {e['line']!r}")
            c["nginx_line"] = e["line"]
            out.append(Attempt(f"health_check_{c['kind']}", "health_check", host, "proxy", LB_ADDR, LB_ADDR,
                               c["started"], c["ended"], "", c["kind"], classify(e["message"]),
                               nginx_lines=[e["line"]]))
    return out


def from_logs(hosts: dict[str, Host], events: dict[str, Any]) -> list[Attempt]:
    """Scanner and health-check attempts, as nginx logged them."""
    errors = {n: error_entries(h) for n, h in hosts.items()}
    access = {n: access_entries(h) for n, h in hosts.items()}
    out = []
    for scan in events["scans"]:
        found = _scanner_attempts(scan, errors[scan["host"]], access[scan["host"]],
                                  hosts[scan["host"]].ports[scan["listener"]])
        scan["failures"] = sum(1 for a in found if a.reason is not None)
        scan["reasons"] = dict(sorted(Counter(a.reason for a in found if a.reason).items()))
        scan["sessions"] = sum(1 for a in found if a.reason is None)
        out += found
    out += _health_attempts(events["health"], hosts, errors, events["scans"])
    return out


def attach_lines(hosts: dict[str, Host], attempts: list[Attempt]) -> None:
    """Give each client attempt the lines nginx wrote for it (by peer, port and time).

    A failure takes the earliest failure entry not yet taken (attempts in start order); a
    session takes the non-failure error entries and the access lines of its client.
    """
    claimed = {ln for a in attempts if a.cls != "client" for ln in a.nginx_lines}  # scanners', checks'
    errors = {n: [e for e in error_entries(h) if e["line"] not in claimed] for n, h in hosts.items()}
    access = {n: access_entries(h) for n, h in hosts.items()}
    for a in sorted(attempts, key=lambda x: x.started):
        if a.cls != "client":
            continue
        port = hosts[a.host].ports[a.listener]
        lo, hi = math.floor(a.started), math.ceil(a.ended)
        mine = sorted((e for e in errors[a.host] if e["client"] == a.peer and e["port"] == port
                       and lo <= e["ts"] <= hi and e["conn"] and e["line"] not in claimed),
                      key=lambda e: e["conn"])
        if a.reason is not None:
            first = next((e for e in mine if classify(e["message"]) is not None), None)
            if first is not None:
                a.nginx_lines.append(first["line"])
                claimed.add(first["line"])
        else:
            a.nginx_lines += [e["line"] for e in mine if classify(e["message"]) is None]
        if a.reason is None or a.reason == "plain_http":
            a.nginx_lines += [x["line"] for x in access[a.host]
                              if x["remote_addr"] == a.client and lo <= x["ts"] <= hi]


def add_chains(truth: dict[str, Any]) -> None:
    """Each client attempt's ``preceded_by``: the same client's previous attempt within 10 s."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    for a in truth["attempts"]:
        if a["cls"] == "client":
            by_client.setdefault(a["client"], []).append(a)
    for seq in by_client.values():
        seq.sort(key=lambda a: a["started"])
        for prev, a in zip([None, *seq], seq, strict=False):
            a["preceded_by"] = "none_seen"
            if prev is None:
                continue
            gap = a["ended"] - prev["ended"]
            if abs(gap - CHAIN_S) < EDGE_S:
                raise ValueError(f"{a['client']}: previous attempt {gap:.1f} s before: at the 10 s edge")
            if gap < CHAIN_S:
                a["preceded_by"] = prev["reason"] or "success"


def _at_least(protocol: str | None, minimum: str) -> bool:
    return protocol in PROTOCOL_ORDER and PROTOCOL_ORDER.index(protocol) >= PROTOCOL_ORDER.index(minimum)


def _labelled(s: dict[str, Any], capture: bool) -> bool:
    """Does the evidence show this session's protocol? The recommended format does; on a PROXY
    port the capture of the relay→nginx ports does too (its ServerHello)."""
    return s["access_format"] == "recommended" or (capture and s["listener"] == "proxy")


# nginx's lines for a connection that closed before any byte (nginx-logs.md §3 and what the
# lab's health checks wrote): what logcorr.classify counts as a health check from logs alone.
_NO_BYTE_CLOSE = ("client closed connection while SSL handshaking", "recv() failed (104",
                  'broken header: "" while reading PROXY protocol')


def _no_byte_close(a: dict[str, Any]) -> bool:
    return any(marker in line for line in a.get("nginx_lines") or [] for marker in _NO_BYTE_CLOSE)


def expected_report(truth: dict[str, Any], window_s: float, capture: bool = True,
                    min_protocol: str = "TLSv1.2") -> dict[str, Any]:
    """The report numbers the truth implies (SPEC §6, §7), for a window and a minimum protocol.

    ``capture``: the captures of the relay→nginx ports were ingested, so PROXY-port failures
    name their real client and PROXY-port sessions their protocol; without them, relayed
    failures (the testssl run's too: its address is only in the PROXY header) are
    unattributable client failures, except its connect-then-close, which logs alone count as
    a health check (SPEC §6). Scanners and health checks are never client failures.
    An access line without TLS fields shows the client got in (``ever_succeeded``) but is no
    recovery at ``min_protocol``. Raises when a session sits within 1.5 s of a window edge.

    Returns ``{"totals": {"handshake_failures"}, "reasons": {code: {failures, attributable,
    recovered, unrecovered, preceded_by}}, "unrecovered_clients": [...], "never_got_in": [...],
    "scanners": {addr: {"failures", "reasons"}}, "health_checks": {"count", "by_lb"},
    "hosts": {host: handshake_failures}}``.
    """
    attempts = truth["attempts"]
    clients = [a for a in attempts if a["cls"] == "client"]
    scanners = [a for a in attempts if a["cls"] == "scanner" and (capture or a["peer"] != LB_ADDR)]
    hidden = [a for a in attempts if a["cls"] == "scanner" and not capture and a["peer"] == LB_ADDR]
    # From logs alone a connect-then-close through the load balancer is a health check
    # whoever opened it (SPEC §6): a scanner's such close is counted there, not as a failure.
    looks_checked = [a for a in hidden if _no_byte_close(a)]
    hidden = [a for a in hidden if not _no_byte_close(a)]
    sessions = [a for a in clients if a["reason"] is None and a["saw"] == "ok"]
    failures = [a for a in clients if a["reason"] is not None] + [a for a in hidden if a["reason"]]
    reasons: dict[str, dict[str, Any]] = {}
    unrecovered: set[str] = set()
    hosts: Counter[str] = Counter()
    for f in failures:
        hosts[f["host"]] += 1
        row = reasons.setdefault(f["reason"], {"failures": 0, "attributable": 0, "recovered": 0,
                                               "unrecovered": 0, "preceded_by": Counter()})
        row["failures"] += 1
        if f["cls"] != "client" or (f["listener"] == "proxy" and not capture):
            continue
        row["attributable"] += 1
        row["preceded_by"][f["preceded_by"]] += 1
        t = math.floor(f["ended"])
        recovered = False
        for s in sessions:
            if s["client"] != f["client"] or not _labelled(s, capture) or not _at_least(s["protocol"], min_protocol):
                continue
            start = s["started"]
            if abs(start - (t + window_s)) < EDGE_S or t - EDGE_S < start < t:
                raise ValueError(f"session of {s['client']} at {start} is at the edge of the window "
                                 f"of the failure at {t}: change the scenario timing")
            recovered = recovered or t <= start <= t + window_s
        row["recovered" if recovered else "unrecovered"] += 1
        if not recovered:
            unrecovered.add(f["client"])
    for row in reasons.values():
        row["preceded_by"] = dict(sorted(row["preceded_by"].items()))
    got_in = {s["client"] for s in sessions}
    scan: dict[str, dict[str, Any]] = {}
    for a in scanners:
        entry = scan.setdefault(a["client"], {"failures": 0, "reasons": Counter()})
        if a["reason"]:
            entry["failures"] += 1
            entry["reasons"][a["reason"]] += 1
    for entry in scan.values():
        entry["reasons"] = dict(sorted(entry["reasons"].items()))
    checks = [a for a in attempts if a["cls"] == "health_check"] + looks_checked
    return {"totals": {"handshake_failures": len(failures)}, "reasons": reasons,
            "unrecovered_clients": sorted(unrecovered),
            "never_got_in": sorted(c for c in unrecovered if c not in got_in),
            "scanners": scan,
            "health_checks": {"count": len(checks), "by_lb": dict(Counter(a["peer"] for a in checks))},
            "hosts": dict(sorted(hosts.items()))}


# Two policies from reference/tls-policies.md (the AWS table's JSON row and Mozilla 6.0
# intermediate: "ciphers" + "ciphersuites"), for what the lab's successful clients need.
POLICIES = {
    "ELBSecurityPolicy-TLS13-1-2-2021-06": (
        {"TLSv1.2", "TLSv1.3"},
        {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
         "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
         "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
         "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"}),
    "mozilla-intermediate": (
        {"TLSv1.2", "TLSv1.3"},
        {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
         "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
         "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}),
}


def expected_what_if(truth: dict[str, Any], policy: str, capture: bool = True) -> dict[str, list[str]]:
    """Real clients that would lose access under ``policy`` (issue 14 item 2), from the sessions
    whose protocol and cipher the evidence shows: ``losing`` when every such session used a
    protocol outside the policy (the protocol rule), ``maybe_losing`` when the protocols are
    inside but every session's cipher is outside (a cipher is weak evidence)."""
    protocols, ciphers = POLICIES[policy]
    sessions: dict[str, list[dict[str, Any]]] = {}
    for a in truth["attempts"]:
        if a["cls"] == "client" and a["reason"] is None and a["saw"] == "ok" and _labelled(a, capture):
            sessions.setdefault(a["client"], []).append(a)
    losing = sorted(c for c, ss in sessions.items() if all(s["protocol"] not in protocols for s in ss))
    maybe = sorted(c for c, ss in sessions.items() if c not in losing
                   and all(s["protocol"] not in protocols or s["cipher"] not in ciphers for s in ss))
    return {"losing": losing, "maybe_losing": maybe}
