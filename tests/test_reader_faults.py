"""A bad file costs its bad lines, not the file (issue 12.6): one regression test per input
that fuzzing found to crash a reader or lose a whole file.  Each failed on the code before
the fix (the exception named in its docstring).

Line shapes: access lines in the built-in recommended format (logformat.RECOMMENDED, the
README's format); NLB lines from the OTEL sample in reference/aws-load-balancers.md §3.3;
CloudWatch JSON as ``aws cloudwatch get-metric-statistics`` prints it (§7.1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import logcorr
from logcorr.errors import FormatSyntaxError, InputError, LogcorrError
from logcorr.sources import Batch, Options
from logcorr.sources.accesslog import AccessLogReader
from logcorr.sources.cloudwatch import CloudWatchReader
from logcorr.sources.elblogs import ElbLogReader, parse_iso
from logcorr.sources.logformat import RECOMMENDED, compile_format
from logcorr.sources.nginxconf import read_log_formats

GOOD = ('127.0.0.1 - - [26/Nov/2026:17:29:28 +0530] "GET / HTTP/1.1" 200 5 "-" "curl" TLSv1.3 '
        'TLS_AES_256_GCM_SHA384 "-" . - 127.0.0.1 41 1 1795714168.860 0.000')
NLB = ("tls 2.0 2020-04-01T08:51:42 net/my-network-loadbalancer/c6e77e28c25b2234 g3d4b5e8bb8464cd "
       "72.21.218.154:51341 172.100.100.185:443 5 2 98 246 - "
       "arn:aws:acm:us-east-2:671290407336:certificate/2a108f19-aded-46b0-8493-c63eb1ef4a99 - "
       "ECDHE-RSA-AES128-SHA tlsv12 - my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com "
       'h2 h2 "h2","http/1.1" 2020-04-01T08:51:20')


def access(lines: list[str]) -> Batch:
    batch = AccessLogReader("f.log", Options(), RECOMMENDED).feed(("\n".join(lines) + "\n").encode(), 1)
    assert batch.lines == batch.parsed + batch.skipped + batch.rejected
    return batch


def rejects(batch: Batch) -> list[tuple[int, str]]:
    return [(r["line"], r["error"]) for r in batch.tables["rejects"].to_pylist()]


def test_regex_capture_in_log_format_option_is_one_error_with_a_caret(tmp_path: Path) -> None:
    """``$1`` made ``re.error`` (bad group name) escape as a traceback."""
    log = tmp_path / "access.log"
    log.write_text(GOOD + "\n")
    with pytest.raises(LogcorrError) as info:
        logcorr.ingest([str(log)], tmp_path / "data", log_format="$remote_addr $1")
    assert str(info.value) == ("$1 is a regex capture, not a variable a log line can be read back by\n"
                               "    $remote_addr $1\n"
                               "                 ^")
    with pytest.raises(FormatSyntaxError):
        compile_format("$remote_addr ${2}")


def test_regex_capture_in_nginx_conf_costs_that_format_only(tmp_path: Path) -> None:
    """Through ``--nginx-conf`` the same ``re.error`` broke every access log."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n  log_format bad '$remote_addr $1';\n  access_log a.log bad;\n}\n")
    log = tmp_path / "access.log"
    log.write_text("\n".join([GOOD] * 3) + "\n")
    result = logcorr.ingest([str(log)], tmp_path / "data", nginx_conf=str(conf))
    (f,) = result.files
    assert (f.kind, f.error, f.parsed, f.rejected) == ("nginx_access", None, 3, 0)
    assert result.warnings == [
        f"{log}: log_format bad ({conf}:2) left out: $1 is a regex capture, not a variable a log "
        "line can be read back by at character 14 of '$remote_addr $1'"]


def test_integer_wider_than_int64_is_one_reject() -> None:
    """``RecursionError``: the int cast failed, and the retry cast the same values again."""
    wide = GOOD.replace(" 41 1 ", " 99999999999999999999999 1 ")
    batch = access([GOOD] * 1000 + [wide])
    assert (batch.parsed, batch.rejected) == (1000, 1)
    assert rejects(batch) == [(1001, "$connection '99999999999999999999999' is not a valid int value")]


@pytest.mark.parametrize("msec", ["99999999999999.860", "9" * 30 + ".5", "7258118400.000"])
def test_msec_outside_1970_to_2200_is_a_reject(msec: str) -> None:
    """``RecursionError`` (or a stored year 5138 that every later report crashed on)."""
    batch = access([GOOD, GOOD.replace("1795714168.860", msec)])
    assert (batch.parsed, batch.rejected) == (1, 1)
    assert rejects(batch) == [(2, f"$msec {msec!r} is outside 1970-2200")]
    assert batch.tables["tls_sessions"].column("ts").to_pylist() == [
        datetime(2026, 11, 26, 17, 29, 28, 860000, tzinfo=UTC)]


@pytest.mark.parametrize(("old", "new"), [
    ("+0530", "+2500"),  # offset +25:00 (was read as a 25-hour offset)
    ("+0530", "+0575"),  # 75 minutes
    ("26/Nov/2026:17:29:28", "99/Nov/9999:99:29:28"),  # garbled
    ("26/Nov/2026", "01/Jan/0001"),  # before 1970 (with +05:30 it left datetime's range)
])
def test_bad_time_local_is_a_reject(old: str, new: str) -> None:
    batch = access([GOOD.replace(" 1795714168.860 0.000", " - -"),
                    GOOD.replace(old, new).replace(" 1795714168.860 0.000", " - -")])
    assert (batch.parsed, batch.rejected) == (1, 1)
    assert rejects(batch)[0][0] == 2
    assert rejects(batch)[0][1].endswith("is not a valid time_local value")


def test_offset_beyond_fifteen_hours_in_aws_times_is_a_reject() -> None:
    assert parse_iso("2026-11-26T17:29:28+25:00") is None
    assert parse_iso("2026-11-26T17:29:28+05:30") == datetime(2026, 11, 26, 11, 59, 28, tzinfo=UTC)
    assert parse_iso("9999-12-31T23:59:59-05:00") is None  # OverflowError before


@pytest.mark.parametrize(("old", "new", "error"), [
    (" 5 2 98 246 ", " 12345678901234567890 2 98 246 ", "field 8 (connection_time)"),
    ("246 - arn", "246 12345678901234567890 arn", "field 12 (incoming_tls_alert)"),
    (":51341 ", ":99999 ", "field 6 (client:port)"),
])
def test_nlb_field_of_twenty_digits_costs_its_line(old: str, new: str, error: str) -> None:
    """``OverflowError`` (timedelta, or int16 ``alert``) lost the 1,000 good lines with it."""
    bad = NLB.replace(old, new)
    if "incoming_tls_alert" in error:
        bad = bad.replace(" tlsv12 ", " - ")  # a failed handshake: the alert is read
    else:
        bad = bad.replace(" 2020-04-01T08:51:20", "")  # 21 fields: the start is computed
    batch = ElbLogReader("nlb.log", Options(), "nlb_tls").feed(("\n".join([NLB] * 1000 + [bad]) + "\n").encode(), 1)
    assert (batch.lines, batch.parsed, batch.rejected) == (1001, 1000, 1)
    (row,) = batch.tables["rejects"].to_pylist()
    assert (row["line"], row["error"][:len(error)]) == (1001, error)


def _cloudwatch(text: str) -> Batch:
    batch = CloudWatchReader("RequestCount.json", Options()).read(text.encode())
    assert batch.lines == batch.parsed + batch.skipped + batch.rejected
    return batch


def test_cloudwatch_datapoints_2000_years_apart() -> None:
    """``ArrowInvalid``: the period (their spacing) overflowed int32."""
    batch = _cloudwatch('{"Label": "RequestCount", "Datapoints": ['
                        '{"Timestamp": "2016-04-18T22:00:00Z", "Sum": 1.0, "Unit": "Count"},'
                        '{"Timestamp": "4016-04-18T22:00:00Z", "Sum": 2.0, "Unit": "Count"}]}')
    assert (batch.parsed, batch.rejected) == (1, 1)
    assert batch.tables["rejects"].column("error").to_pylist() == [
        "datapoint without a valid Timestamp ('4016-04-18T22:00:00Z')"]
    near = _cloudwatch('{"Label": "RequestCount", "Datapoints": ['
                       '{"Timestamp": "2016-04-18T22:00:00Z", "Sum": 1.0},'
                       '{"Timestamp": "2196-04-18T22:00:00Z", "Sum": 2.0}]}')
    assert near.parsed == 2
    assert near.tables["lb_metrics"].column("period_s").to_pylist() == [None, None]


@pytest.mark.parametrize("text", [
    '{"Label": "Request\tCount", "Datapoints": [{"Timestamp": "2016-04-18T22:00:00Z", "Sum": 1.0}, {"Time',
    '{"MetricDataResults": [{"Id": "m1", "Label": "Request\tCount", '
    '"Timestamps": ["2016-04-18T22:00:00Z"], "Values": [1.0]}, {"Id": "m2", "Label": "x\t',
])
def test_tab_inside_a_cut_json_label_keeps_the_datapoints(text: str) -> None:
    """``JSONDecodeError``: the label found by a regex in the cut file was strict JSON."""
    batch = _cloudwatch(text)
    assert (batch.parsed, batch.rejected) == (1, 1)
    assert batch.tables["lb_metrics"].column("metric").to_pylist() == ["Request\tCount"]


def test_nul_in_an_include_glob_is_one_error(tmp_path: Path) -> None:
    """``ValueError: embedded null byte`` from glob."""
    conf = tmp_path / "nginx.conf"
    conf.write_bytes(b"http {\n  include conf.d/*\x00.conf;\n}\n")
    with pytest.raises(InputError) as info:
        read_log_formats(str(conf))
    assert str(info.value) == f"{conf}:2: include path with a NUL byte"


def test_msec_far_in_the_future_leaves_reports_working(tmp_path: Path) -> None:
    """A stored year-5138 session made every later report crash (pandas ns overflow)."""
    log = tmp_path / "access.log"
    log.write_text(GOOD + "\n" + GOOD.replace("1795714168.860", "99999999999.000") + "\n")
    # an error-log line from reference/nginx-logs.md §8 (nginx 1.22.1 + OpenSSL 3.0)
    (tmp_path / "error.log").write_text(
        "2026/11/26 22:59:36 [info] 13035#13035: *4 SSL_do_handshake() failed (SSL: error:0A000102:"
        "SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.1, server: "
        "127.0.0.1:8443\n")
    result = logcorr.ingest([str(log), str(tmp_path / "error.log")], tmp_path / "data", error_tz="+05:30")
    assert (result.files[0].parsed, result.files[0].rejected) == (1, 1)
    assert pq.read_table(tmp_path / "data" / "tls_sessions").num_rows == 1
    report = logcorr.open(tmp_path / "data").report(window="5m")
    assert report.data["totals"]["tls_sessions"] == 1


def test_log_format_option_naming_a_bad_conf_format_is_one_error(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("log_format bad '$remote_addr $1';\ninclude missing.conf;\n")
    log = tmp_path / "access.log"
    log.write_text(GOOD + "\n")
    with pytest.raises(FormatSyntaxError, match=r"^\$1 is a regex capture"):
        logcorr.ingest([str(log)], tmp_path / "data", nginx_conf=str(conf), log_format="bad")
    result = logcorr.ingest([str(log)], tmp_path / "data", nginx_conf=str(conf))
    assert result.warnings[0] == f"{tmp_path / 'missing.conf'}: include skipped: No such file or directory"
