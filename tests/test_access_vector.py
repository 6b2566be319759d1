"""The access log's vector tiers (CSV, RE2 over the chunk) against its per-line tier.

The per-line tier (RE2 line by line, each line to the first format that fits, the rest
rejected with a diagnosis) is the reference: it reads every line on its own.  Chunks of
seeded random lines, hostile ones among them (cut, binary, non-ASCII, stray ``\\r``,
quotes, out-of-range values, escapes, a ``log_format`` change mid-chunk), must give the
same tables, counts and meta through the fast path as through the reference.
"""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from logcorr.sources import Batch, Options
from logcorr.sources.accesslog import AccessLogReader, merge_runs
from logcorr.sources.logformat import COMBINED, MAIN, RECOMMENDED

AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0", "curl/8.5.0", "-", "a \\x22quoted\\x22 agent",
          "caf\\xC3\\xA9/1.0", "okhttp/2.2.0"]
PROTOS = ["TLSv1.3", "TLSv1.2", "TLSv1", "-"]
CIPHERS = ["TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-SHA", "(NONE)", "-"]


def recommended(rnd: random.Random, t: float) -> str:
    return (f"10.0.{rnd.randrange(3)}.{rnd.randrange(1, 9)} - {rnd.choice(['-', 'bob'])} "
            f"[{_local(t, rnd)}] \"GET /i/{rnd.randrange(99)} HTTP/1.1\" {rnd.choice(['200', '400', '500'])} "
            f"{rnd.randrange(9999)} \"{rnd.choice(['-', 'https://x/'])}\" \"{rnd.choice(AGENTS)}\" "
            f"{rnd.choice(PROTOS)} {rnd.choice(CIPHERS)} \"{rnd.choice(['api.example.com', '-'])}\" "
            f"{rnd.choice('r.')} {rnd.choice(['198.51.100.7', '-'])} {rnd.choice(['10.0.0.1', '-'])} "
            f"{rnd.randrange(1, 10**6)} {rnd.randrange(1, 5)} {t:.3f} {rnd.random():.3f}")


def combined(rnd: random.Random, t: float) -> str:
    return (f"10.1.0.{rnd.randrange(1, 9)} - - [{_local(t, rnd)}] \"POST /x HTTP/1.1\" 200 "
            f"{rnd.randrange(999)} \"-\" \"{rnd.choice(AGENTS)}\"")


def main_fmt(rnd: random.Random, t: float) -> str:
    return combined(rnd, t) + f" \"{rnd.choice(['-', '203.0.113.9'])}\""


PREFIXED = 'ip=$remote_addr [$time_local] "$request" $status rt=$request_time "$http_user_agent" $ssl_protocol'


def prefixed(rnd: random.Random, t: float) -> str:
    """Fields between literals in one token (``rt=-``: a "-" the CSV tier nulls only once
    the literal is off)."""
    return (f"ip={rnd.choice(['10.2.0.1', '-'])} [{_local(t, rnd)}] \"GET / HTTP/1.1\" 200 "
            f"rt={rnd.choice(['0.004', '-'])} \"{rnd.choice(AGENTS)}\" {rnd.choice(PROTOS)}")


def _local(t: float, rnd: random.Random) -> str:
    import time

    off = rnd.choice(["+0000", "+0530", "-0800"])
    return time.strftime("%d/%b/%Y:%H:%M:%S ", time.gmtime(t)) + off


def hostile(rnd: random.Random, line: str) -> str | bytes:
    """One way of spoiling a good line."""
    kind = rnd.randrange(13)
    if kind == 0:
        return line[: rnd.randrange(len(line))]  # cut
    if kind == 1:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 60))).replace(b"\n", b"")
    if kind == 2:
        return line.replace("GET", "G\u00e9T")  # non-ASCII where default escaping writes none
    if kind == 3:
        return line + "\r"
    if kind == 4:
        return line.replace('"GET', '"GET "')  # a stray quote
    if kind == 5:
        return line.replace(" 200 ", " 99999999999999999999 ").replace(" 400 ", " x ")
    if kind == 6:
        return line.replace("Nov", "Foo").replace("Dec", "Foo")
    if kind == 7:
        return line.replace(" - ", "   ", 1)
    if kind == 8:
        return ""  # blank
    if kind == 9:
        return '{"remote_addr": "10.9.9.9", "status": 200}'
    if kind == 10:
        return line + " trailing"
    if kind == 11:
        return line.replace(" r ", " q ").replace(" . ", " q ")
    return re.sub(r"\[[^]]*\]", rnd.choice(["[- -]", "- -", "[-", '"-"']), line, count=1)


def chunk(seed: int, n: int, first: Any = None) -> bytes:
    rnd = random.Random(seed)
    t = 1795714168.0
    first = first or recommended
    makers = [first] * 6 + [recommended, combined, main_fmt, prefixed]
    out: list[bytes] = []
    # a log_format change (nginx -s reload) mid-chunk; odd seeds: late, and few hostile
    # lines, so that the CSV tier reads the chunk (it leaves chunks of many misfits to RE2)
    switch = n - n // 20 if seed % 2 else rnd.randrange(n)
    spoilt = 0.02 if seed % 2 else 0.08
    for i in range(n):
        t += rnd.random()
        make = first if i < switch else rnd.choice(makers)
        line: str | bytes = make(rnd, t)
        if rnd.random() < spoilt:
            line = hostile(rnd, str(line))
        out.append(line if isinstance(line, bytes) else line.encode("utf-8"))
    return b"\n".join(out) + b"\n"


def per_line_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference: no vector tier, every line read by the per-line tier."""
    def nothing(self: AccessLogReader, data: bytes, lines: Any, nlines: int) -> tuple[list[Any], np.ndarray]:
        return [], np.arange(nlines, dtype=np.int64)

    monkeypatch.setattr(AccessLogReader, "_vector", nothing)


def feed(data: bytes, fmt: str, options: Options) -> Batch:
    batch = AccessLogReader("f.log", options, fmt).feed(data, 7)
    assert batch.lines == batch.parsed + batch.skipped + batch.rejected
    return batch


def tables(batch: Batch) -> dict[str, list[dict[str, Any]]]:
    """Rows by table, in line order.  A reject's message is left out: the CSV tier names
    the value of the wrong shape, the per-line regex the column where the line stopped
    fitting (both name the line and keep its text)."""
    out = {}
    for name, table in batch.tables.items():
        if name == "rejects":
            table = table.drop_columns(["error"])
        if table.num_rows:
            sort = table.sort_by([("line", "ascending")]) if "line" in table.column_names else table
            out[name] = sort.cast(pa.schema([f.with_type(pa.string()) if pa.types.is_dictionary(f.type) else f
                                             for f in sort.schema])).to_pylist()
    return out


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("fmt", [RECOMMENDED, COMBINED, PREFIXED])
def test_vector_tiers_read_what_the_per_line_tier_reads(seed: int, fmt: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from logcorr.sources import accesstiers

    data = chunk(seed, 400 + 97 * seed, {RECOMMENDED: recommended, COMBINED: combined, PREFIXED: prefixed}[fmt])
    options = Options(log_formats=[f for f in (RECOMMENDED, COMBINED, MAIN, PREFIXED) if f != fmt])
    tiers: list[str] = []
    for name in ("read_csv", "read_regex"):
        real = getattr(accesstiers, name)
        monkeypatch.setattr(accesstiers, name, lambda *a, _r=real, _n=name: tiers.append(_n) or _r(*a))
    fast = feed(data, fmt, options)
    if seed % 2:  # a chunk of few misfits: the CSV tier reads it
        assert tiers[:1] == ["read_csv"]
    per_line_only(monkeypatch)
    ref = feed(data, fmt, options)
    assert (fast.lines, fast.parsed, fast.skipped, fast.rejected) == (ref.lines, ref.parsed, ref.skipped, ref.rejected)
    assert fast.rejected > 0
    assert fast.parsed > 0
    assert tables(fast) == tables(ref)
    assert fast.meta["utc_offsets"] == ref.meta["utc_offsets"]
    assert fast.meta.get("lb_candidates") == ref.meta.get("lb_candidates")
    # runs as ingest reports them (a tier's run may be cut where another tier read lines)
    assert merge_runs(fast.meta["format_runs"]) == merge_runs(ref.meta["format_runs"])


def test_vector_tier_of_a_clean_chunk_is_the_csv_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk of the file's own format only: read by the CSV tier, the same as line by line."""
    from logcorr.sources import accesstiers

    rnd = random.Random(5)
    data = b"".join(recommended(rnd, 1795714168.0 + i).encode() + b"\n" for i in range(300))
    calls: list[int] = []
    real = accesstiers.read_csv

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(accesstiers, "read_csv", counted)
    fast = feed(data, RECOMMENDED, Options())
    assert calls
    assert fast.parsed == 300
    per_line_only(monkeypatch)
    assert tables(fast) == tables(feed(data, RECOMMENDED, Options()))
