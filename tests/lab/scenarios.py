"""The lab's scenario mix, played against a running lab nginx, and its ground truth.

Every connection attempt is recorded (:class:`Attempt`): the real client, the TCP peer
nginx saw, the listener, the scenario, when, what the client saw, and what the product
must make of it: the SPEC §5 reason code (``None`` for a successful session) and whether
the failure is attributable to the real client (SPEC §6).

Attribution by listener, from what nginx 1.22.1 writes (``nginx-logs.md`` §4):

- ``direct``: the error log's ``client:`` is the real client → attributable.
- ``proxy``: ``client: 127.0.0.5`` (the LB), no other evidence → not attributable.
- ``proxy_debug``: the server-level debug log has ``PROXY protocol src:`` with the same
  ``*N`` → attributable (the line is also in the main error log: one failure, merged).
- ``stream``: stream realip names the real client in the failure line → attributable.

With a packet capture ingested too, every PROXY-listener failure is attributable (the
PROXY header in the capture), see :func:`expected_report`.

The whole mix runs in about 15 s: three phases with a log rotation between them
(``mv``, ``kill -USR1``; the second rotation gzips the first rotated file).
"""

from __future__ import annotations

import json
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.lab import clients as cl
from tests.lab.nginx import LAB_TZ, LB_ADDR, RECOMMENDED_FORMAT, STREAM_FORMAT, Lab

PROTOCOL_ORDER = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ATTRIBUTABLE = {"direct": True, "proxy": False, "proxy_debug": True, "stream": True}
PLAIN_GET = b"GET / HTTP/1.1\r\nHost: lab.test\r\nUser-Agent: curl/7.88.1\r\n\r\n"
# Bytes that look like a TLS record with version major 2: OpenSSL says "wrong version number"
# (not_tls, handshake-reasons.md). An SSH banner would not do: nginx parses it as HTTP
# ("client sent invalid method"), which only the listen configuration marks as TLS-port noise.
GARBAGE = b"\x16\x02\x00\x00\x08" + b"\x01" * 8
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3
RETRY_GAP = 1.2  # seconds between a rejected fallback and the client's next success


@dataclass
class Attempt:
    """One connection attempt and what the product must make of it."""

    scenario: str
    listener: str
    client: str  # the real client
    peer: str  # the TCP peer nginx saw (127.0.0.5 behind the "load balancer")
    phase: int  # 0 before the first rotation, 1 between, 2 after the second
    started: float  # epoch seconds
    ended: float
    want: str  # what the client should see
    saw: str  # what it saw
    reason: str | None  # SPEC §5 code of the failure nginx logs; None for a session
    attributable: bool | None  # failures only
    protocol: str | None = None  # sessions only
    requests: int = 0


class Player(cl.Background):
    """Plays scenario steps against ``lab`` and records each attempt."""

    def __init__(self, lab: Lab) -> None:
        super().__init__()
        self.lab = lab
        self.phase = 0
        self.attempts: list[Attempt] = []

    def step(self, scenario: str, listener: str, client: str, want: str, reason: str | None,
             run: Callable[[tuple[str, int], str, str | None], cl.Outcome]) -> cl.Outcome:
        """Run one attempt: direct listeners connect from ``client``, the others via the LB."""
        via_lb = listener != "direct"
        peer = LB_ADDR if via_lb else client
        phase = self.phase
        out = run(self.lab.address(listener), peer, client if via_lb else None)
        attempt = Attempt(scenario, listener, client, peer, phase, out.started, out.ended, want,
                          out.saw, reason, ATTRIBUTABLE[listener] if reason else None,
                          out.protocol if reason is None else None, out.requests)
        with self._lock:
            self.attempts.append(attempt)
        return out


    def rotate(self) -> None:
        self.join()
        time.sleep(0.3)  # let the workers write the last lines of this phase
        self.lab.rotate()
        self.phase += 1


def _session(requests: int = 1, max_version: ssl.TLSVersion = TLS13,
             ciphers: str | None = None, verify: bool = False
             ) -> Callable[[tuple[str, int], str, str | None], cl.Outcome]:
    return lambda t, s, r: cl.tls_session(t, s, real=r, requests=requests, max_version=max_version,
                                          ciphers=ciphers, verify=verify)


def _pinned(version: str, scsv: bool = False, requests: int = 1
            ) -> Callable[[tuple[str, int], str, str | None], cl.Outcome]:
    return lambda t, s, r: cl.openssl_client(t, s, real=r, version=version, scsv=scsv,
                                             requests=requests)


def _report_hello(t: tuple[str, int], s: str, r: str | None) -> cl.Outcome:
    return cl.raw_hello(t, s, cl.report_hello(), real=r)


def _glitch(t: tuple[str, int], s: str, r: str | None) -> cl.Outcome:
    return cl.glitch(t, s, real=r)


def _bytes(data: bytes) -> Callable[[tuple[str, int], str, str | None], cl.Outcome]:
    return lambda t, s, r: cl.send_bytes(t, s, data, real=r)


def _idle(t: tuple[str, int], s: str, r: str | None) -> cl.Outcome:
    return cl.idle(t, s, real=r)


def play(lab: Lab) -> list[Attempt]:
    """Play the whole mix (three phases, two rotations) and return every attempt."""
    p = Player(lab)
    stream = lab.has_stream
    ok, fb = "ok", "alert:inappropriate_fallback"

    # Phase 0 -------------------------------------------------------------------------
    p.background("idle_timeout", "direct", "127.0.0.20", "closed", "timeout", _idle)
    p.background("lb_idle_timeout", "proxy", "198.51.100.30", "closed", "timeout", _idle)
    if stream:
        # ssl_handshake_timeout: stream writes no error line, only a 500 access entry
        p.background("stream_idle_timeout", "stream", "203.0.113.23", "closed", "timeout", _idle)
    p.step("keepalive", "direct", "127.0.0.10", ok, None, _session(requests=3))
    p.step("scsv_always", "direct", "127.0.0.13", fb, "inappropriate_fallback", _pinned("TLSv1.2", scsv=True))
    p.step("old_protocol", "direct", "127.0.0.15", "alert:protocol_version", "unsupported_protocol", _pinned("TLSv1"))
    p.step("old_protocol", "direct", "127.0.0.15", "alert:protocol_version", "unsupported_protocol", _pinned("TLSv1.1"))
    p.step("no_shared_cipher", "direct", "127.0.0.14", "alert:handshake_failure", "no_shared_cipher",
           _session(max_version=TLS12, ciphers="AES128-SHA"))
    p.step("plain_http", "direct", "127.0.0.17", "http:400", "plain_http", _bytes(PLAIN_GET))
    p.step("not_tls", "direct", "127.0.0.18", "closed", "not_tls", _bytes(GARBAGE))
    # The report's case behind the LB: a glitch, the TLS 1.0 SCSV hello, then TLS 1.2.
    p.step("lb_fallback_recovered", "proxy", "198.51.100.10", "reset_by_client", "peer_closed", _glitch)
    p.step("lb_fallback_recovered", "proxy", "198.51.100.10", fb, "inappropriate_fallback", _report_hello)
    time.sleep(RETRY_GAP)
    p.step("lb_fallback_recovered", "proxy", "198.51.100.10", ok, None, _session(requests=2, max_version=TLS12))
    p.step("lb_debug_unrecovered", "proxy_debug", "203.0.113.50", fb, "inappropriate_fallback", _report_hello)
    if stream:
        p.step("stream_old_recovered", "stream", "203.0.113.20", "alert:protocol_version",
               "unsupported_protocol", _pinned("TLSv1.1", requests=0))
    # A glitch and a rejected fallback just before the rotation; the recovery comes after it.
    p.step("glitch_fallback_recovered", "direct", "127.0.0.11", "reset_by_client", "peer_closed", _glitch)
    p.step("glitch_fallback_recovered", "direct", "127.0.0.11", fb, "inappropriate_fallback",
           _pinned("TLSv1.2", scsv=True))
    if stream:
        time.sleep(RETRY_GAP)
        p.step("stream_old_recovered", "stream", "203.0.113.20", ok, None, _pinned("TLSv1.3", requests=0))
    p.rotate()

    # Phase 1 -------------------------------------------------------------------------
    p.step("glitch_fallback_recovered", "direct", "127.0.0.11", ok, None, _session(requests=2))
    p.step("fallback_unrecovered", "direct", "127.0.0.12", "reset_by_client", "peer_closed", _glitch)
    p.step("fallback_unrecovered", "direct", "127.0.0.12", fb, "inappropriate_fallback", _pinned("TLSv1.2", scsv=True))
    p.step("scsv_always", "direct", "127.0.0.13", fb, "inappropriate_fallback", _pinned("TLSv1.2", scsv=True))
    p.step("client_rejected_cert", "direct", "127.0.0.19", "verify_failed", "client_rejected_cert",
           _session(verify=True))
    p.step("old_protocol_recovered", "direct", "127.0.0.16", "alert:protocol_version", "unsupported_protocol",
           _pinned("TLSv1.1"))
    p.step("lb_no_shared_cipher", "proxy", "198.51.100.12", "alert:handshake_failure", "no_shared_cipher",
           _session(max_version=TLS12, ciphers="ECDHE-RSA-CHACHA20-POLY1305"))
    p.step("lb_plain_http", "proxy", "198.51.100.11", "http:400", "plain_http", _bytes(PLAIN_GET))
    # TLS 1.2 + SCSV at the server's highest version is accepted (RFC 7507 §3).
    p.step("lb_scsv_at_max", "proxy", "2001:db8::7", ok, None, _pinned("TLSv1.2", scsv=True))
    p.step("lb_debug_recovered", "proxy_debug", "203.0.113.51", fb, "inappropriate_fallback", _report_hello)
    if stream:
        p.step("stream_plain_http", "stream", "203.0.113.21", "closed", "plain_http", _bytes(PLAIN_GET))
    time.sleep(RETRY_GAP)
    p.step("client_rejected_cert", "direct", "127.0.0.19", ok, None, _session())
    p.step("old_protocol_recovered", "direct", "127.0.0.16", ok, None, _session(max_version=TLS12))
    p.step("lb_debug_recovered", "proxy", "203.0.113.51", ok, None, _session(max_version=TLS12))
    p.rotate()

    # Phase 2 -------------------------------------------------------------------------
    p.step("scsv_always", "direct", "127.0.0.13", fb, "inappropriate_fallback", _pinned("TLSv1.2", scsv=True))
    p.step("keepalive", "direct", "127.0.0.10", ok, None, _session(requests=2, max_version=TLS12))
    p.step("lb_debug_below_min", "proxy_debug", "203.0.113.52", fb, "inappropriate_fallback", _report_hello)
    p.step("lb_report_hello", "proxy", "198.51.100.20", fb, "inappropriate_fallback", _report_hello)
    if stream:
        for _ in range(2):
            p.step("stream_scsv_always", "stream", "203.0.113.22", fb, "inappropriate_fallback",
                   _pinned("TLSv1.2", scsv=True, requests=0))
    time.sleep(RETRY_GAP)
    # Comes back, but at TLS 1.0: below --min-protocol TLSv1.2, so not a recovery.
    p.step("lb_debug_below_min", "proxy", "203.0.113.52", ok, None, _pinned("TLSv1"))
    p.join()
    time.sleep(0.5)  # let nginx write the last lines before it is stopped
    return sorted(p.attempts, key=lambda a: a.started)


def write_truth(lab: Lab, attempts: list[Attempt], path: Path) -> dict[str, Any]:
    """Write ``truth.json`` (attempts plus how the lab was set up) and return it."""
    truth: dict[str, Any] = {
        "schema": "logcorr.lab-truth/1",
        "nginx": lab.versions,
        "tz": LAB_TZ,
        "lb_addr": LB_ADDR,
        "ports": lab.ports,
        "stream": lab.has_stream,
        "access_log_format": RECOMMENDED_FORMAT,
        "stream_log_format": STREAM_FORMAT if lab.has_stream else None,
        "rotations": lab.rotations,
        "capture": lab.capture.path.name if lab.capture is not None else None,
        "attempts": [asdict(a) for a in attempts],
    }
    path.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth


def _at_least(protocol: str | None, minimum: str) -> bool:
    return protocol in PROTOCOL_ORDER and PROTOCOL_ORDER.index(protocol) >= PROTOCOL_ORDER.index(minimum)


def expected_report(truth: dict[str, Any], window_s: float, min_protocol: str = "TLSv1.2",
                    capture: bool = False) -> dict[str, Any]:
    """The report numbers the truth implies, for a window and a minimum protocol (SPEC §6).

    A failure at error-log time ``t`` (whole seconds: the client's time, floored) is
    recovered when the same real client has a session at ``min_protocol`` or higher that
    started in ``[t, t + window]``. ``capture=True``: a capture of the lab's ports was
    ingested too, so PROXY-listener failures are attributable (the PROXY header names the
    client). Raises when a session falls within 1.5 s of a window edge: the answer would
    then depend on timing jitter, and the scenario mix must be changed.

    Returns ``{"totals": {"handshake_failures"}, "reasons": {code: {failures, attributable,
    recovered, unrecovered}}, "unrecovered_clients": [sorted addresses]}``.
    """
    attempts = truth["attempts"]
    sessions = [a for a in attempts if a["reason"] is None and a["saw"] == "ok"]
    reasons: dict[str, dict[str, int]] = {}
    unrecovered: set[str] = set()
    failures = [a for a in attempts if a["reason"] is not None]
    for f in failures:
        row = reasons.setdefault(f["reason"], {"failures": 0, "attributable": 0,
                                               "recovered": 0, "unrecovered": 0})
        row["failures"] += 1
        attributable = f["attributable"] or (capture and f["listener"].startswith("proxy"))
        if not attributable:
            continue
        row["attributable"] += 1
        t = math.floor(f["ended"])
        recovered = False
        for s in sessions:
            if s["client"] != f["client"] or not _at_least(s["protocol"], min_protocol):
                continue
            start = s["started"]
            if abs(start - (t + window_s)) < 1.5 or t - 1.5 < start < t:
                raise ValueError(f"session of {s['client']} at {start} is at the edge of the window "
                                 f"of the failure at {t}: change the scenario timing")
            if t <= start <= t + window_s:
                recovered = True
        row["recovered" if recovered else "unrecovered"] += 1
        if not recovered:
            unrecovered.add(f["client"])
    return {"totals": {"handshake_failures": len(failures)}, "reasons": reasons,
            "unrecovered_clients": sorted(unrecovered)}


def run(prefix: Path, *, capture: bool = False) -> tuple[Path, dict[str, Any]]:
    """Start a lab nginx in ``prefix``, play the mix, stop nginx by PID, write ``truth.json``.

    Returns the log directory (``prefix/logs``) and the truth (also in ``prefix/truth.json``).
    """
    from tests.lab.nginx import running

    with running(prefix, capture=capture) as lab:
        attempts = play(lab)
    truth = write_truth(lab, attempts, prefix / "truth.json")
    return lab.logs, truth
