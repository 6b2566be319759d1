"""CloudWatch exports → lb_metrics.  Fixtures and their origins: tests/fixtures/aws/README.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from logcorr.errors import InputError
from logcorr.sources import Batch, Options
from logcorr.sources.cloudwatch import CloudWatchReader, parse_time, sniff

FIX = Path(__file__).parent / "fixtures" / "aws"
ALB_ID = "app/my-alb/50dc6c495c0c9188"
TLS = "ClientTLSNegotiationErrorCount"


def read(name: str, **kw: Any) -> Batch:
    path = FIX / name
    return CloudWatchReader(str(path), Options(), **kw).read(path.read_bytes())


def rows(batch: Batch) -> list[tuple[Any, ...]]:
    cols = ("ts", "load_balancer", "metric", "statistic", "value", "unit", "period_s", "namespace", "line")
    return [tuple(r[c] for c in cols) for r in batch.tables["lb_metrics"].to_pylist()]


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def accounted(b: Batch) -> bool:
    return b.lines == b.parsed + b.skipped + b.rejected


def test_get_metric_statistics_generated_counts() -> None:
    b = read("app.my-alb.50dc6c495c0c9188_ClientTLSNegotiationErrorCount.json")
    assert rows(b) == [
        (t("2026-11-26T17:00"), ALB_ID, TLS, "Sum", 4.0, "Count", 300, "AWS/ApplicationELB", 9),
        (t("2026-11-26T17:05"), ALB_ID, TLS, "Sum", 0.0, "Count", 300, "AWS/ApplicationELB", 14),
        (t("2026-11-26T17:10"), ALB_ID, TLS, "Sum", 2.0, "Count", 300, "AWS/ApplicationELB", 4),
    ]
    assert (b.lines, b.parsed, b.rejected, b.warnings) == (3, 3, 0, [])


def test_get_metric_statistics_doc_example_and_options() -> None:
    # ALB-M example (reference §7.1): the file does not name the LB; the option does
    b = read("get-metric-statistics-unhealthy.json", load_balancer="app/web/0123456789abcdef", period_s=60)
    assert rows(b) == [
        (t("2016-04-18T04:00"), "app/web/0123456789abcdef", "UnHealthyHostCount", "Average", 0.0, "Count",
         60, "AWS/ApplicationELB", 8),
        (t("2016-04-18T22:00"), "app/web/0123456789abcdef", "UnHealthyHostCount", "Average", 0.0, "Count",
         60, "AWS/ApplicationELB", 3),
    ]
    # without the option: the file name, minus nothing recognisable; namespace ambiguous
    b = read("get-metric-statistics-unhealthy.json")
    assert {r[1] for r in rows(b)} == {"get-metric-statistics-unhealthy"}
    assert {r[7] for r in rows(b)} == {None}


def test_epoch_timestamps_several_statistics_and_extended(tmp_path: Path) -> None:
    # CLI v1 "wire" epoch numbers (reference §7.5); ExtendedStatistics map (§7.1)
    doc = {"Label": "TargetResponseTime", "Datapoints": [
        {"Timestamp": 1709424060, "Average": 0.25, "Maximum": 1.5, "ExtendedStatistics": {"p99": 1.2},
         "Unit": "Seconds"},
        {"Timestamp": 1709424000.0, "Average": 0.5, "Maximum": 2.0, "Unit": "Seconds"}]}
    path = tmp_path / "my-alb.json"
    path.write_text(json.dumps(doc))
    b = CloudWatchReader(str(path), Options()).read(path.read_bytes())
    got = [(r[0], r[1], r[3], r[4], r[6]) for r in rows(b)]
    assert got == [
        (t("2024-03-03T00:00"), "my-alb", "Average", 0.5, 60),
        (t("2024-03-03T00:00"), "my-alb", "Maximum", 2.0, 60),
        (t("2024-03-03T00:01"), "my-alb", "Average", 0.25, 60),
        (t("2024-03-03T00:01"), "my-alb", "Maximum", 1.5, 60),
        (t("2024-03-03T00:01"), "my-alb", "p99", 1.2, 60),
    ]
    assert (b.lines, b.parsed) == (2, 2)


def test_get_metric_data_labels_ids_and_partial_pages() -> None:
    b = read("get-metric-data-epoch.json", load_balancer=ALB_ID)
    assert rows(b) == [
        (t("2026-11-26T17:00"), ALB_ID, TLS, "Sum", 4.0, None, 300, "AWS/ApplicationELB", 8),
        (t("2026-11-26T17:05"), ALB_ID, TLS, "Sum", 2.0, None, 300, "AWS/ApplicationELB", 7),
        # empty Label: the metric comes from the Id, the LB from the option
        (t("2026-11-26T17:05"), ALB_ID, "NewConnectionCount", "Sum", 120.0, None, 300, "AWS/ApplicationELB", 20),
    ]
    assert b.warnings == [
        "NewConnectionCount: StatusCode PartialData (more datapoints on the next page)",
        "NextToken present: this is one page of a longer answer; fetch the rest with --next-token "
        "and ingest it too",
    ]
    assert (b.lines, b.parsed, b.rejected) == (3, 3, 0)


def test_get_metric_data_classic_label_and_mismatched_lists(tmp_path: Path) -> None:
    # a Classic LB label "name Metric" (CLB names have no app/ or net/ prefix, §6)
    doc = {"MetricDataResults": [{"Id": "m1", "Label": "my-loadbalancer RequestCount",
                                  "Timestamps": ["2024-09-26T12:00:00+00:00", "2024-09-26T12:05:00+00:00"],
                                  "Values": [10], "StatusCode": "Complete"}],
           "Messages": [{"Code": "MaxMetricsExceeded", "Value": "some metrics were dropped"}]}
    path = tmp_path / "gmd.json"
    path.write_text(json.dumps(doc, indent=2))
    b = CloudWatchReader(str(path), Options()).read(path.read_bytes())
    assert [(r[1], r[2], r[3], r[4]) for r in rows(b)] == [("my-loadbalancer", "RequestCount", "Sum", 10.0)]
    rej = b.tables["rejects"].to_pylist()
    assert [(r["line"], r["error"]) for r in rej] == [
        (8, "RequestCount: Timestamps has 2 entries but the other list 1: no pair")]
    assert "CloudWatch message MaxMetricsExceeded: some metrics were dropped" in b.warnings
    assert accounted(b)
    assert b.lines == 2


def test_truncated_json_keeps_what_it_can() -> None:
    b = read("truncated.json")
    assert [(r[0], r[2], r[4]) for r in rows(b)] == [(t("2026-11-26T17:10"), TLS, 2.0)]
    rej = b.tables["rejects"].to_pylist()
    assert [(r["line"], r["error"]) for r in rej] == [
        (9, "truncated JSON: the Datapoints list breaks off here; the datapoints before this line were ingested")]
    assert (b.lines, b.parsed, b.rejected) == (2, 1, 1)
    assert b.warnings[0] == ("truncated or broken JSON at line 10 (Expecting value): the datapoints "
                             "before the break were ingested")


def test_truncated_get_metric_data_recovers_pairs(tmp_path: Path) -> None:
    text = (FIX / "get-metric-data-epoch.json").read_text()
    cut = text[: text.index("4.0") + 3]  # inside the first result's Values, after both values
    path = tmp_path / "cut.json"
    path.write_text(cut)
    b = CloudWatchReader(str(path), Options()).read(path.read_bytes())
    assert [(r[0], r[1], r[4]) for r in rows(b)] == [(t("2026-11-26T17:00"), ALB_ID, 4.0),
                                                   (t("2026-11-26T17:05"), ALB_ID, 2.0)]
    assert b.rejected == 1
    assert accounted(b)


def test_missing_statistics_and_bad_values_are_rejects(tmp_path: Path) -> None:
    doc = {"Label": TLS, "Datapoints": [
        {"Timestamp": "2026-11-26T17:00:00Z", "Unit": "Count"},
        {"Timestamp": "soon", "Sum": 1.0},
        {"Timestamp": "2026-11-26T17:05:00Z", "Sum": "many"},
        {"Timestamp": "2026-11-26T17:10:00Z", "Sum": 3.0}]}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc, indent=1))
    b = CloudWatchReader(str(path), Options()).read(path.read_bytes())
    assert [(r["line"], r["error"]) for r in b.tables["rejects"].to_pylist()] == [
        (4, "datapoint has no statistic (Sum, Average, Minimum, Maximum, SampleCount or ExtendedStatistics)"),
        (8, "datapoint without a valid Timestamp ('soon')"),
        (12, "statistic Sum is not a number"),
    ]
    assert (b.lines, b.parsed, b.rejected) == (4, 1, 3)


def test_unknown_metric_kept_and_warned_once(tmp_path: Path) -> None:
    doc = {"MetricDataResults": [
        {"Id": "a", "Label": "app/x/0123456789abcdef MyCustomThing", "Timestamps": [1, 61], "Values": [1, 2]},
        {"Id": "b", "Label": "app/x/0123456789abcdef MyCustomThing", "Timestamps": [121], "Values": [3]}]}
    path = tmp_path / "u.json"
    path.write_text(json.dumps(doc))
    b = CloudWatchReader(str(path), Options()).read(path.read_bytes())
    # a label that names no known metric is the metric as a whole
    assert {r[2] for r in rows(b)} == {"app/x/0123456789abcdef MyCustomThing"}
    assert [w for w in b.warnings if "unknown metric" in w] == [
        "unknown metric 'app/x/0123456789abcdef MyCustomThing' (not in AWS/ApplicationELB, "
        "AWS/NetworkELB or AWS/ELB): kept as is"]
    assert b.parsed == 3


def test_console_csv() -> None:
    b = read("console.csv")
    assert rows(b) == [
        (t("2026-11-26T17:00"), ALB_ID, TLS, "Sum", 4.0, None, 300, "AWS/ApplicationELB", 2),
        (t("2026-11-26T17:10"), ALB_ID, TLS, "Sum", 2.0, None, 300, "AWS/ApplicationELB", 5),
        (t("2026-11-26T17:00"), ALB_ID, "NewConnectionCount", "Sum", 100.0, None, 300, "AWS/ApplicationELB", 2),
        (t("2026-11-26T17:05"), ALB_ID, "NewConnectionCount", "Sum", 90.0, None, 300, "AWS/ApplicationELB", 3),
        (t("2026-11-26T17:10"), ALB_ID, "NewConnectionCount", "Sum", 80.0, None, 300, "AWS/ApplicationELB", 5),
    ]
    # header + blank line skipped, three rows parsed
    assert (b.lines, b.parsed, b.skipped, b.rejected) == (5, 3, 2, 0)


def test_csv_with_unexpected_columns() -> None:
    b = read("unexpected-columns.csv", load_balancer=ALB_ID)
    assert [(r[0], r[2], r[3], r[4]) for r in rows(b)] == [(t("2026-11-26T17:00"), TLS, "Sum", 4.0)]
    assert [(r["line"], r["error"]) for r in b.tables["rejects"].to_pylist()] == [
        (3, "ClientTLSNegotiationErrorCount (Sum) 'lots' is not a number"),
        (4, "4 cells, the header has 3"),
        (5, "Timestamp 'yesterday' is not a time"),
    ]
    assert "CSV column 2 'Region' is neither a time nor a metric column: ignored" in b.warnings
    assert accounted(b)
    assert b.lines == 5


def test_csv_long_layout(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("Label,Timestamp,Value\nnet/my-nlb/c6e77e28c25b2234 ClientTLSNegotiationErrorCount,"
                    "2026-11-26T17:00:00Z,3\nnet/my-nlb/c6e77e28c25b2234 NewFlowCount_TLS,2026-11-26T17:00:00Z,50\n")
    b = CloudWatchReader(str(path), Options()).read(path.read_bytes())
    assert [(r[1], r[2], r[4], r[7]) for r in rows(b)] == [
        ("net/my-nlb/c6e77e28c25b2234", TLS, 3.0, "AWS/NetworkELB"),
        ("net/my-nlb/c6e77e28c25b2234", "NewFlowCount_TLS", 50.0, "AWS/NetworkELB")]


@pytest.mark.parametrize(("data", "error"), [
    (b'{"Foo": []}', "JSON without Datapoints or MetricDataResults"),
    (b"Region,Zone\nus,a\n", "CSV without a time column"),
    (b"Time,Region\n2026-11-26T17:00:00Z,us\n", "CSV has no metric column"),
    (b"\xff\xfe{", "not UTF-8"),
])
def test_unusable_files_raise_input_error(tmp_path: Path, data: bytes, error: str) -> None:
    with pytest.raises(InputError, match=error):
        CloudWatchReader(str(tmp_path / "f"), Options()).read(data)


@pytest.mark.parametrize(("head", "expected"), [
    ((FIX / "truncated.json").read_bytes(), True),
    ((FIX / "get-metric-data-epoch.json").read_bytes(), True),
    ((FIX / "console.csv").read_bytes(), True),
    (b'{"time":"2026-11-26T17:00:00+00:00","remote_addr":"1.2.3.4"}\n', False),  # nginx escape=json
    (b"time,foo\n1,2\n", False),
    (b'203.0.113.5 - - [26/Nov/2026:17:00:00 +0000] "GET /a,b HTTP/1.1" 200 5\n', False),
])
def test_sniff(head: bytes, expected: bool) -> None:
    assert sniff(head) is expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2016-04-18T22:00:00Z", "2016-04-18T22:00"), ("2024-09-26T12:00:00+00:00", "2024-09-26T12:00"),
    ("2024-09-26T17:30:00+05:30", "2024-09-26T12:00"), (1709424000.0, "2024-03-03T00:00"),
    (1709424000, "2024-03-03T00:00"), (1709424000000, "2024-03-03T00:00"), ("2024-03-03 00:00:00", "2024-03-03T00:00"),
])
def test_parse_time(value: Any, expected: str) -> None:
    assert parse_time(value) == t(expected)


@pytest.mark.parametrize("value", [None, True, "soon", "", [1]])
def test_parse_time_rejects(value: Any) -> None:
    assert parse_time(value) is None
