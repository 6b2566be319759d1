"""The vectorized tiers of the access-log reader: whole chunks of lines to raw columns.

Tier 1 is pyarrow's CSV tokenizer, for space-separated formats with quoted free text;
tier 2 is ``pyarrow.compute.extract_regex`` over the lines, for any other format.  Both
return the raw columns (the not-found marker ``-`` already null: :func:`convert_columns`
is told so), the 0-based indexes of the lines they parsed, and the lines they turned down (which :class:`logcorr.sources.accesslog.AccessLogReader` parses one by one,
so that each is parsed or rejected with its own line number).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from logcorr.sources import arrays
from logcorr.sources.logformat import CompiledFormat, not_found, null_marker, one_array

Rows = dict[str, pa.Array]
MARKER = not_found("default")  # the CSV tier reads default escaping only


def line_starts(data: bytes) -> np.ndarray:
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    return np.concatenate([[0], nl + 1]).astype(np.int64)


def divert(data: bytes, escape: str) -> set[int]:
    """Lines the vector tiers must not see: stray ``\\r``; non-ASCII (default escaping
    writes none, §6.5) or non-UTF-8 bytes."""
    out: set[int] = set()
    arr: np.ndarray | None = None
    if b"\r" in data:
        arr = np.frombuffer(data, dtype=np.uint8)
        pos = np.flatnonzero(arr == 13)
        out |= set(np.searchsorted(line_starts(data), pos, side="right") - 1)
    if not data.isascii():
        if escape == "default":
            arr = np.frombuffer(data, dtype=np.uint8) if arr is None else arr
            pos = np.flatnonzero(arr >= 0x80)
            out |= set(np.searchsorted(line_starts(data), pos, side="right") - 1)
        else:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                for i, ln in enumerate(data.split(b"\n")):
                    try:
                        ln.decode("utf-8")
                    except UnicodeDecodeError:
                        out.add(i)
    return {int(i) for i in out}


def read_csv(data: bytes, fmt: CompiledFormat, nlines: int) -> tuple[Rows, np.ndarray, list[int]] | None:
    """Tier 1, or None when a quote ran across a line end (then tier 2 takes the chunk)."""
    plan = fmt.csv
    assert plan is not None
    names = [f"c{i}" for i in range(plan.ncols)]
    invalid: list[int | None] = []

    def handler(row: Any) -> str:
        invalid.append(None if row.number is None else int(row.number) - 1)
        return "skip"

    # One block, one thread: ingest parses two chunks at a time already, and a threaded
    # read does not tell the numbers of invalid rows.  Default escaping writes ASCII only
    # and :func:`divert` took the other lines out: no UTF-8 check is needed then.
    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False,
                                          block_size=max(len(data) + 1, 1 << 20)),
            parse_options=pcsv.ParseOptions(delimiter=" ", quote_char='"', escape_char=False,
                                            ignore_empty_lines=False, invalid_row_handler=handler),
            # "-" is null as the tokenizer reads it (quoted or not: nginx writes a variable
            # not found as "-" in either place), which spares a pass over every column
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                null_values=[MARKER], strings_can_be_null=True,
                                                quoted_strings_can_be_null=True,
                                                check_utf8=False))
    except pa.ArrowInvalid:  # "Empty CSV file", ...: tier 2 takes the chunk
        return None
    if table.num_rows + len(invalid) != nlines:
        return None
    keep = np.ones(nlines, dtype=bool)
    keep[[i for i in invalid if i is not None]] = False
    idx = np.flatnonzero(keep).astype(np.int64)
    ok = np.ones(table.num_rows, dtype=bool)
    cols: Rows = {}
    for col, text in plan.literals:
        column = table.column(col)
        fits = pc.is_null(column) if text == MARKER else pc.fill_null(pc.equal(column, text), False)
        ok &= np.asarray(fits.to_numpy(zero_copy_only=False), dtype=bool)
    for f in plan.fields:
        parts = [one_array(table.column(c)) for c in f.cols]
        if len(parts) == 2:  # $time_local: "[26/Nov/2026:17:29:28" "+0000]", few distinct
            parts = [pc.dictionary_encode(p) for p in parts]
        if f.prefix:
            ok &= _test(parts[0], pc.starts_with, f.prefix)
            parts[0] = _strip(parts[0], len(f.prefix), None)
        if f.suffix:
            ok &= _test(parts[-1], pc.ends_with, f.suffix)
            parts[-1] = _strip(parts[-1], 0, -len(f.suffix))
        value = parts[0] if len(parts) == 1 else _join_dict(parts[0], parts[1])
        if f.prefix or f.suffix or len(parts) > 1:  # "-" between literals: null once they are off
            value = null_marker(value, MARKER)
        if f.var not in cols:
            cols[f.var] = value
    slow = sorted(i for i in invalid if i is not None)
    if not ok.all():
        slow = sorted(set(slow) | {int(i) for i in idx[~ok]})
        cols = {k: v.filter(pa.array(ok)) for k, v in cols.items()}
        idx = idx[ok]
    return cols, idx, slow


def _test(values: pa.Array, fn: Any, arg: str) -> np.ndarray:
    """``fn(values, arg)`` per row (on the distinct values of a dictionary); null is False."""
    if pa.types.is_dictionary(values.type):
        got = pc.take(fn(values.dictionary, arg), values.indices)
    else:
        got = fn(values, arg)
    return np.asarray(pc.fill_null(got, False).to_numpy(zero_copy_only=False), dtype=bool)


def _strip(values: pa.Array, start: int, stop: int | None) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        d = pc.utf8_slice_codeunits(values.dictionary, start, stop)
        return pa.DictionaryArray.from_arrays(values.indices, d)
    return pc.utf8_slice_codeunits(values, start, stop)


def _join_dict(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a + " " + b`` for two dictionary arrays, joining each distinct pair once."""
    nb = len(b.dictionary)
    code = pc.add(pc.multiply(pc.cast(a.indices, pa.int64()), arrays.scalar(nb, pa.int64())),
                  pc.cast(b.indices, pa.int64()))
    enc = pc.dictionary_encode(code)
    da, db = a.dictionary.to_pylist(), b.dictionary.to_pylist()
    texts = [f"{da[c // nb]} {db[c % nb]}" for c in enc.dictionary.to_pylist()]
    return pa.DictionaryArray.from_arrays(enc.indices, pa.array(texts, pa.string()))


def read_regex(data: bytes, fmt: CompiledFormat, nlines: int) -> tuple[Rows, np.ndarray, list[int]]:
    """Tier 2: RE2 over every line (each element holds its line and its ``\\n``)."""
    starts = line_starts(data)
    offsets = np.append(starts[:nlines], len(data)).astype(np.int32)
    lines = pa.StringArray.from_buffers(nlines, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))
    pattern = fmt.pattern[:-1] + r"\n?$"
    got = pc.extract_regex(lines, pattern)
    ok = np.asarray(got.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    good = got.filter(pa.array(ok))
    cols: Rows = {v: null_marker(good.field(v), not_found(fmt.escape)) for v in fmt.variables}
    return cols, np.flatnonzero(ok).astype(np.int64), [int(i) for i in np.flatnonzero(~ok)]


def vector(data: bytes, fmt: CompiledFormat, nlines: int) -> tuple[Rows, np.ndarray, list[int]]:
    """Tiers 1 (CSV, when the format has a plan) or 2 (RE2) over whole lines of ``data``.

    Lines :func:`divert` names are blanked for the vector pass and returned among the
    turned-down ones, like the lines that do not fit.
    """
    if data.isspace():  # blank lines only: nothing for a vector tier (data is never empty)
        return {}, np.zeros(0, dtype=np.int64), list(range(nlines))
    diverted = divert(data, fmt.escape)
    clean = data
    if diverted:
        buf = bytearray(data)
        starts = line_starts(data)
        for i in diverted:
            end = data.find(b"\n", starts[i])
            end = len(data) if end < 0 else end
            buf[starts[i]:end] = b"-" * (end - starts[i])
        clean = bytes(buf)
    # pyarrow's CSV reader is fast on lines that fit and slow on lines that do not (each
    # one goes through a Python handler): when a sample of the chunk says many lines are
    # in another format (a log_format change, issue 10.2), RE2 takes the chunk.
    # A sample where no line fits: the chunk is in other formats, skip the pass (the
    # lines are tried one by one later, so a rare line of this format is still read).
    share = _sample_share(clean, fmt, nlines)
    if share == 0:
        return {}, np.zeros(0, dtype=np.int64), list(range(nlines))
    use_csv = fmt.csv is not None and share >= 0.9
    got = read_csv(clean, fmt, nlines) if use_csv else None
    if got is None:
        got = read_regex(clean, fmt, nlines)
    cols, idx, slow = got
    if diverted:
        keep = ~np.isin(idx, np.fromiter(diverted, dtype=np.int64))
        cols = {k: v.filter(pa.array(keep)) for k, v in cols.items()}
        idx = idx[keep]
        slow = sorted(set(slow) | diverted)
    return cols, idx, slow


SAMPLE = 33


def _sample_share(data: bytes, fmt: CompiledFormat, nlines: int) -> float:
    """The share of :data:`SAMPLE` lines spread evenly over the bytes of ``data`` that fit
    ``fmt`` (RE2); 1.0 for a chunk of fewer lines."""
    if nlines <= SAMPLE:
        return 1.0
    texts = []
    for at in range(0, len(data), len(data) // SAMPLE + 1):  # the line at each point
        start = data.rfind(b"\n", 0, at) + 1 if at else 0
        end = data.find(b"\n", start)
        texts.append(data[start:end if end >= 0 else len(data)].decode("utf-8", "replace"))
    hits = pc.sum(pc.cast(pc.match_substring_regex(pa.array(texts, pa.string()), fmt.pattern),
                          pa.int64())).as_py() or 0
    return float(hits) / len(texts)
