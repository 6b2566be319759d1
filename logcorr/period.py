"""The ``--last`` period of ``logcorr watch``: what a round's report reads, and the counters.

:class:`WindowStore` is a :class:`~logcorr.store.Store` that shows only rows at or after a
floor (tables with ``ts``): files whose newest ``ts`` is older (:class:`FileIndex`, from the
Parquet statistics, read once per file) are not opened, and rows are filtered as read, so
a report costs what the period holds, not what the data directory holds.

:class:`FailureCounter` keeps ``logcorr_handshake_failures_total`` monotonic over all the
data: failures that slide out of the period are added to a sealed total; the history
before the first period is counted once (:meth:`FailureCounter.set_history`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from logcorr.store import Store

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from logcorr.report.build import Report

EVENT_TABLES = ("handshake_failures", "tls_sessions")  # their newest ts is "newest ingested"
MAX_WEST = pd.Timedelta(hours=12)  # UTC-12:00, the westernmost offset: true ts <= ts_wall + 12 h


Range = tuple[pd.Timestamp | None, pd.Timestamp | None, pd.Timestamp | None]


class FileIndex:
    """``(min ts, max ts, reach)`` of every committed Parquet file, from its statistics (read
    once); ``reach`` is the latest true time a row may have (see :func:`_ts_range`)."""

    def __init__(self) -> None:
        self.ranges: dict[str, Range] = {}

    def range(self, path: Path) -> Range:
        key = str(path)
        if key not in self.ranges:
            self.ranges[key] = _ts_range(path)
        return self.ranges[key]

    def refresh(self, store: Store) -> list[Path]:
        """Index the files committed since the last call; returns the new event-table files."""
        new = []
        for table in EVENT_TABLES:
            for f in store.files(table):
                if str(f) not in self.ranges:
                    self.range(f)
                    new.append(f)
        live = {str(f) for table in store.manifest.get("commits", []) for fs in table["files"].values()
                for f in fs}
        for key in [k for k in self.ranges if os.path.relpath(k, store.path) not in live]:
            del self.ranges[key]  # replaced or swept files
        return new

    def newest(self, store: Store) -> pd.Timestamp | None:
        stamps = [hi for table in EVENT_TABLES for f in store.files(table)
                  if (hi := self.range(f)[1]) is not None]
        return max(stamps) if stamps else None


def _ts_range(path: Path) -> Range:
    """(min, max, reach) of the file's ``ts`` from its row-group statistics; None when unknown.

    ``reach`` allows for rows whose ``ts`` the report re-places (error-log times read in the
    machine's zone, ``tz_source`` ``machine``: :func:`logcorr.evidence.place_times`): such
    a row's true time is at most ``ts_wall`` + :data:`MAX_WEST`.
    """
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(path).metadata
        names = md.schema.names
        col = names.index("ts")
    except (OSError, ValueError):
        return None, None, None
    wall = names.index("ts_wall") if "ts_wall" in names else None
    lo: pd.Timestamp | None = None
    hi: pd.Timestamp | None = None
    reach: pd.Timestamp | None = None
    for i in range(md.num_row_groups):
        group = md.row_group(i)
        st = group.column(col).statistics
        if group.num_rows == 0:
            continue
        if st is None or not st.has_min_max:
            return None, None, None  # unknown: the file is always read
        a, b = _utc(st.min), _utc(st.max)
        r = b
        if wall is not None:
            ws = group.column(wall).statistics
            if ws is not None and ws.has_min_max:
                r = max(b, _utc(ws.max) + MAX_WEST)
            elif ws is None or ws.null_count != group.num_rows:
                return a, b, None
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
        reach = r if reach is None else max(reach, r)
    return lo, hi, reach


def _utc(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


class WindowStore(Store):
    """A :class:`Store` that shows only rows at or after ``floor`` (tables with ``ts``)."""

    def __init__(self, path: Path, floor: pd.Timestamp, index: FileIndex) -> None:
        super().__init__(path)
        self.floor = floor
        self.index = index

    def files(self, table: str) -> list[Path]:
        out = super().files(table)
        if not _has_ts(table):
            return out
        return [f for f in out if (reach := self.index.range(f)[2]) is None or reach >= self.floor]

    def read(self, table: str, columns: Sequence[str] | None = None,
             filter: ds.Expression | None = None) -> pa.Table:
        if _has_ts(table):
            import pyarrow.dataset as pds

            cut = pds.field("ts") >= self.floor.to_pydatetime()
            if _has_ts(table, "ts_wall") and _has_ts(table, "tz_source"):
                # Rows the report re-places in time are kept by their wall clock (see _ts_range).
                cut = cut | ((pds.field("tz_source") == "machine")
                             & (pds.field("ts_wall") >= (self.floor - MAX_WEST).to_pydatetime()))
            filter = cut if filter is None else (filter & cut)
        return super().read(table, columns, filter)


def _has_ts(table: str, column: str = "ts") -> bool:
    from logcorr import schema

    tschema = schema.TABLES.get(table)
    return tschema is not None and column in tschema.names


class FailureCounter:
    """``logcorr_handshake_failures_total``: sealed history plus the current period, monotonic."""

    def __init__(self) -> None:
        self.sealed: Counter[tuple[str, str]] = Counter()
        self.sealed_until: pd.Timestamp | None = None
        self.previous: pd.DataFrame | None = None  # (ts, reason, host) of the last period
        self.exposed: dict[tuple[str, str], int] = {}

    def needs_history(self, oldest_new: pd.Timestamp | None, since: pd.Timestamp) -> bool:
        """True on the first round, when the period starts before the sealed line (it moved
        back), and when newly ingested failures are older than the period starting at
        ``since``: no report has seen them (a back-fill, a late host, or a round that read
        more than a period of backlog)."""
        if self.sealed_until is None or since < self.sealed_until:  # first, or the period moved back
            return True
        return oldest_new is not None and oldest_new < since

    def set_history(self, counts: Counter[tuple[str, str]], until: pd.Timestamp) -> None:
        self.sealed, self.sealed_until, self.previous = counts, until, None

    def advance(self, since: pd.Timestamp, current: pd.DataFrame) -> dict[tuple[str, str], int]:
        """Seal what left the period (failures in ``[sealed_until, since)``), add the period."""
        if self.previous is not None and self.sealed_until is not None and since > self.sealed_until:
            prev = self.previous
            gone = prev[(prev["ts"] >= self.sealed_until) & (prev["ts"] < since)]
            self.sealed.update(count_rows(gone))
        if self.sealed_until is None or since > self.sealed_until:
            self.sealed_until = since
        self.previous = current
        total = Counter(self.sealed)
        total.update(count_rows(current))
        for key, n in total.items():
            self.exposed[key] = max(self.exposed.get(key, 0), n)
        return dict(self.exposed)


def count_rows(frame: pd.DataFrame) -> Counter[tuple[str, str]]:
    if frame.empty:
        return Counter()
    pairs = zip(frame["reason"].astype(str), frame["host"].astype(str), strict=True)
    return Counter(pairs)


def failure_rows(report: Report, store: Store, default_host: str) -> pd.DataFrame:
    """``ts``, ``reason``, ``host`` of the report's failures (one row per merged failure)."""
    m = report.frames.get("matches")
    if m is not None and "failure_key" in m:  # schema 2: one row per stored row, copies share a key
        m = m.drop_duplicates("failure_key")
    if m is None or m.empty:
        return pd.DataFrame({"ts": pd.Series([], dtype="datetime64[us, UTC]"),
                             "reason": pd.Series([], dtype=object), "host": pd.Series([], dtype=object)})
    if "host" in m:
        host = m["host"].astype(object).fillna(default_host)
    else:  # matches without a host column: the host of the source file, else this machine
        by_file = {p: s.get("host") for s in store.manifest.get("sources", []) for p in s.get("paths", [])}
        host = m.get("file", pd.Series([None] * len(m), index=m.index)).astype(object).map(by_file)
        host = host.fillna(default_host)
    return pd.DataFrame({"ts": pd.to_datetime(m["ts"], utc=True), "reason": m["reason"].astype(object)
                         .fillna("other"), "host": host.astype(str)}).reset_index(drop=True)
