"""Stored evidence, read for judgement: the one place every engine starts from (SPEC §4).

Readers store what their source logged.  What depends on *other* files is decided here,
at report time, from everything ingested, so the report is a function of the set of
inputs and not of the order or grouping of ``ingest`` runs:

- **Error-log zones.**  nginx writes local wall-clock time without an offset.  Rows whose
  zone was given (``--error-tz``, ``tz_source`` ``given``) keep their ``ts``.  Rows placed
  in the ingesting machine's zone (``machine``) are re-placed with the one UTC offset that
  the same host's access logs show (``$time_local``/``$time_iso8601``), when they show
  exactly one; otherwise the machine's zone stands and :attr:`Evidence.zones` says so.
- **Load balancers**, per host: ``--lb-cidr`` blocks (any host) and the addresses learned
  from the host's access logs (the immediate peer of requests that carry another
  ``$proxy_protocol_addr``) and stream error logs (the ``connected to`` peer that realip
  replaced).  :func:`logcorr.correlate.attribute` applies them.
- **Scanners and ignored traffic**: ``--scanner`` / ``--ignore`` blocks.

Everything is keyed by ``host``: ``*N`` connection ids, zones and learned load balancers
are per nginx instance (SPEC §6).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from logcorr.api import Dataset

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")


@dataclass
class Evidence:
    """What the report judges with; frames are pandas with nullable dtypes."""

    failures: pd.DataFrame
    headers: pd.DataFrame
    lb_networks: list[Network] = field(default_factory=list)
    lb_addrs: dict[str, set[str]] = field(default_factory=dict)  # host -> learned LB addresses
    scanner_networks: list[Network] = field(default_factory=list)
    ignore_networks: list[Network] = field(default_factory=list)
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)  # host -> offset -> lines
    zones: dict[str, str] = field(default_factory=dict)  # host -> how error-log times were placed


def offset_delta(text: str) -> timedelta | None:
    """``+0530`` / ``-08:00`` → a timedelta; None for anything else (or beyond ±18 h)."""
    m = _OFFSET.fullmatch(text.strip())
    if m is None:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3))
    if hours > 18 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return -delta if m.group(1) == "-" else delta


def host_offsets(sources: list[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """UTC offsets the access logs of each host show, with their line counts."""
    out: dict[str, dict[str, int]] = {}
    for s in sources:
        offsets = s.get("utc_offsets") or {}
        if not offsets:
            continue
        mine = out.setdefault(str(s.get("host") or ""), {})
        for k, v in offsets.items():
            mine[str(k)] = mine.get(str(k), 0) + int(v)
    return out


def host_lb_addrs(sources: list[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Load-balancer addresses learned per host (access logs, stream error logs)."""
    out: dict[str, set[str]] = {}
    for s in sources:
        peers = s.get("lb_candidates") or []
        if peers:
            out.setdefault(str(s.get("host") or ""), set()).update(str(p) for p in peers)
    return out


def networks(blocks: list[str]) -> list[Network]:
    out = []
    for b in blocks:
        try:
            out.append(ipaddress.ip_network(b, strict=False))
        except ValueError:
            continue
    return out


def place_times(frame: pd.DataFrame, offsets: Mapping[str, Mapping[str, int]]
                ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Re-place machine-zone error-log times with the host's one access-log offset.

    Returns the frame (``ts`` replaced where it applies) and, per host with such rows,
    how its error-log times were placed.
    """
    zones: dict[str, str] = {}
    if frame.empty or "tz_source" not in frame or "ts_wall" not in frame:
        return frame, zones
    machine = ((frame["tz_source"].astype(object) == "machine").fillna(False).to_numpy(dtype=bool)
               & frame["ts_wall"].notna().to_numpy(dtype=bool))
    if not machine.any():
        return frame, zones
    out = frame.copy()
    hosts = out["host"].astype(object).fillna("").astype(str) if "host" in out else pd.Series("", index=out.index)
    for host in sorted(set(hosts[machine])):
        rows = machine & (hosts == host).to_numpy()
        seen = {k: v for k, v in offsets.get(host, {}).items() if offset_delta(k) is not None}
        if len(seen) == 1:
            (offset,) = seen
            delta = offset_delta(offset)
            assert delta is not None
            out.loc[rows, "ts"] = out.loc[rows, "ts_wall"] - delta
            zones[host] = f"UTC{offset} (the offset the access logs of {host} show)"
        else:
            why = (f"its access logs show several UTC offsets ({', '.join(sorted(seen))})" if seen
                   else "no access log with $time_local or $time_iso8601 was ingested for it")
            zones[host] = f"the ingesting machine's zone, because {why}"
    return out, zones


HEADER_COLUMNS = ["ts", "source", "conn_id", "src_addr", "host", "ts_wall", "tz_source"]


def evidence_settings(manifest: Mapping[str, Any]) -> Evidence:
    """The settings that judge evidence (no rows: ``failures``/``headers`` empty).

    Engines that read the rows where they are (Spark) apply them partition by partition.
    """
    sources = manifest.get("sources", [])
    settings = manifest.get("settings", {})
    return Evidence(failures=pd.DataFrame(), headers=pd.DataFrame(),
                    lb_networks=networks(settings.get("lb_cidrs", [])),
                    lb_addrs=host_lb_addrs(sources),
                    scanner_networks=networks(settings.get("scanner_cidrs", [])),
                    ignore_networks=networks(settings.get("ignore_cidrs", [])),
                    offsets=host_offsets(sources))


def load_evidence(dataset: Dataset) -> Evidence:
    """Read the failures and PROXY headers of ``dataset`` and the settings that judge them."""
    from logcorr.api import to_pandas

    store = dataset.store
    evidence = evidence_settings(store.manifest)
    evidence.failures, evidence.zones = place_times(dataset.raw_failures(), evidence.offsets)
    headers = to_pandas(store.read("proxy_headers", HEADER_COLUMNS))
    evidence.headers, _ = place_times(headers, evidence.offsets)
    return evidence
