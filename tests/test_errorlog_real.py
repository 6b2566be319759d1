"""nginx error-log lines published by others (issue 10 item 6), and hostile input (issue 12).

Each entry is copied from the page named beside it; where the page elided the line's
timestamp prefix (``[alert] 869#869: …``), the prefix was rebuilt on the layout of
``reference/nginx-logs.md`` §1.1 and the note says so.  Lines that a page wrapped for
display are joined back (one entry = one physical line unless the entry itself holds LFs).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from logcorr import reasons
from logcorr.sources import Batch, Options
from logcorr.sources.errorlog import MAX_PHYSICAL, ErrorLogReader, failure_message


def read(data: bytes) -> Batch:
    reader = ErrorLogReader("error.log", Options(error_tz=UTC))
    total = reader.feed(data, 1)
    assert total.lines == total.parsed + total.skipped + total.rejected
    total.add(reader.close())
    return total


def rows(batch: Batch, table: str = "handshake_failures") -> list[dict[str, Any]]:
    return batch.tables[table].to_pylist() if table in batch.tables else []


# (source, entry lines, expected failure fields or None for "skipped")
NOT_FAILURES: list[tuple[str, bytes]] = [
    ("https://github.com/openssl/openssl/issues/1760 (Tengine 2.1.2 = nginx 1.6.2, OpenSSL 1.0.2j)",
     b"2016/10/21 17:57:22 [crit] 8005#0: *837695 SSL_shutdown() failed (SSL: error:140E0197:SSL routines:SSL_shutdown:shutdown while in init) while SSL handshaking, client: 115.193.226.146, server: 0.0.0.0:443"),
    ("https://github.com/deis/router/issues/171 (nginx 1.9.6, OpenSSL 1.0.2h)",
     b"2016/04/27 19:15:26 [crit] 30#0: *1121 SSL_shutdown() failed (SSL: error:140E0197:SSL routines:SSL_shutdown:shutdown while in init) while SSL handshaking, client: 10.164.2.1, server: 0.0.0.0:6443"),
    ("https://github.com/openssl/openssl/issues/12892 (nginx 1.19.2, OpenSSL 1.1.1g)",
     b'2020/09/16 08:38:57 [crit] 19544#19544: *37300 SSL_write() failed while sending response to client, client: 185.176.179.152, server: hostname, request: "GET /apps/files.app.js?v=525367eb-74 HTTP/1.1", host: "hostname"'),
    ("https://github.com/openssl/openssl/issues/12892",
     b"2020/09/16 09:18:28 [crit] 19544#19544: *41514 SSL_shutdown() failed (SSL: error:1409F07F:SSL routines:ssl3_write_pending:bad write retry) while closing request, client: 2a01:e0a:37a:a220:5d37:7dcc:4ecc:7581, server: [::]:443"),
    ("https://github.com/nginx/nginx/issues/961 (nginx 1.28.0, OpenSSL 3.6.0), text as in nginx-logs.md §8",
     b"2025/11/02 12:00:00 [crit] 1#1: *8 SSL_read() failed (SSL: error:0A000119:SSL routines::decryption failed or bad record mac error:0A000139:SSL routines::record layer failure) while waiting for request, client: 192.0.2.1, server: 0.0.0.0:443"),
    ("https://github.com/blindsidenetworks/scalelite/issues/397 (prefix rebuilt, §1.1)",
     b'2021/01/11 10:00:00 [alert] 869#869: *4201234 could not allocate new session in SSL session shared cache "ScaleliteSSL" while SSL handshaking, client: xxx.xxx.xxx.xxx, server: 0.0.0.0:443'),
    ("https://mailman.nginx.org/pipermail/nginx/2014-March/042628.html (subject line; prefix rebuilt, §1.1)",
     b"2014/03/09 11:23:23 [alert] 1#1: *1 could not add new SSL session to the session cache while SSL handshaking, client: 192.0.2.1, server: 0.0.0.0:443"),
    ("https://github.com/sftcd/openssl/issues/20 (nginx + OpenSSL ECH branch)",
     b"2022/09/25 08:27:40 [error] 10#10: *63 Error getting ECH status while SSL handshaking, client: 172.30.0.1, server: 0.0.0.0:443"),
    ("reasons.NOT_FAILURES: ECH status notice of ECH-enabled builds (text unverified, shape of sftcd/openssl#20)",
     b"2025/12/16 17:58:18 [notice] 1#1: *2 ECH success outer_sni: public.example inner_sni: private.example while SSL handshaking, client: 192.0.2.2, server: 0.0.0.0:443"),
    ("handshake-reasons.md §3 / nginx-logs.md §3: mTLS refusal after a complete handshake",
     b'2026/11/26 17:29:54 [info] 13035#13035: *9 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: lab.test, request: "GET / HTTP/1.1", host: "lab.test"'),
    ("handshake-reasons.md §3 / nginx-logs.md §3: client certificate refused (495)",
     b'2026/11/26 17:29:55 [info] 13035#13035: *10 client SSL certificate verify error: (18:self-signed certificate) while reading client request headers, client: 127.0.0.1, server: lab.test, request: "GET / HTTP/1.1", host: "lab.test"'),
    ("nginx-logs.md §3: upstream name check (nginx is the client, its handshake completed)",
     b'2026/11/26 17:33:02 [error] 16574#16574: *122 upstream SSL certificate does not match "backend.test" while SSL handshaking to upstream, client: 127.0.0.1, server: lab.test, request: "GET / HTTP/1.1", upstream: "https://127.0.0.1:8443/", host: "lab.test"'),
    ("https://github.com/3scale/APIcast/issues/36 (OpenResty): Lua's verify error is about a cosocket",
     b'2016/09/06 23:32:53 [error] 23#23: *1 lua ssl certificate verify error: (20: unable to get local issuer certificate), client: 172.17.0.4, server: _, request: "GET / HTTP/1.1", host: "testing.com"'),
]


@pytest.mark.parametrize(("source", "line"), NOT_FAILURES, ids=[s.split(" ")[0] for s, _ in NOT_FAILURES])
def test_published_non_failure_is_skipped(source: str, line: bytes) -> None:
    batch = read(line + b"\n")
    assert rows(batch) == [], source
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (1, 0, 1, 0)


FAILURES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("https://github.com/sftcd/openssl/issues/20: the failure beside the ECH notice",
     b"2022/09/25 08:27:40 [crit] 10#10: *65 SSL_do_handshake() failed (SSL: error:0A00006E:SSL routines::bad extension error:0A0C0103:SSL routines::internal error) while SSL handshaking, client: 172.30.0.1, server: 0.0.0.0:443",
     {"conn_id": 65, "reason": "other", "client_side": True, "client_addr": "172.30.0.1", "level": "crit"}),
    ("https://github.com/nginx/nginx/pull/1038 (ech_required at info, nginx 1.29.5; PR text wrapped)",
     b"2025/12/16 17:58:18 [info] 384634#0: *1 SSL_do_handshake() failed (SSL: error:0A000461:SSL routines::reason(1121):SSL alert number 121) while SSL handshaking, client: 127.0.0.1, server: 0.0.0.0:8443",
     {"conn_id": 1, "reason": "peer_alert", "alert": 121, "alert_name": "ech_required", "client_side": True}),
    ("https://github.com/liseen/lua-resty-http/issues/38: nginx as a TLS client in Lua, no action (prefix rebuilt, §1.1)",
     b'2016/03/08 10:00:00 [error] 4733#0: *1 peer closed connection in SSL handshake, client: 172.16.48.28, server: localhost, request: "POST /lua/index HTTP/1.1", host: "172.16.48.31"',
     {"conn_id": 1, "reason": "peer_closed", "client_side": False, "action": None, "server_addr": "localhost"}),
    ("brief item 1 / nginx-logs.md §1.1: a Lua cosocket's handshake (no 'while SSL handshaking'), context: ngx.timer",
     b"2026/11/26 17:40:00 [error] 13035#13035: *30 SSL_do_handshake() failed (SSL: error:0A000086:SSL routines::certificate verify failed), context: ngx.timer",
     {"conn_id": 30, "reason": "other", "client_side": False, "action": None, "client_addr": None}),
    ("https://github.com/engintron/engintron/issues/952 (nginx 1.14.0): upstream handshake",
     b'2018/11/05 09:55:52 [error] 4235#4235: *40966 peer closed connection in SSL handshake while SSL handshaking to upstream, client: 191.95.x.x, server: example.com, request: "GET /templates/protostar/js/template.js?3d04b2c49ae097c8cfe41572ab3129fd HTTP/1.1", upstream: "https://69.x.x.x:8443/templates/protostar/js/template.js?3d04b2c49ae097c8cfe41572ab3129fd", host: "example.com", referrer: "https://example.com/?gclid=EAIaIQobChMI7pPF5bO93gIVTudkCh3wngriEAEYASAAEgL4q_D_BwE"',
     {"conn_id": 40966, "reason": "peer_closed", "client_side": False, "action": "SSL handshaking to upstream"}),
    ("https://github.com/alibaba/tengine/issues/780 (OpenSSL 1.0.2 spelling; context rebuilt, §1.3)",
     b"2016/08/09 10:00:00 [crit] 619#0: *39975386 SSL_do_handshake() failed (SSL: error:140A1175:SSL routines:SSL_BYTES_TO_CIPHER_LIST:inappropriate fallback) while SSL handshaking, client: 192.0.2.9, server: 0.0.0.0:443",
     {"conn_id": 39975386, "reason": "inappropriate_fallback", "client_side": True}),
]


@pytest.mark.parametrize(("source", "line", "expected"), FAILURES, ids=[s.split(" ")[0] for s, _, _ in FAILURES])
def test_published_failure(source: str, line: bytes, expected: dict[str, Any]) -> None:
    batch = read(line + b"\n")
    (row,) = rows(batch)
    assert {k: row[k] for k in expected} == expected, source
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (1, 1, 0, 0)


# Multi-line entries: every physical line is counted with its entry, none rejected.
MULTI_LINE: list[tuple[str, bytes]] = [
    ("https://github.com/3scale/APIcast/issues/36 (OpenResty, Lua stack traceback)",
     b"2016/09/06 23:32:53 [error] 23#23: *1 lua entry thread aborted: runtime error: /opt/app/src/configuration.lua:186: missing configuration\n"
     b"stack traceback:\n"
     b"coroutine 0:\n"
     b"\t[C]: in function 'error'\n"
     b"\t/opt/app/src/configuration.lua:186: in function 'boot'\n"
     b'\taccess_by_lua(apicast.conf:52):5: in function <access_by_lua(apicast.conf:52):1>, client: 172.17.0.4, server: _, request: "GET / HTTP/1.1", host: "testing.com"\n'),
    ("https://github.com/upyun/slardar/issues/19 (lua-nginx-module 0.10.6rc1; the page shows the TAB as spaces)",
     b"2017/07/12 13:02:59 [error] 104940#0: *28 lua entry thread aborted: runtime error: content_by_lua(nginx.conf:137):10: attempt to call field 'sslhandshake' (a nil value)\n"
     b"stack traceback:\n"
     b"coroutine 0:\n"
     b'        content_by_lua(nginx.conf:137): in function <content_by_lua(nginx.conf:137):1>, client: 127.0.0.1, server: www.test.com, request: "GET /tcp HTTP/1.1", host: "localhost:9001"\n'),
    ("https://github.com/zendframework/ZendSkeletonApplication/pull/193 (FastCGI PHP message: continuation)",
     b'2013/05/30 22:07:34 [error] 19162#0: *490 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Maximum execution time of 30 seconds exceeded in /home/chroot/home/www/**_/module/Application/view/error/index.phtml on line 10\n'
     b'PHP message: PHP Fatal error:  Allowed memory size of 536870912 bytes exhausted (tried to allocate 473939968 bytes) in Unknown on line 0" while reading response header from upstream, client: **_.49.77.206, server: ***_**.com, request: "GET / HTTP/1.1", upstream: "fastcgi://unix:/dev/shm/php-cgi.sock:", host: "*****_.**_.***_.com"\n'),
    ("https://github.com/mainwp/mainwp/issues/33 (FastCGI, two PHP warnings)",
     b'2016/02/17 13:42:11 [error] 51578#0: *1587 FastCGI sent in stderr: "PHP message: PHP Warning:  array_splice() expects parameter 1 to be array, string given in /srv/http/mydomain/wp-content/plugins/mainwp-child/class/class-mainwp-child-themes-check.php on line 168\n'
     b'PHP message: PHP Warning:  Invalid argument supplied for foreach() in /srv/http/mydomain/wp-content/plugins/mainwp-child/class/class-mainwp-child-themes-check.php on line 170" while reading response header from upstream, client: xxx.xxx.xxx.xx, server: mydomain.com, request: "POST /wp-cron.php?doing_wp_cron=1455734531.184815883245236364746093750 HTTP/1.1", upstream: "fastcgi://unix:/var/run/php-fcgi-mydomain-php-fcgi-0.sock:", host: "mydomain.com"\n'),
    ("https://github.com/globalmac/KnuckleLog/issues/4 (PHP 8.1 stack trace inside the FastCGI text)",
     b'2024/06/18 23:35:21 [error] 31834#31834: *1240 FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught Exception: Error parsing line, check offset and limits in KnuckleLog.php:108\n'
     b"Stack trace:\n"
     b"#0 KnuckleLog.php(144): KnuckleLog->parse()\n"
     b"#1 index.php(line_number): KnuckleLog->worker()\n"
     b"#2 {main}\n"
     b'  thrown in KnuckleLog.php on line 108" while reading response header from upstream, client: my_ip, server: xxx.com, request: "GET /nLOGfinder/ HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.1-fpm.sock:", host: "g>\n'),
    ("ngx_http_proxy_module debug dump 'http proxy header:' (src/http/modules/ngx_http_proxy_module.c, "
     "ngx_log_debug2 of the header buffer; its CRLFs end up as line breaks)",
     b"2026/11/26 17:45:00 [debug] 13035#13035: *40 http proxy header:\n"
     b'"GET / HTTP/1.0\r\n'
     b"Host: backend\r\n"
     b"Connection: close\r\n"
     b"\r\n"
     b'"\n'),
]


@pytest.mark.parametrize(("source", "entry"), MULTI_LINE, ids=[s.split(" ")[0] for s, _ in MULTI_LINE])
def test_continuation_lines_count_with_their_entry(source: str, entry: bytes) -> None:
    after = b"2026/11/26 17:50:00 [info] 1#1: *99 client closed connection while SSL handshaking, client: 192.0.2.50, server: 0.0.0.0:443\n"
    batch = read(entry + after)
    n = entry.count(b"\n")
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (n + 1, 1, n, 0), source
    assert [r["line"] for r in rows(batch)] == [n + 1]
    assert batch.meta["levels"] == {entry[21:entry.index(b"]")].decode(): 1, "info": 1}


def test_garbage_after_a_complete_entry_is_rejected() -> None:
    # the context ends an entry (§1.3): text after it is not a continuation
    batch = read(MULTI_LINE[0][1] + b"stack traceback:\n")
    assert (batch.rejected, rows(batch, "rejects")[0]["line"]) == (1, 7)


def test_reopening_logs_alone_does_not_warn() -> None:
    # a file logrotate just rotated: nginx's USR1 notices (ngx_reopen_files(): master and
    # workers; ngx_process_cycle.c), nothing else
    data = (b"2026/11/27 00:00:01 [notice] 1200#1200: signal 10 (SIGUSR1) received from 5200, reopening logs\n"
            b"2026/11/27 00:00:01 [notice] 1201#1201: reopening logs\n"
            b"2026/11/27 00:00:01 [notice] 1202#1202: reopening logs\n")
    batch = read(data)
    assert (batch.skipped, batch.warnings) == (3, [])
    # with a real notice-level line beside them the warning is right again
    batch = read(data + b"2026/11/27 00:00:02 [error] 1201#1201: *1 open() \"/x\" failed (2: No such file or directory), client: 192.0.2.1, server: _\n")
    assert len(batch.warnings) == 1


# Issue 12 items 6 and 7: per-line failures are rejects, the rest of the file is kept, and no
# regex backtracks (each case is built to defeat a backtracking one; the test asserts the
# result, and would hang rather than pass if a quadratic regex came back).
GOOD = b"2026/11/26 17:29:36 [info] 1#1: *4 client closed connection while SSL handshaking, client: 192.0.2.1, server: 0.0.0.0:443"
HOSTILE: list[tuple[str, bytes, str | None]] = [
    ("huge *N", b"2026/11/26 17:29:36 [info] 1#1: *" + b"9" * 5000 + b" client closed connection while SSL handshaking, client: 1.2.3.4, server: x", "connection number *N out of range"),
    ("month 13", b"2026/13/01 17:29:36 [info] 1#1: *4 client closed connection while SSL handshaking, client: 1.2.3.4, server: x", "bad time '2026/13/01 17:29:36': month must be in 1..12"),
    ("Feb 30", b"2026/02/30 17:29:36 [info] 1#1: *4 client closed connection while SSL handshaking, client: 1.2.3.4, server: x", "bad time '2026/02/30 17:29:36': day is out of range for month"),
    ("1 MB line", GOOD[:-12] + b" " * (1 << 20) + b"0.0.0.0:443", f"line of {len(GOOD) - 1 + (1 << 20)} bytes, longer than nginx writes (2048)"),
    ("NULs", b"\x00" * 100, "not an nginx error-log line"),
    ("huge PROXY port", b"2026/11/26 17:37:30 [debug] 493#493: *103 PROXY protocol src: 127.0.0.9 " + b"9" * 5000 + b", dst: 127.0.0.5 9445", None),
]


@pytest.mark.parametrize(("name", "line", "error"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_line_is_one_reject(name: str, line: bytes, error: str | None) -> None:
    batch = read(GOOD + b"\n" + line + b"\n" + GOOD + b"\n")
    assert [r["line"] for r in rows(batch)] == [1, 3]
    if error is None:
        assert (batch.skipped, batch.rejected) == (1, 0)
    else:
        (rej,) = rows(batch, "rejects")
        assert (rej["line"], rej["error"]) == (2, error)


def test_invalid_utf8_is_kept_as_escapes() -> None:
    # nginx-logs.md §1.5: the error log copies raw bytes
    line = b"2026/11/26 17:29:36 [info] 1#1: *4 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported \xff\xfe protocol) while SSL handshaking, client: 192.0.2.\xc3, server: 0.0.0.0:443\n"
    (row,) = rows(read(line))
    assert (row["client_addr"], row["reason_text"]) == ("192.0.2.\\xc3", "error:0A000102:SSL routines::unsupported \\xff\\xfe protocol")


@pytest.mark.parametrize("text", [
    " " * (1 << 20) + "x",  # _SPLIT: a run of blanks not followed by "error:"
    "error:0A000102:SSL routines::" + " while x" * 150_000,  # a " while " per 8 bytes
    " (1: " * 200_000,  # errno groups that never close
    "(SSL: " + "error:" * 170_000,
])
def test_reason_regexes_are_linear(text: str) -> None:
    assert reasons.classify_ssl(text).reason == "other"
    assert reasons.classify_nginx(text).reason in ("other", "peer_closed")
    assert failure_message(("SSL_do_handshake() failed " + text).encode()) is not None
    assert MAX_PHYSICAL == 8192


def test_wall_clock_and_tz_source_are_kept() -> None:
    # nginx-logs.md §1.1 (TZ=Asia/Kolkata: 23:02:50 local = 17:32:50Z) and §4.3 (debug line);
    # 2026-03-08 02:30 does not exist in New York (DST gap): ts_wall keeps the digits, ts takes
    # the offset from before the gap (fold=0), as the module docstring says.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    data = (b"2026/11/26 23:02:50 [info] 1#1: *4 client closed connection while SSL handshaking, client: 192.0.2.1, server: 0.0.0.0:443\n"
            b"2026/11/26 23:02:50 [debug] 1#1: *5 PROXY protocol src: 127.0.0.9 46191, dst: 127.0.0.5 9445\n")
    reader = ErrorLogReader("error.log", Options(error_tz=ZoneInfo("Asia/Kolkata"), tz_source="given"))
    batch = reader.feed(data, 1)
    for name in ("handshake_failures", "proxy_headers"):
        (row,) = rows(batch, name)
        assert (row["ts"], row["ts_wall"], row["tz_source"]) == (
            datetime(2026, 11, 26, 17, 32, 50, tzinfo=UTC), datetime(2026, 11, 26, 23, 2, 50, tzinfo=UTC), "given")
    gap = b"2026/03/08 02:30:00 [info] 1#1: *6 client closed connection while SSL handshaking, client: 192.0.2.1, server: 0.0.0.0:443\n"
    reader = ErrorLogReader("error.log", Options(error_tz=ZoneInfo("America/New_York")))
    (row,) = rows(reader.feed(gap, 1))
    assert (row["ts"], row["ts_wall"], row["tz_source"]) == (
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC), datetime(2026, 3, 8, 2, 30, tzinfo=UTC), "machine")
