"""What the report needs from the sessions table: a few numbers and a set (SPEC §7).

Sessions are the big table (millions of rows a day per host) and the report asks little of
them: how many began in the period (requests, and connections: ``is_connection`` true or
unknown), when the first and last began, whether there are any at all (can recovery be
judged), and which of the failing clients ever had one (``ever_succeeded``).  Engines compute
a :class:`SessionSummary` where the rows are — :func:`summarise_sessions` over one frame, or
over each partition then :func:`combine` — and the one report builder takes it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class SessionSummary:
    """Session facts for one report period (``[since, until)``; all rows when unbounded)."""

    requests: int = 0
    """Session rows that began in the period."""
    connections: int = 0
    """Of those, the connections: ``is_connection`` true or unknown."""
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    any_sessions: bool = False
    """Whether the data holds any session at all, in the period or not."""
    succeeded: frozenset[str] = field(default_factory=frozenset)
    """Clients (of those asked about) with a session at any time, any protocol."""


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")


def summarise_sessions(sessions: pd.DataFrame, since: Any = None, until: Any = None,
                       clients: Collection[str] | None = None) -> SessionSummary:
    """The summary of ``sessions`` (``ts``, ``client_addr``, ``is_connection`` when known).

    ``clients``: the addresses ``succeeded`` is asked about (None: every address).
    """
    ts = _utc(sessions["ts"]) if len(sessions) else pd.Series([], dtype="datetime64[us, UTC]")
    keep = pd.Series(True, index=sessions.index)
    if since is not None:
        keep &= (ts >= since).fillna(False).astype(bool)
    if until is not None:
        keep &= (ts < until).fillna(False).astype(bool)
    inside = keep.to_numpy(dtype=bool)
    if "is_connection" in sessions:
        conn = int(sessions["is_connection"].astype("boolean").fillna(True).to_numpy(dtype=bool)[inside].sum())
    else:
        conn = int(inside.sum())
    stamps = ts[inside].dropna()
    addrs = sessions["client_addr"].dropna().astype(str)
    if clients is not None:
        addrs = addrs[addrs.isin(list(clients)).to_numpy(dtype=bool)]
    return SessionSummary(
        requests=int(inside.sum()), connections=conn,
        first=stamps.min() if len(stamps) else None, last=stamps.max() if len(stamps) else None,
        any_sessions=len(sessions) > 0, succeeded=frozenset(addrs.unique().tolist()))


def combine(parts: Iterable[SessionSummary]) -> SessionSummary:
    """One summary of disjoint sets of session rows (partitions)."""
    parts = list(parts)
    firsts = [p.first for p in parts if p.first is not None]
    lasts = [p.last for p in parts if p.last is not None]
    return SessionSummary(
        requests=sum(p.requests for p in parts), connections=sum(p.connections for p in parts),
        first=min(firsts) if firsts else None, last=max(lasts) if lasts else None,
        any_sessions=any(p.any_sessions for p in parts),
        succeeded=frozenset().union(*(p.succeeded for p in parts)))
