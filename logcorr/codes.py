"""Integer views of columns for the failure side's joins at scale (issue 11.4).

A million failures against ten million sessions is too much for Python objects: Arrow-backed
strings turned into ``object``, tz-aware Timestamps iterated one by one, a groupby per
client.  The joins here work on numbers instead: times as int64 µs since the epoch, clients
as codes that sort like the addresses, and each client's rows as one block of a single
sorted int64 key (``code << bits | time``), searched with ``np.searchsorted``.  Pure
functions of numpy/pandas values; the pandas versions they replace are in
:mod:`logcorr._reference`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_TS = "datetime64[us, UTC]"


def epoch_us(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(µs since the epoch as int64, valid mask) of a time column, without Timestamp objects."""
    ts = values if str(values.dtype) == _TS else pd.to_datetime(values, utc=True).astype(_TS)
    valid = ts.notna().to_numpy(dtype=bool)
    raw = np.asarray(ts.array.asi8, dtype=np.int64)
    return np.where(valid, raw, 0), valid


def sort_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """int64 codes in the values' sort order, missing values after all others (as
    ``sort_values(na_position="last")`` places them)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        if _sorted_categories(values):  # the codes sort as the values do
            out = values.cat.codes.to_numpy().astype(np.int64)
            out[out < 0] = len(values.cat.categories)
            return out
        values = _decoded(values)
    if isinstance(getattr(values, "dtype", None), pd.StringDtype):
        # hashed and sorted by Arrow: no sort of Python strings (code point order either way)
        codes, distinct = sorted_codes(pd.Series(values, copy=False))
        codes[codes < 0] = len(distinct)
        return codes
    codes, uniques = pd.factorize(values, sort=True)
    out = codes.astype(np.int64)
    out[out < 0] = len(uniques)
    return out


def sorted_codes(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """(code of each value, the distinct values sorted): codes index the sorted values, -1
    where missing.  Hashed and sorted by Arrow, so hundreds of thousands of distinct
    addresses never become a sort of Python strings."""
    if _sorted_categories(values):
        return _used_codes(values)
    arr = arrow_strings(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    encoded = pc.dictionary_encode(arr)
    order = np.asarray(pc.sort_indices(encoded.dictionary), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    index = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    codes = np.where(index >= 0, rank[np.maximum(index, 0)], -1) if len(rank) else np.full(len(index), -1)
    return codes, encoded.dictionary.take(pa.array(order))


def _used_codes(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """:func:`sorted_codes` of a categorical with sorted categories: its codes, renumbered
    over the categories that occur (a subset of a frame keeps all its categories)."""
    codes = values.cat.codes.to_numpy().astype(np.int64)
    categories = categories_of(values)
    present = codes >= 0
    used = np.bincount(codes[present], minlength=len(categories)) > 0
    if used.all():
        return codes, categories
    renumber = np.cumsum(used) - 1
    return np.where(present, renumber[np.maximum(codes, 0)], -1), categories.filter(pa.array(used))


def sorted_categorical(values: pd.Series) -> pd.Series:
    """A text column as a categorical whose categories are sorted (code point order) and
    all occur: every later count, sort or lookup of it works on the codes."""
    if _sorted_categories(values):
        return values
    codes, distinct = sorted_codes(values)
    dtype = pd.CategoricalDtype(pd.Index(pd.array(distinct, dtype=pd.StringDtype())))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=values.index, name=values.name)


def _sorted_categories(values: pd.Series) -> bool:
    """A categorical whose categories are sorted: its codes sort as its values do."""
    return isinstance(values.dtype, pd.CategoricalDtype) and bool(values.cat.categories.is_monotonic_increasing)


def lexorder(keys: Sequence[np.ndarray]) -> np.ndarray:
    """Stable order of rows by ``keys`` (first key first), as ``sort_values(kind="stable")``."""
    return np.lexsort(tuple(reversed([np.asarray(k) for k in keys])))


def tie_broken_order(keys: Sequence[np.ndarray], last: Callable[[], np.ndarray]) -> np.ndarray:
    """:func:`lexorder` of ``keys``, then of ``last()`` only where the keys leave ties (a
    last key that is costly to compute, such as a unique text column)."""
    order = lexorder(keys)
    ties = np.ones(max(len(order) - 1, 0), dtype=bool)
    for k in keys:
        ties &= k[order][1:] == k[order][:-1]
    return lexorder([*keys, last()]) if ties.any() else order


def arrow_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """A text column as Arrow strings (pandas' own storage: no copy for its string columns;
    a categorical's values taken from its categories; others as ``astype(str)`` makes them,
    missing values null)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        return categories_of(values).take(pa.array(codes, mask=codes < 0))
    arr = values.array
    if not (hasattr(arr, "__arrow_array__") and isinstance(values.dtype, pd.StringDtype)):
        arr = values.astype(str).array
    return pa.array(arr)


def categories_of(values: pd.Series) -> pa.Array:
    """A categorical's categories as Arrow strings (text categories without a Python string each)."""
    cats = values.cat.categories
    if isinstance(cats.dtype, pd.StringDtype) and hasattr(cats.array, "__arrow_array__"):
        out = pa.array(cats.array)
        out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out
        return out.cast(pa.string())
    return pa.array(cats.astype(object), pa.string())


def _decoded(values: pd.Series) -> pd.Series:
    """A categorical column as the text column it stands for (same values, same index)."""
    return pd.Series(pd.array(arrow_strings(values), dtype=pd.StringDtype()), index=values.index)


def large_strings(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """:func:`arrow_strings` as ``large_string`` (kernels that join columns want one type)."""
    out = arrow_strings(values)
    return out if out.type == pa.large_string() else out.cast(pa.large_string())


def codes_in(values: pd.Series, uniques: np.ndarray) -> np.ndarray:
    """Position of each value in ``uniques`` (strings), -1 where absent or missing."""
    if len(values) == 0 or len(uniques) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    if isinstance(values.dtype, pd.CategoricalDtype):  # each distinct value once, then the codes
        of_category = _index_in(categories_of(values), uniques)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, np.r_[of_category, -1][codes], -1)
    return _index_in(arrow_strings(values), uniques)


def _index_in(values: pa.Array | pa.ChunkedArray, uniques: np.ndarray) -> np.ndarray:
    found = pc.index_in(values, value_set=pa.array(uniques, pa.string()))
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks()
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def in_spans(code: np.ndarray, us: np.ndarray, probe_code: np.ndarray, lo: np.ndarray,
             hi: np.ndarray) -> np.ndarray:
    """True where ``code`` >= 0 and ``us`` lies in ``[min lo, max hi]`` of that code's probes.

    Rows outside their client's span can never be found by a search of the probes, so they
    are dropped before sorting (a client fails at a few instants of a long period).
    """
    n = int(max(code.max(initial=-1), probe_code.max(initial=-1))) + 1
    first = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n + 1, np.iinfo(np.int64).min, dtype=np.int64)
    if len(probe_code):  # per code, min and max by reduceat over the probes sorted by code
        order = np.argsort(probe_code, kind="stable")
        sorted_code = probe_code[order]
        starts = np.r_[0, np.flatnonzero(sorted_code[1:] != sorted_code[:-1]) + 1]
        first[sorted_code[starts]] = np.minimum.reduceat(lo[order], starts)
        last[sorted_code[starts]] = np.maximum.reduceat(hi[order], starts)
    at = np.where(code >= 0, code, n)
    return (code >= 0) & (us >= first[at]) & (us <= last[at])


class Blocks:
    """Rows sorted by (client code, time) as one int64 key, for searches within a client.

    ``code`` (>= 0) and ``us`` are the rows' codes and times, ``probes`` every time that
    :meth:`key_of` will be asked about.  Times enter the key as offsets from the earliest of
    them; when codes and offsets do not fit 62 bits together (years of data, millions of
    clients), as their ranks among all those times (the same order and the same ties).
    ``order`` sorts the rows (equal keys in no particular order; empty with ``keep_order`` false),
    ``key``/``code``/``us`` the sorted values.
    """

    def __init__(self, code: np.ndarray, us: np.ndarray, probes: np.ndarray, *, keep_order: bool = True) -> None:
        both = np.concatenate([us, probes])
        base = int(both.min()) if len(both) else 0
        span = int(both.max()) - base + 1 if len(both) else 1
        n_codes = int(code.max()) + 1 if len(code) else 1
        self.shift = max(1, span.bit_length())
        self.times: np.ndarray | None = None
        if self.shift + n_codes.bit_length() > 62:
            self.times = np.unique(both)
            self.shift = max(1, len(self.times).bit_length())
        self.base = base
        key = self.key_of(code, us)
        if keep_order:  # rows with equal keys come in no particular order
            self.order = np.argsort(key)
            self.key = key[self.order]
            self.code = code[self.order]
            self.us = us[self.order]
        else:  # only the sorted keys are needed: np.sort is cheaper than argsort
            self.order = np.zeros(0, dtype=np.int64)
            self.key = np.sort(key)
            self.code = self.key >> self.shift
            low = self.key & ((1 << self.shift) - 1)
            self.us = low + base if self.times is None else self.times[low]

    def key_of(self, code: np.ndarray, us: np.ndarray) -> np.ndarray:
        """The sort key of (code, time); times must be among the rows' or the probes'."""
        offset = us - self.base if self.times is None else np.searchsorted(self.times, us)
        return (code.astype(np.int64) << self.shift) | offset

    def at(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(code, time) at sorted positions ``pos``; code -1 outside the rows."""
        inside = (pos >= 0) & (pos < len(self.key))
        if not len(self.key):
            return np.full(len(pos), -1, dtype=np.int64), np.zeros(len(pos), dtype=np.int64)
        safe = np.clip(pos, 0, len(self.key) - 1)
        return np.where(inside, self.code[safe], -1), self.us[safe]

    def restrict(self, mask: np.ndarray) -> None:
        """Keep only the sorted rows where ``mask`` is true."""
        self.key, self.code, self.us, self.order = (self.key[mask], self.code[mask], self.us[mask],
                                                    self.order[mask])
