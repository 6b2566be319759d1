"""The verdict's client helpers on codes give what the plain pandas computation gives.

The report hands the verdict a categorical ``client_addr`` (sorted categories, some of them
unused in a subset, missing values as code -1); tests and notebooks hand it text.  Both
must rank, count and look up clients alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logcorr.codes import sorted_categorical
from logcorr.report.verdict import _distinct, _in, _pool, _ranked


def _frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = np.array([f"10.0.{i // 256}.{i % 256}" for i in range(300)] + ["2001:db8::1", "b", "a"], dtype=object)
    values = names[rng.integers(0, len(names), 2_000)].astype(object)
    values[rng.random(len(values)) < 0.05] = None
    text = pd.DataFrame({"client_addr": pd.array(values, dtype=pd.StringDtype())})
    coded = pd.DataFrame({"client_addr": sorted_categorical(text["client_addr"])})
    keep = rng.random(len(values)) < 0.3  # a subset keeps every category: some are unused
    return text[keep], coded[keep]


def _ranked_by_pandas(frame: pd.DataFrame, limit: int | None) -> list[str]:
    counts = frame["client_addr"].dropna().astype(str).value_counts()
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in order][:limit]


@pytest.mark.parametrize("seed", range(5))
def test_ranked_distinct_and_in_on_codes_and_text(seed: int) -> None:
    text, coded = _frames(seed)
    for frame in (text, coded):
        assert _ranked(frame, None) == _ranked_by_pandas(text, None)
        assert _ranked(frame, 7) == _ranked_by_pandas(text, 7)
        assert sorted(_distinct(frame).to_pylist()) == sorted(set(text["client_addr"].dropna()))
    pool = _pool({"a", "10.0.0.5", "10.0.1.7", "not seen"})
    want = text["client_addr"].isin(["a", "10.0.0.5", "10.0.1.7"]).fillna(False).to_numpy(dtype=bool)
    assert (_in(coded["client_addr"], pool) == want).all()
    assert (_in(text["client_addr"], pool) == want).all()


def test_ranked_and_in_on_empty() -> None:
    empty = pd.DataFrame({"client_addr": sorted_categorical(pd.Series([], dtype=pd.StringDtype()))})
    assert _ranked(empty, None) == []
    assert _in(empty["client_addr"], _pool({"a"})).shape == (0,)
