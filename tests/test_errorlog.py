"""nginx error log reader (``reference/nginx-logs.md``).

Every hand-typed line says where its shape comes from.  "§8" lines are the test-host lines
of nginx-logs.md §8 (nginx 1.22.1 + OpenSSL 3.0.19), copied byte for byte.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.reasons import ALERT_TABLE, REASON_TABLE
from logcorr.sources import Batch, Options
from logcorr.sources.errorlog import ErrorLogReader, sniff


def read(data: bytes | list[bytes], tz: Any = UTC, lb: tuple[str, ...] = ()) -> Batch:
    """Feed ``data`` (one chunk, or several chunks) and close; all batches added up."""
    reader = ErrorLogReader("error.log", Options(error_tz=tz, lb_networks=[ipaddress.ip_network(n) for n in lb]))
    assert reader.tz_source == "machine"  # Options without tz_source (the lead adds it)
    total = Batch()
    line = 1
    for chunk in [data] if isinstance(data, bytes) else data:
        batch = reader.feed(chunk, line)
        assert batch.lines == batch.parsed + batch.skipped + batch.rejected
        line += chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
        total.add(batch)
    total.add(reader.close())
    return total


def rows(batch: Batch, table: str = "handshake_failures") -> list[dict[str, Any]]:
    return batch.tables[table].to_pylist() if table in batch.tables else []


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SERVER = "127.0.0.1:8443"


def fail(ts: str, conn: int, reason: str, text: str, level: str = "info", client: str | None = "127.0.0.1",
         server: str | None = SERVER, alert: int | None = None, alert_name: str | None = None,
         action: str | None = "SSL handshaking", client_side: bool = True) -> dict[str, Any]:
    return {"ts": utc(ts), "conn_id": conn, "reason": reason, "reason_text": text, "level": level,
            "client_addr": client, "server_addr": server, "alert": alert, "alert_name": alert_name,
            "action": action, "client_side": client_side}


FAILURE_LINES: list[tuple[bytes, dict[str, Any]]] = [
    # §8, test host
    (b"2026/11/26 17:29:36 [info] 13035#13035: *4 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:36", 4, "unsupported_protocol", "error:0A000102:SSL routines::unsupported protocol")),
    (b"2026/11/26 17:29:37 [info] 13035#13035: *6 SSL_do_handshake() failed (SSL: error:0A000175:SSL routines::inappropriate fallback) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:37", 6, "inappropriate_fallback", "error:0A000175:SSL routines::inappropriate fallback")),
    (b"2026/11/26 17:29:38 [info] 13035#13035: *7 SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:38", 7, "client_rejected_cert", "error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48", alert=48, alert_name="unknown_ca")),
    (b"2026/11/26 17:29:54 [info] 13035#13035: *9 client closed connection while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:54", 9, "peer_closed", "client closed connection")),
    (b"2026/11/26 17:29:55 [info] 13035#13035: *10 recv() failed (104: Connection reset by peer) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:55", 10, "peer_closed", "recv() failed (104: Connection reset by peer)")),
    (b"2026/11/26 17:29:57 [info] 13035#13035: *12 peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:57", 12, "peer_closed", "peer closed connection in SSL handshake (104: Connection reset by peer)")),
    (b'2026/11/26 17:30:01 [info] 13035#13035: *13 client sent plain HTTP request to HTTPS port while reading client request headers, client: 127.0.0.1, server: _, request: "GET /plain HTTP/1.1", host: "x"',
     fail("2026-11-26 17:30:01", 13, "plain_http", "client sent plain HTTP request to HTTPS port", server="_", action="reading client request headers")),
    (b"2026/11/26 17:30:07 [info] 13035#13035: *14 client timed out (110: Connection timed out) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:30:07", 14, "timeout", "client timed out (110: Connection timed out)")),
    (b"2026/11/26 17:30:21 [crit] 13035#13035: *17 SSL_do_handshake() failed (SSL: error:0A0000C6:SSL routines::packet length too long) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:30:21", 17, "not_tls", "error:0A0000C6:SSL routines::packet length too long", level="crit")),
    (b"2026/11/26 17:30:53 [info] 16573#16573: *28 handshake rejected while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8445",
     fail("2026-11-26 17:30:53", 28, "other", "handshake rejected", server="127.0.0.1:8445")),
    (b'2026/11/26 17:31:00 [error] 16573#16573: *33 SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 127.0.0.1, server: , request: "GET / HTTP/1.1", upstream: "https://127.0.0.1:8080/", host: "127.0.0.1:8447"',
     fail("2026-11-26 17:31:00", 33, "not_tls", "error:0A00010B:SSL routines::wrong version number", level="error", server=None, action="SSL handshaking to upstream", client_side=False)),
    (b"2026/11/26 17:31:49 [crit] 16574#16574: *64 SSL_do_handshake() failed (SSL: error:0A000458:SSL routines::tlsv1 unrecognized name:SSL alert number 112) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:31:49", 64, "peer_alert", "error:0A000458:SSL routines::tlsv1 unrecognized name:SSL alert number 112", level="crit", alert=112, alert_name="unrecognized_name")),
    (b"2026/11/26 17:32:03 [info] 16574#16574: *72 SSL_do_handshake() failed (SSL: error:0A00009C:SSL routines::http request) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:9443",
     fail("2026-11-26 17:32:03", 72, "plain_http", "error:0A00009C:SSL routines::http request", server="127.0.0.1:9443")),
    (b"2026/11/26 17:32:23 [info] 16574#16574: *82 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.5, server: 127.0.0.1:8444",
     fail("2026-11-26 17:32:23", 82, "unsupported_protocol", "error:0A000102:SSL routines::unsupported protocol", client="127.0.0.5", server="127.0.0.1:8444")),
    # §8 *99, with real ClientHello bytes in place of the elided "<108 raw ClientHello bytes>" (1.23.2+: no LF)
    (b'2026/11/26 17:32:34 [error] 16573#16573: *99 broken header: "\x16\x03\x01\x00\xb7\x01\x00\x00\xb3\x03\x03\xc5=>\x94S0T" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:8444',
     fail("2026-11-26 17:32:34", 99, "other", 'broken header: "\x16\x03\x01\\x00\\xb7\x01\\x00\\x00\\xb3\x03\x03\\xc5=>\\x94S0T"', level="error", server="127.0.0.1:8444", action="reading PROXY protocol")),
    (b"2026/11/26 17:41:00 [info] 12643#12643: *108 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: ::1, server: [::1]:8449",
     fail("2026-11-26 17:41:00", 108, "unsupported_protocol", "error:0A000102:SSL routines::unsupported protocol", client="::1", server="[::1]:8449")),
    # §4.3 example (test host), the failure line after the PROXY debug line
    (b"2026/11/26 17:37:30 [info] 493#493: *103 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.5, server: 127.0.0.1:8444",
     fail("2026-11-26 17:37:30", 103, "unsupported_protocol", "error:0A000102:SSL routines::unsupported protocol", client="127.0.0.5", server="127.0.0.1:8444")),
    # §8 real-world: github.com/nginx/nginx/pull/1610, behind a PROXY LB, [notice], masked client
    (b"2026/07/23 08:02:23 [notice] 2008#2008: *8998 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 10.xxx.xxx.xxx, server: 0.0.0.0:443",
     fail("2026-07-23 08:02:23", 8998, "unsupported_protocol", "error:0A000102:SSL routines::unsupported protocol", level="notice", client="10.xxx.xxx.xxx", server="0.0.0.0:443")),
    # §8 real-world, prefix (elided there) built on the §1.1 layout: trimstray (OpenSSL 1.1.1)
    (b"2020/04/14 10:00:00 [info] 100#100: *1 SSL_do_handshake() failed (SSL: error:14209175:SSL routines:tls_early_post_process_client_hello:inappropriate fallback) while SSL handshaking, client: 192.0.2.1, server: 0.0.0.0:443",
     fail("2020-04-14 10:00:00", 1, "inappropriate_fallback", "error:14209175:SSL routines:tls_early_post_process_client_hello:inappropriate fallback", client="192.0.2.1", server="0.0.0.0:443")),
    # VirtuBox/ubuntu-nginx-web-server#11 (nginx < 1.15.2 + OpenSSL 1.1.x: crit)
    (b"2018/09/01 12:00:00 [crit] 100#100: *2 SSL_do_handshake() failed (SSL: error:14209102:SSL routines:tls_early_post_process_client_hello:unsupported protocol) while SSL handshaking, client: 54.208.42.136, server: 0.0.0.0:443",
     fail("2018-09-01 12:00:00", 2, "unsupported_protocol", "error:14209102:SSL routines:tls_early_post_process_client_hello:unsupported protocol", level="crit", client="54.208.42.136", server="0.0.0.0:443")),
    # digitalocean/nginxconfig.io#379 (nginx < 1.21.2 + OpenSSL 3.x)
    (b"2021/08/01 12:00:00 [crit] 100#100: *3 SSL_do_handshake() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) while SSL handshaking, client: 192.0.2.3, server: 0.0.0.0:443",
     fail("2021-08-01 12:00:00", 3, "peer_closed", "error:0A000126:SSL routines::unexpected eof while reading", level="crit", client="192.0.2.3", server="0.0.0.0:443")),
    # openssl/openssl#21347: two errors, another library's first
    (b"2023/07/01 12:00:00 [crit] 100#100: *4 SSL_do_handshake() failed (SSL: error:800640A8:lib(128):aes_gcm_tls_cipher:gcm tag verify failure error:1408F119:SSL routines:ssl3_get_record:decryption failed or bad record mac) while SSL handshaking, client: 192.0.2.4, server: 0.0.0.0:443",
     fail("2023-07-01 12:00:00", 4, "other", "error:800640A8:lib(128):aes_gcm_tls_cipher:gcm tag verify failure error:1408F119:SSL routines:ssl3_get_record:decryption failed or bad record mac", level="crit", client="192.0.2.4", server="0.0.0.0:443")),
    (b"2023/07/01 12:00:01 [crit] 100#100: *5 SSL_do_handshake() failed (SSL: error:141B306E:SSL routines:tls_collect_extensions:bad extension) while SSL handshaking, client: 192.0.2.4, server: 0.0.0.0:443",
     fail("2023-07-01 12:00:01", 5, "other", "error:141B306E:SSL routines:tls_collect_extensions:bad extension", level="crit", client="192.0.2.4", server="0.0.0.0:443")),
    # handshake-reasons.md §5 close_notify (test host) with errno: reason(1000) keeps its paren
    (b"2026/11/26 17:29:40 [info] 13035#13035: *20 SSL_do_handshake() failed (SSL: error:0A0003E8:SSL routines::reason(1000)) (104: Connection reset by peer) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:40", 20, "peer_closed", "error:0A0003E8:SSL routines::reason(1000)", alert=0, alert_name="close_notify")),
    # nginx-logs.md §2.3 test host: alert 255 at crit
    (b"2026/11/26 17:29:41 [crit] 13035#13035: *21 SSL_do_handshake() failed (SSL: error:0A0004E7:SSL routines::reason(1255)) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:41", 21, "peer_alert", "error:0A0004E7:SSL routines::reason(1255)", level="crit", alert=255)),
    # nginx-logs.md §1.5: SSL text cut at ~1023 bytes, no closing paren, then " while ..."
    (b"2026/11/26 17:29:42 [info] 13035#13035: *22 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol error:0A0000C1:SSL routines::no sha while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443",
     fail("2026-11-26 17:29:42", 22, "unsupported_protocol", "error:0A000102:SSL routines::unsupported protocol error:0A0000C1:SSL routines::no sha")),
    # nginx-logs.md §1.5: a line cut before "server:" (shape of the 2048-byte cut)
    (b"2026/11/26 17:29:43 [info] 13035#13035: *23 client timed out (110: Connection timed out) while SSL handshaking, client: 127.0.0.1",
     fail("2026-11-26 17:29:43", 23, "timeout", "client timed out (110: Connection timed out)", server=None)),
    # nginx-logs.md §3: PROXY read timeout (http and stream)
    (b"2026/11/26 17:32:40 [info] 16573#16573: *100 client timed out (110: Connection timed out) while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:8444",
     fail("2026-11-26 17:32:40", 100, "timeout", "client timed out (110: Connection timed out)", server="127.0.0.1:8444", action="reading PROXY protocol")),
    # nginx-logs.md §1.3 stream context with "udp client" (ngx_stream_log_error)
    (b"2026/11/26 17:33:00 [info] 16574#16574: *120 peer closed connection in SSL handshake while SSL handshaking, udp client: 192.0.2.9, server: 0.0.0.0:443",
     fail("2026-11-26 17:33:00", 120, "peer_closed", "peer closed connection in SSL handshake", client="192.0.2.9", server="0.0.0.0:443")),
    # nginx-logs.md §3 stream proxy to a TLS upstream: upstream + bytes fields
    (b'2026/11/26 17:33:01 [error] 16574#16574: *121 SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream, client: 127.0.0.1, server: 127.0.0.1:9445, upstream: "127.0.0.1:8080", bytes from/to client:0/0, bytes from/to upstream:0/0',
     fail("2026-11-26 17:33:01", 121, "not_tls", "error:0A00010B:SSL routines::wrong version number", level="error", server="127.0.0.1:9445", action="SSL handshaking to upstream", client_side=False)),
    # nginx-logs.md §1.5: raw bytes, NUL and non-UTF-8 in a quoted field; a '"' inside host
    (b'2026/11/26 17:33:03 [info] 13035#13035: *123 client sent plain HTTP request to HTTPS port while reading client request headers, client: 198.51.100.7, server: lab.test, request: "\x16\x03\x01\x00\xb7\x01\x00\x00\xb3\x03\x03\xc5 \xff", host: "a"b"',
     fail("2026-11-26 17:33:03", 123, "plain_http", "client sent plain HTTP request to HTTPS port", client="198.51.100.7", server="lab.test", action="reading client request headers")),
    # nginx-logs.md §3: nginx <= 1.14.x run-time misconfiguration, [error]
    (b'2018/01/01 00:00:00 [error] 100#100: *124 no "ssl_certificate" is defined in server listening on SSL port while SSL handshaking, client: 192.0.2.5, server: 0.0.0.0:443',
     fail("2018-01-01 00:00:00", 124, "other", 'no "ssl_certificate" is defined in server listening on SSL port', level="error", client="192.0.2.5", server="0.0.0.0:443")),
    # handshake-reasons.md §1 BoringSSL layout (NGX#5c480f917)
    (b"2026/11/26 17:33:04 [info] 100#100: *125 SSL_do_handshake() failed (SSL: error:1000009d:SSL routines:OPENSSL_internal:INAPPROPRIATE_FALLBACK) while SSL handshaking, client: 192.0.2.6, server: 0.0.0.0:443",
     fail("2026-11-26 17:33:04", 125, "inappropriate_fallback", "error:1000009d:SSL routines:OPENSSL_internal:INAPPROPRIATE_FALLBACK", client="192.0.2.6", server="0.0.0.0:443")),
    # nginx-logs.md §1.2: *N is printed %uA, 64-bit
    (b"2026/11/26 17:33:05 [info] 1#0: *9223372036854775807 client closed connection while SSL handshaking, client: 192.0.2.7, server: 0.0.0.0:443",
     fail("2026-11-26 17:33:05", 9223372036854775807, "peer_closed", "client closed connection", client="192.0.2.7", server="0.0.0.0:443")),
]

# nginx-logs.md §1.5, test host: a 2048-byte line (LF included) lost its closing quote and host:
_LONG = (b'2026/11/26 17:33:06 [info] 13035#13035: *126 client sent plain HTTP request to HTTPS port while reading client request headers, client: 192.0.2.8, server: lab.test, request: "GET /'
         + b"a" * 3000)[:2047]
FAILURE_LINES += [
    (_LONG, fail("2026-11-26 17:33:06", 126, "plain_http", "client sent plain HTTP request to HTTPS port",
                 client="192.0.2.8", server="lab.test", action="reading client request headers")),
    # §1.5 cut inside the context, before "client:" is complete
    (b"2026/11/26 17:33:07 [info] 13035#13035: *127 client closed connection while SSL handshaking, cli",
     fail("2026-11-26 17:33:07", 127, "peer_closed", "client closed connection", client=None, server=None)),
    # The messy lab (nginx 1.22.1): testssl.sh's first bytes, a bare TLS alert record, read as
    # HTTP by a proxy_protocol ssl listener: TLS-port noise, judged from the request alone.
    (b'2026/12/02 01:40:11 [info] 2291#2291: *57 client sent invalid method while reading client request line, '
     b'client: 127.0.0.5, server: lab.test, request: "\x15\x03\x01\x00\x02\x02P"',
     fail("2026-12-02 01:40:11", 57, "not_tls", "client sent invalid method", client="127.0.0.5",
          server="lab.test", action="reading client request line")),
]


@pytest.mark.parametrize(("line", "expected"), FAILURE_LINES)
def test_failure_line(line: bytes, expected: dict[str, Any]) -> None:
    batch = read(line + b"\n")
    (row,) = rows(batch)
    assert {k: row[k] for k in expected} == expected
    assert (row["source"], row["file"], row["line"], row["ts_precision_s"]) == ("nginx_error", "error.log", 1, 1.0)
    # evidence only: the line cannot tell a client from a load balancer (issue 10 item 1)
    assert (row["client_is_real"], row["attribution"], row["lb_addr"]) == (None, "error_log_client", None)
    assert (row["ts_wall"], row["tz_source"]) == (row["ts"], "machine")  # read in UTC here
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (1, 1, 0, 0)


SKIPPED_LINES = [
    # §8 row note / ingest tests: keepalive close, no TLS
    b"2026/11/26 17:29:52 [info] 13035#13035: *7 client 127.0.0.1 closed keepalive connection",
    # nginx/nginx#961: SSL_read() failed is after the handshake (handshake-reasons.md §2 rule 1)
    b"2026/11/26 17:29:53 [crit] 13035#13035: *8 SSL_read() failed (SSL: error:0A000119:SSL routines::decryption failed or bad record mac error:0A000139:SSL routines::record layer failure) while waiting for request, client: 127.0.0.1, server: 0.0.0.0:443",
    # handshake-reasons.md §3: request-level mTLS refusals are not handshake failures
    b'2026/11/26 17:29:54 [info] 13035#13035: *9 client sent no required SSL certificate while reading client request headers, client: 127.0.0.1, server: lab.test, request: "GET / HTTP/1.1", host: "lab.test"',
    # nginx-logs.md §1.3 stream proxy connect line (upstream side)
    b"2026/11/26 17:32:03 [info] 16574#16574: *72 proxy 127.0.0.1:41000 connected to 127.0.0.1:8080",
    # debug lines carry no context (level debug skips the log handler, ngx_log.c)
    b"2026/11/26 17:32:03 [debug] 16574#16574: *72 SSL_do_handshake: -1",
    # nginx-logs.md §3: upstream verify error after nginx's own handshake (was counted as a
    # client_side-false failure before issue 10 item 6: now skipped)
    b'2026/11/26 17:33:02 [error] 16574#16574: *122 upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: lab.test, request: "GET / HTTP/1.1", upstream: "https://127.0.0.1:8443/", host: "lab.test"',
    # startup line without *N
    b"2026/11/26 17:00:00 [notice] 1#1: using the \"epoll\" event method",
    b"   ",
]


@pytest.mark.parametrize("line", SKIPPED_LINES)
def test_skipped_line(line: bytes) -> None:
    batch = read(line + b"\n")
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (1, 0, 1, 0)
    assert rows(batch) == []


@pytest.mark.parametrize(("line", "error"), [
    (b"\x16\x03\x01\x00\xb7\x01\x00\x00garbage", "not an nginx error-log line"),
    (b"GET / HTTP/1.1", "not an nginx error-log line"),
    (b"2026/11/26 17:29:36 [info] oops", "starts like an nginx error-log line but does not parse"),
    (b"2026/11/26 17:29:36 [verbose] 1#1: *4 hello", "unknown level [verbose]"),
    (b"2026/13/45 17:29:36 [info] 1#1: *4 client closed connection while SSL handshaking, client: 1.2.3.4, server: 0.0.0.0:443",
     "bad time '2026/13/45 17:29:36': month must be in 1..12"),
])
def test_rejected_line(line: bytes, error: str) -> None:
    batch = read(line + b"\n")
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (1, 0, 0, 1)
    (rej,) = rows(batch, "rejects")
    assert (rej["file"], rej["line"], rej["kind"], rej["error"]) == ("error.log", 1, "nginx_error", error)
    assert rej["text"] == line.decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


@pytest.mark.parametrize(("line", "expected"), [
    # nginx-logs.md §4.3, test host (1.17.6+ spelling)
    (b"2026/11/26 17:37:30 [debug] 493#493: *103 PROXY protocol src: 127.0.0.9 46191, dst: 127.0.0.5 9445",
     (103, 1, "127.0.0.9", 46191, "127.0.0.5", 9445)),
    # §4.3 v2 spelling, 1.17.6+ (IPv6 printed without brackets)
    (b"2026/11/26 17:37:31 [debug] 493#493: *104 PROXY protocol v2 src: 2001:db8::7 50000, dst: 2001:db8::1 443",
     (104, 2, "2001:db8::7", 50000, "2001:db8::1", 443)),
    # §4.3 1.10 - 1.17.5 spellings
    (b"2019/01/01 00:00:00 [debug] 1#1: *5 PROXY protocol address: 198.51.100.7 50265",
     (5, 1, "198.51.100.7", 50265, None, None)),
    (b"2019/01/01 00:00:01 [debug] 1#1: *6 PROXY protocol v2 address: 198.51.100.8 50266",
     (6, 2, "198.51.100.8", 50266, None, None)),
])
def test_proxy_debug_line(line: bytes, expected: tuple[Any, ...]) -> None:
    batch = read(line + b"\n")
    (row,) = rows(batch, "proxy_headers")
    got = tuple(row[k] for k in ("conn_id", "version", "src_addr", "src_port", "dst_addr", "dst_port"))
    assert got == expected
    assert (row["source"], row["line"], batch.parsed) == ("nginx_error", 1, 1)


def test_crlf_line_endings() -> None:
    # a log copied through a Windows machine: CR before every LF
    batch = read(FAILURE_LINES[0][0] + b"\r\n" + FAILURE_LINES[12][0] + b"\r\n")
    assert [(r["conn_id"], r["server_addr"]) for r in rows(batch)] == [(4, SERVER), (72, "127.0.0.1:9443")]


def test_error_tz_is_converted_to_utc() -> None:
    # nginx-logs.md §1.1: TZ=Asia/Kolkata, error line 23:02:50 = $msec 1795714370 = 17:32:50Z
    line = b"2026/11/26 23:02:50 [info] 13035#13035: *4 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.7, server: 127.0.0.1:8443\n"
    (row,) = rows(read(line, tz=ZoneInfo("Asia/Kolkata")))
    assert row["ts"] == datetime(2026, 11, 26, 17, 32, 50, tzinfo=UTC)
    assert row["ts"].timestamp() == 1795714370


def test_dst_ambiguous_time_uses_fold_0() -> None:
    # 2026-11-01 01:30 happens twice in New York; fold=0 is the first (EDT, -04:00).
    line = b"2026/11/01 01:30:00 [info] 1#1: *1 client closed connection while SSL handshaking, client: 192.0.2.1, server: 0.0.0.0:443\n"
    (row,) = rows(read(line, tz=ZoneInfo("America/New_York")))
    assert row["ts"] == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_multiline_broken_header_across_feeds() -> None:
    # nginx-logs.md §1.5: before 1.23.2 the dump holds CR/LF (seen on 1.22.1, §8 *99)
    first = b'2026/11/26 17:32:34 [error] 16573#16573: *99 broken header: "\x16\x03\x01\x00\xb7\r\n'
    middle = b"\x01\x00\x00\xb3\r\n"
    last = b'\x03\x03" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:8444\n'
    after = b"2026/11/26 17:32:35 [info] 16573#16573: *100 client 127.0.0.1 closed keepalive connection\n"
    batch = read([first, middle + last, after])
    (row,) = rows(batch)
    assert (row["line"], row["conn_id"], row["reason"], row["client_addr"], row["server_addr"]) == (
        1, 99, "other", "127.0.0.1", "127.0.0.1:8444")
    assert row["reason_text"] == 'broken header: "\x16\x03\x01\\x00\\xb7\r\n\x01\\x00\\x00\\xb3\r\n\x03\x03"'
    assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (4, 3, 1, 0)


def test_broken_header_cut_and_flushed_at_close() -> None:
    # a file that ends inside a multi-line entry: close() flushes it
    batch = read(b'2026/11/26 17:32:34 [error] 1#1: *99 broken header: "\x16\x03\n\x01\x02')
    (row,) = rows(batch)
    assert (row["line"], row["client_addr"], row["action"], row["reason"]) == (1, None, "reading PROXY protocol", "other")
    assert (batch.lines, batch.parsed) == (2, 2)


def test_stream_realip_names_the_client() -> None:
    # nginx-logs.md §8 *94: stream + realip, the connect line shows the LB, the failure the client
    batch = read(b"2026/11/26 17:32:32 [info] 16574#16574: *94 client 127.0.0.5:48978 connected to 127.0.0.1:9444\n"
                 b"2026/11/26 17:32:32 [info] 16574#16574: *94 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.9, server: 127.0.0.1:9444\n"
                 # §8 *72: stream without realip (same address on both lines)
                 b"2026/11/26 17:32:03 [info] 16574#16574: *72 client [::1]:33878 connected to [::1]:9443\n"
                 b"2026/11/26 17:32:03 [info] 16574#16574: *72 SSL_do_handshake() failed (SSL: error:0A00009C:SSL routines::http request) while SSL handshaking, client: ::1, server: [::1]:9443\n",
                 )
    r94, r72 = rows(batch)
    assert (r94["client_addr"], r94["client_is_real"], r94["attribution"], r94["lb_addr"]) == (
        "127.0.0.9", True, "stream_realip", "127.0.0.5")
    assert (r72["client_addr"], r72["client_is_real"], r72["attribution"], r72["lb_addr"]) == (
        "::1", None, "error_log_client", None)
    assert batch.meta["lb_candidates"] == {"127.0.0.5"}
    assert batch.meta["stream"] == {"connections": 2, "realip": 1}
    assert (batch.lines, batch.parsed, batch.skipped) == (4, 2, 2)


def test_load_balancer_networks_are_not_applied() -> None:
    # nginx-logs.md §8 *82: http behind the PROXY LB shows the LB address.  The reader keeps
    # the evidence; the report decides what 127.0.0.5 is (issue 10 item 1, SPEC §4).  Before,
    # --lb-cidr made this row client_is_real false / attribution "lb" at ingest.
    line = b"2026/11/26 17:32:23 [info] 16574#16574: *82 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.5, server: 127.0.0.1:8444\n"
    (row,) = rows(read(line, lb=("127.0.0.4/30",)))
    assert (row["client_addr"], row["client_is_real"], row["attribution"], row["lb_addr"]) == (
        "127.0.0.5", None, "error_log_client", None)


def test_syslog_prefixed_lines() -> None:
    # src/core/ngx_syslog.c header "<PRI>Mon DD HH:MM:SS host tag: " before the usual line;
    # and the RFC 3339 stamp rsyslog writes to files
    body = b"2026/11/26 17:29:36 [info] 13035#13035: *4 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:8443"
    data = b"<190>Nov 26 17:29:36 web1 nginx: " + body + b"\n" + b"2026-11-26T17:29:36+00:00 web1 nginx: " + body + b"\n"
    assert sniff(data.split(b"\n")[:2])
    batch = read(data)
    assert [(r["conn_id"], r["reason"], r["line"]) for r in rows(batch)] == [
        (4, "unsupported_protocol", 1), (4, "unsupported_protocol", 2)]


def test_accounting_and_levels_over_a_mixed_file() -> None:
    lines = [FAILURE_LINES[i][0] for i in range(12)] + SKIPPED_LINES[:5] + [
        b"\x00\x01binary garbage",
        b"2026/11/26 17:37:30 [debug] 493#493: *103 PROXY protocol src: 127.0.0.9 46191, dst: 127.0.0.5 9445",
        b'2026/11/26 17:32:34 [error] 16573#16573: *99 broken header: "\x16\x03\x01\x00\xb7',
        b'\x01\x00" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:8444',
        b"not a continuation: garbage after a complete entry",
    ]
    data = b"\n".join(lines) + b"\n"
    whole = read(data)
    cut = data.index(b"\n", len(data) // 2) + 1
    split = read([data[:cut], data[cut:]])
    for batch in (whole, split):
        assert (batch.lines, batch.parsed, batch.skipped, batch.rejected) == (22, 15, 5, 2)
        assert rows(batch, "rejects")[0]["line"] == 18
        assert len(rows(batch)) == 13
        assert batch.meta["levels"] == {"info": 12, "crit": 3, "error": 2, "debug": 2}
        assert batch.warnings == []


def test_no_info_level_warns() -> None:
    batch = read(FAILURE_LINES[8][0] + b"\n" + SKIPPED_LINES[1] + b"\n")  # crit only
    assert batch.meta["levels"] == {"crit": 2}
    assert batch.warnings == ["no info-level lines: nginx is hiding handshake failures at this "
                              "error_log level (most are logged at info; set 'error_log <file> info')"]


def test_sniff() -> None:
    lines = [line for line, _ in FAILURE_LINES[:3]]
    assert sniff(lines)
    assert sniff([*lines, b"junk"])  # a few bad lines are tolerated
    assert sniff([b'2026/11/26 17:32:34 [error] 1#1: *99 broken header: "\x16', b"\x01\x02", b"\x03"])
    assert not sniff([b'127.0.0.1 - - [26/Nov/2026:17:29:28 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'])
    assert not sniff([lines[0], b"junk", b"more junk"])


# Property: a rendered failure line parses back to the same values (STYLE "Tests").
_ADDR = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
_SSL = st.sampled_from([(f"error:0A000000:SSL routines::{t}", c, None) for t, c, _ in REASON_TABLE if c != "skip"]
                       + [(f"error:0A000000:SSL routines::{row[2]}:SSL alert number {n}", row[1], n)
                          for n, row in ALERT_TABLE.items() if not row[2].startswith("reason(")])


@settings(max_examples=60, deadline=None)
@given(client=_ADDR, server=_ADDR, port=st.integers(1, 65535), conn=st.integers(1, 2**63 - 1),
       ssl=_SSL, level=st.sampled_from(["info", "crit", "error", "notice"]),
       when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_rendered_line_parses_back(client: str, server: str, port: int, conn: int,
                                   ssl: tuple[str, str, int | None], level: str, when: datetime) -> None:
    text, code, alert = ssl
    listen = f"[{server}]:{port}" if ":" in server else f"{server}:{port}"
    line = (f"{when:%Y/%m/%d %H:%M:%S} [{level}] 13035#13035: *{conn} SSL_do_handshake() failed "
            f"(SSL: {text}) while SSL handshaking, client: {client}, server: {listen}\n").encode()
    (row,) = rows(read(line))
    assert (row["ts"], row["client_addr"], row["server_addr"], row["conn_id"], row["level"]) == (
        when.replace(microsecond=0, tzinfo=UTC), client, listen, conn, level)
    assert (row["reason"], row["reason_text"], row["alert"]) == (code, text, alert)


def test_invalid_method_is_a_failure_only_for_a_tls_record() -> None:
    """handshake-reasons.md §3: an invalid method that is not a TLS record (an SSH banner)
    needs the listen configuration to be called TLS-port noise, so it is skipped."""
    ssh = (b'2026/11/26 17:29:51 [info] 13035#13035: *5 client sent invalid method while reading client request '
           b'line, client: 127.0.0.1, server: lab.test, request: "SSH-2.0-OpenSSH_9.2p1"\n')
    batch = read(ssh)
    assert (batch.lines, batch.parsed, batch.skipped) == (1, 0, 1)
    assert rows(batch) == []
