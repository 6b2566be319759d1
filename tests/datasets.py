"""Data directories for engine tests, in the store's on-disk layout (SPEC §4).

``DATA/<table>/date=YYYY-MM-DD/<part>.parquet``: hive-partitioned by the UTC date of ``ts``.
:func:`partitioned_copy` rewrites an ingested store's tables in that layout so that the
engines' and DuckDB's/Spark's readers are tested on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from logcorr import schema
from logcorr.store import Store


def write_partitioned(root: Path, name: str, table: pa.Table) -> None:
    """Write ``table`` as ``root/name/date=YYYY-MM-DD/part-N.parquet`` (no date: unpartitioned)."""
    table = schema.conform(name, table)
    parts = schema.partition_columns(name)
    target = root / name
    if "ts" in table.column_names:
        day = pc.strftime(table.column("ts"), format="%Y-%m-%d")
    else:  # rejects: the day of the ingest
        day = pa.array([datetime.now(UTC).strftime("%Y-%m-%d")] * table.num_rows, pa.string())
    table = table.append_column(schema.PARTITION_COLUMN, day)
    ds.write_dataset(table, target, format="parquet", partitioning=parts, partitioning_flavor="hive",
                     basename_template="part-{i}.parquet", existing_data_behavior="overwrite_or_ignore")


def partitioned_copy(store: Store, root: Path) -> dict[str, int]:
    """Every table of ``store`` under ``root`` in the hive layout; the row count of each."""
    counts = {}
    for name in schema.TABLES:
        table = store.read(name)
        counts[name] = table.num_rows
        (root / name).mkdir(parents=True, exist_ok=True)  # an empty table is an empty folder
        if table.num_rows:
            write_partitioned(root, name, table)
    return counts
