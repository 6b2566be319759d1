"""Arrow arrays without pandas (``logcorr.sources.arrays``) equal what ``pa.array`` builds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from logcorr import schema
from logcorr.sources import arrays


@pytest.mark.parametrize(("values", "typ"), [
    ([1, None, -3, 2**62], pa.int64()),
    ([7, None], pa.int16()),
    ([1, 2], pa.int8()),
    ([65535, None, 0], pa.int32()),
    ([1_795_714_168_000_000, None], schema.TS),
    ([True, None, False], pa.bool_()),
    ([1.0, None, 0.5], pa.float32()),
    (["a", None, "", "é\\x00"], pa.string()),
    ([b"\x00\xff", None], pa.binary()),
    ([None, None], pa.string()),
    ([], pa.string()),
    ([None] * 9 + [1], pa.int64()),  # a validity bitmap of two bytes
])
def test_column_is_pa_array(values: list[Any], typ: pa.DataType) -> None:
    got = arrays.column(values, typ)
    assert got.type == typ
    assert got.equals(pa.array(values, type=typ))


def test_repeat_and_take() -> None:
    assert arrays.repeat("x", pa.string(), 3).to_pylist() == ["x"] * 3
    assert arrays.repeat(None, pa.int16(), 2).to_pylist() == [None, None]
    assert arrays.take(arrays.strings(["a", "b", "c"]), np.array([2, 0])).to_pylist() == ["c", "a"]


def test_numpy_views_respect_offsets_and_nulls() -> None:
    b = pa.array([True, False, None, True, True, False, True, False, True, True])
    for start in range(4):
        part = b.slice(start, 6)
        assert arrays.as_bools(part).tolist() == [bool(v) for v in part.to_pylist()]
    assert arrays.as_bools(pa.chunked_array([b.slice(0, 3), b.slice(5)])).tolist() == [
        True, False, False, False, True, False, True, True]
    ints = pa.array([5, 6, 7, 8], pa.int32()).slice(1, 2)
    assert arrays.as_ints(ints).tolist() == [6, 7]
