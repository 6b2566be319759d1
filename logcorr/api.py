"""The library API a notebook uses; the CLI is a thin layer over it (SPEC §8)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from logcorr import schema
from logcorr.store import Store, default_data_dir

if TYPE_CHECKING:
    from logcorr.policies import Policy
    from logcorr.profile import ServerProfile
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
               save_matches: bool = True, what_if: Sequence[str | Policy] | None = None) -> Report:
        """The report (``.data`` is the SPEC §7 dict, ``.frames`` its DataFrames).

        ``what_if``: policies to evaluate (names, directives or :class:`logcorr.policies.Policy`);
        none → the current profile's nearest stricter AWS policy and Mozilla intermediate.
        """
        from logcorr.policies import parse_policy
        from logcorr.report.pipeline import run_report

        policies = [parse_policy(p) if isinstance(p, str) else p for p in what_if or []]
        return run_report(self, window=window, min_protocol=min_protocol, since=since,
                          until=until, save_matches=save_matches, what_if=policies)

    def server_profile(self) -> ServerProfile | None:
        """The server's TLS profile given at ingest (``--nginx-conf`` first, else the first nmap scan)."""
        from logcorr.profile import profile_from_json

        self.store.require()
        profiles = self.store.manifest["settings"].get("server_profiles", {})
        keys = sorted(profiles, key=lambda k: (not k.startswith("nginx.conf:"), k))
        return profile_from_json(profiles[keys[0]]) if keys else None

    def what_if(self, policy: str | Policy, matches: pd.DataFrame | None = None) -> WhatIf:
        """What ``policy`` would do to the clients seen (SPEC §7 ``what_if``), as DataFrames.

        ``policy``: an AWS policy name, ``mozilla-modern|intermediate|old``, nginx directives,
        or a :class:`logcorr.policies.Policy`.  ``matches`` (the ``matches`` table, default:
        the stored one) says which addresses are scanners or health checks.
        """
        from logcorr.policies import parse_policy
        from logcorr.report import pipeline
        from logcorr.report.policy_sections import policy_sections

        chosen = parse_policy(policy) if isinstance(policy, str) else policy
        if self.store.count("tls_sessions") < pipeline.DUCKDB_FROM_ROWS:
            sessions, hellos, excluded, stored = self.client_evidence(matches)
            data, frames = policy_sections(sessions, hellos, stored, current=self.server_profile(),
                                           policies=[chosen], exclude=excluded)
        else:  # the report's way at scale: facts by DuckDB, rows of the failing clients only
            data, frames = self._what_if_at_scale(chosen, matches)
        return WhatIf(data["what_if"][0], frames)

    def _what_if_at_scale(self, chosen: Policy, matches: pd.DataFrame | None
                          ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
        """:meth:`what_if` without reading every session: the session facts of
        :func:`logcorr.whatif.facts_of`'s scope (every row, the not-real clients left out)
        from DuckDB, and for ``preceded_by`` the session rows of the matches' clients."""
        from logcorr.facts import Scope
        from logcorr.report.pipeline import (
            CORRELATED_COLUMNS,
            DuckDBFacts,
            client_sessions,
            not_clients,
        )
        from logcorr.report.policy_sections import policy_sections

        hellos, matches = self._hellos_and_matches(matches)
        engine = DuckDBFacts(self.store)
        _, excluded = not_clients(self, engine.addresses, (), matches)
        facts = engine.facts(Scope(excluded=frozenset(excluded)))
        clients = sorted({str(c) for c in matches["client_addr"].dropna()}) if matches is not None else []
        sessions = client_sessions(self.store, CORRELATED_COLUMNS, clients)
        return policy_sections(sessions, hellos, matches, current=self.server_profile(), policies=[chosen],
                               exclude=excluded, facts=facts)

    def _hellos_and_matches(self, matches: pd.DataFrame | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """The ``client_hellos`` rows (None without a capture) and ``matches`` (default: the stored table)."""
        self.store.require()
        hellos = to_pandas(self.store.read("client_hellos")) if self.store.files("client_hellos") else None
        if matches is None and self.store.files("matches"):
            matches = to_pandas(self.store.read("matches"))
        return hellos, matches

    def client_evidence(self, matches: pd.DataFrame | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame | None, set[str], pd.DataFrame | None]:
        """(sessions, hellos, addresses that are not real clients, matches) for the client-side sections."""
        from logcorr.report.policy_sections import excluded_addresses

        hellos, matches = self._hellos_and_matches(matches)
        cols = [c for c in ("ts", "source", "client_addr", "ssl_protocol", "ssl_cipher", "server_name",
                            "user_agent", "is_connection", "status", "file", "line")
                if c in schema.TABLES["tls_sessions"].names]
        sessions = to_pandas(self.store.read("tls_sessions", cols))
        settings = self.store.manifest["settings"]
        nets = [*settings.get("lb_cidrs", []), *settings.get("scanner_cidrs", []), *settings.get("ignore_cidrs", [])]
        excluded = excluded_addresses(matches, sessions["client_addr"].dropna().unique().tolist(),
                                      nets, self.lb_addrs)
        return sessions, hellos, excluded, matches


class WhatIf:
    """One policy's what-if: ``data`` is its SPEC §7 ``what_if`` entry, ``frames`` the tables.

    ``frames``: ``what_if`` (one row), ``clients_losing_access``,
    ``clients_maybe_losing_access``, ``failing_clients_gaining_access``, ``actions``,
    ``legacy_clients``, and ``preceded_by`` when there are failures.
    """

    def __init__(self, data: dict[str, Any], frames: dict[str, pd.DataFrame]) -> None:
        self.data = data
        self.frames = frames

    def __repr__(self) -> str:
        d = self.data
        return (f"WhatIf({d['policy']!r}: {len(d['clients_losing_access'])} clients lose access, "
                f"{len(d['clients_maybe_losing_access'])} may, "
                f"{len(d['failing_clients_gaining_access'])} failing clients get in)")

    @property
    def losing(self) -> pd.DataFrame:
        return self.frames["clients_losing_access"]

    @property
    def maybe_losing(self) -> pd.DataFrame:
        return self.frames["clients_maybe_losing_access"]

    @property
    def gaining(self) -> pd.DataFrame:
        return self.frames["failing_clients_gaining_access"]


def _clients(failures: pd.DataFrame) -> list[str]:
    return sorted(failures["client_addr"].dropna().unique().tolist())


def open(path: str | os.PathLike[str] | None = None) -> Dataset:
    """Open a data directory (default: ``$LOGCORR_DATA`` or ``./logcorr-data``)."""
    return Dataset(path)
