"""One client's story: its failures, sessions and captured hellos on one timeline (``logcorr show``).

:func:`timeline` is pure (frames in, one frame out) and feeds both the terminal
(:func:`render_timeline`) and the HTML report's per-client drill-down.  Every row keeps the
file and line it came from; suites are named the IANA and the OpenSSL way, groups and
versions by name, and captured hellos carry their JA3/JA4.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from logcorr.errors import LogcorrError
from logcorr.policies import suite_label
from logcorr.profile import SCSVS, group_name, normalize_protocol, protocol_label, suite_name
from logcorr.textsafe import clean
from logcorr.whatif import iso

if TYPE_CHECKING:
    from logcorr.api import Dataset

COLUMNS = ["ts", "kind", "what", "detail", "file", "line", "source"]
_SUITES_SHOWN = 8


def _seq(value: Any) -> list[Any]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)


def _str(value: Any) -> str:
    return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)


def cipher_label(name: str) -> str:
    """A logged OpenSSL suite name with its IANA name."""
    from logcorr.whatif import cipher_code

    code = cipher_code(name)
    if code is None:
        return name
    iana = suite_name(code)
    return name if iana == name else f"{name} ({iana})"


def _hello_detail(row: Any) -> tuple[str, str]:
    versions = [normalize_protocol(str(v)) or str(v) for v in _seq(getattr(row, "versions", None))]
    hv = _str(getattr(row, "hello_version", None))
    offered = ", ".join(protocol_label(v) for v in versions) if versions else f"up to {protocol_label(hv)}"
    suites = [int(s) for s in _seq(getattr(row, "cipher_suites", None))]
    real = [s for s in suites if s not in SCSVS]
    names = [suite_label(s) for s in real[:_SUITES_SHOWN]]
    more = f" and {len(real) - _SUITES_SHOWN} more" if len(real) > _SUITES_SHOWN else ""
    groups = [group_name(int(g)) for g in _seq(getattr(row, "groups", None))]
    scsv = bool(getattr(row, "has_fallback_scsv", False) is True) or 0x5600 in suites
    what = f"hello offering {offered}" + (" with TLS_FALLBACK_SCSV" if scsv else "") + \
        f", ended {_str(getattr(row, 'outcome', None)) or '?'}"
    parts = [f"{len(real)} suites: {'; '.join(names)}{more}"]
    if groups:
        parts.append("groups " + ", ".join(groups))
    sni = _str(getattr(row, "sni", None))
    if sni:
        parts.append(f"SNI {sni}")
    for key in ("ja3", "ja4"):
        val = _str(getattr(row, key, None))
        if val:
            parts.append(f"{key.upper()} {val}")
    return what, "; ".join(parts)


def timeline(failures: pd.DataFrame, sessions: pd.DataFrame, hellos: pd.DataFrame | None = None,
             matches: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per failure, session and captured hello of one client, in time order (:data:`COLUMNS`).

    ``matches`` (``correlate`` output for these failures) adds "recovered after N s" to failures.
    """
    rows: list[dict[str, Any]] = []
    rec: dict[tuple[str, int], Any] = {}
    if matches is not None and len(matches):
        for m in matches.itertuples(index=False):
            rec[(_str(m.file), int(m.line) if not pd.isna(m.line) else -1)] = m
    for r in failures.itertuples(index=False):
        line = int(r.line) if not pd.isna(r.line) else -1
        m = rec.get((_str(r.file), line))
        tail = ""
        if m is not None and not bool(m.attributable):
            tail = "; unattributable (" + _str(m.attribution) + ")"
        elif m is not None and m.recovered is not pd.NA and bool(m.recovered):
            tail = f"; recovered after {m.delay_s:.0f} s ({_str(m.recovered_protocol)})"
        elif m is not None:
            tail = "; not recovered within the window"
        rows.append({"ts": r.ts, "kind": "failure", "what": f"{_str(r.reason)}{tail}",
                     "detail": clean(_str(getattr(r, "reason_text", None))), "file": _str(r.file), "line": line,
                     "source": _str(getattr(r, "source", None))})
    for r in sessions.itertuples(index=False):
        proto = _str(getattr(r, "ssl_protocol", None))
        cipher = _str(getattr(r, "ssl_cipher", None))
        what = f"session {protocol_label(proto) if proto else '(no TLS fields)'}"
        detail = cipher_label(cipher) if cipher else ""
        sni = _str(getattr(r, "server_name", None))
        if sni:
            detail += f"; SNI {clean(sni)}"
        rows.append({"ts": r.ts, "kind": "session", "what": what, "detail": detail, "file": _str(r.file),
                     "line": int(r.line) if not pd.isna(r.line) else -1, "source": _str(r.source)})
    for r in (hellos.itertuples(index=False) if hellos is not None else []):
        what, detail = _hello_detail(r)
        rows.append({"ts": r.ts, "kind": "hello", "what": what, "detail": clean(detail), "file": _str(r.file),
                     "line": int(r.line) if not pd.isna(r.line) else -1, "source": "pcap"})
    out = pd.DataFrame(rows, columns=COLUMNS)
    if out.empty:
        return out
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    order = out["kind"].map({"hello": 0, "failure": 1, "session": 2})
    return out.assign(_o=order).sort_values(["ts", "_o", "file", "line"], kind="stable").drop(
        columns="_o").reset_index(drop=True)


def render_timeline(client: str, frame: pd.DataFrame) -> str:
    """The terminal text of :func:`timeline`: a count line, then one line per row."""
    kinds = frame["kind"].value_counts() if len(frame) else pd.Series(dtype=int)
    head = (f"{clean(client)}: {int(kinds.get('failure', 0))} failures, {int(kinds.get('session', 0))} sessions, "
            f"{int(kinds.get('hello', 0))} captured hellos")
    lines = [head]
    for r in frame.itertuples(index=False):
        where = f"{r.file}:{r.line}" if r.line >= 0 else r.file
        lines.append(f"{iso(r.ts)}  {r.kind:<7}  {r.what}  [{where}]")
        if r.detail:
            lines.append(f"{'':22}{r.detail}")
    return "\n".join(lines) + "\n"


def client_timeline(dataset: Dataset, client: str, window: str | int = "5m") -> pd.DataFrame:
    """Read one client's rows from ``dataset`` and build its :func:`timeline`.

    Failures are those the report attributes to ``client`` (error-log times placed and
    PROXY evidence applied as for the report: :func:`logcorr.evidence.load_evidence`).
    """
    import pyarrow.dataset as ds

    from logcorr.api import SESSION_COLUMNS, to_pandas
    from logcorr.attribution import attribute_failures
    from logcorr.correlate import correlate, mark_load_balancers
    from logcorr.evidence import load_evidence
    from logcorr.schema import TABLES
    from logcorr.timewindow import parse_window

    store = dataset.store
    store.require()
    window_s = window if isinstance(window, int) else parse_window(window)
    ev = load_evidence(dataset)
    every = attribute_failures(mark_load_balancers(ev.failures, ev.lb_networks, ev.lb_addrs), ev.headers)
    failures = every[every["client_addr"].astype(object).eq(client).to_numpy(dtype=bool)].reset_index(drop=True)
    flt = ds.field("client_addr") == client
    scols = [*SESSION_COLUMNS, *[c for c in ("server_name", "user_agent") if c in TABLES["tls_sessions"].names
                                 and c not in SESSION_COLUMNS]]
    sessions = to_pandas(store.read("tls_sessions", scols, flt))
    hellos = to_pandas(store.read("client_hellos", None, flt)) if store.files("client_hellos") else None
    if failures.empty and sessions.empty and (hellos is None or hellos.empty):
        raise LogcorrError(f"no failures, sessions or captured hellos for {client!r} in {store.path}")
    matches = correlate(failures, sessions, window_s, lb_networks=ev.lb_networks,
                        lb_addrs=ev.lb_addrs) if len(failures) else None
    return timeline(failures, sessions, hellos, matches)
