"""Session facts: DuckDB over the Parquet files (``logcorr.factsdb``) equals the pandas reference.

Data: the committed samples, a generated fleet (``tools/make_fleet.py``) and seeded random
tables whose columns take every awkward value the readers store: nulls everywhere, rows
without a host, capture rows, stream rows with status 400/500, plain requests answered
400 or with a redirect, protocol spellings that need normalising, empty and ``-`` ciphers.
Each fact frame and scalar is compared, then whole reports (JSON) with periods and
``--ignore`` / ``--scanner`` blocks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import logcorr
from logcorr.facts import KEYS, Scope, SessionFacts, facts_from_frames
from logcorr.factsdb import Ahead, connect, facts_from_store
from logcorr.report.pipeline import run_report
from logcorr.report.render import render_json
from logcorr.report.sections import iso_many
from logcorr.store import Store
from logcorr.timewindow import iso
from tools.make_fleet import write_fleet_store

ROOT = Path(__file__).resolve().parent.parent
T0 = pd.Timestamp("2026-11-26T17:00:00Z")
ADDRS = [f"198.51.100.{i}" for i in range(1, 25)] + [f"10.0.1.{i}" for i in range(1, 13)]


def _pick(rng: np.random.Generator, values: list[Any], n: int) -> list[Any]:
    return [values[i] for i in rng.integers(0, len(values), n)]


def _times(rng: np.random.Generator, n: int, null_share: float = 0.0) -> pa.Array:
    us = T0.value // 1000 + rng.integers(0, 3 * 3_600_000_000, n)
    mask = rng.random(n) < null_share
    return pa.array(us, pa.timestamp("us", tz="UTC"), mask=mask)


def random_tables(seed: int, n: int = 2500) -> dict[str, pa.Table]:
    """``tls_sessions``, ``plain_requests`` and ``handshake_failures`` with awkward values."""
    rng = np.random.default_rng(seed)
    clients = [*ADDRS, None]
    sessions = pa.table({
        "ts": _times(rng, n, 0.02),
        "source": pa.array(_pick(rng, ["nginx_access"] * 5 + ["nginx_stream", "pcap", None], n), pa.string()),
        "client_addr": pa.array(_pick(rng, clients, n), pa.string()),
        "ssl_protocol": pa.array(_pick(rng, ["TLSv1.3", "TLSv1.2", "TLSv1.2", "TLSv1.1", "TLSv1", "TLSv1.0",
                                             "SSLv3", "weird", None], n), pa.string()),
        "ssl_cipher": pa.array(_pick(rng, ["ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA", "ECDHE-RSA-AES128-SHA",
                                           "TLS_AES_256_GCM_SHA384", "", "-", None], n), pa.string()),
        "server_name": pa.array(_pick(rng, ["api.example.com", "www.example.com", "", "-", None], n), pa.string()),
        "user_agent": pa.array(_pick(rng, ["curl/8.5.0", "okhttp/2.2.0", "Mozilla/5.0 Firefox/120.0",
                                           "Mozilla/4.0 (compatible; MSIE 8.0)", "Googlebot/2.1", "-", "", None],
                                     n), pa.string()),
        "is_connection": pa.array(_pick(rng, [True, True, False, None], n), pa.bool_()),
        "status": pa.array(_pick(rng, [200, 200, 400, 500, 301, None], n), pa.int32()),
        "host": pa.array(_pick(rng, ["web-1", "web-2", None], n), pa.string()),
        "file": pa.array(_pick(rng, ["web-1/access.log", "web-2/access.log"], n), pa.string()),
        "line": pa.array(np.arange(1, n + 1), pa.int64()),
    })
    m = n // 5
    plain = pa.table({
        "ts": _times(rng, m, 0.02),
        "source": pa.array(["nginx_access"] * m, pa.string()),
        "client_addr": pa.array(_pick(rng, clients, m), pa.string()),
        "status": pa.array(_pick(rng, [200, 400, 400, 301, 302, 307, 308, 404, None], m), pa.int32()),
        "host": pa.array(_pick(rng, ["web-1", "web-3", None], m), pa.string()),
        "file": pa.array(["web-1/access.log"] * m, pa.string()),
        "line": pa.array(np.arange(n + 1, n + m + 1), pa.int64()),
    })
    k = n // 8
    reasons = ["inappropriate_fallback", "no_shared_cipher", "unsupported_protocol", "peer_closed", "not_tls"]
    burst = 12  # one address tries several reasons within seconds: a scanner (SPEC §6)
    f_ts = (T0.value // 1000 + rng.integers(0, 3 * 3_600_000_000, k)) // 1_000_000 * 1_000_000
    f_ts[:burst] = T0.value // 1000 + 3_600_000_000 + np.arange(burst) * 200_000
    f_client = _pick(rng, ADDRS, k)
    f_client[:burst] = ["198.51.100.20"] * burst
    failures = pa.table({
        "ts": pa.array(f_ts, pa.timestamp("us", tz="UTC")),
        "source": pa.array(["nginx_error"] * k, pa.string()),
        "client_addr": pa.array(f_client, pa.string()),
        "client_is_real": pa.array([True] * k, pa.bool_()),
        "reason": pa.array([reasons[i % len(reasons)] for i in range(k)], pa.string()),
        "reason_text": pa.array(["SSL_do_handshake() failed"] * k, pa.string()),
        "conn_id": pa.array(np.arange(10_000, 10_000 + k), pa.int64()),
        "server_addr": pa.array(["0.0.0.0:443"] * k, pa.string()),
        "file": pa.array(_pick(rng, ["web-1/error.log", "web-2/error.log", "web-4/error.log"], k), pa.string()),
        "line": pa.array(np.arange(1, k + 1), pa.int64()),
        "level": pa.array(["info"] * k, pa.string()),
        "client_side": pa.array([True] * k, pa.bool_()),
        "ts_precision_s": pa.array([1.0] * k, pa.float32()),
        "host": pa.array(_pick(rng, ["web-1", "web-2", "web-4", None], k), pa.string()),
    })
    return {"tls_sessions": sessions, "plain_requests": plain, "handshake_failures": failures}


def write_store(path: Path, tables: dict[str, pa.Table], settings: dict[str, Any] | None = None) -> Store:
    store = Store(path)
    with store.lock():
        store.commit(tables, update=(lambda m: m["settings"].update(settings)) if settings else None)
    return store


def assert_same(a: SessionFacts, b: SessionFacts) -> None:
    for name in KEYS:
        if name != "candidates":
            pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    assert a.totals == b.totals
    combos = a["combos"]
    for inside in (combos.iloc[::2], combos.iloc[1::3], combos.iloc[:0]):
        pd.testing.assert_frame_equal(a.candidates(inside), b.candidates(inside), obj="candidates")


def both(store: Store, scope: Scope) -> tuple[SessionFacts, SessionFacts]:
    ds = logcorr.open(store.path)
    reference = facts_from_frames(ds.table("tls_sessions"), ds.table("plain_requests"), scope)
    return reference, facts_from_store(store, scope)


def scopes(rng: np.random.Generator, addrs: list[str]) -> list[Scope]:
    out = [Scope(), Scope(wanted=frozenset(addrs))]
    for _ in range(4):
        lo = T0 + pd.Timedelta(seconds=int(rng.integers(0, 5000)))

        def some() -> frozenset[str]:
            return frozenset(a for a in addrs if rng.random() < 0.2)

        out.append(Scope(since=lo, until=lo + pd.Timedelta(seconds=int(rng.integers(1, 8000))), ignored=some(),
                         scanners=some(), excluded=some(), wanted=some()))
    out.append(Scope(since=T0 + pd.Timedelta(days=1)))  # an empty period
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_tables_same_facts(tmp_path: Path, seed: int) -> None:
    store = write_store(tmp_path / "data", random_tables(seed))
    for scope in scopes(np.random.default_rng(seed), ADDRS):
        reference, fast = both(store, scope)
        assert_same(reference, fast)
    # the facts count something: the random data reaches every branch
    full = both(store, Scope(wanted=frozenset(ADDRS)))[1]
    assert full.totals["plain_answers"] < full.totals["plain_rows"]
    assert full.totals["usable_sessions"] < full.totals["access_rows"]
    assert len(full["hosts"]) == 3
    assert full["hosts"]["host"].isna().any()
    assert set(full["agents"]["family"]) >= {"curl", "bot", "Firefox", "Internet Explorer"}


@pytest.mark.parametrize("seed", [1, 2])
def test_facts_computed_ahead_same_facts(tmp_path: Path, seed: int) -> None:
    """What :class:`Ahead` computed before the matches (period, ignored, the excluded known
    then) is kept or computed again so that the facts are those of the final scope: the
    same as computing them at once, whichever addresses correlation adds."""
    store = write_store(tmp_path / "data", random_tables(seed))
    rng = np.random.default_rng(seed)
    usable = facts_from_store(store, Scope())["legacy"]  # some addresses with usable sessions
    for scope in scopes(rng, ADDRS):
        early = Scope(since=scope.since, until=scope.until, ignored=scope.ignored,
                      excluded=frozenset(sorted(scope.excluded)[: len(scope.excluded) // 2]))
        added = [scope,  # excluded grows by addresses that may have usable sessions
                 Scope(since=scope.since, until=scope.until, ignored=scope.ignored, scanners=scope.scanners,
                       excluded=early.excluded | {"203.0.113.250"}, wanted=scope.wanted),  # no session at all
                 Scope(since=scope.since, until=scope.until, ignored=scope.ignored, scanners=scope.scanners,
                       excluded=early.excluded | set(usable["client_addr"][:2]), wanted=scope.wanted),
                 Scope(ignored=frozenset(ADDRS[:3]))]  # another period and ignored: nothing kept
        for final in added:
            con = connect()
            fast = facts_from_store(store, final, con=con, ahead=Ahead(store, early, con))
            assert_same(facts_from_store(store, final), fast)


def test_only_captures_count_when_no_log_line(tmp_path: Path) -> None:
    tables = random_tables(4, 400)
    s = tables["tls_sessions"]
    tables["tls_sessions"] = s.set_column(s.schema.get_field_index("source"), "source",
                                          pa.array(["pcap"] * s.num_rows, pa.string()))
    store = write_store(tmp_path / "data", tables)
    reference, fast = both(store, Scope())
    assert_same(reference, fast)
    assert fast.totals["log_rows"] == 0
    assert fast.totals["usable_sessions"] > 0


def test_samples_same_facts(tmp_path: Path) -> None:
    logcorr.ingest([str(ROOT / "sample_logs")], tmp_path / "data")
    store = Store(tmp_path / "data")
    addrs = sorted(set(logcorr.open(store.path).table("tls_sessions")["client_addr"].dropna()))
    for scope in scopes(np.random.default_rng(7), addrs):
        assert_same(*both(store, scope))


def test_fleet_same_facts(tmp_path: Path) -> None:
    write_fleet_store(tmp_path / "data", 20_000, 2_000)
    store = Store(tmp_path / "data")
    addrs = sorted(set(logcorr.open(store.path).table("tls_sessions")["client_addr"].dropna()))[:300]
    for scope in scopes(np.random.default_rng(8), addrs):
        assert_same(*both(store, scope))


def _reports(data: Path, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    out = []
    for engine in ("pandas", "duckdb"):
        rep = run_report(logcorr.open(data), window="5m", min_protocol="TLSv1.2", save_matches=False,
                         facts_with=engine, since=kwargs.get("since"), until=kwargs.get("until"))
        out.append(json.loads(render_json(rep)))
    return out[0], out[1]


@pytest.mark.parametrize(("seed", "period"), [(5, (None, None)), (6, ("2026-11-26T17:40:00Z", "2026-11-26T19:10:00Z"))])
def test_random_store_same_report(tmp_path: Path, seed: int, period: tuple[str | None, str | None]) -> None:
    settings = {"scanner_cidrs": ["198.51.100.21/32"], "ignore_cidrs": ["198.51.100.0/29"]}
    write_store(tmp_path / "data", random_tables(seed), settings)
    reference, fast = _reports(tmp_path / "data", since=period[0], until=period[1])
    assert fast == reference
    assert reference["totals"]["tls_sessions"] > 0
    assert reference["scanners"]
    assert reference["coverage"]["ignored"] > 0
    assert reference["successes"]["by_user_agent"]


def test_samples_and_fleet_same_report(tmp_path: Path) -> None:
    logcorr.ingest([str(ROOT / "sample_logs")], tmp_path / "samples")
    reference, fast = _reports(tmp_path / "samples")
    assert fast == reference
    assert reference["what_if"]
    write_fleet_store(tmp_path / "fleet", 20_000, 2_000)
    reference, fast = _reports(tmp_path / "fleet", since="2026-11-26T17:40:00Z")
    assert fast == reference
    assert reference["unrecovered_clients"]


def test_iso_many_is_iso_of_each() -> None:
    rng = np.random.default_rng(9)
    us = T0.value // 1000 + rng.integers(-10**12, 10**12, 500)
    us[::7] = us[::7] // 1_000_000 * 1_000_000  # whole seconds
    us[::11] = us[::11] // 1000 * 1000  # whole milliseconds
    ts = pd.Series(pd.array(pa.array(us, pa.timestamp("us", tz="UTC"), mask=np.arange(500) % 13 == 0)))
    assert iso_many(ts) == [iso(t) for t in ts]
