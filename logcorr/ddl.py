"""The tables as documentation and as DDL: ``logcorr schema`` (SPEC §2, §4).

Everything here is derived from :mod:`logcorr.schema` (names, types, the ``doc`` of each
column, the partition key), so the printed schema, the Athena/Glue DDL and the Spark DDL
cannot drift from what ingest writes.

- Athena/Glue: ``CREATE EXTERNAL TABLE ... PARTITIONED BY (`date` string) STORED AS PARQUET
  LOCATION 's3://.../table/'`` (Athena "CREATE TABLE" reference); every identifier is in
  backticks, since ``date`` and others are DDL reserved words there ("Reserved keywords").
  Partitions are then loaded with ``MSCK REPAIR TABLE`` (hive-style ``date=`` folders).
- Spark SQL: ``CREATE TABLE ... (cols, `date` STRING) USING parquet PARTITIONED BY (`date`)
  LOCATION '...'`` (Spark "CREATE DATASOURCE TABLE"; the partition column is one of the
  listed columns), then ``MSCK REPAIR TABLE`` to register the existing ``date=`` folders.

Parquet's unsigned integers (cipher-suite numbers) are declared as the next wider signed
type, which is how Spark and Athena read them.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from logcorr import schema

FORMATS = ("text", "json", "athena", "spark")
LAYOUT = "DATA/<table>/date=YYYY-MM-DD/<part>.parquet"
DEFAULT_S3 = "s3://YOUR-BUCKET/logcorr-data"

_SQL_TYPES: dict[pa.DataType, str] = {
    pa.string(): "string",
    pa.bool_(): "boolean",
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.uint8(): "smallint",
    pa.uint16(): "int",
    pa.uint32(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
}


def sql_type(t: pa.DataType) -> str:
    """The Hive/Spark SQL type that reads a Parquet column of Arrow type ``t``."""
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t):
        return f"array<{sql_type(t.value_type)}>"
    try:
        return _SQL_TYPES[t]
    except KeyError:
        raise ValueError(f"no SQL type for Arrow type {t}") from None


def _quote(text: str) -> str:
    """A single-quoted SQL string literal (Hive and Spark both take backslash escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def describe() -> dict[str, Any]:
    """The schema as data: version, layout, and per table its columns and partitioning."""
    tables = []
    for name, tschema in schema.TABLES.items():
        tables.append({
            "name": name,
            "doc": schema.table_doc(name),
            "partitioned_by": schema.partition_columns(name),
            "columns": [{"name": f.name, "type": str(f.type), "sql_type": sql_type(f.type),
                         "doc": schema.doc(f)} for f in tschema],
        })
    return {"schema_version": schema.SCHEMA_VERSION, "layout": LAYOUT,
            "partition": {"column": schema.PARTITION_COLUMN, "type": "string",
                          "doc": schema.PARTITION_DOC},
            "tables": tables}


def render_text() -> str:
    lines = [f"logcorr tables, schema version {schema.SCHEMA_VERSION}",
             f"layout: {LAYOUT} ({schema.PARTITION_DOC}; every timestamp is UTC)", ""]
    for t in describe()["tables"]:
        part = f"partitioned by {', '.join(t['partitioned_by'])}" if t["partitioned_by"] else "not partitioned"
        lines.append(f"{t['name']}: {t['doc']} ({part})")
        width = max(len(c["name"]) for c in t["columns"])
        twidth = max(len(c["sql_type"]) for c in t["columns"])
        lines += [f"  {c['name']:<{width}}  {c['sql_type']:<{twidth}}  {c['doc']}" for c in t["columns"]]
        lines.append("")
    return "\n".join(lines)


def _location(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name + "/"


def render_athena(location: str = DEFAULT_S3) -> str:
    """Athena/Glue DDL for every table under ``location`` (the data directory's S3 URI)."""
    out = [f"-- logcorr schema version {schema.SCHEMA_VERSION}: Athena / AWS Glue DDL", ""]
    for name, tschema in schema.TABLES.items():
        cols = ",\n".join(f"  `{f.name}` {sql_type(f.type)} COMMENT {_quote(schema.doc(f))}" for f in tschema)
        parts = schema.partition_columns(name)
        out.append(f"CREATE EXTERNAL TABLE IF NOT EXISTS `{name}` (\n{cols}\n)")
        out.append(f"COMMENT {_quote(schema.table_doc(name))}")
        if parts:
            out.append("PARTITIONED BY (" + ", ".join(f"`{p}` string" for p in parts) + ")")
        out.append("STORED AS PARQUET")
        out.append(f"LOCATION {_quote(_location(location, name))};")
        if parts:
            out.append(f"MSCK REPAIR TABLE `{name}`;")
        out.append("")
    return "\n".join(out)


def spark_statements(location: str) -> list[str]:
    """Spark SQL statements that register every table under ``location`` (a path or URI)."""
    out: list[str] = []
    for name, tschema in schema.TABLES.items():
        parts = schema.partition_columns(name)
        cols = [f"  `{f.name}` {sql_type(f.type).upper()} COMMENT {_quote(schema.doc(f))}" for f in tschema]
        cols += [f"  `{p}` STRING COMMENT {_quote(schema.PARTITION_DOC)}" for p in parts]
        stmt = f"CREATE TABLE IF NOT EXISTS `{name}` (\n" + ",\n".join(cols) + "\n) USING parquet"
        if parts:
            stmt += "\nPARTITIONED BY (" + ", ".join(f"`{p}`" for p in parts) + ")"
        stmt += f"\nLOCATION {_quote(_location(location, name))}"
        stmt += f"\nCOMMENT {_quote(schema.table_doc(name))}"
        out.append(stmt)
        if parts:
            out.append(f"MSCK REPAIR TABLE `{name}`")
    return out


def render_spark(location: str) -> str:
    head = f"-- logcorr schema version {schema.SCHEMA_VERSION}: Spark SQL DDL\n\n"
    return head + "".join(s + ";\n\n" for s in spark_statements(location))


def render(fmt: str, location: str | None = None) -> str:
    """``logcorr schema --format FMT`` output; ``location`` is the data directory's URI."""
    if fmt == "text":
        return render_text()
    if fmt == "json":
        return json.dumps(describe(), indent=2)
    if fmt == "athena":
        return render_athena(location or DEFAULT_S3)
    if fmt == "spark":
        return render_spark(location or DEFAULT_S3)
    raise ValueError(f"unknown schema format {fmt!r}")
