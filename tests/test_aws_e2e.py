"""An operator with CloudWatch exports and nginx logs: `ingest` + `report` through the CLI.

The exports follow the `aws cloudwatch get-metric-statistics` shape (aws-load-balancers.md
§7.1) with counts chosen here, so the reconciliation has known answers; the nginx lines are
the test host's (nginx-logs.md §8) at times inside the metric periods.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.test_cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "aws"
NLB = "net/my-nlb/6a1d8e7e52a3f0b2"


def failure(ts: str, conn: int, client: str = "10.0.1.23") -> str:
    return (f"{ts} [info] 9#9: *{conn} SSL_do_handshake() failed (SSL: error:0A000175:SSL routines::"
            f"inappropriate fallback) while SSL handshaking, client: {client}, server: 0.0.0.0:443")


def statistics(label: str, values: dict[str, float]) -> str:
    points = [{"Timestamp": f"2026-11-26T{t}:00+00:00", "Sum": v, "Unit": "Count"} for t, v in values.items()]
    return json.dumps({"Label": label, "Datapoints": points})


def test_report_sets_lb_counts_beside_nginx_per_period(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    # A TCP NLB passes handshakes through to nginx: nginx sees what the NLB counts.
    (logs / f"{NLB.replace('/', '.')}_ClientTLSNegotiationErrorCount.json").write_text(
        statistics("ClientTLSNegotiationErrorCount", {"17:00": 3, "17:05": 1}))
    (logs / f"{NLB.replace('/', '.')}_NewConnectionCount.json").write_text(
        statistics("NewConnectionCount", {"17:00": 40, "17:05": 20}))
    (logs / "error.log").write_text("\n".join([
        failure("2026/11/26 17:01:10", 1), failure("2026/11/26 17:02:00", 2), failure("2026/11/26 17:06:30", 3),
    ]) + "\n")
    data = tmp_path / "data"
    out = cli("ingest", str(logs), "--data", str(data), "--error-tz", "UTC")
    assert out.returncode == 0, out.stderr
    rep = cli("report", "--data", str(data), "--format", "json")
    assert rep.returncode == 0, rep.stderr
    lb = json.loads(rep.stdout)["lb"]
    (section,) = lb["load_balancers"]
    assert section["name"] == NLB
    assert section["namespace"] == "AWS/NetworkELB"
    periods = [(p["start"], p["lb_tls_errors"], p["lb_new_connections"], p["nginx_failures"]) for p in section["periods"]]
    assert periods == [("2026-11-26T17:00:00Z", 3, 40, 2), ("2026-11-26T17:05:00Z", 1, 20, 1)]
    assert (section["lb_tls_errors"], section["nginx_failures"]) == (4, 3)
    md = cli("report", "--data", str(data), "--format", "markdown")
    assert "## Load balancer" in md.stdout
    assert NLB in md.stdout


def test_a_broken_export_is_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "truncated.json", logs / "truncated.json")
    (logs / "error.log").write_text(failure("2026/11/26 17:01:10", 1) + "\n")
    data = tmp_path / "data"
    out = cli("ingest", str(logs), "--data", str(data), "--error-tz", "UTC")
    assert out.returncode in (0, 3), out.stderr
    assert "Traceback" not in out.stderr
    import logcorr

    ds = logcorr.open(data)
    assert ds.tables["handshake_failures"] == 1
    rejects = ds.table("rejects")
    assert rejects["file"].str.endswith("truncated.json").any()
