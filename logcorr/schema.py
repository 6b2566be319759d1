"""One Arrow schema per table: the contract between sources, the store and the reports.

SPEC §4 names the required columns; the others are ours and documented here.
Every timestamp is ``timestamp[us, tz=UTC]``.  Every table carries ``file`` and
``line`` (1-based physical line, or packet number for captures) so that a row can
always be traced back to the input it came from.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2
"""Bumped when a table changes incompatibly; the store refuses older data with advice.

2: every table has ``host``; error-log rows keep ``ts_wall``/``tz_source``; readers store
evidence only (load balancers, real clients and inferred zones are decided at report time).
"""

TS = pa.timestamp("us", tz="UTC")

HOST = ("host", pa.string())
"""The nginx instance a row comes from (SPEC §2 ``--host``); filled by the ingest layer."""

HANDSHAKE_FAILURES = pa.schema(
    [
        ("ts", TS),
        ("source", pa.string()),  # nginx_error | pcap | alb_connection | nlb_tls | ...
        ("client_addr", pa.string()),  # as logged (no port)
        ("client_is_real", pa.bool_()),  # false when client_addr is a load balancer/proxy
        ("reason", pa.string()),  # SPEC §5 code
        ("reason_text", pa.string()),  # as logged, e.g. the full "(SSL: ...)" text
        ("conn_id", pa.int64()),  # nginx *N; null when unknown
        ("server_addr", pa.string()),  # listen address, "0.0.0.0:443"
        ("file", pa.string()),
        ("line", pa.int64()),
        # ours
        ("level", pa.string()),  # nginx level: info, crit, ...
        ("alert", pa.int16()),  # TLS alert number received from the peer, if any
        ("alert_name", pa.string()),  # RFC name of that alert, e.g. unknown_ca
        ("client_side", pa.bool_()),  # false for "while SSL handshaking to upstream"
        ("action", pa.string()),  # "SSL handshaking", "reading PROXY protocol", ...
        ("lb_addr", pa.string()),  # the load balancer that carried it, when known
        ("attribution", pa.string()),  # how client_addr was obtained (SPEC §6)
        ("ts_precision_s", pa.float32()),  # 1.0 for nginx error logs, 1e-6 for captures
        # nginx error logs write local wall-clock time without an offset: the digits as
        # logged (labelled UTC) and how ``ts`` was placed (``given``: --error-tz;
        # ``machine``: the ingesting machine's zone, re-placed at report time when the same
        # host's access logs show one UTC offset, see logcorr.evidence)
        ("ts_wall", TS),
        ("tz_source", pa.string()),
        HOST,
    ]
)

TLS_SESSIONS = pa.schema(
    [
        ("ts", TS),  # when the session began, as well as the log can tell (SPEC §4)
        ("source", pa.string()),  # nginx_access | nginx_stream | pcap | alb_access | ...
        ("client_addr", pa.string()),  # $proxy_protocol_addr when present, else $remote_addr
        ("ssl_protocol", pa.string()),  # "TLSv1.2" spelling
        ("ssl_cipher", pa.string()),
        ("conn_id", pa.int64()),  # $connection
        ("file", pa.string()),
        ("line", pa.int64()),
        # ours
        ("remote_addr", pa.string()),  # the immediate peer as nginx logged it
        ("realip_remote_addr", pa.string()),
        ("proxy_protocol_addr", pa.string()),
        ("server_name", pa.string()),  # $ssl_server_name (SNI)
        ("session_reused", pa.bool_()),
        ("connection_requests", pa.int64()),
        ("is_connection", pa.bool_()),  # first request of its connection (null: unknown)
        ("status", pa.int32()),
        ("ts_logged", TS),  # the time the line was written
        HOST,
    ]
)

PLAIN_REQUESTS = pa.schema(
    [
        # access-log requests without TLS: kept because plain HTTP on a TLS port is a signal
        ("ts", TS),
        ("source", pa.string()),
        ("client_addr", pa.string()),
        ("remote_addr", pa.string()),
        ("proxy_protocol_addr", pa.string()),
        ("conn_id", pa.int64()),
        ("status", pa.int32()),
        ("request", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        HOST,
        # false when the log_format logs no $ssl_protocol (combined): TLS or not is unknown
        ("tls_logged", pa.bool_()),
    ]
)

PROXY_HEADERS = pa.schema(
    [
        # nginx debug line "PROXY protocol src: A P, dst: B Q" (or a capture's header):
        # names the real client of connection *N (SPEC §6)
        ("ts", TS),
        ("source", pa.string()),
        ("conn_id", pa.int64()),
        ("version", pa.int8()),  # 1 or 2
        ("src_addr", pa.string()),
        ("src_port", pa.int32()),
        ("dst_addr", pa.string()),
        ("dst_port", pa.int32()),
        ("file", pa.string()),
        ("line", pa.int64()),
        ("ts_wall", TS),  # as in handshake_failures (nginx debug lines)
        ("tz_source", pa.string()),
        HOST,
    ]
)

CLIENT_HELLOS = pa.schema(
    [
        ("ts", TS),
        ("client_addr", pa.string()),  # real client (PROXY source when present)
        ("lb_addr", pa.string()),  # TCP peer when a PROXY header named someone else
        ("hello_version", pa.string()),  # legacy_version, "TLSv1.2" spelling
        ("versions", pa.list_(pa.string())),  # supported_versions, GREASE dropped
        ("cipher_suites", pa.list_(pa.uint16())),
        ("has_fallback_scsv", pa.bool_()),
        ("sni", pa.string()),
        ("ja3", pa.string()),  # MD5 hex
        ("ja4", pa.string()),
        ("outcome", pa.string()),  # ok | alert name | closed | reset
        ("file", pa.string()),
        ("line", pa.int64()),  # packet number of the ClientHello's first segment
        # ours
        ("client_port", pa.int32()),
        ("server_addr", pa.string()),
        ("server_port", pa.int32()),
        ("record_version", pa.string()),
        ("alpn", pa.list_(pa.string())),
        ("groups", pa.list_(pa.uint16())),
        ("sig_algs", pa.list_(pa.uint16())),
        ("ec_point_formats", pa.list_(pa.uint8())),
        ("extensions", pa.list_(pa.uint16())),
        ("ja3_string", pa.string()),
        ("proxy_version", pa.int8()),  # 1, 2 or null
        ("server_version", pa.string()),  # from ServerHello
        ("server_cipher", pa.uint16()),
        ("alert", pa.int16()),
        ("alert_from", pa.string()),  # client | server
        HOST,
    ]
)

LB_METRICS = pa.schema(
    [
        ("ts", TS),
        ("load_balancer", pa.string()),
        ("metric", pa.string()),
        ("statistic", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("period_s", pa.int32()),
        ("namespace", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
        HOST,
    ]
)

REJECTS = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("kind", pa.string()),  # the input kind the line was read as
        ("error", pa.string()),
        ("text", pa.string()),  # the line, non-UTF-8 bytes as \xHH, cut at 4 KiB
        HOST,
    ]
)

MATCHES = pa.schema(
    [
        # one row per stored client-side failure row (SPEC §4); rows that are one failure
        # seen by several sources share failure_key (the failure_id of its representative)
        ("failure_id", pa.string()),
        ("failure_key", pa.string()),
        ("ts", TS),
        ("source", pa.string()),
        ("client_addr", pa.string()),
        ("reason", pa.string()),
        ("attributable", pa.bool_()),
        ("attribution", pa.string()),
        ("recovered", pa.bool_()),  # null when unattributable
        ("recovered_at", TS),
        ("delay_s", pa.float64()),
        ("recovered_protocol", pa.string()),
        ("recovered_cipher", pa.string()),
        ("class", pa.string()),  # client | scanner | health_check | ignored (logcorr.classify)
        ("evidence", pa.string()),  # why a failure is not a client's (null for clients)
        ("file", pa.string()),
        ("line", pa.int64()),
        HOST,
    ]
)

TABLES: dict[str, pa.Schema] = {
    "handshake_failures": HANDSHAKE_FAILURES,
    "tls_sessions": TLS_SESSIONS,
    "plain_requests": PLAIN_REQUESTS,
    "proxy_headers": PROXY_HEADERS,
    "client_hellos": CLIENT_HELLOS,
    "lb_metrics": LB_METRICS,
    "rejects": REJECTS,
    "matches": MATCHES,
}


def empty(name: str) -> pa.Table:
    """An empty table with the schema of ``name``."""
    return TABLES[name].empty_table()


def conform(name: str, table: pa.Table) -> pa.Table:
    """Return ``table`` with exactly the columns of ``name``, in order, missing ones null.

    Sources build only the columns they know; this fills the rest and casts types, so
    that every Parquet file of a table has the same schema.
    """
    schema = TABLES[name]
    n = table.num_rows
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            cols.append(col)
        else:
            cols.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(cols, schema=schema)
