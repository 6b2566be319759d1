"""The JSON report's writer (``logcorr.report.jsontext``) against the standard library.

``render_json`` must be ``json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)``
to the byte: generated documents of every JSON type (non-ASCII, control and astral
characters, empty containers, tuples, numeric/bool/None keys, big integers, -0.0,
exponents) and the errors for NaN, infinities and objects JSON cannot write.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logcorr.report.jsontext import dumps

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text())
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False, allow_infinity=False)
DOCS = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.tuples(inner, inner)
                    | st.dictionaries(KEYS, inner), max_leaves=40)


def _stdlib(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=True, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(DOCS)
def test_same_text_as_the_standard_library(doc: Any) -> None:
    assert dumps(doc) == _stdlib(doc)


@pytest.mark.parametrize("doc", [
    {}, [], {"a": {}, "b": [], "c": [[]]}, "é\u2028\U0001f600\x00\x1f\"\\", -0.0, 1e-05, 1e16, 2 ** 70,
    {1: "int key", 1.5: "float", False: "bool", None: "none"}, ({"t": (1, 2)},),
])
def test_edge_documents(doc: Any) -> None:
    assert dumps(doc) == _stdlib(doc)


@pytest.mark.parametrize("doc", [float("nan"), [float("inf")], {"x": -float("inf")}, {float("nan"): 1}])
def test_out_of_range_floats_are_refused(doc: Any) -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        _stdlib(doc)
    with pytest.raises(ValueError, match="Out of range float"):
        dumps(doc)


@pytest.mark.parametrize("doc", [{"x": object()}, [b"bytes"], {(1, 2): "tuple key"}, {1j}])
def test_what_json_cannot_write_is_a_type_error(doc: Any) -> None:
    with pytest.raises(TypeError):
        _stdlib(doc)
    with pytest.raises(TypeError):
        dumps(doc)
