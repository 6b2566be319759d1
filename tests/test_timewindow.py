"""``--window`` durations and ``--since``/``--until`` times (SPEC §2)."""

from __future__ import annotations

import pandas as pd
import pytest

from logcorr.errors import LogcorrError
from logcorr.timewindow import format_window, parse_time, parse_window


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),  # SPEC §2: a bare number is seconds
        ("90s", 90),
        ("5m", 300),  # the default
        ("1h", 3600),
        ("1h30m", 5400),
        ("2h5m10s", 7510),
        ("0", 0),
        (" 5m ", 300),
        ("10M", 600),
        ("1h10s", 3610),
    ],
)
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "m", "1h30", "30m1h", "5 m", "-5m", "1.5m", "5mm", "h"])
def test_bad_window_is_one_line_error(text: str) -> None:
    with pytest.raises(LogcorrError) as exc:
        parse_window(text)
    assert str(exc.value) == f"window {text!r} does not parse: use 90, 90s, 5m, 1h or 1h30m"
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (5400, "1h30m"), (90, "90s"), (3600, "1h"), (7510, "2h5m10s"), (0, "0s"),
     (60, "1m"), (2.5, "2.5s"), (3630, "1h30s")],
)
def test_format_window(seconds: float, text: str) -> None:
    assert format_window(seconds) == text
    if seconds == int(seconds):
        assert parse_window(text) == seconds  # round trip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26", "2026-11-26T00:00:00Z"),  # a date is midnight UTC
        ("2026-11-26T17:00:00Z", "2026-11-26T17:00:00Z"),
        ("2026-11-26T17:00:00", "2026-11-26T17:00:00Z"),  # no offset: UTC, not the machine's zone
        ("2026-11-26 17:00", "2026-11-26T17:00:00Z"),
        ("2026-11-26T22:30:00+05:30", "2026-11-26T17:00:00Z"),
        ("2026-11-26T17:00:00.250z", "2026-11-26T17:00:00.250Z"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    got = parse_time(text)
    assert got == pd.Timestamp(expected)
    assert str(got.tz) == "UTC"
    assert got.unit == "us"


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "17:00", ""])
def test_bad_time(text: str) -> None:
    with pytest.raises(LogcorrError, match="does not parse: use ISO 8601"):
        parse_time(text)
