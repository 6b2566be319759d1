"""The rows of some clients, read by DuckDB and handed over as codes (issue 11.4).

Correlation and ``preceded_by`` need the session rows of every client that failed: at ten
million sessions, most of the table.  As Arrow strings in pandas those rows cost gigabytes,
and mapping each row's address to its client (a string hash per row) costs seconds.  Here
DuckDB joins the rows with the clients in its own threads and sends back integers only: each
text column as a code into a small sorted table of its distinct values, so the frame's text
columns are pandas ``Categorical``\\ s built without touching a string per row.  The pure
functions take these frames as they take any other (``logcorr.codes`` reads a categorical
by its codes); the values, the order of the rows and the dtypes of the other columns are
those ``Store.read`` and ``to_pandas`` give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from logcorr import schema

if TYPE_CHECKING:
    import duckdb

    from logcorr.store import Store

FILE_ROWS_BITS = 40
"""A row's order key is its file's place in ``Store.files`` above its row number in the file."""


def client_rows(store: Store, table: str, columns: Sequence[str], clients: Sequence[str],
                con: duckdb.DuckDBPyConnection | None = None, *, decoded: bool = False) -> pd.DataFrame:
    """The rows of ``table`` whose ``client_addr`` is one of ``clients``, with those of
    ``columns`` the table has, in ``Store.read``'s order.

    Text columns come as ``Categorical`` with sorted categories (missing values have code
    -1), or with ``decoded`` as text (a few clients' rows: the frame ``to_pandas`` gives);
    the others with :func:`logcorr.api.to_pandas`'s dtypes.
    """
    from logcorr.api import to_pandas
    from logcorr.factsdb import connect, table_view

    tschema = schema.TABLES[table]
    have = [c for c in dict.fromkeys(columns) if c in tschema.names]
    texts = [c for c in have if pa.types.is_string(tschema.field(c).type)]
    con = con or connect()
    table_view(con, store, table, list(dict.fromkeys([*have, "client_addr"])), "_rows", row_order=True)
    dictionaries = {"client_addr": _sorted_distinct(pa.array(clients, pa.string()))}
    for col in texts:
        if col != "client_addr":
            found = con.sql(f"SELECT DISTINCT {col} FROM _rows WHERE {col} IS NOT NULL").to_arrow_table()
            dictionaries[col] = _sorted_distinct(found.column(0))
    joins, select = [], []
    for i, col in enumerate(have):
        if col in dictionaries:
            con.register(f"_codes{i}", _codes(dictionaries[col]))
            kind = "JOIN" if col == "client_addr" else "LEFT JOIN"
            joins.append(f"{kind} _codes{i} ON r.{col} = _codes{i}.value")
            select.append(f"_codes{i}.code AS {col}")
        else:
            select.append(f"r.{col}")
    if "client_addr" not in have:
        con.register("_codes_c", _codes(dictionaries["client_addr"]))
        joins.append("JOIN _codes_c ON r.client_addr = _codes_c.value")
    files = [str(f) for f in store.files(table)]
    con.register("_places", pa.table({"path": pa.array(files, pa.string()),
                                      "place": pa.array(np.arange(len(files), dtype=np.int64))}))
    joins.append("JOIN _places AS p ON r._path = p.path")
    select.append(f"(p.place << {FILE_ROWS_BITS}) | r._file_row AS _order")
    got = con.sql(f"SELECT {', '.join(select)} FROM _rows AS r {' '.join(joins)}").to_arrow_table()
    order = got["_order"].to_numpy()
    rows = None if len(order) < 2 or bool((order[1:] >= order[:-1]).all()) else np.argsort(order, kind="stable")
    plain = [c for c in have if c not in dictionaries]
    frame = (to_pandas(got.select(plain).cast(pa.schema([tschema.field(c) for c in plain]))) if plain
             else pd.DataFrame(index=pd.RangeIndex(got.num_rows)))
    for col in have:
        if col in dictionaries:
            codes = got[col].fill_null(-1).to_numpy().astype(np.int32)
            categories = pd.Index(pd.array(dictionaries[col], dtype=pd.StringDtype()))
            frame[col] = pd.Categorical.from_codes(codes, categories=categories)
    frame = frame[have] if rows is None else _taken(frame, have, rows)
    if decoded:
        return frame.astype({c: pd.StringDtype() for c in dictionaries if c in have})
    return frame


def _taken(frame: pd.DataFrame, columns: Sequence[str], rows: np.ndarray) -> pd.DataFrame:
    """``frame[columns].take(rows)`` with a new range index, column by column: pandas'
    ``DataFrame.take`` of these categorical and masked columns cost 1.6 s for the 8.6M rows
    of a 10M-session report, this 0.9 s (most of it faulting in the new columns)."""
    return pd.DataFrame({c: frame[c].array.take(rows) for c in columns}, copy=False)


def _sorted_distinct(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The distinct non-null values, sorted (the categories: their codes sort as they do)."""
    import pyarrow.compute as pc

    distinct = pc.unique(values.cast(pa.string())).drop_null()
    if isinstance(distinct, pa.ChunkedArray):
        distinct = distinct.combine_chunks()
    return distinct.take(pc.sort_indices(distinct))


def _codes(values: pa.Array) -> pa.Table:
    return pa.table({"value": values, "code": pa.array(np.arange(len(values), dtype=np.int32))})
