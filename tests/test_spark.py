"""``--engine spark`` gives the embedded engine's report, in Spark local mode.

Data: the committed samples (logs + capture: every kind of evidence), a generated
three-host fleet behind one load balancer with cross-host recoveries
(``tools/make_fleet.py``), ingested as ``logcorr ingest web-1/ web-2/ web-3/``, and the
messy lab's real nginx logs and relay captures (scanners, health checks, reloads,
rotation: ``tests/lab/messy.py``).
The JSON documents are compared whole, and the ``matches`` table Spark wrote is compared
row by row with the embedded engine's.  One SparkSession serves every test (conftest).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import logcorr
from logcorr import engines
from logcorr.cli import app
from logcorr.report.render import render_json
from logcorr.sources.logformat import RECOMMENDED
from tests.conftest import LabRun
from tests.lab.nginx import LB_ADDR
from tools.make_fleet import write_fleet_logs

ROOT = Path(__file__).resolve().parent.parent


def _both(data: Path, spark: Any, **kwargs: Any) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any], pd.DataFrame]:
    d = logcorr.open(data)
    embedded = json.loads(render_json(engines.report(d, **kwargs)))
    m_embedded = d.table("matches")
    on_spark = json.loads(render_json(engines.report(d, engine="spark", spark=spark, **kwargs)))
    m_spark = logcorr.open(data).table("matches")
    return embedded, m_embedded, on_spark, m_spark


def _rows(m: pd.DataFrame) -> pd.DataFrame:
    return m.sort_values("failure_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fleet")
    played = write_fleet_logs(tmp / "logs", hosts=3, clients=300, seed=11)
    hosts = [str(tmp / "logs" / f"web-{i}") for i in (1, 2, 3)]
    # No --error-tz: the error logs are placed by each host's access-log offset (evidence.py).
    result = logcorr.ingest(hosts, tmp / "data", log_format=RECOMMENDED)
    assert not result.partial
    return tmp / "data", played


def test_samples_same_report_and_matches(spark: Any, tmp_path: Path) -> None:
    logcorr.ingest([str(ROOT / "sample_logs")], tmp_path / "data")
    embedded, m_embedded, on_spark, m_spark = _both(tmp_path / "data", spark, window="5m")
    assert on_spark == embedded
    assert embedded["totals"]["handshake_failures"] == m_embedded["failure_key"].nunique() > 0
    pd.testing.assert_frame_equal(_rows(m_spark), _rows(m_embedded))


def test_fleet_with_cross_host_recoveries_same_report(spark: Any, fleet: tuple[Path, dict[str, Any]]) -> None:
    data, played = fleet
    assert played["cross_host_recoveries"] > 0
    embedded, m_embedded, on_spark, m_spark = _both(data, spark, window="5m")
    assert on_spark == embedded
    pd.testing.assert_frame_equal(_rows(m_spark), _rows(m_embedded))
    totals = embedded["totals"]
    assert (totals["handshake_failures"], totals["tls_sessions"]) == (played["failures"], played["sessions"])
    # Recovered on another host than the one that failed: the access line is in another file.
    cross = m_embedded[m_embedded["recovered"].fillna(False).astype(bool)]
    assert len(cross) > 0


def test_messy_lab_same_report(spark: Any, messy_lab: LabRun, tmp_path: Path) -> None:
    """Real nginx logs and captures with every complication the lab plays: the same report."""
    result = logcorr.ingest([str(messy_lab.logs), str(messy_lab.prefix / "capture")], tmp_path / "data",
                            lb_cidrs=[f"{LB_ADDR}/32"])
    assert not result.partial
    embedded, m_embedded, on_spark, m_spark = _both(tmp_path / "data", spark, window="30s")
    assert on_spark == embedded
    pd.testing.assert_frame_equal(_rows(m_spark), _rows(m_embedded))
    assert embedded["totals"]["scanner_failures"] > 0
    assert embedded["health_checks"]["count"] > 0
    assert len(embedded["hosts"]) == 3


def test_executors_read_the_data_directory_at_its_url(spark: Any, fleet: tuple[Path, dict[str, Any]],
                                                      tmp_path: Path) -> None:
    """``spark.logcorr.data.url`` (an S3 prefix on a cluster; a file: URL here): the executors
    read the copy there, and ``matches`` comes back through Spark to the local directory."""
    from logcorr.engines.spark import DATA_URL_CONF, SparkPlan

    data, _ = fleet
    local = tmp_path / "local"
    shutil.copytree(data, local)
    remote = tmp_path / "bucket" / "logcorr-data"
    shutil.copytree(data, remote)
    d = logcorr.open(local)
    embedded = json.loads(render_json(engines.report(d, window="5m")))
    m_embedded = d.table("matches")
    before = sorted(remote.rglob("*"))
    spark.conf.set(DATA_URL_CONF, remote.as_uri() + "/")
    try:
        plan = SparkPlan(spark, logcorr.open(local))
        read = plan.read("tls_sessions", ["ts", "client_addr"]).inputFiles()
        assert read
        assert all(f.startswith(remote.as_uri() + "/tls_sessions/") for f in read)
        on_spark = json.loads(render_json(engines.report(logcorr.open(local), engine="spark", spark=spark,
                                                         window="5m")))
    finally:
        spark.conf.unset(DATA_URL_CONF)
    assert on_spark == embedded
    pd.testing.assert_frame_equal(_rows(logcorr.open(local).table("matches")), _rows(m_embedded))
    assert sorted(remote.rglob("*")) == before  # nothing written at the URL


def test_fleet_period_and_window_options_reach_spark(spark: Any, fleet: tuple[Path, dict[str, Any]]) -> None:
    data, _ = fleet
    kwargs = {"window": "10s", "min_protocol": "TLSv1.3", "since": "2026-11-26T17:40:00Z",
              "until": "2026-11-26T18:10:00Z", "save_matches": False}
    embedded, _, on_spark, _ = _both(data, spark, **kwargs)
    assert on_spark == embedded
    assert embedded["period"] == {"start": "2026-11-26T17:40:00Z", "end": "2026-11-26T18:10:00Z"}


def test_cli_engine_option(fleet: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    data, _ = fleet
    runner = CliRunner()
    bad = runner.invoke(app, ["report", "--data", str(data), "--engine", "flink"])
    assert bad.exit_code == 2
    assert "--engine 'flink': use embedded or spark" in bad.output
    lone = runner.invoke(app, ["report", "--data", str(data), "--spark-master", "local[1]", "--format", "json"])
    assert lone.exit_code == 1
    assert "--spark-master needs --engine spark" in lone.output


def test_cli_runs_spark_in_local_mode(spark: Any, fleet: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The CLI path, in a process that already runs a session (the fixture's): it uses that one
    and leaves it running for the tests after it."""
    data = tmp_path / "data"
    shutil.copytree(fleet[0], data)
    embedded = json.loads(render_json(logcorr.open(data).report(window="5m")))
    out = CliRunner().invoke(app, ["report", "--data", str(data), "--engine", "spark", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == embedded
    assert spark.range(3).count() == 3



def _same_facts(a: Any, b: Any) -> None:
    assert a.totals == b.totals
    assert sorted(a.frames) == sorted(b.frames)
    for name in a.frames:
        pd.testing.assert_frame_equal(a.frames[name], b.frames[name], obj=f"fact {name}")


@pytest.mark.parametrize("period", [(None, None), ("2026-11-26T17:35:00Z", "2026-11-26T17:50:00Z")])
def test_session_facts_on_spark_equal_duckdbs(spark: Any, fleet: tuple[Path, dict[str, Any]],
                                              period: tuple[str | None, str | None]) -> None:
    """The aggregates the report takes from the sessions, computed by Spark SQL and by DuckDB
    from the same SQL text: equal, with a period, scanners, excluded and ignored addresses."""
    from logcorr.engines.spark import SparkPlan
    from logcorr.engines.sparkfacts import SparkFacts
    from logcorr.facts import Scope
    from logcorr.report.pipeline import DuckDBFacts

    data, _ = fleet
    d = logcorr.open(data)
    on_spark, in_duckdb = SparkFacts(SparkPlan(spark, d)), DuckDBFacts(d.store)
    seen = in_duckdb.addresses()
    assert on_spark.addresses() == seen
    assert on_spark.addresses(("tls_sessions",)) == in_duckdb.addresses(("tls_sessions",))
    since, until = (pd.Timestamp(t) if t else None for t in period)
    scope = Scope(since=since, until=until, ignored=frozenset(seen[:5]), scanners=frozenset(seen[5:8]),
                  excluded=frozenset(seen[8:12]), wanted=frozenset(seen[::3]))
    a, b = on_spark.facts(scope), in_duckdb.facts(scope)
    _same_facts(a, b)
    assert a.totals["usable_sessions"] > 0
    inside = a.frames["combos"].iloc[:1]
    pd.testing.assert_frame_equal(a.candidates(inside), b.candidates(inside))


def test_preceded_by_on_spark_equals_the_embedded_engines(spark: Any, tmp_path: Path) -> None:
    """``preceded_by`` client by client on Spark: the embedded engine's rows, in its order
    (the samples: logs and a capture, so first attempts are read from hellos too)."""
    from logcorr.engines.spark import SparkPlan, spark_preceded
    from logcorr.sequence import preceded_by

    logcorr.ingest([str(ROOT / "sample_logs")], tmp_path / "data")
    d = logcorr.open(tmp_path / "data")
    engines.report(d, window="5m")
    m = d.table("matches")
    real = m[m["class"].astype(object).eq("client").to_numpy(dtype=bool)]
    sessions = d.table("tls_sessions")
    hellos = d.table("client_hellos")
    want = preceded_by(real, sessions, hellos)
    assert len(want) > 0
    assert set(want["preceded_by"]) > {"none_seen"}
    got = spark_preceded(SparkPlan(spark, d))(real, hellos, None, None)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
