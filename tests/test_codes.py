"""``logcorr.codes``: the integer views of text columns give what the text gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logcorr.codes import sort_codes, sorted_categorical, sorted_codes

VALUES = ["10.0.0.2", None, "10.0.0.10", "2001:db8::1", "10.0.0.2", "é-not-ascii", "10.0.0.10", "A"]


def _as_text(codes: np.ndarray, distinct: list[str]) -> list[str | None]:
    return [distinct[c] if c >= 0 else None for c in codes]


@pytest.mark.parametrize("kind", ["string", "categorical", "categorical subset", "object"])
def test_sorted_codes_index_the_sorted_distinct_values(kind: str) -> None:
    values = pd.Series(VALUES, dtype=pd.StringDtype())
    if kind == "object":
        values = values.astype(object)
    if kind.startswith("categorical"):
        values = sorted_categorical(values)
    if kind == "categorical subset":  # a slice keeps every category of the whole column
        values = values.iloc[[0, 1, 4, 7]]
    codes, distinct = sorted_codes(values)
    names = distinct.to_pylist()
    present = sorted({v for v in values.astype(object) if isinstance(v, str)})
    assert names == present  # every category occurs, in code point order
    assert _as_text(codes, names) == [v if isinstance(v, str) else None for v in values.astype(object)]


def test_sorted_categorical_same_values_and_order() -> None:
    values = pd.Series(VALUES, dtype=pd.StringDtype(), index=range(10, 18), name="client_addr")
    cat = sorted_categorical(values)
    assert cat.index.equals(values.index)
    assert cat.name == "client_addr"
    assert cat.astype(object).where(cat.notna(), None).tolist() == values.astype(object).where(values.notna(), None).tolist()
    assert cat.cat.categories.is_monotonic_increasing
    np.testing.assert_array_equal(sort_codes(cat), sort_codes(values))
    assert sorted_categorical(cat) is cat
