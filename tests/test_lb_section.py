"""The report's ``lb`` section, reconciled with known counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from logcorr.api import to_pandas
from logcorr.report.lb import lb_findings, lb_section
from logcorr.sources import Options
from logcorr.sources.cloudwatch import CloudWatchReader

FIX = Path(__file__).parent / "fixtures" / "aws"
ALB_ID = "app/my-alb/50dc6c495c0c9188"


def metrics_from(name: str, **kw: object) -> pd.DataFrame:
    path = FIX / name
    batch = CloudWatchReader(str(path), Options(), **kw).read(path.read_bytes())  # type: ignore[arg-type]
    return to_pandas(batch.tables["lb_metrics"])


def ts(*clock: str) -> pd.Series:
    return pd.Series(pd.to_datetime([f"2026-11-26T{c}Z" for c in clock]).as_unit("us"))


def failures(rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame({"ts": ts(*[r[0] for r in rows]),
                         "source": pd.array([r[1] for r in rows], dtype="string"),
                         "client_side": pd.array([r[2] for r in rows], dtype="boolean")})


def sessions(rows: list[tuple[str, str, bool | None]]) -> pd.DataFrame:
    return pd.DataFrame({"ts": ts(*[r[0] for r in rows]),
                         "source": pd.array([r[1] for r in rows], dtype="string"),
                         "client_addr": pd.array(["198.51.100.7"] * len(rows), dtype="string"),
                         "is_connection": pd.array([r[2] for r in rows], dtype="boolean")})


# 3 five-minute periods (17:00, 17:05, 17:10) with 4, 0, 2 ClientTLSNegotiationErrorCount
FAILURES = failures([
    ("17:01:00", "alb_connection", True), ("17:02:00", "alb_connection", True),
    ("17:03:00", "alb_connection", True),                       # 3 logged of 4 counted
    ("17:06:00", "alb_connection", True),                       # 1 logged, 0 counted
    ("17:11:00", "alb_connection", True), ("17:12:00", "alb_connection", True),
    ("17:13:00", "alb_connection", True),                       # 3 logged of 2 counted: capped
    ("17:00:30", "nginx_error", True), ("17:04:59", "nginx_error", True),
    ("17:15:00", "nginx_error", True),                          # after the last period
    ("17:01:00", "nginx_error", False),                         # nginx → upstream: not counted
])
SESSIONS = sessions([("17:00:10", "nginx_access", True), ("17:05:10", "nginx_access", True),
                     ("17:05:20", "nginx_access", False), ("17:06:00", "alb_connection", True)])
ALB_TOPOLOGY = ("The ALB terminates TLS: the failed handshakes it counts never reach nginx, so nginx's "
                "failures are other handshakes; only ALB connection logs (tls_verify_status Failed:...) "
                "can explain the count.")


def test_known_counts_exact_section() -> None:
    metrics = metrics_from("app.my-alb.50dc6c495c0c9188_ClientTLSNegotiationErrorCount.json")
    section = lb_section(metrics, FAILURES, SESSIONS)
    assert section == {
        "load_balancers": [{
            "name": ALB_ID, "namespace": "AWS/ApplicationELB", "period_s": 300, "period_assumed": False,
            "connections_metric": None, "nginx_connections_are_requests": False,
            "periods": [
                {"start": "2026-11-26T17:00:00Z", "lb_tls_errors": 4, "lb_new_connections": None,
                 "nginx_failures": 2, "nginx_connections": 1, "lb_log_failures": 3, "explained_share": 0.75},
                {"start": "2026-11-26T17:05:00Z", "lb_tls_errors": 0, "lb_new_connections": None,
                 "nginx_failures": 0, "nginx_connections": 1, "lb_log_failures": 1, "explained_share": None},
                {"start": "2026-11-26T17:10:00Z", "lb_tls_errors": 2, "lb_new_connections": None,
                 "nginx_failures": 0, "nginx_connections": 0, "lb_log_failures": 3, "explained_share": 1.0},
            ],
            "lb_tls_errors": 6, "lb_new_connections": None, "nginx_failures": 2, "nginx_connections": 2,
            "lb_log_failures": 7, "lb_logs_present": True,
            "explained_share": 0.8333,  # (3 + 0 + 2) / 6
            "topology": ALB_TOPOLOGY,
        }],
        "summary": (f"{ALB_ID} counted 6 TLS negotiation errors in 3 periods of 300 s; its own logs "
                    "explain 83% (7 logged failures), nginx logged 2."),
    }
    json.dumps(section)  # plain types only
    assert lb_findings(section) == [
        f"{ALB_ID}: 6 client TLS negotiation errors, 83% explained by the load balancer's logs "
        "(logging is best-effort)."]


def test_connections_from_csv_and_no_lb_logs() -> None:
    metrics = metrics_from("console.csv")
    section = lb_section(metrics, FAILURES[FAILURES["source"] == "nginx_error"], SESSIONS)
    assert section is not None
    (lb,) = section["load_balancers"]
    assert lb["connections_metric"] == "NewConnectionCount"
    assert [(p["start"][11:16], p["lb_tls_errors"], p["lb_new_connections"], p["explained_share"])
            for p in lb["periods"]] == [("17:00", 4, 100, 0.0), ("17:05", None, 90, None), ("17:10", 2, 80, 0.0)]
    assert (lb["lb_tls_errors"], lb["lb_new_connections"], lb["explained_share"]) == (6, 270, 0.0)
    assert lb["topology"] == ALB_TOPOLOGY + " No such logs were ingested: turn them on to name the failing clients."
    assert lb_findings(section) == [
        f"{ALB_ID}: 6 client TLS negotiation errors at the load balancer and no load-balancer logs to "
        "explain them: enable connection/TLS access logs."]


def _metrics(rows: list[tuple[str, str, str, float, str | None]], period: int | None = 60) -> pd.DataFrame:
    return pd.DataFrame({
        "ts": ts(*[r[0] for r in rows]),
        "load_balancer": pd.array([r[1] for r in rows], dtype="string"),
        "metric": pd.array([r[2] for r in rows], dtype="string"),
        "statistic": pd.array(["Sum"] * len(rows), dtype="string"),
        "value": pd.array([r[3] for r in rows], dtype="Float64"),
        "unit": pd.array([None] * len(rows), dtype="string"),
        "period_s": pd.array([period] * len(rows), dtype="Int32"),
        "namespace": pd.array([r[4] for r in rows], dtype="string"),
    })


def test_classic_elb_has_no_tls_metric() -> None:
    metrics = _metrics([("17:00:00", "my-loadbalancer", "RequestCount", 50.0, "AWS/ELB"),
                        ("17:01:00", "my-loadbalancer", "RequestCount", 40.0, "AWS/ELB")])
    section = lb_section(metrics, FAILURES, SESSIONS)
    assert section is not None
    (lb,) = section["load_balancers"]
    assert (lb["lb_tls_errors"], lb["explained_share"], lb["nginx_failures"]) == (None, None, 1)
    assert lb["topology"].startswith("AWS/ELB has no TLS negotiation-error metric")
    assert section["summary"] == ("my-loadbalancer (AWS/ELB) has no TLS-error metric; nginx logged 1 "
                                  "failure in its periods.")
    assert lb_findings(section) == ["my-loadbalancer: no TLS negotiation-error metric for this load "
                                    "balancer kind; nginx's logs are the count that matters."]


def test_nlb_tcp_listener_and_requests_as_connections() -> None:
    nlb = "net/my-nlb/c6e77e28c25b2234"
    metrics = _metrics([("17:00:00", nlb, "NewFlowCount_TCP", 7.0, "AWS/NetworkELB")])
    sess = sessions([("17:00:10", "nginx_access", None), ("17:00:20", "nginx_access", None)])
    section = lb_section(metrics, FAILURES, sess)
    assert section is not None
    (lb,) = section["load_balancers"]
    assert lb["topology"].startswith("An NLB TCP listener passes handshakes to nginx")
    assert (lb["connections_metric"], lb["lb_new_connections"]) == ("NewFlowCount_TCP", 7)
    # no is_connection anywhere: requests stand in for connections (SPEC §7 failure_rate)
    assert (lb["nginx_connections_are_requests"], lb["nginx_connections"]) == (True, 2)
    assert lb["nginx_failures"] == 1  # 17:00:30 only; 17:01 is nginx's upstream side


def test_nlb_tls_listener_counts_only_nlb_logs() -> None:
    nlb = "net/my-nlb/c6e77e28c25b2234"
    metrics = _metrics([("17:00:00", nlb, "ClientTLSNegotiationErrorCount", 2.0, "AWS/NetworkELB")], period=None)
    fails = failures([("17:00:01", "nlb_tls", True), ("17:00:02", "alb_connection", True)])
    section = lb_section(metrics, fails, SESSIONS)
    assert section is not None
    (lb,) = section["load_balancers"]
    assert (lb["period_s"], lb["period_assumed"]) == (300, True)
    assert (lb["lb_log_failures"], lb["explained_share"]) == (1, 0.5)
    assert "NLB logs record only alerts received from clients" in lb["topology"]
    assert lb_findings(section)[-1] == f"{nlb}: metric period unknown (one datapoint); 300 s assumed."


def test_no_metrics_no_section() -> None:
    empty = _metrics([])
    assert lb_section(empty, FAILURES, SESSIONS) is None
    assert lb_findings(None) == []
