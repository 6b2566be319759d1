"""The failing clients' session rows as DuckDB hands them over (``logcorr.clientrows``).

The embedded report reads the sessions of every failing client with
:func:`logcorr.clientrows.client_rows`: text columns as codes.  These tests hold it to what
``Store.read`` gives (the same rows, values and order, the other columns' dtypes), and hold
the pure functions to giving the same frames from it as from Arrow strings: correlation and
``preceded_by`` on the seeded fleets of ``tests/test_fast_reference.py`` (built to hit every
rule), with sorted categories (as ``client_rows`` builds them) and with unsorted ones.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from logcorr import correlate as fast
from logcorr import schema
from logcorr.api import to_pandas
from logcorr.clientrows import client_rows
from logcorr.report.pipeline import CORRELATED_COLUMNS
from logcorr.sequence import preceded_by
from logcorr.store import Store
from tests.test_fast_reference import SEEDS, _correlate, case
from tools.make_fleet import fleet_tables

TEXT = [f.name for f in schema.TABLES["tls_sessions"] if pa.types.is_string(f.type)]


def _as_codes(frame: pd.DataFrame, *, sort: bool) -> pd.DataFrame:
    """``frame`` with its text columns categorical (categories sorted or reversed)."""
    out = frame.copy()
    for col in (c for c in TEXT if c in out):
        values = sorted(out[col].dropna().astype(str).unique(), reverse=not sort)
        out[col] = pd.Categorical(out[col].astype(object), categories=pd.Index(values, dtype="str"))
    return out


def _decoded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({c: pd.StringDtype() for c in frame if isinstance(frame[c].dtype, pd.CategoricalDtype)})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A three-host fleet committed in several parts (rows in a known order, a file per part)."""
    st = Store(tmp_path_factory.mktemp("fleet") / "data")
    tables = fleet_tables(30_000, 3_000, seed=3)
    sessions = tables["tls_sessions"]
    with st.lock():
        for start in range(0, sessions.num_rows, 7_000):
            part = sessions.slice(start, 7_000)
            # nulls and a stream line: codes -1, and a column some parts lack
            if start == 7_000:
                part = part.set_column(part.schema.get_field_index("ssl_cipher"), "ssl_cipher",
                                       pa.nulls(part.num_rows, pa.string()))
            st.commit({"tls_sessions": part, **({"handshake_failures": tables["handshake_failures"]}
                                                if start == 0 else {})})
    return st


def test_client_rows_are_the_stores_rows_of_those_clients(store: Store) -> None:
    every = to_pandas(store.read("tls_sessions", CORRELATED_COLUMNS))
    clients = sorted(every["client_addr"].dropna().unique()[::3])
    got = client_rows(store, "tls_sessions", CORRELATED_COLUMNS, clients)
    want = every[every["client_addr"].isin(clients).to_numpy(dtype=bool)].reset_index(drop=True)
    assert len(want) > 1000
    for col in TEXT:
        if col in got:
            assert isinstance(got[col].dtype, pd.CategoricalDtype)
            assert got[col].cat.categories.is_monotonic_increasing
    pd.testing.assert_frame_equal(_decoded(got), want)


def test_decoded_client_rows_are_to_pandas_frames(store: Store) -> None:
    every = to_pandas(store.read("tls_sessions"))
    clients = sorted(every["client_addr"].dropna().unique()[:50])
    got = client_rows(store, "tls_sessions", list(every.columns), clients, decoded=True)
    want = every[every["client_addr"].isin(clients).to_numpy(dtype=bool)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_client_rows_of_no_known_client_and_missing_columns(store: Store, tmp_path: Path) -> None:
    got = client_rows(store, "tls_sessions", ["ts", "client_addr", "server_name"], ["192.0.2.77"])
    assert got.empty
    assert list(got.columns) == ["ts", "client_addr", "server_name"]
    empty = Store(tmp_path / "empty")
    assert client_rows(empty, "tls_sessions", CORRELATED_COLUMNS, ["192.0.2.77"]).empty


@pytest.mark.parametrize("sort", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("seed", range(SEEDS))
def test_correlation_and_preceded_by_from_codes(seed: int, sort: bool) -> None:
    c = case(seed)
    coded = {**c, "sessions": _as_codes(c["sessions"], sort=sort)}
    want = _correlate(fast, c)
    pd.testing.assert_frame_equal(_correlate(fast, coded), want)
    pd.testing.assert_frame_equal(preceded_by(want, coded["sessions"], c["hellos"]),
                                  preceded_by(want, c["sessions"], c["hellos"]))
