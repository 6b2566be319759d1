"""What-if on real traffic: the lab nginx, real TLS clients, a capture; truth known by construction.

The lab's ``proxy`` listener is configured like the original report's endpoint (TLS 1.0-1.2,
the ELBSecurityPolicy-2016-08 list, an RSA-2048 certificate, PROXY protocol behind the
"load balancer" 127.0.0.5; tests/lab/nginx.py).  Against it, from real addresses in PROXY
headers:

- .40 a TLS 1.0-only client and .41 a TLS 1.1-only client (OpenSSL pinned to one version),
- .42 a client offering only AES128-SHA (RSA key exchange, CBC),
- .43 an ECDSA-only client (ECDHE-ECDSA-AES128-GCM-SHA256): refused by the RSA certificate,
- .44 a 3DES-only ClientHello (DES-CBC3-SHA, built byte by byte: OpenSSL 3 cannot offer it),
- .45 a modern client (TLS 1.2, default suites).

So, by construction: TLS 1.2+ policies lock out .40 and .41 (protocol) and .42 (its only suite
is outside them); .43 gets in under any policy with an ECDHE-ECDSA suite (given an ECDSA
certificate); .44 only under a policy with DES-CBC3-SHA (mozilla-old).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LabRun, require_nginx, require_tcpdump

pytestmark = pytest.mark.nginx
ROOT = Path(__file__).resolve().parent.parent
TLS10, TLS11, CBC, ECDSA, DES3, MODERN = (f"198.51.100.{n}" for n in range(40, 46))
AFTER_RST, AFTER_TIMEOUT = "198.51.100.46", "198.51.100.47"
UA = "logcorr-lab/1"  # the User-Agent tests/lab/clients.py sends


def logcorr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOGCORR_DATA"}
    return subprocess.run([sys.executable, "-m", "logcorr", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=180, check=False)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(logs directory, capture) of one lab run with the six clients above."""
    require_nginx()
    if not require_tcpdump():
        pytest.skip(reason="tcpdump is missing (LOGCORR_REQUIRE_NGINX=1 makes this a failure)")
    from tests.lab import clients as cl
    from tests.lab.nginx import LB_ADDR, running

    prefix = tmp_path_factory.mktemp("whatif-lab")
    with running(prefix, capture=True) as lab:
        # tcpdump hands packets over in ring-buffer blocks; give it time on both sides
        time.sleep(1.0)
        target = lab.address("proxy")
        seen = [
            cl.openssl_client(target, LB_ADDR, real=TLS10, version="TLSv1").saw,
            cl.openssl_client(target, LB_ADDR, real=TLS11, version="TLSv1.1").saw,
            cl.openssl_client(target, LB_ADDR, real=CBC, version="TLSv1.2", ciphers="AES128-SHA").saw,
            cl.openssl_client(target, LB_ADDR, real=ECDSA, version="TLSv1.2",
                              ciphers="ECDHE-ECDSA-AES128-GCM-SHA256").saw,
            cl.raw_hello(target, LB_ADDR, cl.report_hello(version=0x0303, suites=(0x000A,)), real=DES3).saw,
            cl.tls_session(target, LB_ADDR, real=MODERN, max_version=cl.ssl.TLSVersion.TLSv1_2).saw,
            # fallbacks (client-fallback.md §5): a first attempt reset mid-handshake, or one that
            # never says hello and is timed out by nginx, then at once the report's TLS 1.0 SCSV hello
            cl.glitch(target, LB_ADDR, real=AFTER_RST).saw,
            cl.raw_hello(target, LB_ADDR, cl.report_hello(), real=AFTER_RST).saw,
            cl.idle(target, LB_ADDR, real=AFTER_TIMEOUT).saw,
            cl.raw_hello(target, LB_ADDR, cl.report_hello(), real=AFTER_TIMEOUT).saw,
        ]
        time.sleep(2.0)  # let nginx write its last lines and tcpdump its last block
    assert seen == ["ok", "ok", "ok", "alert:handshake_failure", "alert:handshake_failure", "ok",
                    "reset_by_client", "alert:inappropriate_fallback", "closed", "alert:inappropriate_fallback"]
    return lab.logs, prefix / "lab.pcap"


def _ingest(paths: list[Path], out: Path) -> Path:
    # the logs this run wrote (stream.log stays empty: no client used that listener)
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p]) if f.stat().st_size]
    done = logcorr("ingest", *map(str, files), "--data", str(out), "--lb-cidr", "127.0.0.5/32", "-q")
    assert done.returncode == 0, done.stderr
    return out


def _report(data: Path, *policies: str) -> dict[str, Any]:
    args = [a for p in policies for a in ("--what-if", p)]
    done = logcorr("report", "--data", str(data), *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def _who(entry: dict[str, Any], key: str) -> list[tuple[str, str]]:
    field = "rule" if key != "failing_clients_gaining_access" else "blocked_now_by"
    return [(e["client"], e[field]) for e in entry[key]]


def test_what_if_with_capture(played: tuple[Path, Path], tmp_path: Path) -> None:
    logs, pcap = played
    data = _ingest([logs, pcap], tmp_path / "data")
    doc = _report(data, "ELBSecurityPolicy-TLS13-1-2-2021-06", "mozilla-intermediate", "mozilla-old")
    aws, inter, old = doc["what_if"]
    assert [w["policy"] for w in doc["what_if"]] == ["ELBSecurityPolicy-TLS13-1-2-2021-06",
                                                     "mozilla-intermediate", "mozilla-old"]
    lost = [(TLS10, "client_hello"), (TLS11, "client_hello"), (CBC, "client_hello")]
    for w in (aws, inter):
        assert _who(w, "clients_losing_access") == lost
        assert _who(w, "clients_maybe_losing_access") == []
        assert (w["clients"], w["sessions"], w["sessions_losing_share"]) == (4, 4, 0.75)
    # no server profile was ingested: the server's refusal in the capture stands in for it
    assert _who(aws, "failing_clients_gaining_access") == [(ECDSA, "refused")]
    assert _who(inter, "failing_clients_gaining_access") == [(ECDSA, "refused")]
    assert aws["failing_clients_gaining_access"][0]["needs_ecdsa_certificate"] is True
    assert _who(old, "clients_losing_access") == []
    assert _who(old, "failing_clients_gaining_access") == [(ECDSA, "refused"), (DES3, "refused")]
    assert [a for a in doc["actions"] if a["policy"] is None] == [{
        "directive": "ssl_certificate ecdsa.crt; ssl_certificate_key ecdsa.key;", "lets_in": 1,
        "locks_out": 0, "maybe_locks_out": 0, "policy": None,
        "note": doc["actions"][-1]["note"], "clients_let_in": [ECDSA], "clients_locked_out": [],
        "clients_maybe_locked_out": []}]
    # 14.6: each fallback follows its client's failed first attempt; the capture shows the RST one
    # (a TLS 1.3 hello), the silent one has no ClientHello to show, only nginx's timeout
    pre = {r["reason"]: r["preceded_by"] for r in doc["reasons"]}
    assert pre["inappropriate_fallback"] == {"peer_closed": 1, "timeout": 1, "success": 0, "none_seen": 0}
    ev = doc["fallback_evidence"]
    assert {k: ev[k] for k in ("fallbacks", "after_network_failure_within_2s", "captured_first_attempts",
                               "captured_first_attempt_ends", "captured_reset_within_2s")} == {
        "fallbacks": 2, "after_network_failure_within_2s": 2, "captured_first_attempts": 1,
        "captured_first_attempt_ends": {"RST": 1}, "captured_reset_within_2s": 1}
    texts = [f["text"] if isinstance(f, dict) else f for f in doc["verdict"]["findings"]]
    assert ev["text"][0].upper() + ev["text"][1:] in texts
    assert ("ELBSecurityPolicy-TLS13-1-2-2021-06 would lock out 3 real clients (3 by their captured ClientHello) and let in "
            "1 failing client: actions 1, 2") in texts
    s = doc["successes"]
    assert s["by_protocol"] == [{"protocol": "TLSv1.2", "sessions": 2, "clients": 2},
                                {"protocol": "TLSv1.1", "sessions": 1, "clients": 1},
                                {"protocol": "TLSv1", "sessions": 1, "clients": 1}]
    assert [(c["client"], c["best_protocol"], c["user_agent"]) for c in s["legacy_clients"]] == [
        (TLS10, "TLSv1", UA), (TLS11, "TLSv1.1", UA)]
    assert s["by_user_agent"] == [{"family": "other", "sessions": 4, "clients": 4}]


def test_what_if_from_logs_alone(played: tuple[Path, Path], tmp_path: Path) -> None:
    logs, _ = played
    data = _ingest([logs], tmp_path / "data")
    by_name = _report(data, "ELBSecurityPolicy-TLS13-1-2-Res-2021-06")["what_if"][0]
    by_lines = _report(data, "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM")["what_if"][0]
    # protocols are proof (the server did TLS 1.2 with others); a cipher is only a "may"
    assert _who(by_name, "clients_losing_access") == [(TLS10, "protocol"), (TLS11, "protocol")]
    assert _who(by_name, "clients_maybe_losing_access") == [(CBC, "cipher")]
    assert by_name["failing_clients_gaining_access"] == []
    keys = ["clients_losing_access", "clients_maybe_losing_access", "sessions_losing_share",
            "failing_clients_gaining_access"]
    assert [by_name[k] for k in keys] == [by_lines[k] for k in keys]


def test_show_client(played: tuple[Path, Path], tmp_path: Path) -> None:
    logs, pcap = played
    data = _ingest([logs, pcap], tmp_path / "data")
    done = logcorr("show", ECDSA, "--data", str(data))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # the error log names only the load balancer; the capture's PROXY header names the client
    assert lines[0] == f"{ECDSA}: 1 failures, 0 sessions, 1 captured hellos"
    text = done.stdout
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (ECDHE-ECDSA-AES128-GCM-SHA256)" in text
    assert "hello offering up to TLS 1.2, ended handshake_failure" in text
    assert "; JA3 " in text
    assert "; JA4 t12d" in text  # JA4: TLS 1.2, SNI given (d)
    rows = [ln for ln in lines[1:] if not ln.startswith(" ")]
    assert [r.split("  ")[1].strip() for r in rows] == ["hello", "failure"]
    # every row names its file and line (the capture's packet number for both)
    assert all(re.search(r"\[\S+/lab\.pcap:\d+\]$", r) for r in rows)
    bad = logcorr("show", "192.0.2.99", "--data", str(data))
    assert (bad.returncode, bad.stderr.count("\n")) == (1, 1)


def test_lab_mix_done_when(lab: LabRun, tmp_path: Path) -> None:
    """Issue 14 "done when": the lab mix, two policies, the clients named exactly.

    From the truth: a client loses access under a TLS 1.2+ policy when every session it
    completed was older than TLS 1.2 (203.0.113.52 comes back only at TLS 1.0); the capture
    proves it (its hellos offer at most TLS 1.0).  Of the failing clients, only the one that
    offered just ECDHE-RSA-CHACHA20-POLY1305 (scenario lb_no_shared_cipher) fits a policy:
    Mozilla intermediate has that suite, the AWS policy does not.
    """
    attempts = lab.truth["attempts"]
    order = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    best: dict[str, int] = {}
    for a in attempts:
        if a["reason"] is None and a["saw"] == "ok" and a["protocol"]:
            best[a["client"]] = max(best.get(a["client"], -1), order.index(a["protocol"]))
    losing = sorted(c for c, b in best.items() if b < order.index("TLSv1.2"))
    chacha = sorted({a["client"] for a in attempts if a["scenario"] == "lb_no_shared_cipher"})
    assert (losing, chacha) == (["203.0.113.52"], ["198.51.100.12"])  # guards scenario edits

    pcap = lab.prefix / "lab.pcap"
    data = _ingest([lab.logs, *([pcap] if pcap.exists() else [])], tmp_path / "data")
    aws, inter = _report(data, "ELBSecurityPolicy-TLS13-1-2-2021-06", "mozilla-intermediate")["what_if"]
    rule = "client_hello" if pcap.exists() else "protocol"
    for w in (aws, inter):
        assert _who(w, "clients_losing_access") == [(c, rule) for c in losing]
        assert _who(w, "clients_maybe_losing_access") == []
    assert _who(aws, "failing_clients_gaining_access") == []
    assert [c for c, _ in _who(inter, "failing_clients_gaining_access")] == (chacha if pcap.exists() else [])
