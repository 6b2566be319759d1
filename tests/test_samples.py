"""The committed sample_logs/ (recorded from the real-nginx lab) give the report the truth says.

`make samples` regenerates sample_logs/ and tests/fixtures/sample_truth.json together; this
guards the demo's numbers between regenerations, with and without the capture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import logcorr
from tests.lab.scenarios import expected_report

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
TRUTH = json.loads((ROOT / "tests" / "fixtures" / "sample_truth.json").read_text())


def numbers(report: logcorr.Report) -> dict[str, object]:
    doc = report.data
    return {
        "totals": {"handshake_failures": doc["totals"]["handshake_failures"]},
        "reasons": {r["reason"]: {k: r[k] for k in ("failures", "attributable", "recovered", "unrecovered")}
                    for r in doc["reasons"] if r["failures"]},
        "unrecovered_clients": sorted(c["client"] for c in doc["unrecovered_clients"]),
    }


@pytest.mark.parametrize("capture", [True, False], ids=["logs+capture", "logs only"])
def test_samples_report_equals_truth(capture: bool, tmp_path: Path) -> None:
    src = SAMPLES
    if not capture:
        src = tmp_path / "logs"
        shutil.copytree(SAMPLES, src, ignore=shutil.ignore_patterns("*.pcap"))
    result = logcorr.ingest([str(src)], tmp_path / "data")
    assert not result.partial, [f.error for f in result.files if f.error]
    report = logcorr.open(tmp_path / "data").report(window="5m")
    assert numbers(report) == expected_report(TRUTH, 300, "TLSv1.2", capture=capture)


def test_report_counts_failures_by_attribution_method(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES, logs, ignore=shutil.ignore_patterns("*.pcap"))
    logcorr.ingest([str(logs)], tmp_path / "plain")
    plain = logcorr.open(tmp_path / "plain").report(window="5m").data["attribution"]
    logcorr.ingest([str(SAMPLES)], tmp_path / "pcap")
    with_pcap = logcorr.open(tmp_path / "pcap").report(window="5m").data["attribution"]
    # Without the capture, the PROXY listener's failures name only the load balancer.
    assert plain["unattributable_lb"] > 0
    assert "pcap_proxy_header" not in plain
    assert {"error_log_client", "stream_realip", "proxy_debug_line"} <= set(plain)
    assert "unattributable_lb" not in with_pcap
    assert with_pcap["pcap_proxy_header"] > 0
    assert sum(plain.values()) == sum(with_pcap.values())


def test_report_without_handshake_failures_in_every_format(tmp_path: Path) -> None:
    # Issue 12.9: a data directory with sessions and 0 handshake failures (here the sample
    # access logs alone) crashed every format; now each says so, with the session summary.
    import io

    from logcorr.report.html import render_html
    from logcorr.report.render import render_json, render_markdown, render_text
    from logcorr.report.terminal import print_report

    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("access.log", "access.log.1"):
        shutil.copy(SAMPLES / name, logs / name)
    logcorr.ingest([str(logs)], tmp_path / "data")
    ds = logcorr.open(tmp_path / "data")
    assert ds.tables["handshake_failures"] == 0
    report = ds.report(window="5m")
    doc = json.loads(render_json(report))
    n = doc["totals"]["tls_sessions"]
    assert n > 0
    assert doc["verdict"] == {"status": "benign", "findings": [], "limited_by": [],
                              "summary": f"No handshake failures in this period; {n} TLS sessions (connections)."}
    assert (doc["reasons"], doc["unrecovered_clients"], doc["scanners"]) == ([], [], [])
    assert doc["health_checks"] == {"count": 0, "by_lb": {}}
    assert doc["totals"]["failure_rate"] == 0.0
    buf = io.StringIO()
    print_report(report, file=buf)
    for out in (render_text(report), render_markdown(report), render_html(report), buf.getvalue()):
        assert "No handshake failures in this period" in out
    assert ds.table("matches").empty
    assert ds.correlate().empty  # the library's correlate too (isin([]) crashed)


def test_one_client_count_one_meaning(tmp_path: Path) -> None:
    """SPEC §7: the summary's "did not recover" and "never got in" are the table's numbers,
    in every format (issue 10.8)."""
    import re

    from logcorr.report.render import render_markdown, render_text

    logcorr.ingest([str(SAMPLES)], tmp_path / "data")
    rep = logcorr.open(tmp_path / "data").report(window="5m")
    clients = rep.data["unrecovered_clients"]
    never = [c for c in clients if not c["ever_succeeded"]]
    m = re.search(r"(\d+) real clients? did not recover within 5m, (\d+) of them never got in at all",
                  rep.data["verdict"]["summary"])
    assert m is not None, rep.data["verdict"]["summary"]
    assert (int(m.group(1)), int(m.group(2))) == (len(clients), len(never)) == (15, 14)
    for text in (render_text(rep), render_markdown(rep)):
        assert f"never got in: {len(never)}" in text


def test_every_format_explains_its_words(tmp_path: Path) -> None:
    """Issue 14.7: family, attributable, the attribution codes and the schema name are
    explained, not left as jargon (the JSON keeps the codes)."""
    import io

    from logcorr.report.html import render_html
    from logcorr.report.render import render_json, render_markdown, render_text
    from logcorr.report.terminal import print_report

    logcorr.ingest([str(SAMPLES)], tmp_path / "data")
    rep = logcorr.open(tmp_path / "data").report(window="5m")
    assert "pcap_tcp_peer" in rep.data["attribution"]
    buf = io.StringIO()
    print_report(rep, file=buf, color=False)
    for text in (render_text(rep), render_markdown(rep), render_html(rep), buf.getvalue()):
        assert "the capture's TCP peer" in text.replace("&#x27;", "'")
        assert "pcap_tcp_peer" not in text
        assert "attributable" in text
        assert "report format logcorr.report/2" in text
        assert "family" in text
    assert '"pcap_tcp_peer"' in render_json(rep)


def test_findings_are_self_contained(tmp_path: Path) -> None:
    """Issue 10.9: no pointer to a document the user does not have (our reference files)."""
    import re

    logcorr.ingest([str(SAMPLES)], tmp_path / "data")
    rep = logcorr.open(tmp_path / "data").report(window="5m")
    texts = [f["text"] for f in rep.data["verdict"]["findings"]] + [rep.data["verdict"]["summary"]]
    assert len(texts) > 5
    assert not [t for t in texts if re.search(r"\w+\.md\b", t)]
