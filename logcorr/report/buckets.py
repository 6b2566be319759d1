"""Time buckets of the report's "failures over time" chart, chosen from the period.

The first width of :data:`BUCKETS_S` that gives at most :data:`MAX_BUCKETS` buckets over
the period: a seven-second lab run gets one-second bars, a day five-minute ones, a month
six-hour ones.  The width is stated under the chart and in the JSON (``timeline_bucket_s``).
"""

from __future__ import annotations

BUCKETS_S = (1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 60


def bucket_s(span_s: float) -> int:
    """The bucket width in seconds for a period of ``span_s`` seconds."""
    return next((b for b in BUCKETS_S if span_s / b <= MAX_BUCKETS), BUCKETS_S[-1])


def bucket_label(width_s: int) -> str:
    """``5 s``, ``5 min``, ``1 h``, ``1 day``, ``1 week``."""
    if width_s % (7 * 86400) == 0:
        n, unit = width_s // (7 * 86400), "week"
    elif width_s % 86400 == 0:
        n, unit = width_s // 86400, "day"
    elif width_s % 3600 == 0:
        return f"{width_s // 3600} h"
    elif width_s % 60 == 0:
        return f"{width_s // 60} min"
    else:
        return f"{width_s} s"
    return f"{n} {unit}{'s' if n != 1 else ''}"
