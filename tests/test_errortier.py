"""The vectorised tier gives exactly what the per-line path gives (``logcorr.sources.errortier``).

The input is every hand-typed and published line of ``test_errorlog.py`` and
``test_errorlog_real.py`` (each with its source noted there), shuffled and repeated with
fixed seeds, with CRLF and syslog-prefixed variants, cut into chunks at random line ends.
"""

from __future__ import annotations

import random
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from logcorr.sources import Batch, Options, errortier
from logcorr.sources.errorlog import ErrorLogReader
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
