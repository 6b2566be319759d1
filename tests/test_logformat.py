"""The log_format compiler: one table of (format, line, expected fields)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from logcorr.errors import FormatSyntaxError
from logcorr.sources import logformat as lf

PIPE_HTTP = ("$remote_addr|$realip_remote_addr|$proxy_protocol_addr|$proxy_protocol_port|$connection|"
             "$connection_requests|$status|$ssl_protocol|$ssl_cipher|$ssl_curve|$ssl_session_reused|"
             "$ssl_server_name|$ssl_alpn_protocol|$ssl_early_data|$msec|$time_iso8601|$time_local|"
             '$request_time|"$request"')
PIPE_STREAM = ("$remote_addr|$proxy_protocol_addr|$connection|$status|$session_time|$bytes_received|"
               "$bytes_sent|$ssl_protocol|$ssl_cipher|$ssl_server_name|$msec|$time_iso8601")
JSON_FMT = ('{"time":"$time_iso8601","client":"$remote_addr","ssl_protocol":"$ssl_protocol",'
            '"request":"$request","status":$status}')


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


CASES = [
    # combined: nginx-logs.md §6.4 format; line shape from DOC ngx_http_log_module.xml's example
    (lf.COMBINED,
     '127.0.0.1 - - [26/Nov/2026:17:29:28 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"',
     {"remote_addr": "127.0.0.1", "remote_user": None, "time_local": t(2026, 11, 26, 17, 29, 28),
      "request": "GET / HTTP/1.1", "status": 200, "body_bytes_sent": 612, "http_referer": None,
      "http_user_agent": "curl/8.5.0"}),
    # main: §6.4 (conf/nginx.conf shipped with nginx), +0530 as on the test host (§1.1)
    (lf.MAIN,
     '10.0.1.23 - bob [26/Nov/2026:23:02:50 +0530] "GET /a?b=c HTTP/2.0" 404 0 "https://x.example/" "Mozilla/5.0 (X11)" "203.0.113.9, 10.0.0.1"',
     {"remote_user": "bob", "time_local": t(2026, 11, 26, 17, 32, 50), "status": 404,
      "http_referer": "https://x.example/", "http_user_agent": "Mozilla/5.0 (X11)",
      "http_x_forwarded_for": "203.0.113.9, 10.0.0.1"}),
    # recommended: logformat.RECOMMENDED; values from the §8 http(pp) line (127.0.0.9 via LB 127.0.0.5)
    (lf.RECOMMENDED,
     '127.0.0.9 - - [26/Nov/2026:17:32:22 +0000] "GET /vialb HTTP/1.1" 200 5 "-" "curl/7.88.1" TLSv1.3 TLS_AES_256_GCM_SHA384 "sni.example" r 127.0.0.9 127.0.0.5 79 1 1795714342.877 0.001',
     {"ssl_protocol": "TLSv1.3", "ssl_cipher": "TLS_AES_256_GCM_SHA384", "ssl_server_name": "sni.example",
      "ssl_session_reused": True, "proxy_protocol_addr": "127.0.0.9", "realip_remote_addr": "127.0.0.5",
      "connection": 79, "connection_requests": 1, "request_time": 0.001,
      "msec": datetime(2026, 11, 26, 17, 32, 22, 877000, tzinfo=UTC)}),
    # §8 test-host http format, first line verbatim
    (PIPE_HTTP,
     '127.0.0.1|127.0.0.1|-|-|1|1|200|TLSv1.3|TLS_AES_256_GCM_SHA384|X25519|.|-|http/1.1|-|1795714168.860|2026-11-26T17:29:28+00:00|26/Nov/2026:17:29:28 +0000|0.000|"GET / HTTP/1.1"',
     {"proxy_protocol_addr": None, "proxy_protocol_port": None, "connection": 1, "ssl_curve": "X25519",
      "ssl_session_reused": False, "ssl_server_name": None, "ssl_alpn_protocol": "http/1.1",
      "msec": datetime(2026, 11, 26, 17, 29, 28, 860000, tzinfo=UTC),
      "time_iso8601": t(2026, 11, 26, 17, 29, 28), "request_time": 0.0, "request": "GET / HTTP/1.1"}),
    # §8 row 35: a raw ClientHello as the request line, \xHH-escaped by nginx (§6.5)
    (PIPE_HTTP,
     r'127.0.0.1|127.0.0.1|-|-|35|1|400|-|-|-|-|-|-|-|1795714201.198|2026-11-26T17:30:01+00:00|26/Nov/2026:17:30:01 +0000|0.000|"\x16\x03\x01\x00\xB7\x01\x00\x00\xB3\x03\x03\xC5=>\x94S0T"',
     {"status": 400, "ssl_protocol": None, "ssl_cipher": None,
      "request": "\x16\x03\x01\x00\\xb7\x01\x00\x00\\xb3\x03\x03\\xc5=>\\x94S0T"}),
    # §6.5: '"' inside a value is written \x22; UTF-8 bytes \xC3\xA9 decode to é
    (lf.COMBINED,
     r'127.0.0.1 - - [26/Nov/2026:17:29:28 +0000] "GET /caf\xC3\xA9?q=\x22x\x22 HTTP/1.1" 200 1 "-" "a\x5Cb"',
     {"request": 'GET /café?q="x" HTTP/1.1', "http_user_agent": "a\\b"}),
    # §8 stream format, row 71 (failed handshake: cipher (NONE))
    (PIPE_STREAM,
     "127.0.0.1|-|71|500|0.000|0|0|TLSv1.1|(NONE)|-|1795714323.081|2026-11-26T17:32:03+00:00",
     {"connection": 71, "status": 500, "session_time": 0.0, "ssl_cipher": "(NONE)",
      "time_iso8601": t(2026, 11, 26, 17, 32, 3)}),
    # ${var} syntax (DOC ngx_http_log_module.xml: variables as in ngx_http_script) and -0800
    ("${remote_addr}:${status}:${time_iso8601}",
     "192.0.2.1:204:2026-11-26T09:29:28-08:00",
     {"remote_addr": "192.0.2.1", "status": 204, "time_iso8601": t(2026, 11, 26, 17, 29, 28)}),
    # an unknown variable is a string column; upstream_* lists have ", " (DOC ngx_http_upstream_module.xml)
    ("$remote_addr $request_id [$upstream_addr] $foo_bar",
     "192.0.2.1 5f0e1a [10.0.0.1:80, 10.0.0.2:80] x y",
     {"request_id": "5f0e1a", "upstream_addr": "10.0.0.1:80, 10.0.0.2:80", "foo_bar": "x y"}),
]


@pytest.mark.parametrize(("fmt", "line", "expected"), CASES)
def test_parse(fmt: str, line: str, expected: dict[str, object]) -> None:
    got = lf.compile_format(fmt, "json" if fmt.startswith("{") else "default").parse(line)
    assert got is not None
    assert {k: got[k] for k in expected} == expected


def test_json_escape_mode() -> None:
    # escape=json (§6.5): empty string = not found, JSON escapes decoded
    fmt = lf.compile_format('$remote_addr "$http_user_agent" "$ssl_protocol"', "json")
    assert fmt.parse('192.0.2.1 "a \\"q\\" \\u00e9" ""') == {
        "remote_addr": "192.0.2.1", "http_user_agent": 'a "q" é', "ssl_protocol": None}


def test_json_template_keys() -> None:
    assert lf.compile_format(JSON_FMT, "json").json_keys == {
        "time": "time_iso8601", "client": "remote_addr", "ssl_protocol": "ssl_protocol",
        "request": "request", "status": "status"}


def test_not_fitting_line_and_diagnosis() -> None:
    fmt = lf.compile_format(lf.RECOMMENDED)
    line = '1.2.3.4 - - [26/Nov/2026:17:29:28 +0000] "GET / HTTP/1.1" abc 5 "-" "-"'
    assert fmt.parse(line) is None
    assert fmt.diagnose(line) == "expected $status at column 59 of the line"


def test_csv_plan_of_recommended() -> None:
    plan = lf.compile_format(lf.RECOMMENDED).csv
    assert plan is not None
    assert plan.ncols == 20
    assert plan.literals == [(1, "-")]
    assert next(f for f in plan.fields if f.var == "time_local").cols == (3, 4)
    assert lf.compile_format(PIPE_HTTP).csv is None  # '|' separated: regex tier


@pytest.mark.parametrize(("fmt", "pos", "message"), [
    ("$remote_addr ${unclosed", 13, "'${' without a closing '}'"),
    ("$remote_addr $", 13, "'$' without a variable name"),
    ("$remote_addr $-x", 13, "'$' without a variable name"),
    ("$status$body_bytes_sent", 7, "two variables with nothing between them cannot be told apart"),
    ("${status}${msec}", 9, "two variables with nothing between them cannot be told apart"),
    ("$a ${b c}", 5, "invalid variable name inside ${...}"),
    ("   ", 0, "empty log_format"),
    ("just text", 0, "a log_format without variables logs nothing we can use"),
])
def test_bad_formats(fmt: str, pos: int, message: str) -> None:
    with pytest.raises(FormatSyntaxError) as info:
        lf.compile_format(fmt)
    assert info.value.pos == pos
    assert info.value.reason == message
    assert str(info.value).endswith("\n    " + fmt + "\n    " + " " * pos + "^")


def test_named_formats() -> None:
    assert lf.named_format("combined") == lf.COMBINED
    assert lf.named_format("main").endswith(' "$http_x_forwarded_for"')
    with pytest.raises(KeyError):
        lf.named_format("nope")
