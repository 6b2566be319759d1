"""The vectorized access-log reader: tables, accounting, meta, detection, round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logcorr.errors import InputError
from logcorr.sources import Batch, Options
from logcorr.sources.accesslog import JSON_LINES, AccessLogReader, sniff
from logcorr.sources.logformat import COMBINED, RECOMMENDED

FIXTURES = Path(__file__).parent / "fixtures" / "accesslog"
PIPE_HTTP = ("$remote_addr|$realip_remote_addr|$proxy_protocol_addr|$proxy_protocol_port|$connection|"
             "$connection_requests|$status|$ssl_protocol|$ssl_cipher|$ssl_curve|$ssl_session_reused|"
             "$ssl_server_name|$ssl_alpn_protocol|$ssl_early_data|$msec|$time_iso8601|$time_local|"
             '$request_time|"$request"')
PIPE_STREAM = ("$remote_addr|$proxy_protocol_addr|$connection|$status|$session_time|$bytes_received|"
               "$bytes_sent|$ssl_protocol|$ssl_cipher|$ssl_server_name|$msec|$time_iso8601")


def ts(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def read(data: bytes, fmt: str | None = None, options: Options | None = None) -> Batch:
    batch = AccessLogReader("f.log", options or Options(), fmt).feed(data, 1)
    assert batch.lines == batch.parsed + batch.skipped + batch.rejected
    return batch


def rows(batch: Batch, table: str, *cols: str) -> list[tuple[object, ...]]:
    return [tuple(r[c] for c in cols) for r in batch.tables[table].to_pylist()]


def test_mixed_file() -> None:
    batch = read((FIXTURES / "mixed.log").read_bytes())  # format detected: recommended
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (8, 4, 1, 3)
    assert rows(batch, "tls_sessions", "line", "ts", "ts_logged", "client_addr", "remote_addr",
                "ssl_protocol", "conn_id", "session_reused", "is_connection", "server_name") == [
        (1, ts(2026, 11, 26, 17, 32, 22, 627000), ts(2026, 11, 26, 17, 32, 22, 877000), "127.0.0.9",
         "127.0.0.9", "TLSv1.3", 79, False, True, "sni.example"),
        (6, ts(2026, 11, 26, 17, 32, 25), ts(2026, 11, 26, 17, 32, 26, 500000), "127.0.0.1",
         "127.0.0.1", "TLSv1.2", 90, True, False, None),
        (7, ts(2026, 11, 26, 17, 32, 50), ts(2026, 11, 26, 17, 32, 50, 22000), "192.0.2.7",
         "192.0.2.7", "TLSv1.3", 91, False, True, "api.example"),
    ]
    assert rows(batch, "plain_requests", "line", "client_addr", "remote_addr", "status", "request") == [
        (3, "127.0.0.9", "127.0.0.5", 400, "GET /plainvialb HTTP/1.1")]
    assert rows(batch, "rejects", "line", "kind", "text") == [
        (4, "nginx_access", '127.0.0.1 - - [26/Nov/2026:17:32:25 +0000] "GET /truncat'),
        (5, "nginx_access", "\x16\x03\x01\\x00\\xb7\x01\\x00\\x00\\xb3\x03\x03\\xc5=>\\x94S0T\\x00\\xff"),
        (8, "nginx_access", '127.0.0.1 - - [26/Nov/2026:17:32:27 +0000] "GET / HTTP/1.1" abc 5 "-" "-" '
                            'TLSv1.3 TLS_AES_256_GCM_SHA384 "-" . - - 92 1 1795714347.000 0.000')]
    assert batch.tables["rejects"].column("error").to_pylist()[2] == "expected $status at column 61 of the line"
    assert batch.meta["utc_offsets"] == {"+0000": 3, "+0530": 1}
    assert batch.meta["lb_candidates"] == {"127.0.0.5"}


def test_csv_tier_value_errors_and_escapes() -> None:
    # no unclosed quote in this chunk: the CSV tier reads it, the converter rejects "abc"
    good = (FIXTURES / "mixed.log").read_bytes().split(b"\n")
    batch = read(b"\n".join([good[5], good[7], good[6]]) + b"\n", RECOMMENDED)
    assert (batch.parsed, batch.rejected) == (2, 1)
    assert rows(batch, "rejects", "line", "error") == [(2, "$status 'abc' is not a valid int value")]
    assert rows(batch, "tls_sessions", "line", "conn_id") == [(1, 90), (3, 91)]


def test_escaped_quote_in_request() -> None:
    line = (b'127.0.0.1 - - [26/Nov/2026:17:32:26 +0000] "GET /q?x=\\x22y\\x22 HTTP/1.1" 400 7 "-" '
            b'"curl/8.5.0" - - "-" - - - 90 1 1795714346.500 0.000\n')
    batch = read(line, RECOMMENDED)
    assert rows(batch, "plain_requests", "request") == [('GET /q?x="y" HTTP/1.1',)]


def test_time_local_with_offset_to_utc() -> None:
    # combined has no $ssl_protocol: lines are requests without TLS fields (the clients got
    # an answer, at an unknown protocol: SPEC §6), and their offsets are learned
    line = b'192.0.2.7 - - [26/Nov/2026:23:02:50 +0530] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"\n'
    batch = read(line * 3, COMBINED)
    assert (batch.lines, batch.parsed, batch.skipped) == (3, 3, 0)
    assert rows(batch, "plain_requests", "client_addr", "status", "tls_logged") == [("192.0.2.7", 200, False)] * 3
    assert "tls_sessions" not in batch.tables or batch.tables["tls_sessions"].num_rows == 0
    assert batch.meta["utc_offsets"] == {"+0530": 3}
    assert batch.warnings == ["the log_format combined has no $ssl_protocol: its lines show that clients "
                              "got an answer, not with which TLS version"]
    fmt = COMBINED + " $ssl_protocol"
    batch = read(line.replace(b'"\n', b'" TLSv1.2\n'), fmt)
    assert rows(batch, "tls_sessions", "ts", "ts_logged") == [
        (ts(2026, 11, 26, 17, 32, 50), ts(2026, 11, 26, 17, 32, 50))]


def test_regex_tier_and_stream_failures() -> None:
    # nginx-logs.md §8 lines, verbatim
    http = (b'127.0.0.1|127.0.0.1|-|-|1|1|200|TLSv1.3|TLS_AES_256_GCM_SHA384|X25519|.|-|http/1.1|-|'
            b'1795714168.860|2026-11-26T17:29:28+00:00|26/Nov/2026:17:29:28 +0000|0.000|"GET / HTTP/1.1"\n'
            b'127.0.0.1|127.0.0.1|-|-|13|1|400|-|-|-|-|-|-|-|1795714201.198|2026-11-26T17:30:01+00:00|'
            b'26/Nov/2026:17:30:01 +0000|0.000|"GET /plain HTTP/1.1"\n')
    batch = read(http, PIPE_HTTP)
    assert rows(batch, "tls_sessions", "conn_id", "ts", "ssl_protocol") == [
        (1, ts(2026, 11, 26, 17, 29, 28, 860000), "TLSv1.3")]
    assert rows(batch, "plain_requests", "conn_id", "request") == [(13, "GET /plain HTTP/1.1")]
    stream = (b"127.0.0.1|-|71|500|0.000|0|0|TLSv1.1|(NONE)|-|1795714323.081|2026-11-26T17:32:03+00:00\n"
              b"127.0.0.9|127.0.0.9|94|500|0.007|0|0|TLSv1.1|(NONE)|-|1795714352.686|2026-11-26T17:32:32+00:00\n"
              b"127.0.0.1|-|98|400|0.000|0|0|-|-|-|1795714353.974|2026-11-26T17:32:33+00:00\n"
              b"127.0.0.1|-|99|200|1.000|10|20|TLSv1.3|TLS_AES_256_GCM_SHA384|-|1795714354.000|2026-11-26T17:32:34+00:00\n")
    batch = read(stream, PIPE_STREAM)
    assert (batch.parsed, batch.skipped) == (3, 1)
    assert batch.meta["stream_failures"] == {"500": 2}
    assert rows(batch, "tls_sessions", "source", "conn_id", "ts") == [
        ("nginx_stream", 99, ts(2026, 11, 26, 17, 32, 34))]  # no $request_time: ts = $msec
    assert "plain_requests" not in batch.tables


def test_json_lines() -> None:
    data = (b'{"time":"2026-11-26T23:02:50+05:30","client":"192.0.2.7","ssl_protocol":"TLSv1.3",'
            b'"ssl_cipher":"TLS_AES_128_GCM_SHA256","status":200,"connection":"5","request":"GET / HTTP/1.1"}\n'
            b'\n'
            b'{"time":"2026-11-26T23:02:51+05:30","client":"192.0.2.8","ssl_protocol":"","status":400}\n'
            b'not json\n')
    assert sniff(data.split(b"\n"), Options()) == JSON_LINES
    batch = read(data)
    assert (batch.parsed, batch.skipped, batch.rejected) == (2, 1, 1)
    assert rows(batch, "tls_sessions", "ts", "client_addr", "ssl_cipher", "conn_id", "status") == [
        (ts(2026, 11, 26, 17, 32, 50), "192.0.2.7", "TLS_AES_128_GCM_SHA256", 5, 200)]
    assert rows(batch, "plain_requests", "client_addr", "status") == [("192.0.2.8", 400)]
    assert batch.meta["utc_offsets"] == {"+0530": 2}


def test_detection_failure_quotes_first_line() -> None:
    with pytest.raises(InputError) as info:
        read(b"\nhello world\nmore\n")
    assert str(info.value) == ("f.log:2: no known log_format fits; first line that did not parse: "
                               "'hello world'")


def test_log_format_by_name_from_conf() -> None:
    opts = Options(log_format="pipes", formats={"pipes": PIPE_STREAM})
    batch = read(b"127.0.0.1|-|99|200|1.000|10|20|TLSv1.3|X|-|1795714354.000|2026-11-26T17:32:34+00:00\n",
                 None, opts)
    assert rows(batch, "tls_sessions", "conn_id", "ssl_cipher") == [(99, "X")]


def test_chunks_number_lines_from_first_line() -> None:
    data = (FIXTURES / "mixed.log").read_bytes()
    batch = AccessLogReader("f.log", Options(), RECOMMENDED).feed(data, 101)
    assert batch.tables["tls_sessions"].column("line").to_pylist() == [101, 106, 107]


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_:", min_size=2, max_size=20)
_text = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF, exclude_characters="\n\r"),
                min_size=1, max_size=40)


def _escape(text: str) -> str:
    """nginx's default escaping (nginx-logs.md §6.5)."""
    out = []
    for b in text.encode():
        out.append(f"\\x{b:02X}" if b in (0x22, 0x5C) or b < 0x20 or b >= 0x7F else chr(b))
    return "".join(out)


@settings(max_examples=60, deadline=None)
@given(addr=_token, pp=_token, request=_text, agent=_text, status=st.integers(100, 599),
       conn=st.integers(1, 2**40), reqs=st.integers(1, 1000), msec=st.integers(10**9, 2 * 10**9),
       ms=st.integers(0, 999), rt=st.integers(0, 10**6), proto=st.sampled_from(["TLSv1.2", "TLSv1.3"]))
def test_rendered_line_parses_back(addr: str, pp: str, request: str, agent: str, status: int,
                                   conn: int, reqs: int, msec: int, ms: int, rt: int, proto: str) -> None:
    when = datetime.fromtimestamp(msec, UTC)
    line = (f'{addr} - - [{when:%d/%b/%Y:%H:%M:%S} +0000] "{_escape(request)}" {status} 1 "-" '
            f'"{_escape(agent)}" {proto} ECDHE "-" . {pp} - {conn} {reqs} {msec}.{ms:03d} {rt // 1000}.{rt % 1000:03d}')
    batch = read((line + "\n").encode(), RECOMMENDED)
    got = batch.tables["tls_sessions"].to_pylist()
    assert len(got) == 1, json.dumps(line)
    row = got[0]
    logged = msec * 10**6 + ms * 1000
    assert row["ts_logged"] == datetime.fromtimestamp(0, UTC) + (when - when) + _us(logged)
    assert row["ts"] == datetime.fromtimestamp(0, UTC) + _us(logged - rt * 1000)
    assert (row["remote_addr"], row["proxy_protocol_addr"], row["client_addr"]) == (
        None if addr == "-" else addr, None if pp == "-" else pp, pp if pp != "-" else (None if addr == "-" else addr))
    assert (row["status"], row["conn_id"], row["connection_requests"], row["ssl_protocol"]) == (
        status, conn, reqs, proto)


def test_rendered_request_text_round_trips() -> None:
    req = 'GET /é "x" \\ \t\x01 HTTP/1.1'
    line = (f'1.2.3.4 - - [26/Nov/2026:17:29:28 +0000] "{_escape(req)}" 400 1 "-" "-" - - "-" - - - '
            '1 1 1795714168.000 0.000\n')
    batch = read(line.encode(), RECOMMENDED)
    assert rows(batch, "plain_requests", "request") == [(req,)]


def _us(n: int) -> object:
    from datetime import timedelta

    return timedelta(microseconds=n)


def test_stream_500_entries_are_failures_that_wait_for_the_error_log() -> None:
    # The lab's stream format (tests/lab/nginx.py STREAM_FORMAT, escape=json), nginx 1.22.1:
    # a fallback failure (*36, it also has an error line) and a session.
    from logcorr.sources import Options
    from logcorr.sources.accesslog import AccessLogReader

    lines = (
        b'{"time_iso8601":"2026-11-27T02:44:42+05:30","msec":"1795727682.784","remote_addr":"203.0.113.22",'
        b'"proxy_protocol_addr":"203.0.113.22","connection":"36","status":"500","session_time":"0.000",'
        b'"bytes_received":"0","bytes_sent":"0","ssl_protocol":"TLSv1.2","ssl_cipher":"(NONE)","ssl_server_name":""}\n'
        b'{"time_iso8601":"2026-11-27T02:44:43+05:30","msec":"1795727683.100","remote_addr":"203.0.113.20",'
        b'"proxy_protocol_addr":"203.0.113.20","connection":"38","status":"200","session_time":"0.010",'
        b'"bytes_received":"5","bytes_sent":"5","ssl_protocol":"TLSv1.3","ssl_cipher":"TLS_AES_256_GCM_SHA384","ssl_server_name":""}\n'
    )
    reader = AccessLogReader("stream.log", Options())
    batch = reader.feed(lines, 1)
    fails = batch.tables["handshake_failures"].to_pylist()
    assert [(f["source"], f["client_addr"], f["conn_id"], f["reason"], f["attribution"], f["line"]) for f in fails] == [
        ("nginx_stream", "203.0.113.22", 36, "timeout", "stream_realip", 1)]
    assert batch.tables["tls_sessions"].column("client_addr").to_pylist() == ["203.0.113.20"]
    assert batch.lines == batch.parsed == 2


# ------------------------------------------------------------ several formats in one file
# Lines as nginx 1.22.1 writes them (reference/nginx-logs.md §6.4, §8): combined, the
# recommended format, and the lab's stream JSON (tests/lab/nginx.py STREAM_FORMAT keys).
C_LINE = '192.0.2.7 - - [26/Nov/2026:23:02:50 +0530] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'
R_LINE = ('192.0.2.8 - - [26/Nov/2026:23:02:51 +0530] "GET / HTTP/1.1" 200 5 "-" "curl" TLSv1.3 '
          'TLS_AES_256_GCM_SHA384 "-" . - 192.0.2.8 7 1 1795714371.860 0.000')
J_LINE = ('{"time_iso8601":"2026-11-26T23:02:52+05:30","msec":"1795714372.000","remote_addr":"192.0.2.9",'
          '"connection":"8","status":"200","ssl_protocol":"TLSv1.2","ssl_cipher":"ECDHE-RSA-AES128-GCM-SHA256"}')


def test_each_line_gets_the_first_format_that_parses_it() -> None:
    lines = [C_LINE] * 2 + [R_LINE] * 3 + ["", "not a log line", J_LINE, C_LINE]
    batch = read(("\n".join(lines) + "\n").encode(), COMBINED)
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (9, 7, 1, 1)
    assert batch.meta["format_runs"] == {(1, 2, "combined"), (3, 5, "recommended"), (8, 8, "json"),
                                         (9, 9, "combined")}
    assert rows(batch, "tls_sessions", "line", "client_addr", "ssl_protocol") == [
        (3, "192.0.2.8", "TLSv1.3"), (4, "192.0.2.8", "TLSv1.3"), (5, "192.0.2.8", "TLSv1.3"),
        (8, "192.0.2.9", "TLSv1.2")]
    assert rows(batch, "rejects", "line", "error") == [(7, "expected ' - ' at column 4 of the line")]
    assert batch.meta["utc_offsets"] == {"+0530": 7}


def test_format_runs_join_across_chunks() -> None:
    from logcorr.sources.accesslog import merge_runs

    data = ("\n".join([C_LINE] * 40 + [R_LINE] * 70 + [C_LINE] * 5) + "\n").encode()
    reader = AccessLogReader("f.log", Options(), COMBINED)
    whole = reader.feed(data, 1)
    parts = data.split(b"\n")
    split = Batch()
    for start in range(0, 115, 30):  # chunks of 30 lines
        split.add(reader.feed(b"\n".join(parts[start:start + 30]) + b"\n", start + 1))
    expected = [("combined", 1, 40), ("recommended", 41, 110), ("combined", 111, 115)]
    assert merge_runs(whole.meta["format_runs"]) == merge_runs(split.meta["format_runs"]) == expected
    assert whole.tables["tls_sessions"].column("line").to_pylist() == \
        split.tables["tls_sessions"].column("line").to_pylist() == list(range(41, 111))


def test_text_lines_in_a_json_log() -> None:
    batch = read(("\n".join([J_LINE, R_LINE, "garbage"]) + "\n").encode(), JSON_LINES)
    assert (batch.parsed, batch.rejected) == (2, 1)
    assert batch.meta["format_runs"] == {(1, 1, "json"), (2, 2, "recommended")}
    assert rows(batch, "rejects", "line", "error") == [(3, "not a JSON object")]


def test_sniff_takes_the_format_of_the_first_line_when_the_head_is_mixed() -> None:
    head = [C_LINE.encode()] * 3 + [R_LINE.encode()] * 10
    assert sniff(head, Options()) == COMBINED


M_LINE = C_LINE + ' "203.0.113.9"'  # main: combined + "$http_x_forwarded_for" (nginx-logs.md §6.4)
KINDS_OF_LINE = {"combined": C_LINE, "recommended": R_LINE, "main": M_LINE, "json": J_LINE,
                 "reject": "garbage, not a log line", "blank": ""}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(sorted(KINDS_OF_LINE)), min_size=1, max_size=150),
       st.integers(min_value=1, max_value=120))
@example(kinds=["blank", "combined"], size=2)  # found by this test: an empty CSV for the 2nd format
def test_every_line_gets_its_own_format_however_the_file_is_chunked(kinds: list[str], size: int) -> None:
    from logcorr.sources.accesslog import merge_runs

    data = [KINDS_OF_LINE[k].encode() for k in kinds]
    reader = AccessLogReader("f.log", Options(), COMBINED)
    got = Batch()
    for start in range(0, len(data), size):
        got.add(reader.feed(b"\n".join(data[start:start + size]) + b"\n", start + 1))
    assert got.lines == len(kinds) == got.parsed + got.skipped + got.rejected
    assert got.rejected == kinds.count("reject")
    per_line = {n: name for name, a, b in merge_runs(got.meta.get("format_runs", set()))
                for n in range(a, b + 1)}
    expected = {n: k for n, k in enumerate(kinds, 1) if k not in ("reject", "blank")}
    # a run spans the blank and rejected lines inside it; every parsed line has its format
    assert {n: per_line.get(n) for n in expected} == expected
