"""Arrow arrays from numpy and typed Python lists, and numpy views of Arrow arrays, without pandas.

pyarrow imports pandas (0.2-0.3 s, more than an error-log ingest reads in) the first time
``pa.array``, ``pa.scalar``, ``Array.to_numpy`` or a compute call with a Python scalar
argument runs: each asks whether its argument is a pandas object.  ``Array.from_buffers``
over numpy memory, ``pa.nulls``, ``pa.repeat`` of a scalar taken from an array, and the
kernels on arrays do not.  The readers build their columns here so that ``logcorr
ingest`` does not pay for pandas (``tests/test_errortier.py`` checks it in a fresh process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_STRING = pa.string()
_INT_TYPES = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64}


def _validity(valid: np.ndarray | None) -> pa.Buffer | None:
    """Arrow's validity bitmap (LSB first) of a bool mask, None when all are valid."""
    if valid is None or bool(valid.all()):
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def numbers(values: np.ndarray, typ: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """An integer or timestamp array of ``values`` (cast to ``typ``'s width); ``valid``: not null."""
    width = np.int64 if pa.types.is_timestamp(typ) else _INT_TYPES[typ]
    data = np.ascontiguousarray(values, dtype=width)
    return pa.Array.from_buffers(typ, len(data), [_validity(valid), pa.py_buffer(data)])


def bools(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A boolean array of the numpy mask ``values``."""
    bits = np.packbits(np.ascontiguousarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [_validity(valid), pa.py_buffer(bits)])


def strings(values: Sequence[str | bytes | None], typ: pa.DataType = _STRING) -> pa.Array:
    """A string (or binary) array of Python values, None as null (a reader's chunk: < 2 GiB)."""
    raw = [b"" if v is None else v.encode() if isinstance(v, str) else v for v in values]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(v) for v in raw], out=offsets[1:])
    if offsets[-1] >= 1 << 31:
        raise ValueError("more than 2 GiB of text in one array")
    kind = pa.binary() if pa.types.is_binary(typ) else pa.string()
    arr = pa.Array.from_buffers(kind, len(raw), [
        _validity(np.array([v is not None for v in values], dtype=bool)),
        pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(raw))])
    return arr if arr.type == typ else arr.cast(typ)


def column(values: Sequence[Any], typ: pa.DataType) -> pa.Array:
    """An array of type ``typ`` from a Python list of its values (None as null)."""
    if pa.types.is_string(typ) or pa.types.is_binary(typ):
        return strings(values, typ)
    valid = np.array([v is not None for v in values], dtype=bool)
    if pa.types.is_boolean(typ):
        return bools(np.array([bool(v) for v in values], dtype=bool), valid)
    if pa.types.is_floating(typ):
        width = np.float32 if typ == pa.float32() else np.float64
        data = np.array([0.0 if v is None else v for v in values], dtype=width)
        return pa.Array.from_buffers(typ, len(data), [_validity(valid), pa.py_buffer(data)])
    return numbers(np.array([0 if v is None else v for v in values], dtype=np.int64), typ, valid)


def count_lines(data: bytes) -> int:
    """The number of lines of ``data`` (a last one without its newline counts).

    numpy compares a chunk's bytes six times faster than ``bytes.count`` counts them, and
    ingest counts every chunk in its one reading thread (issue 11.5)."""
    if not data:
        return 0
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10)) + (data[-1] != 10)


def repeat(value: Any, typ: pa.DataType, n: int) -> pa.Array:
    """``value`` ``n`` times, as type ``typ``."""
    if value is None:
        return pa.nulls(n, typ)
    return pa.repeat(column([value], typ)[0], n)


def scalar(value: Any, typ: pa.DataType) -> pa.Scalar:
    """An Arrow scalar for a compute call: a Python number there makes pyarrow import
    numpy.ma and dateutil (a tenth of a second of ``ingest`` start-up on this machine)."""
    return column([value], typ)[0]


def take(arr: pa.Array, indices: np.ndarray) -> pa.Array:
    """``arr`` at the numpy ``indices``."""
    return arr.take(numbers(indices, pa.int64()))


def as_bools(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numpy mask of a boolean array, null as False."""
    if isinstance(arr, pa.ChunkedArray):
        return np.concatenate([as_bools(c) for c in arr.chunks]) if arr.num_chunks else np.zeros(0, bool)
    validity, data = arr.buffers()
    n, off = len(arr), arr.offset
    out = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little", count=off + n)[off:].astype(bool)
    if validity is not None and arr.null_count:
        out &= np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little", count=off + n)[off:].astype(bool)
    return out


def as_ints(arr: pa.Array) -> np.ndarray:
    """A numpy view of an integer array with no nulls (dictionary indices, offsets)."""
    dtype = _INT_TYPES[arr.type]
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset: arr.offset + len(arr)]
