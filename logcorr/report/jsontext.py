"""The JSON report's text: ``json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False)``, faster.

With ``indent`` the standard library leaves its C encoder for a Python generator that
yields every comma, key and value on its own; a report of a million failures lists
hundreds of thousands of clients, and that walk took longer than building them.  This
writer makes the same text in one recursive pass over the containers, with the C string
escaper for every string, appending to one list.  ``tests/test_jsontext.py`` holds it to
the standard library's output on generated documents.  (It does not look for reference
cycles: a report has none.)
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _string  # type: ignore[attr-defined]
from typing import Any

_INF = float("inf")


def dumps(obj: Any) -> str:
    """``obj`` as ``json.dumps(obj, indent=2, ensure_ascii=True, allow_nan=False)`` writes it."""
    out: list[str] = []
    _write(obj, out.append, "\n")
    return "".join(out)


def _float(x: float) -> str:
    if x != x or x == _INF or x == -_INF:
        raise ValueError("Out of range float values are not JSON compliant: " + repr(x))
    return float.__repr__(x)


def _scalar(o: Any) -> str | None:
    """The text of a str, number, bool or None; None for anything else."""
    if isinstance(o, str):
        return str(_string(o))
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    return None


def _key(k: Any) -> str:
    """A key as json writes it: a number, bool or None as its text in quotes."""
    if isinstance(k, str):
        return str(_string(k))
    if isinstance(k, (int, float)) or k is None:  # bool is an int
        return f'"{_scalar(k)}"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _bool(b: bool) -> str:
    return "true" if b else "false"


def _null(_: None) -> str:
    return "null"


_EXACT: dict[type, Callable[[Any], str]] = {str: _string, int: int.__repr__, float: _float, bool: _bool,
                                             type(None): _null}
"""The text of a scalar by its exact type: one lookup per value (subclasses go through :func:`_scalar`)."""


def _write(o: Any, put: Callable[[str], None], nl: str) -> None:
    # The dict and list loops below repeat the scalar dispatch on purpose: a helper call per
    # member is what this writer exists to avoid (hundreds of thousands of client objects).
    exact = _EXACT.get(type(o))
    if exact is not None:
        put(exact(o))
        return
    text = _scalar(o)
    if text is not None:
        put(text)
    elif isinstance(o, dict):
        if not o:
            put("{}")
            return
        inner = nl + "  "
        sep = "{" + inner
        scalar = _EXACT.get
        for k, v in o.items():
            head = sep + (_string(k) if type(k) is str else _key(k)) + ": "
            exact = scalar(type(v))
            if exact is not None:
                put(head + exact(v))
            else:
                put(head)
                _write(v, put, inner)
            sep = "," + inner
        put(nl + "}")
    elif isinstance(o, (list, tuple)):
        if not o:
            put("[]")
            return
        inner = nl + "  "
        sep = "[" + inner
        scalar = _EXACT.get
        for v in o:
            exact = scalar(type(v))
            if exact is not None:
                put(sep + exact(v))
            else:
                put(sep)
                _write(v, put, inner)
            sep = "," + inner
        put(nl + "]")
    else:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
