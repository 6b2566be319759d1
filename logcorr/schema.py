"""One Arrow schema per table: the contract between sources, the store, engines and reports.

SPEC §4 names the required columns; the others are ours.  Each column carries its meaning
in the field's metadata (``doc``), so this file is the one place a column is defined and
documented: ``logcorr schema`` prints it, :mod:`logcorr.ddl` turns it into Athena/Glue and
Spark DDL, and the Parquet files carry it too.  Every timestamp is
``timestamp[us, tz=UTC]``.  Every table carries ``file`` and ``line`` (1-based physical
line, or packet number for captures) so that a row can always be traced back to its input.

On disk each table is a hive-partitioned Parquet dataset,
``DATA/<table>/date=YYYY-MM-DD/<part>.parquet``, ``date`` being the UTC date of ``ts``
(:data:`PARTITION_COLUMN`; ``rejects``, which has no ``ts``: the day it was ingested).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa

SCHEMA_VERSION = 2
"""Bumped when a table changes incompatibly; the store refuses older data with advice.

2: every table has ``host``; error-log rows keep ``ts_wall``/``tz_source``; readers store
evidence only (load balancers, real clients and inferred zones are decided at report time).
"""

PARTITION_COLUMN = "date"
"""Hive partition key of every table: the UTC date of ``ts`` (``rejects``: of the ingest)."""
PARTITION_DOC = "partition: UTC date of ts, YYYY-MM-DD (rejects: the day of the ingest)"

TS = pa.timestamp("us", tz="UTC")

# Times a log can hold: 1970-01-01 to 2200-01-01 UTC, in microseconds of TS.  Outside it a
# value is garbage (a flipped digit, an epoch in ms or ns), and pandas' datetime64[ns] ends
# in 2262: such a row is a reject, not a stored time that breaks every later report.
TS_MIN_US = 0
TS_MAX_US = (datetime(2200, 1, 1) - datetime(1970, 1, 1)) // timedelta(microseconds=1)

HOST = ("host", pa.string(), "the nginx instance the row comes from (--host, else the directory layout, else this machine)")
"""The nginx instance a row comes from (SPEC §2 ``--host``); filled by the ingest layer."""

# nginx error logs write local wall-clock time without an offset: the digits as logged
# (labelled UTC) and how ``ts`` was placed (see logcorr.evidence).
TS_WALL = ("ts_wall", TS, "the wall-clock time as logged, without its zone (labelled UTC)")
TZ_SOURCE = ("tz_source", pa.string(),
             "how ts was placed: given (--error-tz) | machine (the ingesting machine's zone, "
             "re-placed at report time when the host's access logs show one UTC offset)")

_FILE = ("file", pa.string(), "the input file the row came from, as given to ingest")
_LINE = ("line", pa.int64(), "1-based line in that file (packet number for captures)")


def _table(doc: str, columns: Sequence[tuple[str, pa.DataType] | tuple[str, pa.DataType, str]]) -> pa.Schema:
    """A schema whose fields carry their meaning as ``doc`` metadata; the table's in the schema's."""
    fields = [pa.field(c[0], c[1], metadata={"doc": c[2]} if len(c) > 2 else None)  # type: ignore[misc]
              for c in columns]
    return pa.schema(fields, metadata={"doc": doc})


HANDSHAKE_FAILURES = _table("one row per failed TLS handshake, from any source", [
    ("ts", TS, "when the handshake failed (UTC); nginx error logs: whole seconds"),
    ("source", pa.string(), "what logged it: nginx_error | nginx_stream | pcap | alb_connection | nlb_tls | ..."),
    ("client_addr", pa.string(), "the peer address as the source logged it (no port)"),
    ("client_is_real", pa.bool_(), "false when client_addr is a load balancer or proxy"),
    ("reason", pa.string(), "SPEC §5 reason code (inappropriate_fallback, no_shared_cipher, ...)"),
    ("reason_text", pa.string(), "the reason as logged, e.g. the full '(SSL: ...)' text"),
    ("conn_id", pa.int64(), "nginx connection number *N; null when unknown"),
    ("server_addr", pa.string(), "the listen address, e.g. '0.0.0.0:443'"),
    _FILE,
    _LINE,
    # ours
    ("level", pa.string(), "nginx log level: info, crit, ..."),
    ("alert", pa.int16(), "TLS alert number received from the peer, if any"),
    ("alert_name", pa.string(), "RFC 8446 name of that alert, e.g. unknown_ca"),
    ("client_side", pa.bool_(), "false for nginx's own handshakes to an upstream"),
    ("action", pa.string(), "what nginx was doing: 'SSL handshaking', 'reading PROXY protocol', ..."),
    ("lb_addr", pa.string(), "the load balancer that carried the connection, when known"),
    ("attribution", pa.string(), "how client_addr was obtained (SPEC §6 evidence kind)"),
    ("ts_precision_s", pa.float32(), "resolution of ts in seconds: 1.0 for nginx error logs, 1e-6 for captures"),
    TS_WALL,
    TZ_SOURCE,
    HOST,
])

TLS_SESSIONS = _table("one row per successful TLS connection or request, from any source", [
    ("ts", TS, "when the session began, as well as the log can tell (SPEC §4)"),
    ("source", pa.string(), "what logged it: nginx_access | nginx_stream | pcap | alb_access | ..."),
    ("client_addr", pa.string(), "the client: $proxy_protocol_addr when present, else $remote_addr"),
    ("ssl_protocol", pa.string(), "negotiated protocol, 'TLSv1.2' spelling ($ssl_protocol)"),
    ("ssl_cipher", pa.string(), "negotiated cipher, OpenSSL name ($ssl_cipher)"),
    ("conn_id", pa.int64(), "nginx connection number ($connection)"),
    _FILE,
    _LINE,
    # ours
    ("remote_addr", pa.string(), "the immediate TCP peer as nginx logged it ($remote_addr)"),
    ("realip_remote_addr", pa.string(), "$realip_remote_addr: the peer before the realip module"),
    ("proxy_protocol_addr", pa.string(), "$proxy_protocol_addr: the client a PROXY header named"),
    ("server_name", pa.string(), "$ssl_server_name (SNI)"),
    ("session_reused", pa.bool_(), "$ssl_session_reused: an abbreviated handshake"),
    ("connection_requests", pa.int64(), "$connection_requests: the request's number on its connection"),
    ("is_connection", pa.bool_(), "first request of its connection (null: cannot tell)"),
    ("status", pa.int32(), "HTTP or stream status"),
    ("ts_logged", TS, "when the line was written"),
    ("user_agent", pa.string(), "$http_user_agent as logged (the report's successes section)"),
    HOST,
])

PLAIN_REQUESTS = _table("one row per access-log request without TLS fields: plain HTTP (a signal on a TLS "
                        "port), or a log_format that logs no $ssl_protocol (combined: the client got an "
                        "answer, at an unknown protocol)", [
    ("ts", TS, "when the request began"),
    ("source", pa.string(), "what logged it: nginx_access | nginx_stream | ..."),
    ("client_addr", pa.string(), "the client: $proxy_protocol_addr when present, else $remote_addr"),
    ("remote_addr", pa.string(), "the immediate TCP peer as nginx logged it"),
    ("proxy_protocol_addr", pa.string(), "the client a PROXY header named"),
    ("conn_id", pa.int64(), "nginx connection number ($connection)"),
    ("status", pa.int32(), "HTTP or stream status"),
    ("request", pa.string(), "the request line as logged"),
    _FILE,
    _LINE,
    HOST,
    ("tls_logged", pa.bool_(), "true: the format logs $ssl_protocol and it was empty (plain HTTP); "
                               "false: the format logs no TLS fields (combined)"),
])

PROXY_HEADERS = _table("one row per PROXY protocol header seen: names the real client of connection *N (SPEC §6)", [
    ("ts", TS, "when the header was read"),
    ("source", pa.string(), "nginx_error (debug line 'PROXY protocol src: ...') | pcap"),
    ("conn_id", pa.int64(), "nginx connection number *N"),
    ("version", pa.int8(), "PROXY protocol version: 1 or 2"),
    ("src_addr", pa.string(), "the real client's address"),
    ("src_port", pa.int32(), "the real client's port"),
    ("dst_addr", pa.string(), "the address the client connected to"),
    ("dst_port", pa.int32(), "the port the client connected to"),
    _FILE,
    _LINE,
    ("ts_wall", TS, "as in handshake_failures (nginx debug lines)"),
    TZ_SOURCE,
    HOST,
])

CLIENT_HELLOS = _table("one row per TCP connection to the TLS port in a capture", [
    ("ts", TS, "time of the ClientHello"),
    ("client_addr", pa.string(), "the real client (the PROXY header's source when present)"),
    ("lb_addr", pa.string(), "the TCP peer, when a PROXY header named someone else"),
    ("hello_version", pa.string(), "ClientHello legacy_version, 'TLSv1.2' spelling"),
    ("versions", pa.list_(pa.string()), "supported_versions extension, GREASE dropped"),
    ("cipher_suites", pa.list_(pa.uint16()), "offered cipher suites, IANA numbers"),
    ("has_fallback_scsv", pa.bool_(), "TLS_FALLBACK_SCSV offered (RFC 7507)"),
    ("sni", pa.string(), "server_name extension"),
    ("ja3", pa.string(), "JA3 fingerprint, MD5 hex"),
    ("ja4", pa.string(), "JA4 fingerprint"),
    ("outcome", pa.string(), "ok | alert name | closed | reset"),
    _FILE,
    ("line", pa.int64(), "packet number of the ClientHello's first segment"),
    # ours
    ("client_port", pa.int32(), "the TCP peer's port"),
    ("server_addr", pa.string(), "the server's address"),
    ("server_port", pa.int32(), "the server's port"),
    ("record_version", pa.string(), "TLS record-layer version of the hello"),
    ("alpn", pa.list_(pa.string()), "ALPN protocols offered"),
    ("groups", pa.list_(pa.uint16()), "supported_groups offered, IANA numbers"),
    ("sig_algs", pa.list_(pa.uint16()), "signature_algorithms offered, IANA numbers"),
    ("ec_point_formats", pa.list_(pa.uint8()), "ec_point_formats offered"),
    ("extensions", pa.list_(pa.uint16()), "extension types in order, GREASE dropped"),
    ("ja3_string", pa.string(), "the JA3 input string before hashing"),
    ("proxy_version", pa.int8(), "PROXY protocol version in front of the hello: 1, 2 or null"),
    ("server_version", pa.string(), "version chosen in the ServerHello"),
    ("server_cipher", pa.uint16(), "cipher suite chosen in the ServerHello"),
    ("alert", pa.int16(), "TLS alert number seen on the connection"),
    ("alert_from", pa.string(), "who sent that alert: client | server"),
    HOST,
])

LB_METRICS = _table("one row per load-balancer metric data point (CloudWatch exports)", [
    ("ts", TS, "start of the metric period"),
    ("load_balancer", pa.string(), "the load balancer's CloudWatch dimension value"),
    ("metric", pa.string(), "metric name, e.g. ClientTLSNegotiationErrorCount"),
    ("statistic", pa.string(), "Sum | Average | Maximum | ..."),
    ("value", pa.float64(), "the data point's value"),
    ("unit", pa.string(), "CloudWatch unit, e.g. Count"),
    ("period_s", pa.int32(), "length of the metric period in seconds"),
    ("namespace", pa.string(), "AWS/ApplicationELB | AWS/NetworkELB | AWS/ELB"),
    _FILE,
    _LINE,
    HOST,
])

REJECTS = _table("one row per input line that could not be parsed", [
    _FILE,
    _LINE,
    ("kind", pa.string(), "the input kind the line was read as"),
    ("error", pa.string(), "why the line was rejected"),
    ("text", pa.string(), "the line, non-UTF-8 bytes as \\xHH, cut at 4 KiB"),
    HOST,
])

MATCHES = _table("written by report: one row per client-side failure, with its judgement (SPEC §4, §6)", [
    ("failure_id", pa.string(), "file:line of the kept row (source@time/client without them)"),
    ("failure_key", pa.string(), "equal for rows that are one failure seen by several sources (the failure_id of its representative): count distinct failure_key to count failures as the report does"),
    ("ts", TS, "when the failure happened"),
    ("source", pa.string(), "the sources that saw it, merged: 'a+b' when several"),
    ("client_addr", pa.string(), "the client as attributed (SPEC §6)"),
    ("reason", pa.string(), "SPEC §5 reason code"),
    ("attributable", pa.bool_(), "client_addr is the real client"),
    ("attribution", pa.string(), "how the client was named, or why it could not be"),
    ("recovered", pa.bool_(), "the client had a session at --min-protocol or above within the window; null when unattributable"),
    ("recovered_at", TS, "when the first such session began"),
    ("delay_s", pa.float64(), "recovered_at - ts in seconds, at least 0"),
    ("recovered_protocol", pa.string(), "protocol of that session"),
    ("recovered_cipher", pa.string(), "cipher of that session"),
    ("class", pa.string(), "client | scanner | health_check | ignored (logcorr.classify)"),
    ("evidence", pa.string(), "why a failure is not a client's (null for clients)"),
    _FILE,
    _LINE,
    HOST,
])

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


def doc(field: pa.Field) -> str:
    """The meaning of a column (its ``doc`` metadata; empty when it has none)."""
    meta = field.metadata or {}
    return meta.get(b"doc", b"").decode()


def table_doc(name: str) -> str:
    """What one row of table ``name`` is."""
    meta = TABLES[name].metadata or {}
    return meta.get(b"doc", b"").decode()


def partition_columns(name: str) -> list[str]:
    """The hive partition keys of table ``name`` on disk (the folders' ``date=``)."""
    return [PARTITION_COLUMN] if name in TABLES else []


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
