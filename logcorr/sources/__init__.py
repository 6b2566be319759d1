"""Input readers: one module per input kind, all with the same shape.

A reader is a class built with the file's name and its options, fed byte chunks that
end on line boundaries (``feed(data, first_line)``) and closed at the end
(``close()``).  Each call returns a :class:`Batch`: typed Arrow tables keyed by table
name (``logcorr.schema.TABLES``) plus the line accounting.  Readers never touch the
store, never print, and never raise for a bad line: bad lines become ``rejects`` rows.
They raise :class:`logcorr.errors.InputError` only when the whole file is unusable.

Accounting invariant, per file: ``lines == parsed + skipped + rejected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from logcorr import schema


@dataclass
class Batch:
    """What a reader produced from one chunk of input."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    lines: int = 0  # physical lines (or packets) consumed
    parsed: int = 0  # lines that produced rows (or were needed for rows)
    skipped: int = 0  # lines read and judged irrelevant (not about TLS, ...)
    rejected: int = 0  # lines that could not be parsed: also rows in tables["rejects"]
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)  # e.g. {"utc_offsets": {...}}

    def add(self, other: Batch) -> None:
        """Append ``other`` to this batch (tables concatenated, counts summed)."""
        for name, table in other.tables.items():
            if name in self.tables:
                self.tables[name] = pa.concat_tables([self.tables[name], table])
            else:
                self.tables[name] = table
        self.lines += other.lines
        self.parsed += other.parsed
        self.skipped += other.skipped
        self.rejected += other.rejected
        self.warnings.extend(w for w in other.warnings if w not in self.warnings)
        for key, value in other.meta.items():
            mine = self.meta.get(key)
            if isinstance(mine, set) and isinstance(value, set):
                mine |= value
            elif isinstance(mine, dict) and isinstance(value, dict):
                for k, v in value.items():
                    mine[k] = mine.get(k, 0) + v if isinstance(v, int) else v
            else:
                self.meta[key] = value


def printable(raw: bytes, limit: int = 4096) -> str:
    """Text of a raw line for ``rejects.text``: UTF-8 where valid, ``\\xHH`` elsewhere."""
    return raw[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def rejects_table(rows: list[tuple[str, int, str, str, str]]) -> pa.Table:
    """Build a ``rejects`` table from ``(file, line, kind, error, text)`` tuples."""
    if not rows:
        return schema.empty("rejects")
    cols = list(zip(*rows, strict=True))
    names = ["file", "line", "kind", "error", "text"]
    table = pa.Table.from_arrays([pa.array(c, type=schema.REJECTS.field(n).type)
                                  for c, n in zip(cols, names, strict=True)], names=names)
    return schema.conform("rejects", table)


@dataclass
class Options:
    """What the user told ``ingest`` that readers need (SPEC §2).

    ``error_tz`` is the zone the ingest layer places nginx error-log wall-clock times in:
    ``--error-tz`` (``tz_source`` ``given``), else this machine's zone (``machine``), which
    the report replaces by the one UTC offset the same host's access logs show
    (:mod:`logcorr.evidence`).  Readers store evidence only: ``lb_networks`` is empty when
    called by ``ingest`` (load balancers are judged at report time).
    """

    error_tz: object = None  # datetime.tzinfo used for nginx error-log wall-clock times
    tz_source: str = "machine"  # how error_tz was chosen: given | machine
    log_format: str | None = None  # --log-format: an nginx log_format string or a name
    log_formats: list[str] = field(default_factory=list)  # further --log-format values, in order
    formats: dict[str, str] = field(default_factory=dict)  # log_format name -> string
    lb_networks: list[Any] = field(default_factory=list)  # ipaddress.ip_network
    pcap_ports: list[int] | None = None  # TCP ports of the TLS server in captures (None: any)
