"""``logcorr schema``: the documented schema, and DDL that Spark runs over a real data directory.

The data directory is the committed samples ingested (the store writes the hive layout of
SPEC §4); DuckDB and Spark read its table folders as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import logcorr
from logcorr import ddl, schema
from logcorr.cli import app
from logcorr.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The samples ingested and reported on (``matches`` written): the store's own layout."""
    data = tmp_path_factory.mktemp("schema") / "data"
    logcorr.ingest([str(ROOT / "sample_logs")], data)
    logcorr.open(data).report(window="5m")
    store = Store(data)
    counts = {name: store.count(name) for name in schema.TABLES}
    # Every table has its folder, those nothing was ingested into too (Spark's MSCK
    # REPAIR TABLE needs its LOCATION to exist): the DDL runs on the directory as it is.
    assert all((data / name).is_dir() for name in schema.TABLES)
    assert 0 in counts.values()
    return data, counts


def test_json_lists_every_table_and_column_with_type_and_meaning() -> None:
    result = CliRunner().invoke(app, ["schema", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema_version"] == schema.SCHEMA_VERSION
    assert [t["name"] for t in doc["tables"]] == list(schema.TABLES)
    for t in doc["tables"]:
        names = [c["name"] for c in t["columns"]]
        assert names == schema.TABLES[t["name"]].names
        undocumented = [c["name"] for c in t["columns"] if not c["doc"]]
        assert undocumented == [], t["name"]
        assert t["doc"]
        assert t["partitioned_by"] == ["date"]
    failures = next(t for t in doc["tables"] if t["name"] == "handshake_failures")
    ts = next(c for c in failures["columns"] if c["name"] == "ts")
    assert (ts["type"], ts["sql_type"]) == ("timestamp[us, tz=UTC]", "timestamp")


def test_text_names_the_layout_and_each_column() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert "DATA/<table>/date=YYYY-MM-DD/<part>.parquet" in result.output
    assert "handshake_failures: one row per failed TLS handshake" in result.output
    assert "  reason          string     SPEC §5 reason code" in result.output


def test_athena_ddl_is_one_external_table_per_table() -> None:
    result = CliRunner().invoke(app, ["schema", "--format", "athena", "--location", "s3://b/logs/"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.count("CREATE EXTERNAL TABLE IF NOT EXISTS") == len(schema.TABLES)
    assert ("PARTITIONED BY (`date` string)\nSTORED AS PARQUET\n"
            "LOCATION 's3://b/logs/handshake_failures/';\nMSCK REPAIR TABLE `handshake_failures`;") in text
    assert "  `cipher_suites` array<int> COMMENT 'offered cipher suites, IANA numbers'," in text
    assert text.count("PARTITIONED BY (`date` string)") == len(schema.TABLES)


def test_bad_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["schema", "--format", "yaml"])
    assert result.exit_code == 2
    assert "--format 'yaml': use text, json, athena, spark" in result.output


def test_duckdb_reads_every_table_folder_as_it_is(samples_dir: tuple[Path, dict[str, int]]) -> None:
    import duckdb

    data, counts = samples_dir
    con = duckdb.connect()
    for name, n in counts.items():
        if not n:
            continue
        glob = str(data / name / "**" / "*.parquet")
        got = con.execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning=true)").fetchone()
        assert got == (n,), name
    days = con.execute(
        f"SELECT count(*) FROM read_parquet('{data}/handshake_failures/**/*.parquet', hive_partitioning=true) "
        "WHERE date <> strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d')").fetchone()
    assert days == (0,)


def test_spark_ddl_registers_the_tables_and_reads_every_row(
        samples_dir: tuple[Path, dict[str, int]], spark: Any) -> None:
    data, counts = samples_dir
    result = CliRunner().invoke(app, ["schema", "--format", "spark", "--location", str(data)])
    assert result.exit_code == 0, result.output
    body = "\n".join(line for line in result.output.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";\n") if s.strip()]
    assert statements == ddl.spark_statements(str(data))
    spark.sql("CREATE DATABASE IF NOT EXISTS logcorr_ddl_test")
    spark.sql("USE logcorr_ddl_test")
    try:
        for stmt in statements:
            spark.sql(stmt)
        for name, n in counts.items():
            assert spark.table(name).count() == n, name
            assert spark.table(name).columns == [*schema.TABLES[name].names, *schema.partition_columns(name)]
        # Types as declared: a timestamp is a timestamp, a cipher list an int array.
        row = spark.sql("SELECT min(ts) AS t, max(size(cipher_suites)) AS k FROM client_hellos").first()
        assert row is not None
        assert row["k"] > 0
        assert row["t"] is not None
    finally:
        spark.sql("USE default")
        spark.sql("DROP DATABASE logcorr_ddl_test CASCADE")
