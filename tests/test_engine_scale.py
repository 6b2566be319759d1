"""The embedded engine's DuckDB side gives what the pure pandas functions give (issue 11.4).

Small data here (the timings are in ``bench/report_scale.py``): a generated fleet store
(``tools/make_fleet.py::fleet_tables``: three hosts, failing clients with sessions around
their failures, some sessions below TLS 1.2, some at the same instant) and the ingested
three-host logs.  The all-pandas ``pipeline.embedded_work`` is the reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import logcorr
from logcorr import engines
from logcorr.api import to_pandas
from logcorr.engines.embedded import _connect, session_summary
from logcorr.report.render import render_json
from logcorr.report.sessionsummary import summarise_sessions
from logcorr.sources.logformat import RECOMMENDED
from tools.make_fleet import write_fleet_logs, write_fleet_store


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("scale") / "data"
    write_fleet_store(data, 40_000, 4_000, hosts=3, seed=3)
    return data


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fleet")
    write_fleet_logs(tmp / "logs", hosts=3, clients=300, seed=11)
    logcorr.ingest([str(tmp / "logs" / f"web-{i}") for i in (1, 2, 3)], tmp / "data", log_format=RECOMMENDED)
    return tmp / "data"


def _reports(data: Path, **kwargs: Any) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any], pd.DataFrame]:
    d = logcorr.open(data)
    reference = json.loads(render_json(d.report(**kwargs)))
    m_reference = d.table("matches")
    fast = json.loads(render_json(engines.report(logcorr.open(data), **kwargs)))
    m_fast = logcorr.open(data).table("matches")
    return reference, m_reference, fast, m_fast


@pytest.mark.parametrize("kwargs", [{"window": "5m"}, {"window": "2s", "min_protocol": "TLSv1.3"},
                                    {"window": "1h", "since": "2026-11-26T17:40:00Z", "until": "2026-11-26T17:50:00Z"}],
                         ids=["5m", "2s-tls13", "period"])
def test_generated_store_same_report_and_matches(generated: Path, kwargs: dict[str, Any]) -> None:
    reference, m_reference, fast, m_fast = _reports(generated, **kwargs)
    assert fast == reference
    assert len(m_reference) == 4_000
    recovered = m_reference["recovered"].fillna(False).astype(bool)
    assert 0 < recovered.sum() < len(m_reference)  # the join does real work both ways
    pd.testing.assert_frame_equal(m_fast.sort_values("failure_id").reset_index(drop=True),
                                  m_reference.sort_values("failure_id").reset_index(drop=True))


def test_ingested_fleet_same_report(fleet: Path) -> None:
    reference, _, fast, _ = _reports(fleet, window="5m")
    assert fast == reference


def test_session_summary_query_equals_the_pandas_reference(generated: Path) -> None:
    d = logcorr.open(generated)
    frame = to_pandas(d.store.read("tls_sessions", ["ts", "client_addr", "is_connection"]))
    clients = [*sorted(frame["client_addr"].dropna().unique().tolist())[:50], "192.0.2.1"]
    con = _connect(d)
    for since, until in [(None, None), (pd.Timestamp("2026-11-26T17:35:00Z"), pd.Timestamp("2026-11-26T17:36:00Z"))]:
        assert session_summary(con, since, until, clients) == summarise_sessions(frame, since, until, clients)
