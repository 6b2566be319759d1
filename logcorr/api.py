"""The library API a notebook uses; the CLI is a thin layer over it (SPEC §8)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from logcorr import schema
from logcorr.store import Store, default_data_dir

if TYPE_CHECKING:
    from logcorr.report.build import Report

FAILURE_COLUMNS = ["ts", "source", "client_addr", "client_is_real", "reason", "reason_text",
                   "conn_id", "server_addr", "file", "line", "level", "alert", "alert_name",
                   "client_side", "lb_addr", "attribution", "ts_precision_s", "ts_wall",
                   "tz_source", "host", "action"]
SESSION_COLUMNS = ["ts", "source", "client_addr", "ssl_protocol", "ssl_cipher", "conn_id",
                   "file", "line", "is_connection", "status", "host"]

_PANDAS_TYPES: dict[pa.DataType, Any] = {
    pa.string(): pd.StringDtype(),
    pa.bool_(): pd.BooleanDtype(),
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.float32(): pd.Float32Dtype(),
    pa.float64(): pd.Float64Dtype(),
}


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas with nullable dtypes; timestamps stay ``datetime64[us, UTC]``."""
    return table.to_pandas(types_mapper=_PANDAS_TYPES.get)


class Dataset:
    """An ingested data directory: tables as DataFrames, correlation, the report."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.store = Store(path if path is not None else default_data_dir())

    @property
    def path(self) -> Path:
        return self.store.path

    def __repr__(self) -> str:
        return f"logcorr.Dataset({str(self.path)!r})"

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Table ``name`` (SPEC §4: handshake_failures, tls_sessions, client_hellos, ...)."""
        if name not in schema.TABLES:
            raise KeyError(f"no table {name!r}; tables: {', '.join(schema.TABLES)}")
        self.store.require()
        return to_pandas(self.store.read(name, columns))

    @property
    def tables(self) -> dict[str, int]:
        """Row count of every table."""
        self.store.require()
        return {name: self.store.count(name) for name in schema.TABLES}

    @property
    def lb_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Load-balancer blocks given with ``--lb-cidr`` at ingest."""
        return [ipaddress.ip_network(c) for c in self.store.manifest["settings"].get("lb_cidrs", [])]

    @property
    def lb_addrs(self) -> list[str]:
        """Load-balancer addresses learned from the logs of every host (SPEC §2)."""
        return sorted(set().union(*self.lb_addrs_by_host.values()))

    @property
    def lb_addrs_by_host(self) -> dict[str, set[str]]:
        """Load-balancer addresses learned per host (judged per nginx instance, SPEC §6)."""
        from logcorr.evidence import host_lb_addrs

        return host_lb_addrs(self.store.manifest.get("sources", []))

    def raw_failures(self) -> pd.DataFrame:
        """``handshake_failures`` as stored: times of inferred zones not yet placed."""
        self.store.require()
        return to_pandas(self.store.read("handshake_failures", FAILURE_COLUMNS))

    def failures(self) -> pd.DataFrame:
        """``handshake_failures`` with every error-log time placed in its host's zone."""
        from logcorr.evidence import load_evidence

        self.store.require()
        return load_evidence(self).failures

    def sessions(self, clients: list[str] | None = None) -> pd.DataFrame:
        """TLS sessions; only those of ``clients`` when given (lean reads for reports)."""
        self.store.require()
        # A typed value set: isin([]) would be of type null, which Arrow refuses to bind.
        flt = ds.field("client_addr").isin(pa.array(clients, pa.string())) if clients is not None else None
        return to_pandas(self.store.read("tls_sessions", SESSION_COLUMNS, flt))

    def correlate(self, window: str | int = "5m", min_protocol: str = "TLSv1.2") -> pd.DataFrame:
        """One row per handshake failure: recovered, recovered_at, delay_s (SPEC §6)."""
        from logcorr.correlate import correlate
        from logcorr.evidence import load_evidence
        from logcorr.timewindow import parse_window

        window_s = window if isinstance(window, int) else parse_window(window)
        from logcorr.attribution import attribute_failures
        from logcorr.correlate import mark_load_balancers

        ev = load_evidence(self)
        failures = attribute_failures(mark_load_balancers(ev.failures, ev.lb_networks, ev.lb_addrs),
                                      ev.headers)
        sessions = self.sessions(_clients(failures))
        return correlate(failures, sessions, window_s, min_protocol,
                         lb_networks=ev.lb_networks, lb_addrs=ev.lb_addrs)

    def report(self, window: str | int = "5m", min_protocol: str = "TLSv1.2",
               since: str | None = None, until: str | None = None,
               save_matches: bool = True) -> Report:
        """The report (``.data`` is the SPEC §7 dict, ``.frames`` its DataFrames)."""
        from logcorr.report.pipeline import run_report

        return run_report(self, window=window, min_protocol=min_protocol, since=since,
                          until=until, save_matches=save_matches)


def _clients(failures: pd.DataFrame) -> list[str]:
    return sorted(failures["client_addr"].dropna().unique().tolist())


def open(path: str | os.PathLike[str] | None = None) -> Dataset:
    """Open a data directory (default: ``$LOGCORR_DATA`` or ``./logcorr-data``)."""
    return Dataset(path)
