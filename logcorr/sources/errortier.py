"""The vectorised tier of the error-log reader: a whole chunk of lines at a time.

With numpy and pyarrow kernels (RE2: linear time, no per-line Python) it finds:

* every line's head (``YYYY/MM/DD HH:MM:SS [level] PID#TID: ``) and level, and the lines the
  reader's byte prefilter keeps (``SSL``, ``PROXY``, ``HTTPS port``, ``broken header``, and
  stream `` connected to `` lines): the others are skipped here, their levels counted;
* for kept lines of the common shape ``… [*N ]MESSAGE, [udp ]client: X, server: Y[, request:
  "…"|, bytes from/to …]`` (``FAST``), the stamp, ``*N``, message, client and server, cut
  at the positions of their commas and colons (found with numpy, not per line).

Each distinct message is judged once by :func:`errorlog.failure_message` (the per-line
path's own rule), each distinct stamp converted once, and the failure rows are built as
Arrow columns.  Lines of any other shape go to the reader's per-line path, in file order,
with the state (pending broken header, open entry) that the lines between them leave:
lines without a head (continuations, syslog prefixes, garbage), unknown levels, lines over
``MAX_PHYSICAL``, non-ASCII or NUL bytes, debug ``PROXY`` lines, broken headers, stamps that
do not convert, and all kept lines of a chunk with stream ``connected to`` lines (the
realip hook depends on their order).  ``tests/test_errortier.py`` checks that both paths
give the same tables.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from logcorr import schema
from logcorr.sources import arrays

if TYPE_CHECKING:
    from logcorr.sources.errorlog import ErrorLogReader

MIN_BYTES = 1 << 20  # smaller chunks: the per-line path is as fast and simpler
HEAD = r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] \d+#\d+: "
FAST = (HEAD + r'(?:\*\d{1,18} [^,\n]*|[^*,\n][^,\n]*)?, (?:udp )?client: [^,\r\n]*, '
        r'server: [^,\r\n]*(?:\r?\n?$|, (?:request|subrequest|upstream|host|referrer): "'
        r"|, bytes from/to )")
_REOPEN = b"reopening logs"
_BROKEN = b'broken header: "'
_STREAM = re.compile(rb": (?:\*\d+ )?(?:udp )?client \S+ connected to \S+\r?$", re.M)
_FAR = np.iinfo(np.int64).max // 2


def worth_it(data: bytes) -> bool:
    """Big enough to pay for the set-up, small enough for Arrow's 32-bit offsets."""
    return MIN_BYTES <= len(data) < 1 << 31


def _line_starts(data: bytes, a: np.ndarray) -> tuple[np.ndarray, int]:
    """Start offsets of the lines (plus the end), and the number of lines."""
    nl = np.flatnonzero(a == 10)
    n = len(nl) + (1 if data and not data.endswith(b"\n") else 0)
    starts = np.empty(n + 1, np.int64)
    starts[0] = 0
    starts[1:len(nl) + 1] = nl + 1
    starts[n] = len(data)
    return starts, n


# Needles with two rare bytes (where they start in it) are looked for with numpy compares
# of 16-bit words at even and odd offsets, then checked byte by byte at the hits: faster
# than bytes.find for these (measured on 8 MiB chunks); other needles with bytes.find.
_PAIRS = {b"SSL": 1, b"PROXY": 3, b"HTTPS port": 3}


def _find_all(data: bytes, a: np.ndarray, needle: bytes) -> np.ndarray:
    """Start offsets of every ``needle`` in ``data`` (``a``: its bytes), in no order."""
    at = _PAIRS.get(needle)
    if at is None:
        return _find_rare(data, a, needle)
    code = int.from_bytes(needle[at:at + 2], "little")
    pos = np.concatenate([np.zeros(0, np.int64)] + [
        np.flatnonzero(np.frombuffer(data, "<u2", (len(data) - off) // 2, off) == code) * 2 + off
        for off in (0, 1) if len(data) > off]) - at
    pos = pos[(pos >= 0) & (pos <= len(data) - len(needle))]
    for j, c in enumerate(needle):
        if j not in (at, at + 1):
            pos = pos[a[pos + j] == c]
    return pos


def _find_rare(data: bytes, a: np.ndarray, needle: bytes) -> np.ndarray:
    """Start offsets of ``needle``: usually absent, one ``bytes.find``; numpy when many."""
    p = data.find(needle)
    found: list[int] = []
    while p >= 0 and len(found) < 64:
        found.append(p)
        p = data.find(needle, p + 1)
    if p < 0:
        return np.array(found, np.int64)
    lead = len(needle) - len(needle.lstrip())  # from the first non-blank byte of the needle
    pos = np.flatnonzero(a[lead: len(a) - len(needle) + lead + 1] == needle[lead])
    for j in range(len(needle)):
        if j != lead:
            pos = pos[a[pos + j] == needle[j]]
    return pos


def _lines_with(data: bytes, a: np.ndarray, starts: np.ndarray, needle: bytes) -> np.ndarray:
    """Indexes of the lines that contain ``needle`` (with repeats)."""
    return np.searchsorted(starts, _find_all(data, a, needle), side="right") - 1


def _keep(data: bytes, a: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """The lines that hold ``SSL``, ``PROXY``, ``HTTPS port`` or ``broken header`` (the
    per-line path's byte prefilter; `` connected to `` is :func:`_stream_lines`'s)."""
    keep = np.zeros(n, dtype=bool)
    for kw in (b"SSL", b"PROXY", b"HTTPS port", b"broken header"):
        keep[_lines_with(data, a, starts, kw)] = True
    return keep


def _stream_lines(data: bytes, a: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The lines `` connected to `` when one is a stream ``*N [udp ]client A:P connected to
    L:P`` line (§1.3); else none (``proxy A:P connected to U:P`` lines alone are skipped)."""
    lines = np.unique(_lines_with(data, a, starts, b" connected to "))
    for i in lines.tolist():
        if _STREAM.search(data, int(starts[i]), int(starts[i + 1])):
            return lines
    return lines[:0]


def _lines_at(a: np.ndarray, starts: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    pos = np.flatnonzero(mask)
    out = np.zeros(n, dtype=bool)
    out[np.searchsorted(starts, pos, side="right") - 1] = True
    return out


def feed(reader: ErrorLogReader, data: bytes, first_line: int, levels: dict[str, int]) -> tuple[int, int, int]:
    """Read one chunk into ``reader``; returns (lines, parsed, skipped)."""
    from logcorr.sources.errorlog import INVALID_METHOD, LEVELS, MAX_PHYSICAL, PARSED, SKIPPED

    a = np.frombuffer(data, dtype=np.uint8)
    starts, n = _line_starts(data, a)
    lines = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(starts.astype(np.int32)),
                                                   pa.py_buffer(data)])
    with ThreadPoolExecutor(1, thread_name_prefix="logcorr-heads") as pool:
        # RE2 over every line runs without the GIL, beside the byte searches (which hold it)
        heads = pool.submit(_head_levels, lines, LEVELS)
        slow = np.diff(starts) > MAX_PHYSICAL + 2
        if not data.isascii():
            slow |= _lines_at(a, starts, a >= 0x80, n)
        if b"\x00" in data:
            slow |= _lines_at(a, starts, a == 0, n)
        keep = _keep(data, a, starts, n)
        # "client sent invalid method" is a failure only for a TLS-record request (a rare line,
        # judged with its context): the per-line path (errorlog.tls_bytes_read_as_http)
        slow[_lines_with(data, a, starts, INVALID_METHOD)] = True
        connects = _stream_lines(data, a, starts)
        level = heads.result()
    slow |= level < 0
    if reader.stream or len(connects):
        slow |= keep  # the stream realip hook pairs lines in file order: per-line path
        slow[connects] = True
    cand = np.flatnonzero(keep & ~slow)
    parsed_line = np.zeros(n, dtype=bool)
    if len(cand):
        demote, failed = _candidates(reader, arrays.take(lines, cand), cand, level[cand], first_line)
        slow[demote] = True
        parsed_line[failed] = True
    fast = ~slow
    counts = np.bincount(level[fast], minlength=len(LEVELS))
    for i, c in enumerate(counts):
        if c:
            levels[LEVELS[i]] = levels.get(LEVELS[i], 0) + int(c)
    if not (counts[LEVELS.index("info")] or counts[LEVELS.index("debug")] or reader.levels.get("info")
            or reader.levels.get("debug")):  # only then can the notices matter (close())
        for i in np.unique(_lines_with(data, a, starts, _REOPEN)):
            if fast[i] and _raw(data, starts, int(i)).endswith(_REOPEN):
                reader.reopen += 1
    parsed = int(parsed_line.sum())
    skipped = int(fast.sum()) - parsed
    prev = -1
    for i in np.flatnonzero(slow).tolist():
        if i - 1 > prev:  # the line before was read here: the state it leaves
            reader.end_entry()
            reader.last = (_raw(data, starts, i - 1), bool(parsed_line[i - 1]))
        raw = data[starts[i]:starts[i + 1]]
        outcome = reader.line(raw[:-1] if raw.endswith(b"\n") else raw, first_line + i, levels)
        parsed += outcome == PARSED
        skipped += outcome == SKIPPED
        prev = i
    if n - 1 > prev:
        reader.end_entry()
        reader.last = (_raw(data, starts, n - 1), bool(parsed_line[n - 1]))
    return n, parsed, skipped


def _raw(data: bytes, starts: np.ndarray, i: int) -> bytes:
    raw = data[starts[i]:starts[i + 1]]
    raw = raw[:-1] if raw.endswith(b"\n") else raw
    return raw[:-1] if raw.endswith(b"\r") else raw


def _head_levels(lines: pa.Array, names: tuple[str, ...]) -> np.ndarray:
    """Level index of each line, -1 for a line without the ``HEAD`` (or of an unknown level)."""
    level = _levels(lines, names)
    level[~arrays.as_bools(pc.match_substring_regex(lines, HEAD))] = -1
    return level


def _levels(lines: pa.Array, names: tuple[str, ...]) -> np.ndarray:
    """Level index of each line from the bytes after ``] [`` (-1: none or unknown)."""
    enc = pc.binary_slice(lines, 21, 28).dictionary_encode()
    codes = []
    for v in enc.dictionary.to_pylist():
        k = v.find(b"]")
        name = v[:k].decode("ascii", "replace") if k > 0 else ""
        codes.append(names.index(name) if name in names else -1)
    return np.array(codes, dtype=np.int8)[arrays.as_ints(enc.indices)]


def _candidates(reader: ErrorLogReader, kept: pa.Array, idx: np.ndarray, level: np.ndarray,
                first_line: int) -> tuple[np.ndarray, np.ndarray]:
    """Failure rows of the kept lines of the FAST shape, appended to ``reader.fast``.

    Returns the lines to demote to the per-line path and the lines that gave a failure row
    (the others of the FAST shape are not failures: skipped).
    """
    from logcorr.sources.errorlog import LEVELS, failure_message

    ok = arrays.as_bools(pc.match_substring_regex(kept, FAST)) & (level != LEVELS.index("debug"))
    demote = [idx[~ok]]
    kept, idx, level = kept.filter(arrays.bools(ok)), idx[ok], level[ok]
    if not len(idx):
        return np.concatenate(demote), idx
    stamp, part, client, server, conn = _fields(kept)
    pd = part.dictionary_encode()
    values = pd.dictionary.to_pylist()
    msgs = [None if v.startswith(_BROKEN) else failure_message(v) for v in values]
    broken = np.array([v.startswith(_BROKEN) for v in values], dtype=bool)
    pidx = arrays.as_ints(pd.indices)
    is_fail = np.array([m is not None for m in msgs], dtype=bool)[pidx]
    demote.append(idx[broken[pidx]])
    sd = stamp.filter(arrays.bools(is_fail)).dictionary_encode()
    ts_d, wall_d, bad_d = _times(reader, sd.dictionary)
    sidx = arrays.as_ints(sd.indices)
    rows = np.flatnonzero(is_fail)
    good = ~bad_d[sidx]
    demote.append(idx[rows[~good]])
    rows, sidx = rows[good], sidx[good]
    if len(rows):
        reader.fast.append(_rows(reader, rows, sidx, ts_d, wall_d, pidx, msgs, client, server,
                                 conn, level, idx, first_line))
    return np.concatenate(demote), idx[rows]


def _fields(kept: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, np.ndarray]:
    """Stamp, message part, client, server and ``*N`` (-1: none) of FAST-shaped lines."""
    m = len(kept)
    offsets = np.frombuffer(kept.buffers()[1], dtype=np.int32)[kept.offset: kept.offset + m + 1]
    buf = kept.buffers()[2]
    cb = np.frombuffer(buf, dtype=np.uint8)
    r, nxt = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    end = nxt - (cb[nxt - 1] == 10)
    end -= (cb[end - 1] == 13) & (end > r)
    after = _after_head(cb, r)
    star = cb[after] == 42
    digit = cb.take((after + 1)[:, None] + np.arange(19), mode="clip") - np.uint8(48)  # wraps
    ndig = np.argmin(digit <= 9, axis=1)  # FAST: 1-18 digits, then a blank
    value = np.zeros(m, dtype=np.int64)
    for j in range(int(ndig[star].max(initial=0))):
        value = np.where(j < ndig, value * 10 + digit[:, j], value)
    conn = np.where(star, value, -1)
    start = np.where(star, after + ndig + 2, after)
    commas = np.append(np.flatnonzero(cb == 44), [_FAR, _FAR, _FAR])
    k = np.searchsorted(commas, start)
    c1, c2 = commas[k], commas[k + 1]
    c3 = np.minimum(commas[k + 2], end)
    cs = c1 + np.where(cb[c1 + 2] == 117, 14, 10)  # ", udp client: " / ", client: "
    bounds = np.stack([r, r + 19, start, c1, cs, c2, c2 + 10, c3], axis=1).ravel()
    cuts = pa.Array.from_buffers(pa.binary(), 8 * m, [None, pa.py_buffer(
        np.append(bounds, len(cb)).astype(np.int32)), buf])
    base = np.arange(m, dtype=np.int64) * 8

    def field(k: int) -> pa.Array:
        return arrays.take(cuts, base + k)

    return field(0), field(2), field(4), field(6), conn


def _after_head(cb: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Where the text after ``PID#TID: `` starts, for lines (at ``r`` in ``cb``) that match HEAD.

    That colon is the first after the stamp's: looked for in the next 48 bytes of each line
    (a level, two 19-digit numbers), in the whole buffer only if a line has none there.
    """
    win = cb.take((r + 21)[:, None] + np.arange(48), mode="clip") == 58
    if win.any(axis=1).all():
        return r + 21 + np.argmax(win, axis=1) + 2
    colons = np.flatnonzero(cb == 58)
    return colons[np.searchsorted(colons, r + 21)] + 2


def _times(reader: ErrorLogReader, stamps: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ts µs, wall µs, bad) of distinct stamps, all ``YYYY/MM/DD HH:MM:SS`` digits (``HEAD``
    checked them): fields and datetime's calendar checks in numpy, zone offsets once an hour."""
    m = len(stamps)
    start = int(np.frombuffer(stamps.buffers()[1], dtype=np.int32)[stamps.offset])
    d = (np.frombuffer(stamps.buffers()[2], dtype=np.uint8)[start: start + 19 * m]
         .reshape(m, 19).astype(np.int64) - 48)

    def num(*cols: int) -> np.ndarray:
        out = np.zeros(m, dtype=np.int64)
        for c in cols:
            out = out * 10 + d[:, c]
        return out

    y, mo, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
    hh, mi, ss = num(11, 12), num(14, 15), num(17, 18)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(mo, 0, 12)] + (leap & (mo == 2))
    bad = ((y < 2) | (y > 9998) | (mo < 1) | (mo > 12) | (day < 1) | (day > mdays) | (hh > 23)
           | (mi > 59) | (ss > 59))  # datetime's checks; years at its ends: the per-line path
    yy = y - (mo <= 2)  # days from the civil date (H. Hinnant's algorithm)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    wall = np.where(bad, 0, days * 86400 + hh * 3600 + mi * 60 + ss)
    ts = wall.copy()
    clock = reader.clock
    for hour in np.unique(wall[~bad] // 3600).tolist():
        sel = (wall // 3600 == hour) & ~bad
        try:
            first, last = clock.offset_s(hour * 3600), clock.offset_s(hour * 3600 + 3599)
        except (ValueError, OverflowError, OSError):
            first, last = 0, 1
        if first == last:
            ts[sel] = wall[sel] - first
            continue
        for i in np.flatnonzero(sel).tolist():  # a zone change inside this hour: one at a time
            try:
                ts[i] = clock.times(stamps[i].as_py())[0] // 1_000_000
            except (ValueError, OverflowError, OSError):
                bad[i] = True
    return ts * 1_000_000, wall * 1_000_000, bad


def _rows(reader: ErrorLogReader, rows: np.ndarray, sidx: np.ndarray, ts_d: np.ndarray,
          wall_d: np.ndarray, pidx: np.ndarray, msgs: list[Any], client: pa.Array,
          server: pa.Array, conn: np.ndarray, level: np.ndarray, idx: np.ndarray,
          first_line: int) -> pa.Table:
    from logcorr.sources.errorlog import LEVELS

    mi = pidx[rows]

    def per_msg(fn: Any, typ: pa.DataType) -> pa.Array:
        return arrays.take(arrays.column([fn(m) if m is not None else None for m in msgs], typ), mi)

    def text(arr: pa.Array) -> pa.Array:  # "" (nothing logged) is null
        s = arrays.take(arr, rows)
        empty = arrays.bools(arrays.as_ints(pc.binary_length(s)) == 0)
        return pc.if_else(empty, pa.nulls(len(s), pa.string()), s.cast(pa.string()))

    c = conn[rows]
    n = len(rows)
    cols = {
        "ts": arrays.numbers(ts_d[sidx], schema.TS),
        "ts_wall": arrays.numbers(wall_d[sidx], schema.TS),
        "client_addr": text(client),
        "client_is_real": pa.nulls(n, pa.bool_()),
        "reason": per_msg(lambda m: m.reason.reason, pa.string()),
        "reason_text": per_msg(lambda m: m.reason_text, pa.string()),
        "conn_id": arrays.numbers(c, pa.int64(), valid=c >= 0),
        "server_addr": text(server),
        "line": arrays.numbers(idx[rows] + first_line, pa.int64()),
        "level": arrays.take(arrays.strings(LEVELS), level[rows]),
        "alert": per_msg(lambda m: m.reason.alert, pa.int16()),
        "alert_name": per_msg(lambda m: m.reason.alert_name, pa.string()),
        "client_side": per_msg(lambda m: m.client_side, pa.bool_()),
        "action": per_msg(lambda m: m.action, pa.string()),
        "attribution": arrays.repeat("error_log_client", pa.string(), n),
    }
    return schema.conform("handshake_failures", pa.table(cols))
