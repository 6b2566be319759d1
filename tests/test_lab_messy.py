"""The messy lab (``tests/lab/messy.py``): what real nginx, nmap, testssl and logrotate wrote,
and the report ``logcorr`` makes of it, against the recorded ground truth.

Part 1 checks the lab itself (what nginx wrote for each case, from the files); part 2 runs
``logcorr ingest`` / ``report --format json`` as an operator would (SPEC §2, §7 schema 2) on
one-step and split, reordered ingests and compares with :func:`messytruth.expected_report`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LabRun
from tests.lab import messytruth as mt
from tests.lab.fleet import Host
from tests.lab.nginx import LB_ADDR

pytestmark = pytest.mark.nginx
ROOT = Path(__file__).resolve().parent.parent
WINDOW = 30


def host(run: LabRun, name: str) -> Host:
    """A stand-in :class:`Host` for reading one host's files after the run."""
    info = run.truth["hosts"][name]
    return Host(name, run.prefix, info["ports"], (Path(), Path()), "recommended")


def lines(run: LabRun, name: str, log: str) -> list[str]:
    return (run.logs / name / log).read_text(errors="backslashreplace").splitlines()


def attempts(run: LabRun, **match: Any) -> list[dict[str, Any]]:
    return [a for a in run.truth["attempts"] if all(a[k] == v for k, v in match.items())]


# ---- part 1: what the tools and nginx did -------------------------------------------------

def test_reloads_put_two_formats_in_one_file(messy_lab: LabRun) -> None:
    """web-1: combined, `nginx -s reload` into the recommended format, logrotate, SIGHUP back."""
    h = host(messy_lab, "web-1")
    seq = {}
    for name in ("access.log.1", "access.log"):
        fmts = [e["format"] for e in mt.access_entries(h) if e["file"] == name]
        seq[name] = [f for i, f in enumerate(fmts) if i == 0 or fmts[i - 1] != f]  # runs of one format
    assert seq == {"access.log.1": ["combined", "recommended"], "access.log": ["recommended", "combined"]}
    assert [r["how"] for r in messy_lab.truth["hosts"]["web-1"]["reloads"]] == ["nginx -s reload", "SIGHUP"]
    notices = [ln for f in ("error.log.1", "error.log") for ln in lines(messy_lab, "web-1", f)
               if "signal 1 (SIGHUP) received" in ln]
    assert len(notices) == 2, notices
    # A combined line has exactly the 9 fields of the built-in format (nginx-logs.md §6.4).
    first = lines(messy_lab, "web-1", "access.log.1")[0]
    assert re.fullmatch(r'127\.0\.0\.10 - - \[[^\]]+\] "GET /r0 HTTP/1\.1" 200 \d+ "-" "logcorr-lab/1"', first)


def test_logrotate_create_and_copytruncate(messy_lab: LabRun) -> None:
    rot = messy_lab.truth["rotation"]
    assert rot["copytruncate"] == {"web-2": ["access.log"]}
    for name in ("web-1", "web-2", "web-3"):
        old = lines(messy_lab, name, "error.log.1")
        # nginx writes its "reopening logs" notices (master, then worker) into the old file
        assert [ln.split(": ", 1)[1] for ln in old[-3:]][1:] == ["reopening logs", "reopening logs"], old[-3:]
        assert not any("reopening logs" in ln for ln in lines(messy_lab, name, "error.log"))
    state = (messy_lab.prefix / "logrotate.state").read_text()
    assert str(messy_lab.logs / "web-2" / "access.log") in state
    # copytruncate: web-2's copy ends before the rotation, the truncated live file starts after it
    h = host(messy_lab, "web-2")
    entries = mt.access_entries(h)
    assert max(e["ts"] for e in entries if e["file"] == "access.log.1") <= rot["started"]
    assert min(e["ts"] for e in entries if e["file"] == "access.log") >= int(rot["ended"]) - 1


def test_nmap_is_a_burst_of_several_reasons(messy_lab: LabRun) -> None:
    (scan,) = [s for s in messy_lab.truth["scans"] if s["tool"] == "nmap"]
    failures = attempts(messy_lab, cls="scanner", scenario="nmap")
    assert scan["client"] == "127.0.0.66"
    assert scan["host"] == "web-1"
    assert scan["failures"] == len([a for a in failures if a["reason"]]) >= 20
    assert len(scan["reasons"]) >= 3, scan["reasons"]
    times = [a["started"] for a in failures]
    assert max(times) - min(times) <= 5
    # every entry nginx wrote for 127.0.0.66 is one of the counted failures
    written = [e for e in mt.error_entries(host(messy_lab, "web-1")) if e["client"] == "127.0.0.66"]
    assert len(written) == scan["failures"]
    assert "ssl-enum-ciphers" in (messy_lab.prefix / "scans" / "nmap.txt").read_text()


def test_testssl_through_the_relay(messy_lab: LabRun) -> None:
    (scan,) = [s for s in messy_lab.truth["scans"] if s["tool"] == "testssl"]
    assert scan["peer"] == LB_ADDR
    assert scan["host"] == "web-2"
    assert scan["failures"] >= 10, scan
    assert len(scan["reasons"]) >= 3, scan
    carried = [c for c in messy_lab.truth["relay"]["carried"] if c["client"] == scan["client"]]
    assert len(carried) >= scan["failures"] + scan["sessions"]
    assert {c["backend"] for c in carried} == {"web-2"}
    assert (messy_lab.prefix / "capture" / "web-2" / "relay.pcap").stat().st_size > 0


HEALTH_LINES = {  # what nginx 1.22.1 wrote for each kind of check on a `proxy_protocol` port
    "fin": r'\[error\] \d+#\d+: \*\d+ broken header: "" while reading PROXY protocol, client: 127\.0\.0\.5, ',
    "rst": r"\[info\] \d+#\d+: \*\d+ recv\(\) failed \(104: Connection reset by peer\) while reading PROXY "
           r"protocol, client: 127\.0\.0\.5, ",
    "v2_local": r"\[info\] \d+#\d+: \*\d+ client closed connection while SSL handshaking, client: 127\.0\.0\.5, ",
}


def test_health_checks_wrote_one_line_each(messy_lab: LabRun) -> None:
    checks = messy_lab.truth["health_checks"]
    assert len(checks) == 12
    for c in checks:
        assert re.search(HEALTH_LINES[c["kind"]], c["nginx_line"]), c


def test_every_client_failure_wrote_one_failure_line(messy_lab: LabRun) -> None:
    """The truth's client failures are exactly nginx's: one failure entry each, with its reason."""
    for a in attempts(messy_lab, cls="client"):
        failed = [ln for ln in a["nginx_lines"] if "while SSL handshaking" in ln]
        if a["reason"] is None:
            assert failed == [], a
            continue
        assert len(failed) == 1, a
        message = mt.ERROR_LINE.match(failed[0]).group(6).partition(", client: ")[0]  # type: ignore[union-attr]
        assert mt.classify(message) == a["reason"], failed
        assert f"client: {a['peer']}," in failed[0]
    # ... and nginx wrote no other failure entry than those, the scanners' and the checks'
    taken = {ln for a in messy_lab.truth["attempts"] for ln in a["nginx_lines"]}
    for name in ("web-1", "web-2", "web-3"):
        rest = [e["line"] for e in mt.error_entries(host(messy_lab, name))
                if e["conn"] and mt.classify(e["message"]) and e["line"] not in taken]
        assert rest == [], name


def test_what_if_clients(messy_lab: LabRun) -> None:
    by = {a["client"]: a for a in attempts(messy_lab, cls="client") if a["scenario"].startswith("what_if")}
    assert (by["127.0.0.41"]["protocol"], by["127.0.0.41"]["saw"]) == ("TLSv1", "ok")
    assert re.search(r"-SHA$", by["127.0.0.42"]["cipher"])  # a CBC suite at TLS 1.2
    assert by["127.0.0.42"]["protocol"] == "TLSv1.2"
    assert by["127.0.0.43"]["reason"] == by["127.0.0.44"]["reason"] == "no_shared_cipher"
    assert " TLSv1 ECDHE-RSA-AES128-SHA " in by["127.0.0.41"]["nginx_lines"][0]


def test_fallback_chains(messy_lab: LabRun) -> None:
    chains = {(a["client"], a["preceded_by"]) for a in attempts(messy_lab, reason="inappropriate_fallback")}
    assert chains == {("127.0.0.31", "peer_closed"), ("127.0.0.32", "timeout"), ("127.0.0.33", "peer_closed"),
                      ("127.0.0.34", "peer_closed"), ("127.0.0.35", "none_seen")}
    # cross-host: 127.0.0.31 failed on web-1 and got in on web-2
    assert [(a["host"], a["reason"]) for a in attempts(messy_lab, client="127.0.0.31")] == [
        ("web-1", "peer_closed"), ("web-1", "inappropriate_fallback"), ("web-2", None)]


def test_failure_free_host(messy_lab: LabRun) -> None:
    h = host(messy_lab, "web-3")
    assert [e for e in mt.error_entries(h) if e["conn"] and mt.classify(e["message"])] == []
    assert len(mt.access_entries(h)) == 6


def test_wall_time_and_truth_file(messy_lab: LabRun) -> None:
    assert messy_lab.truth["wall_s"] < 120
    assert json.loads((messy_lab.prefix / "truth.json").read_text())["schema"] == "logcorr.lab-truth/2"


# ---- part 2: logcorr's report against the truth --------------------------------------------

def logcorr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOGCORR_DATA"}
    return subprocess.run([sys.executable, "-m", "logcorr", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300, check=False)


def ingest(*args: str) -> None:
    done = logcorr("ingest", *args, "--lb-cidr", f"{LB_ADDR}/32")
    assert done.returncode == 0, f"ingest {args} exited {done.returncode}: {done.stderr}"


@pytest.fixture(scope="module")
def one_step(messy_lab: LabRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("messy-one") / "data"
    ingest(str(messy_lab.logs), str(messy_lab.prefix / "capture"), "--data", str(out))
    return out


@pytest.fixture(scope="module")
def split(messy_lab: LabRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Error logs first (web-2 before web-1), then access logs, then the captures; one host a run."""
    out = tmp_path_factory.mktemp("messy-split") / "data"
    for kind in ("error.log", "access.log"):
        for name in ("web-3", "web-2", "web-1"):
            files = sorted(str(p) for p in (messy_lab.logs / name).glob(f"{kind}*"))
            ingest(*files, "--host", name, "--data", str(out))
    for name in ("web-2", "web-1"):
        ingest(str(messy_lab.prefix / "capture" / name / "relay.pcap"), "--host", name, "--data", str(out))
    return out


@pytest.fixture(scope="module")
def logs_only(messy_lab: LabRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("messy-logs") / "data"
    ingest(str(messy_lab.logs), "--data", str(out))
    return out


def report(data: Path) -> dict[str, Any]:
    done = logcorr("report", "--data", str(data), "--window", f"{WINDOW}s", "--format", "json")
    assert done.returncode == 0, f"report exited {done.returncode}: {done.stderr}"
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def observed(doc: dict[str, Any]) -> dict[str, Any]:
    """The report's numbers in :func:`messytruth.expected_report`'s shape (SPEC §7 keys)."""
    keys = ("failures", "attributable", "recovered", "unrecovered")
    reasons = {r["reason"]: {**{k: r[k] for k in keys},
                             "preceded_by": {k: v for k, v in sorted(r.get("preceded_by", {}).items()) if v}}
               for r in doc["reasons"] if r["failures"]}
    unrecovered = doc["unrecovered_clients"]
    return {
        "totals": {"handshake_failures": doc["totals"]["handshake_failures"]},
        "reasons": reasons,
        "unrecovered_clients": sorted(c["client"] for c in unrecovered),
        "never_got_in": sorted(c["client"] for c in unrecovered if not c["ever_succeeded"]),
        "scanners": {s["client"]: {"failures": s["failures"], "reasons": dict(sorted(s["reasons"].items()))}
                     for s in doc["scanners"]},
        "health_checks": {"count": doc["health_checks"]["count"], "by_lb": doc["health_checks"]["by_lb"]},
        "hosts": {h["host"]: h["handshake_failures"] for h in doc["hosts"] if h["handshake_failures"]},
    }


@pytest.mark.parametrize("dataset", ["one_step", "split"])
def test_report_equals_truth_with_capture(messy_lab: LabRun, dataset: str, request: pytest.FixtureRequest) -> None:
    doc = report(request.getfixturevalue(dataset))
    assert doc["schema"] == "logcorr.report/2"
    want = mt.expected_report(messy_lab.truth, WINDOW, capture=True)
    got = observed(doc)
    for key in want:  # one key at a time, so a failure says which section is off
        assert got[key] == want[key], key
    assert {h["host"] for h in doc["hosts"]} == {"web-1", "web-2", "web-3"}


def test_report_equals_truth_from_logs_alone(messy_lab: LabRun, logs_only: Path) -> None:
    want = mt.expected_report(messy_lab.truth, WINDOW, capture=False)
    got = observed(report(logs_only))
    for key in want:
        assert got[key] == want[key], key


def test_split_reordered_ingest_gives_the_same_report(one_step: Path, split: Path) -> None:
    assert report(split) == report(one_step)


def test_truth_has_what_the_report_must_tell_apart(messy_lab: LabRun) -> None:
    """Guards scenario edits: the mix keeps its hard cases."""
    want = mt.expected_report(messy_lab.truth, WINDOW, capture=True)
    assert want["never_got_in"] == ["127.0.0.34", "127.0.0.35", "127.0.0.43", "127.0.0.44"]
    # got in only while `combined` was logged: unrecovered at TLSv1.2, but not locked out
    assert "127.0.0.21" in want["unrecovered_clients"]
    assert "127.0.0.21" not in want["never_got_in"]
    assert set(want["scanners"]) == {"127.0.0.66", "127.0.0.1"}
    assert want["health_checks"] == {"count": 12, "by_lb": {LB_ADDR: 12}}
    assert want["reasons"]["inappropriate_fallback"]["preceded_by"] == {"none_seen": 1, "peer_closed": 3,
                                                                          "timeout": 1}
    assert "web-3" not in want["hosts"]
    plain = mt.expected_report(messy_lab.truth, WINDOW, capture=False)
    assert plain["reasons"]["inappropriate_fallback"]["attributable"] == 2
    assert set(plain["scanners"]) == {"127.0.0.66"}


def _clients(items: list[Any]) -> list[str]:
    return sorted(i["client"] if isinstance(i, dict) else i for i in items)


def test_what_if_names_the_clients_that_need_the_old_policy(messy_lab: LabRun, one_step: Path) -> None:
    """Issue 14: the TLS 1.0-only client loses access (protocol rule), the CBC-only one may (cipher)."""
    policies = list(mt.POLICIES)
    args = [a for p in policies for a in ("--what-if", p)]
    done = logcorr("report", "--data", str(one_step), "--window", f"{WINDOW}s", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    by_policy = {w["policy"]: w for w in json.loads(done.stdout)["what_if"]}
    for policy in policies:
        want = mt.expected_what_if(messy_lab.truth, policy)
        assert want == {"losing": ["127.0.0.41"], "maybe_losing": ["127.0.0.42"]}
        assert _clients(by_policy[policy]["clients_losing_access"]) == want["losing"], policy
        assert _clients(by_policy[policy]["clients_maybe_losing_access"]) == want["maybe_losing"], policy
