"""The messy lab: a fleet of real Debian nginx hosts played the way operators' logs look.

Three hosts (``tests/lab/fleet.py``) behind one PROXY-protocol relay (``tests/lab/relay.py``),
played for about 40 s:

- web-1 starts with Debian's default ``combined`` access log (no TLS fields), is switched
  into the recommended format with ``nginx -s reload`` inside the same file, rotated by a
  real ``logrotate -f`` (``create`` + ``postrotate kill -USR1``), and switched back to
  ``combined`` with SIGHUP; web-2's ``access.log`` is rotated with ``copytruncate``;
- real scanners: ``nmap --script ssl-enum-ciphers`` against web-1 from 127.0.0.66
  (``-S 127.0.0.66 -e lo``), ``testssl -p -s`` through the relay (routed to web-2: its
  address, 127.0.0.1, is in the PROXY header, i.e. in the capture only);
- the relay's target health checks (connect + FIN, connect + RST, PROXY v2 ``LOCAL``);
- fallback chains (reset or timeout, then TLS_FALLBACK_SCSV refused, then success),
  cross-host recovery (fails on web-1, gets in on web-2), what-if clients (TLS 1.0 only,
  CBC only, 3DES only, ECDSA only) and a failure-free host (web-3).

Scanner and health-check attempts are counted from what nginx wrote (``messytruth``), not
from what the tools are believed to do. ``truth.json`` lists every attempt with its class
(``client`` | ``scanner`` | ``health_check``); :func:`messytruth.expected_report` derives
the report numbers from it.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.lab import clients as cl
from tests.lab import messytruth
from tests.lab.fleet import LISTENERS, Host, logrotate, make_fleet
from tests.lab.nginx import LAB_TZ, LB_ADDR, RECOMMENDED_FORMAT, make_certificate
from tests.lab.relay import Relay

expected_report = messytruth.expected_report

NMAP_SOURCE = "127.0.0.66"
TESTSSL_SOURCE = "127.0.0.1"  # testssl cannot bind a source; the relay names its real peer
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
Run = Callable[[tuple[str, int], str], cl.Outcome]
GAP = 0.4  # seconds between one client's attempts (keeps their order in 1-second logs)


@dataclass
class Attempt:
    """One connection attempt and what the product must make of it."""

    scenario: str
    cls: str  # client | scanner | health_check
    host: str
    listener: str
    client: str  # the real client
    peer: str  # the TCP peer nginx saw (127.0.0.5 behind the relay)
    started: float
    ended: float
    want: str
    saw: str
    reason: str | None  # SPEC §5 code; None for a session
    access_format: str | None = None  # sessions: the access-log format in force
    protocol: str | None = None
    cipher: str | None = None
    requests: int = 0
    offered: dict[str, Any] = field(default_factory=dict)
    nginx_lines: list[str] = field(default_factory=list)  # filled from the logs after the run


class Player(cl.Background):
    """Plays steps against the fleet and the relay, records each attempt."""

    def __init__(self, hosts: dict[str, Host], relay: Relay, root: Path) -> None:
        super().__init__()
        self.hosts, self.relay, self.root = hosts, relay, root
        self.attempts: list[Attempt] = []

    def step(self, scenario: str, where: tuple[str, str], client: str, want: str,
             reason: str | None, run: Run, offered: dict[str, Any] | None = None) -> cl.Outcome:
        """``where`` is (host, listener) for a direct connection, (host, "relay") via the relay."""
        host, listener = where
        if listener == "relay":
            self.relay.pin(client, host)
            target, listener, peer = self.relay.address, "proxy", LB_ADDR
        else:
            target, peer = self.hosts[host].address(listener), client
        fmt = self.hosts[host].fmt
        out = run(target, client)
        a = Attempt(scenario, "client", host, listener, client, peer, out.started, out.ended, want,
                    out.saw, reason, fmt if reason is None else None,
                    out.protocol if reason is None else None, out.cipher if reason is None else None,
                    out.requests, offered or {})
        with self._lock:
            self.attempts.append(a)
        if out.saw != want:
            raise AssertionError(f"{scenario} {client} on {host}/{listener}: wanted {want}, saw {out.saw} "
                                 f"({out.detail})")
        return out



def session(requests: int = 1, max_version: ssl.TLSVersion = TLS13, ciphers: str | None = None) -> Run:
    return lambda t, s: cl.tls_session(t, s, requests=requests, max_version=max_version, ciphers=ciphers)


def pinned(version: str, scsv: bool = False, ciphers: str | None = None) -> Run:
    return lambda t, s: cl.openssl_client(t, s, version=version, scsv=scsv, ciphers=ciphers)


def glitch(t: tuple[str, int], s: str) -> cl.Outcome:
    return cl.glitch(t, s)


def report_hello(t: tuple[str, int], s: str) -> cl.Outcome:
    return cl.raw_hello(t, s, cl.report_hello())


def idle(t: tuple[str, int], s: str) -> cl.Outcome:
    return cl.idle(t, s, wait=6.0)


def health_checks(p: Player, tag: str) -> list[dict[str, Any]]:
    """One check of each kind against every PROXY target, one at a time (nothing else runs)."""
    time.sleep(0.2)
    done = []
    for host in ("web-1", "web-2"):
        for kind in ("fin", "rst", "v2_local"):
            rec = p.relay.health_check(host, kind)
            done.append(dict(rec, tag=tag))
            time.sleep(0.15)
    time.sleep(0.3)
    return done


def nmap(p: Player, out_dir: Path) -> dict[str, Any]:
    """``nmap -sT -Pn --script ssl-enum-ciphers`` against web-1's direct port from 127.0.0.66."""
    port = p.hosts["web-1"].ports["direct"]
    cmd = ["nmap", "-sT", "-Pn", "-n", "-p", str(port), "--script", "ssl-enum-ciphers",
           "-S", NMAP_SOURCE, "-e", "lo", "127.0.0.1"]
    time.sleep(0.2)
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    t1 = time.time()
    (out_dir / "nmap.txt").write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0 or "ssl-enum-ciphers" not in done.stdout:
        raise RuntimeError(f"nmap failed ({done.returncode}): {done.stderr.strip()}")
    time.sleep(1.0)
    return {"tool": "nmap", "command": cmd, "client": NMAP_SOURCE, "peer": NMAP_SOURCE, "host": "web-1",
            "listener": "direct", "started": t0, "ended": t1, "output": "nmap.txt"}


def testssl(p: Player, out_dir: Path) -> dict[str, Any]:
    """Debian's testssl.sh (``-p -s``: protocols and cipher categories) through the relay."""
    p.relay.pin(TESTSSL_SOURCE, "web-2")
    host, port = p.relay.address
    cmd = ["timeout", "90", "testssl", "-p", "-s", "--warnings", "off", "--quiet", "--color", "0",
           "--fast", f"{host}:{port}"]
    time.sleep(2.0)  # apart from the previous steps: the span is read back from 1-second logs
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    t1 = time.time()
    (out_dir / "testssl.txt").write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0 or "Testing protocols" not in done.stdout:
        raise RuntimeError(f"testssl failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    time.sleep(2.5)
    return {"tool": "testssl", "command": cmd, "client": TESTSSL_SOURCE, "peer": LB_ADDR, "host": "web-2",
            "listener": "proxy", "started": t0, "ended": t1, "output": "testssl.txt"}


def play(p: Player, root: Path) -> dict[str, Any]:
    """The whole mix; returns the scanner runs, health checks, reloads and the rotation."""
    h, ok, fb = p.hosts, "ok", "alert:inappropriate_fallback"
    scans = root / "scans"
    scans.mkdir(exist_ok=True)
    events: dict[str, Any] = {"scans": [], "health": [], "rotation": None}
    web3 = ("web-3", "direct")

    # Phase A: web-1 logs `combined` ---------------------------------------------------------
    p.step("keepalive_combined", ("web-1", "direct"), "127.0.0.10", ok, None, session(requests=3))
    p.step("failure_free_host", web3, "127.0.0.50", ok, None, session(requests=2))
    p.step("relayed_session", ("web-2", "relay"), "127.0.0.11", ok, None, session(max_version=TLS12))
    # Fails at TLS 1.1, then gets in while only `combined` is logged: unrecovered, but got in.
    p.step("old_then_unlabelled", ("web-1", "direct"), "127.0.0.21", "alert:protocol_version",
           "unsupported_protocol", pinned("TLSv1.1"), {"versions": ["TLSv1.1"]})
    time.sleep(GAP)
    p.step("old_then_unlabelled", ("web-1", "direct"), "127.0.0.21", ok, None, session())
    events["health"] += health_checks(p, "A")
    events["scans"].append(nmap(p, scans))
    # Cross-host recovery: glitch and rejected fallback on web-1, success on web-2.
    p.step("cross_host_recovered", ("web-1", "relay"), "127.0.0.31", "reset_by_client", "peer_closed", glitch)
    time.sleep(GAP)
    p.step("cross_host_recovered", ("web-1", "relay"), "127.0.0.31", fb, "inappropriate_fallback",
           report_hello, {"versions": ["TLSv1"], "scsv": True})
    time.sleep(GAP)
    p.step("cross_host_recovered", ("web-2", "relay"), "127.0.0.31", ok, None, session(max_version=TLS12))
    time.sleep(0.6)
    h["web-1"].set_format("recommended", "nginx -s reload")

    # Phase B: web-1 logs the recommended format in the same file ----------------------------
    p.background("timeout_fallback_recovered", ("web-1", "direct"), "127.0.0.32", "closed", "timeout", idle)
    p.step("relayed_session", ("web-1", "relay"), "127.0.0.12", ok, None, session(requests=2, max_version=TLS12))
    p.step("what_if_tls10_only", ("web-2", "legacy"), "127.0.0.41", ok, None, pinned("TLSv1"),
           {"versions": ["TLSv1"], "ciphers": "DEFAULT:@SECLEVEL=0"})
    p.step("what_if_cbc_only", ("web-2", "legacy"), "127.0.0.42", ok, None,
           pinned("TLSv1.2", ciphers="ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA"),
           {"versions": ["TLSv1.2"], "ciphers": "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA"})
    # Debian's OpenSSL 3.0 has no 3DES at all (`openssl ciphers DES-CBC3-SHA:@SECLEVEL=0`: no
    # cipher match), so the 3DES-only hello is built byte by byte; through the relay, so the
    # capture holds what it offered.
    p.step("what_if_3des_only", ("web-2", "relay"), "127.0.0.43", "alert:handshake_failure", "no_shared_cipher",
           lambda t, s: cl.raw_hello(t, s, cl.report_hello(version=0x0303, suites=(0x000A,))),
           {"versions": ["TLSv1.2"], "suites": ["0x000A TLS_RSA_WITH_3DES_EDE_CBC_SHA (DES-CBC3-SHA)"]})
    p.step("what_if_ecdsa_only", ("web-1", "direct"), "127.0.0.44", "alert:handshake_failure", "no_shared_cipher",
           session(max_version=TLS12, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"),
           {"versions": ["TLSv1.2"], "ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"})
    p.step("failure_free_host", web3, "127.0.0.51", ok, None, session(max_version=TLS12))
    p.join()  # 127.0.0.32's first attempt: nginx timed it out after client_header_timeout 2s
    time.sleep(GAP)
    p.step("timeout_fallback_recovered", ("web-1", "direct"), "127.0.0.32", fb, "inappropriate_fallback",
           pinned("TLSv1.2", scsv=True), {"versions": ["TLSv1.2"], "scsv": True})
    time.sleep(GAP)
    p.step("timeout_fallback_recovered", ("web-1", "direct"), "127.0.0.32", ok, None, session())
    p.step("cross_host_recovered", ("web-2", "relay"), "127.0.0.33", "reset_by_client", "peer_closed", glitch)
    time.sleep(GAP)
    p.step("cross_host_recovered", ("web-2", "relay"), "127.0.0.33", fb, "inappropriate_fallback",
           report_hello, {"versions": ["TLSv1"], "scsv": True})
    time.sleep(GAP)
    p.step("cross_host_recovered", ("web-1", "relay"), "127.0.0.33", ok, None, session(max_version=TLS12))
    p.step("fallback_never_in", ("web-1", "direct"), "127.0.0.34", "reset_by_client", "peer_closed", glitch)
    time.sleep(GAP)
    p.step("fallback_never_in", ("web-1", "direct"), "127.0.0.34", fb, "inappropriate_fallback",
           pinned("TLSv1.2", scsv=True), {"versions": ["TLSv1.2"], "scsv": True})
    events["scans"].append(testssl(p, scans))
    events["rotation"] = logrotate(p.root, h, {"web-2": ("access.log",)})

    # Phase C: new files, web-1 still in the recommended format -------------------------------
    p.step("relayed_session", ("web-2", "relay"), "127.0.0.13", ok, None, session(max_version=TLS12))
    p.step("failure_free_host", web3, "127.0.0.52", ok, None, session(requests=2))
    p.step("after_rotation", ("web-1", "direct"), "127.0.0.15", ok, None, session())
    events["health"] += health_checks(p, "C")
    h["web-1"].set_format("combined", "SIGHUP")

    # Phase D: web-1 back to `combined` ------------------------------------------------------
    p.step("relayed_never_in", ("web-1", "relay"), "127.0.0.35", fb, "inappropriate_fallback", report_hello,
           {"versions": ["TLSv1"], "scsv": True})
    # Recovers on a PROXY port while web-1 logs `combined`: only the capture labels the session.
    p.step("relayed_recovered_unlabelled", ("web-1", "relay"), "127.0.0.36", "alert:handshake_failure",
           "no_shared_cipher", session(max_version=TLS12, ciphers="ECDHE-RSA-CHACHA20-POLY1305"),
           {"versions": ["TLSv1.2"], "ciphers": "ECDHE-RSA-CHACHA20-POLY1305"})
    time.sleep(GAP)
    p.step("relayed_recovered_unlabelled", ("web-1", "relay"), "127.0.0.36", ok, None, session(max_version=TLS12))
    p.step("keepalive_combined", ("web-1", "direct"), "127.0.0.14", ok, None, session(requests=2))
    p.step("failure_free_host", web3, "127.0.0.50", ok, None, session())
    p.join()
    time.sleep(0.5)
    return events


def run(root: Path, *, capture: bool = True) -> tuple[Path, dict[str, Any]]:
    """Start the fleet and the relay in ``root``, play, stop everything, write ``truth.json``.

    Returns ``root/logs`` (one directory per host) and the truth.
    """
    for tool in ("nmap", "testssl", "logrotate"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing (tools/system-deps.sh installs it)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "certs").mkdir(exist_ok=True)
    cert = make_certificate(root / "certs")
    hosts = make_fleet(root, cert, combined=("web-1",))
    started: list[Host] = []
    relay: Relay | None = None
    t0 = time.time()
    try:
        for host in hosts.values():
            host.start(capture=capture and "proxy" in host.ports)
            started.append(host)
        relay = Relay({n: hh.address("proxy") for n, hh in hosts.items() if "proxy" in hh.ports})
        player = Player(hosts, relay, root)
        events = play(player, root)
    finally:
        if relay is not None:
            relay.stop()
        for host in started:
            host.stop()
    wall = time.time() - t0
    attempts = player.attempts + messytruth.from_logs(hosts, events)
    messytruth.attach_lines(hosts, attempts)
    truth = {
        "schema": "logcorr.lab-truth/2",
        "nginx": messytruth.nginx_versions(),
        "tz": LAB_TZ, "lb_addr": LB_ADDR, "wall_s": round(wall, 1),
        "hosts": {n: {"ports": hh.ports, "listeners": list(LISTENERS[n]), "reloads": hh.reloads,
                      "capture": str(hh.capture.path.relative_to(root)) if hh.capture else None}
                  for n, hh in hosts.items()},
        "access_log_formats": {"combined": messytruth.COMBINED, "recommended": RECOMMENDED_FORMAT},
        "relay": {"address": list(relay.address) if relay else None,
                  "carried": [asdict(c) for c in relay.carried] if relay else []},
        "rotation": events["rotation"], "scans": events["scans"], "health_checks": events["health"],
        "attempts": [asdict(a) for a in sorted(attempts, key=lambda a: a.started)],
    }
    messytruth.add_chains(truth)
    text = json.dumps(truth, indent=1) + "\n"
    (root / "truth.json").write_text(text, encoding="utf-8")
    return root / "logs", json.loads(text)  # exactly what the file says
