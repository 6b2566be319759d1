"""End to end against the real-nginx lab: ``logcorr ingest`` + ``report`` vs the ground truth.

The commands run as subprocesses exactly as an operator would type them (SPEC §2); the
JSON report's stable keys (SPEC §7) must equal what ``tests/lab/scenarios.py`` computes
from the recorded truth, exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LabRun
from tests.lab.nginx import LB_ADDR
from tests.lab.scenarios import expected_report

pytestmark = pytest.mark.nginx
ROOT = Path(__file__).resolve().parent.parent


def logcorr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOGCORR_DATA"}
    return subprocess.run([sys.executable, "-m", "logcorr", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=180, check=False)


@pytest.fixture(scope="module")
def data(lab: LabRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's logs ingested once (rotated and gzipped files included)."""
    out = tmp_path_factory.mktemp("e2e") / "data"
    done = logcorr("ingest", str(lab.logs), "--data", str(out), "--lb-cidr", f"{LB_ADDR}/32")
    assert done.returncode == 0, f"ingest exited {done.returncode}: {done.stderr}"
    return out


def report(data: Path, window: str, min_protocol: str) -> dict[str, Any]:
    done = logcorr("report", "--data", str(data), "--window", window, "--min-protocol", min_protocol,
                   "--format", "json")
    assert done.returncode == 0, f"report exited {done.returncode}: {done.stderr}"
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@pytest.mark.parametrize(("window", "seconds", "min_protocol"), [
    ("30s", 30, "TLSv1.2"),
    # 203.0.113.52 comes back at TLS 1.0: a recovery only when TLSv1 is enough.
    ("30s", 30, "TLSv1"),
])
def test_report_equals_ground_truth(lab: LabRun, data: Path, window: str, seconds: int,
                                    min_protocol: str) -> None:
    doc = report(data, window, min_protocol)
    want = expected_report(lab.truth, seconds, min_protocol)
    assert doc["schema"] == "logcorr.report/2"
    assert doc["window_seconds"] == seconds
    assert doc["min_protocol"] == min_protocol
    assert doc["totals"]["handshake_failures"] == want["totals"]["handshake_failures"]
    reasons = {r["reason"]: {k: r[k] for k in ("failures", "attributable", "recovered", "unrecovered")}
               for r in doc["reasons"] if r["failures"]}
    assert reasons == want["reasons"]
    assert sorted(c["client"] for c in doc["unrecovered_clients"]) == want["unrecovered_clients"]


def test_ground_truth_mix_covers_the_cases(lab: LabRun) -> None:
    """The truth itself: the mix has what the report must tell apart (guards scenario edits)."""
    want = expected_report(lab.truth, 30, "TLSv1.2")
    fb = want["reasons"]["inappropriate_fallback"]
    assert fb["recovered"] >= 2
    assert fb["unrecovered"] >= 3
    assert fb["failures"] > fb["attributable"]  # some behind the LB with no evidence
    assert {"peer_closed", "no_shared_cipher", "unsupported_protocol", "plain_http", "not_tls",
            "client_rejected_cert", "timeout"} <= set(want["reasons"])
    assert "203.0.113.52" in want["unrecovered_clients"]
    assert "203.0.113.52" not in expected_report(lab.truth, 30, "TLSv1")["unrecovered_clients"]


@pytest.fixture(scope="module")
def data_with_capture(lab: LabRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's logs plus the tcpdump capture recorded while the clients ran."""
    pcap = lab.prefix / "lab.pcap"
    if not lab.truth.get("capture") or not pcap.exists():
        pytest.fail("the lab ran without a capture (tcpdump missing?)")
    out = tmp_path_factory.mktemp("e2e-pcap") / "data"
    done = logcorr("ingest", str(lab.logs), str(pcap), "--data", str(out), "--lb-cidr", f"{LB_ADDR}/32")
    assert done.returncode == 0, f"ingest exited {done.returncode}: {done.stderr}"
    return out


def test_capture_names_the_clients_behind_the_load_balancer(lab: LabRun, data_with_capture: Path) -> None:
    """Issue 5: logs plus a capture give exact per-client numbers for the PROXY listener."""
    doc = report(data_with_capture, "30s", "TLSv1.2")
    want = expected_report(lab.truth, 30, "TLSv1.2", capture=True)
    assert doc["totals"]["handshake_failures"] == want["totals"]["handshake_failures"]
    reasons = {r["reason"]: {k: r[k] for k in ("failures", "attributable", "recovered", "unrecovered")}
               for r in doc["reasons"] if r["failures"]}
    assert reasons == want["reasons"]
    assert sorted(c["client"] for c in doc["unrecovered_clients"]) == want["unrecovered_clients"]
    # Without the capture the same PROXY-listener failures are unattributable, never guessed.
    plain = expected_report(lab.truth, 30, "TLSv1.2")
    assert plain["reasons"]["inappropriate_fallback"]["attributable"] < reasons["inappropriate_fallback"]["attributable"]


def test_findings_name_what_non_recovering_clients_offered(data_with_capture: Path) -> None:
    doc = report(data_with_capture, "30s", "TLSv1.2")
    findings = " ".join(f["text"] for f in doc["verdict"]["findings"])
    # the report's TLS 1.0 hello with 14 suites ending in TLS_FALLBACK_SCSV (client-fallback.md §6)
    assert "TLS_FALLBACK_SCSV" in findings
    assert "TLS 1.0" in findings or "TLSv1" in findings
