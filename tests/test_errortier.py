"""The vectorised tier gives exactly what the per-line path gives (``logcorr.sources.errortier``).

The input is every hand-typed and published line of ``test_errorlog.py`` and
``test_errorlog_real.py`` (each with its source noted there), shuffled and repeated with
fixed seeds, with CRLF and syslog-prefixed variants, cut into chunks at random line ends.
"""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from logcorr.reasons import ALERT_TABLE, REASON_TABLE
from logcorr.sources import Batch, Options, errortier
from logcorr.sources.errorlog import ErrorLogReader
from tests import test_reasons
from tests.test_errorlog import FAILURE_LINES, SKIPPED_LINES
from tests.test_errorlog_real import FAILURES, HOSTILE, MULTI_LINE, NOT_FAILURES

PROXY = [  # nginx-logs.md §4.3 (test host)
    b"2026/11/26 17:37:30 [debug] 493#493: *103 PROXY protocol src: 127.0.0.9 46191, dst: 127.0.0.5 9445",
]
STREAM = [  # nginx-logs.md §8 *94 (test host): stream + realip
    b"2026/11/26 17:32:32 [info] 16574#16574: *94 client 127.0.0.5:48978 connected to 127.0.0.1:9444\n"
    b"2026/11/26 17:32:32 [info] 16574#16574: *94 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking, client: 127.0.0.9, server: 127.0.0.1:9444",
]
BROKEN = [  # nginx-logs.md §1.5: a multi-line broken header (1.22.1)
    b'2026/11/26 17:32:34 [error] 16573#16573: *99 broken header: "\x16\x03\x01\x00\xb7\r\n\x01\x00\x00\xb3\r\n'
    b'\x03\x03" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:8444',
]
GARBAGE = [b"GET / HTTP/1.1", b"\x00\x01binary garbage", b"", b"2026/11/26 17:29:36 [verbose] 1#1: *4 hello"]


def corpus(seed: int, stream: bool, size: int = 3 << 20) -> bytes:
    rnd = random.Random(seed)
    entries = ([line for line, _ in FAILURE_LINES] + SKIPPED_LINES + [line for _, line in NOT_FAILURES]
               + [line for _, line, _ in FAILURES] + [e.rstrip(b"\n") for _, e in MULTI_LINE]
               + [line for _, line, _ in HOSTILE if len(line) < 10_000] + PROXY + BROKEN + GARBAGE
               + (STREAM if stream else []))
    # the common case dominates a real log: keepalive closes and plain failures
    common = [b"2026/11/26 17:29:52 [info] 13035#13035: *7 client 127.0.0.1 closed keepalive connection",
              FAILURE_LINES[0][0], FAILURE_LINES[3][0]]
    out: list[bytes] = []
    total = 0
    while total < size:
        e = rnd.choice(entries) if rnd.random() < 0.3 else rnd.choice(common)
        if rnd.random() < 0.05:
            e = e.replace(b"\n", b"\r\n") + b"\r"  # copied through Windows
        elif rnd.random() < 0.03:
            e = b"<190>Nov 26 17:29:36 web1 nginx: " + e  # syslog (ngx_syslog.c)
        out.append(e)
        total += len(e) + 1
    return b"\n".join(out) + (b"\n" if seed % 2 else b"")  # odd seeds: the last line has no LF


def read(data: bytes, vector: bool, seed: int, tz: Any) -> Batch:
    old = errortier.MIN_BYTES
    errortier.MIN_BYTES = 0 if vector else 1 << 62
    try:
        reader = ErrorLogReader("error.log", Options(error_tz=tz))
        total = Batch()
        rnd = random.Random(seed)
        pos, line = 0, 1
        while pos < len(data):
            cut = data.find(b"\n", pos + rnd.randrange(1, 1 << 20))
            cut = len(data) if cut < 0 else cut + 1
            chunk = data[pos:cut]
            batch = reader.feed(chunk, line)
            assert batch.lines == batch.parsed + batch.skipped + batch.rejected
            line += batch.lines
            total.add(batch)
            pos = cut
        total.add(reader.close())
        return total
    finally:
        errortier.MIN_BYTES = old


def table(batch: Batch, name: str) -> list[dict[str, Any]]:
    t = batch.tables.get(name)
    return [] if t is None else t.to_pylist()


@pytest.mark.parametrize(("seed", "stream", "tz"), [
    (1, False, UTC), (2, False, ZoneInfo("Asia/Kolkata")), (3, True, UTC),
    (4, False, ZoneInfo("America/New_York")),
])
def test_vector_tier_equals_per_line_path(seed: int, stream: bool, tz: Any) -> None:
    data = corpus(seed, stream)
    slow, fast = read(data, False, seed, tz), read(data, True, seed, tz)
    assert (fast.lines, fast.parsed, fast.skipped, fast.rejected) == (
        slow.lines, slow.parsed, slow.skipped, slow.rejected)
    assert slow.lines == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    for name in ("handshake_failures", "proxy_headers", "rejects"):
        assert table(fast, name) == table(slow, name), name
    assert fast.meta == slow.meta
    assert fast.warnings == slow.warnings
    assert len(table(slow, "handshake_failures")) > 1000


def test_dst_change_inside_a_chunk() -> None:
    # stamps on both sides of New York's 2026-11-01 fall-back and inside the repeated hour
    # go through the per-hour offsets of the tier; fold=0 as in the per-line path
    lines = [f"2026/11/01 0{h}:{m:02d}:00 [info] 1#1: *{h * 60 + m} client closed connection while SSL handshaking, "
             f"client: 192.0.2.1, server: 0.0.0.0:443".encode() for h in range(4) for m in range(60)]
    data = b"\n".join(lines * 40) + b"\n"
    tz = ZoneInfo("America/New_York")
    slow, fast = read(data, False, 5, tz), read(data, True, 5, tz)
    assert table(fast, "handshake_failures") == table(slow, "handshake_failures")
    ts = pa.chunked_array([fast.tables["handshake_failures"]["ts"]]).to_pylist()
    assert (ts[90].hour, ts[90].minute) == (5, 30)  # 01:30 fold=0 = EDT = 05:30Z


# Every reason text of handshake-reasons.md (reasons.REASON_TABLE, §3; the alerts of §4.1;
# the full strings and parsing-rule strings of tests/test_reasons.py), in every line shape
# the tier must cut or hand over: with and without *N, udp, request/upstream tails,
# "client: " inside the message text, nginx as TLS client, other levels, cut lines.
def _ssl_texts() -> list[str]:
    texts = [f"error:0A000000:SSL routines::{t}" for t, _, _ in REASON_TABLE]
    texts += [f"error:0A000000:SSL routines::{row[2]}:SSL alert number {n}" for n, row in ALERT_TABLE.items()]
    texts += [full for full, _ in test_reasons.FULL]
    texts += [f"error:10000000:SSL routines:OPENSSL_internal:{s}" for s, _ in test_reasons.SYMBOLS]
    return [*texts, SSL_CLIENT_IN_TEXT]


SSL_CLIENT_IN_TEXT = "error:0A000999:SSL routines::odd, client: 203.0.113.66, server: fake"  # built
NGINX_TEXTS = [  # tests/test_reasons.py test_nginx_texts (handshake-reasons.md §3)
    "peer closed connection in SSL handshake", "client closed connection while SSL handshaking",
    "recv() failed (104: Connection reset by peer) while SSL handshaking",
    "client timed out (110: Connection timed out) while SSL handshaking",
    "client timed out (110: Connection timed out) while reading PROXY protocol",
    "client sent plain HTTP request to HTTPS port while reading client request headers",
    "client sent invalid method while reading client request line", "handshake rejected while SSL handshaking",
    "unknown PROXY protocol version: 3 while reading PROXY protocol",
    'no "ssl_certificate" is defined in server listening on SSL port while SSL handshaking',
    "upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream",
    "SSL_do_handshake() failed (104: Connection reset by peer) while SSL handshaking",
    "SSL_shutdown() failed (SSL: error:0A000123:SSL routines::application data after close notify) while SSL handshaking",
    "upstream timed out (110: Connection timed out) while SSL handshaking to upstream",
    "client 192.0.2.1 closed keepalive connection", "SSL_do_handshake: -1", "SSL handshake handler: 0",
]


def _mixed_line(rnd: random.Random, texts: list[str], i: int) -> bytes:
    when = rnd.choice(["2026/11/26 17:29:36", "2026/03/08 02:30:00", "2026/11/01 01:30:00", "2026/13/01 00:00:00"])
    level = rnd.choice(["info"] * 6 + ["error", "crit", "notice", "debug", "warn"])
    conn = rnd.choice([f"*{i} ", f"*{i} ", "", f"*{10**18 + i} "])
    r = rnd.random()
    if r < 0.5:
        action = rnd.choice([" while SSL handshaking"] * 4 + [" while SSL handshaking to upstream", ""])
        errno = rnd.choice(["", "", " (104: Connection reset by peer)"])
        message = f"SSL_do_handshake() failed (SSL: {rnd.choice(texts)}){errno}{action}"
    else:
        message = rnd.choice(NGINX_TEXTS)
    if rnd.random() < 0.1:
        message = "upstream said: client: 198.51.100.9, " + message  # "client: " in the text
    client = rnd.choice(["192.0.2.1", "2001:db8::1", "", "198.51.100.7"])
    context = rnd.choice([f", client: {client}, server: 0.0.0.0:443",
                          f", udp client: {client}, server: [::]:443",
                          f', client: {client}, server: lab.test, request: "GET / HTTP/1.1", host: "lab.test"',
                          f', client: {client}, server: lab.test, request: "\x16\x03\x01\x00"',
                          f", client: {client}, server: x, upstream: \"https://10.0.0.1:443/\"",
                          f", client: {client}, server: s, bytes from/to client:0/0, bytes from/to upstream:0/0",
                          "", f", client: {client}"])
    line = f"{when} [{level}] 1234#1234: {conn}{message}{context}".encode()
    if rnd.random() < 0.05:
        line = line[: rnd.randrange(10, len(line))]  # cut (§1.5) or torn
    return line


def test_vector_tier_equals_per_line_path_on_every_reason() -> None:
    # the per-line path (ErrorLogReader.line) is the reference; junk and debug lines between
    rnd = random.Random(11)
    texts = _ssl_texts()
    out: list[bytes] = []
    while sum(map(len, out)) < 3 << 20:
        r = rnd.random()
        if r < 0.8:
            out.append(_mixed_line(rnd, texts, len(out)))
        elif r < 0.9:
            out.append(rnd.choice(PROXY + GARBAGE + [line for _, line, _ in HOSTILE if len(line) < 10_000]))
        else:
            out.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 80))).replace(b"\n", b" "))
    data = b"\n".join(out) + b"\n"
    for tz in (UTC, ZoneInfo("America/New_York")):
        slow, fast = read(data, False, 3, tz), read(data, True, 3, tz)
        assert (fast.lines, fast.parsed, fast.skipped, fast.rejected) == (
            slow.lines, slow.parsed, slow.skipped, slow.rejected)
        for name in ("handshake_failures", "proxy_headers", "rejects"):
            assert table(fast, name) == table(slow, name), name
        assert fast.meta == slow.meta
    reasons = {row["reason"] for row in table(fast, "handshake_failures")}
    assert reasons >= set(test_reasons.SPEC_CODES) - {"skip"}, set(test_reasons.SPEC_CODES) - reasons


def test_ingest_of_an_error_log_loads_no_pandas(tmp_path: Path) -> None:
    # pyarrow imports pandas (0.2-0.3 s) for pa.array/pa.scalar/to_numpy: ingest avoids them
    log = tmp_path / "error.log"
    log.write_bytes(corpus(1, False, 2 << 20) + b"\n")
    code = ("import runpy, sys\n"
            f"sys.argv = ['logcorr', 'ingest', {str(log)!r}, '--data', {str(tmp_path / 'd')!r}, '-q']\n"
            "try:\n    runpy.run_module('logcorr', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False", out.stderr
    assert (tmp_path / "d").is_dir()
