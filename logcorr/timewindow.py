"""Parsing the report's time options: ``--window`` durations and ``--since``/``--until`` times.

``--window`` takes ``90``, ``90s``, ``5m``, ``1h``, ``1h30m`` or ``2h5m10s`` (SPEC §2):
hours, minutes and seconds in that order, each at most once; a bare number is seconds.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from logcorr.errors import LogcorrError

_WINDOW = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")


def parse_window(text: str) -> int:
    """Seconds in a window such as ``90``, ``90s``, ``5m``, ``1h`` or ``1h30m``.

    Raises :class:`LogcorrError` with a one-line message for anything else.
    """
    raw = text.strip().lower()
    if raw.isdigit():
        return int(raw)
    m = _WINDOW.fullmatch(raw)
    if not raw or m is None or not any(m.groupdict().values()):
        raise LogcorrError(f"window {text!r} does not parse: use 90, 90s, 5m, 1h or 1h30m")
    h, mi, s = (int(m.group(k) or 0) for k in ("h", "m", "s"))
    return h * 3600 + mi * 60 + s


def format_window(seconds: float) -> str:
    """The short form of a window: 300 → ``5m``, 5400 → ``1h30m``, 90 → ``90s``.

    Under an hour, a window that is not whole minutes stays in seconds (``90s`` reads
    better than ``1m30s``); fractions of a second are kept (``2.5s``).
    """
    if seconds != int(seconds):
        return f"{seconds:g}s"
    total = int(seconds)
    if total == 0 or (total < 3600 and total % 60):
        return f"{total}s"
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((h, "h"), (m, "m"), (s, "s")) if n)


def parse_time(text: str) -> pd.Timestamp:
    """A UTC timestamp from ISO 8601 text, for ``--since`` and ``--until``.

    Accepts a date (``2026-11-26``, midnight), a date and time with ``T`` or a space,
    with or without seconds and fractions, and with an offset (``Z``, ``+05:30``).
    A time **without an offset is UTC** (not the machine's zone): the tables are UTC,
    and a report must not change with the machine it runs on.
    """
    raw = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise LogcorrError(
            f"time {text!r} does not parse: use ISO 8601, e.g. 2026-11-26T17:00:00Z or 2026-11-26"
        ) from None
    ts = pd.Timestamp(parsed)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


def iso(ts: object) -> str | None:
    """UTC ``2026-11-26T17:00:00Z``, the fraction kept when there is one; None for NaT/None."""
    if ts is None or pd.isna(ts):  # type: ignore[call-overload]
        return None
    t = pd.Timestamp(ts)  # type: ignore[arg-type]
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return str(text) + "Z"


def iso_second(ts: object) -> str | None:
    """UTC time to the second, ``2026-11-26T17:00:00Z``; None for NaT/None."""
    text = iso(ts)
    return None if text is None else text.split(".", 1)[0].removesuffix("Z") + "Z"
