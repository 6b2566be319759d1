"""Which failures are not clients' failures: scanners, health checks, ignored traffic (SPEC §6).

One judgement per failure (a ``failure_key``: the rows of one failure seen by several
sources share it), made at report time from stored evidence.  Classes, first match wins:

1. ``ignored``: the client (or, for an unattributable failure, the logged peer) is in an
   ``--ignore`` block.  Left out of the report entirely; counted in ``coverage.ignored``.
2. ``scanner`` by listing: the client is in a ``--scanner`` block.
3. ``health_check``: a connection that was opened and closed with no byte of TLS, or that
   began with a PROXY v2 ``LOCAL`` header (the load balancer's own connection,
   proxy-protocol.md §2.2).  With a capture this is known exactly: the capture reader
   stores such connections as failure rows marked in ``action``
   (:data:`NO_BYTES_ACTION`, :data:`PROXY_LOCAL_ACTION`), and a failure that a capture saw
   with bytes is never a health check.  From logs alone: nginx's two messages that
   mean "before any byte" (nginx-logs.md §3: ``client closed connection while SSL
   handshaking`` is ``recv()`` returning 0 on the first peek, ``recv() failed (104: ...)
   while SSL handshaking`` an RST before the first byte; on a ``proxy_protocol``
   listener ``broken header: ""`` while reading PROXY protocol is a close before any
   byte: the empty quotes are the bytes nginx got).  ``peer closed connection in SSL
   handshake`` is *not* taken as a health check from logs alone: in the http module nginx
   writes it only after bytes arrived (a real client's reset after its ClientHello, as the
   lab's glitch scenario shows), so it stays a client failure.
4. ``scanner`` by behaviour: see :data:`SCANNER_MIN_FAILURES` and the capture rules
   (a detected scanner's own no-byte probes count as its scan, not as health checks).
5. ``client``: everything else.

Scanner thresholds, and why (each is a named constant so a test can pin it):

- nmap ``ssl-enum-ciphers`` opens one connection per probe: for each of SSLv3 … TLS 1.3 a
  hello, then for each supported version hellos with the remaining suites until the
  server refuses, then the same for groups, closing after each ServerHello.  Against an
  nginx that offers TLS 1.2–1.3 this is dozens of failures within seconds, of at least
  three reasons (``unsupported_protocol`` for the old versions, ``peer_closed`` after
  each ServerHello, ``no_shared_cipher``/``no_shared_group`` at the end of each list).
  testssl.sh does the same with more probes, plus SSLv2/SSLv3 hellos.
- Measured: ``nmap -Pn --script ssl-enum-ciphers`` against the lab nginx (TLS 1.2–1.3,
  nginx 1.22.1, OpenSSL 3.0) gave 41 failures in 1.5 s: ``unsupported_protocol`` 21 (14
  "unsupported protocol", 7 "version too low"), ``peer_closed`` 11, ``no_shared_cipher`` 9,
  and no access-log line.  ``testssl --fast`` against the same nginx: 93 failures in 155 s
  of six reasons (``not_tls`` 36, ``no_shared_cipher`` 25, ``unsupported_protocol`` 15,
  ``other`` 13, ``timeout`` 3, ``no_shared_sigalg`` 1), the densest minute holding 46 of
  them, plus four complete sessions and one connect-then-close.
- A real client's worst case is a browser whose first attempts are broken by the path:
  six parallel connections, each ``peer_closed`` then ``inappropriate_fallback``, is
  twelve failures of *two* reasons in a second.  Requiring three distinct reasons keeps
  that a client; requiring ten failures keeps a client whose one attempt fails three
  ways (timeout, fallback, version) a client.
- A server that accepts every version leaves nmap fewer reasons (``peer_closed`` after
  each ServerHello and ``no_shared_cipher``/``no_shared_group`` at the ends of the lists).
  A second rule catches that: ten failures inside the window with at least
  :data:`SCANNER_MIN_INCOMPATIBLE` distinct reasons of the ``incompatible`` family.  A real
  client's incompatibility is the same every time it connects (one reason); failing on
  versions *and* on ciphers (or groups) within a minute means it varied what it offered.
- With a capture, a hello that offers exactly one protocol version, or at most
  :data:`PROBE_MAX_SUITES` cipher suites (signalling values aside), is a probe: no TLS
  stack sends that on its own, but a single-version or single-suite client exists (an
  embedded device): so a client is a scanner only when its probes *enumerate*: at least
  :data:`SCANNER_MIN_PROBES` probes naming at least :data:`SCANNER_MIN_VERSIONS` distinct
  versions or :data:`SCANNER_MIN_SUITES` distinct suites.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from logcorr.codes import arrow_strings

CLASSES = ("client", "scanner", "health_check", "ignored")

from logcorr.sources.pcaprows import NO_BYTES_ACTION, PROXY_LOCAL_ACTION  # noqa: E402

# nginx reason texts (as the error-log reader stores them) that mean "closed before any byte"
# (nginx-logs.md §3, http module).
NO_BYTE_TEXTS = ("client closed connection", "recv() failed (104:", 'broken header: ""')

SCANNER_BURST_S = 60.0
"""Width of the sliding window in which a scanner's failures come (nmap on the Internet:
one probe per round trip or two, dozens of probes: well inside a minute)."""
SCANNER_MIN_FAILURES = 10
"""Failures of one address inside :data:`SCANNER_BURST_S` (a real client: at most ~12, of two reasons)."""
SCANNER_MIN_REASONS = 3
"""Distinct reason codes among them (a browser's fallback dance has two)."""
SCANNER_MIN_INCOMPATIBLE = 2
"""... or distinct ``incompatible``-family reasons among them (a real client has one)."""
_INCOMPATIBLE = frozenset({"unsupported_protocol", "no_shared_cipher", "no_shared_group", "no_shared_sigalg"})
PROBE_MAX_SUITES = 2
"""A hello with this many suites or fewer (TLS_FALLBACK_SCSV, the renegotiation SCSV and
GREASE not counted) is a cipher probe."""
SCANNER_MIN_PROBES = 5
"""Probe hellos from one address that make it a scanner, given they enumerate:"""
SCANNER_MIN_VERSIONS = 3
SCANNER_MIN_SUITES = 5

_SIGNALLING = frozenset({0x00FF, 0x5600})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: Sequence[str | Network]) -> list[Network]:
    """``--scanner``/``--ignore`` blocks as networks (a bare address is a /32 or /128)."""
    return [c if not isinstance(c, str) else ipaddress.ip_network(c, strict=False) for c in cidrs]


def in_networks(addr: pd.Series, nets: Sequence[Network]) -> pd.Series:
    """True where ``addr`` parses and lies in one of ``nets`` (each distinct address parsed once)."""
    if not nets or addr.empty:
        return pd.Series(False, index=addr.index, dtype=bool)
    hits: set[str] = set()
    for a in pd.unique(addr.dropna().astype(str)):
        try:
            ip = ipaddress.ip_address(a.strip().strip("[]"))
        except ValueError:
            continue
        if any(ip.version == n.version and ip in n for n in nets):
            hits.add(a)
    return pd.Series(addr.astype(object).isin(hits).to_numpy(dtype=bool), index=addr.index)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name].astype(object)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def health_checks(reps: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """True per representative (indexed by ``failure_key``) when the failure is a health check.

    ``rows`` are all the failure rows with their ``failure_key``: a capture row in the
    group decides (marked: yes; unmarked: the capture saw bytes, no); else the logs rule.
    """
    pcap = _is(rows, "source", ("pcap",))
    by_logs = _starts(reps, "source", "nginx") & _no_byte_text(reps)
    if not pcap.any():
        return pd.Series(by_logs, index=reps.index, dtype=bool)
    marked = pcap & _is(rows, "action", (NO_BYTES_ACTION, PROXY_LOCAL_ACTION))
    key = rows["failure_key"].astype(str).to_numpy(dtype=object)
    idx = reps.index.astype(str)
    seen = idx.isin(key[pcap])
    mark = idx.isin(key[marked])
    return pd.Series(np.where(seen, mark, by_logs), index=reps.index, dtype=bool)


def _is(frame: pd.DataFrame, name: str, values: Sequence[str]) -> np.ndarray:
    """``frame[name]`` is one of ``values`` (missing: no), without Python strings."""
    if name not in frame:
        return np.zeros(len(frame), dtype=bool)
    found = pc.is_in(arrow_strings(frame[name]), value_set=pa.array(list(values), pa.string()))
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _starts(frame: pd.DataFrame, name: str, prefix: str) -> np.ndarray:
    if name not in frame:
        return np.zeros(len(frame), dtype=bool)
    found = pc.starts_with(arrow_strings(frame[name]), prefix)
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _no_byte_text(reps: pd.DataFrame) -> np.ndarray:
    """``reason_text`` (stripped) begins with one of :data:`NO_BYTE_TEXTS`."""
    if "reason_text" not in reps:
        return np.zeros(len(reps), dtype=bool)
    text = pc.utf8_trim_whitespace(arrow_strings(reps["reason_text"]))
    hit = np.zeros(len(reps), dtype=bool)
    for prefix in NO_BYTE_TEXTS:
        hit |= np.asarray(pc.starts_with(text, prefix).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return hit


def _bursts(frame: pd.DataFrame) -> dict[str, str]:
    """Clients whose failures form a scanner burst, with the evidence as a sentence."""
    out: dict[str, str] = {}
    if frame.empty:
        return out
    df = frame.sort_values(["_c", "ts"], kind="stable")
    for client, g in df.groupby("_c", sort=True):
        if len(g) < SCANNER_MIN_FAILURES:
            continue
        t = g["ts"].to_numpy(dtype="datetime64[us]").astype("int64") / 1e6
        reasons = g["reason"].astype(str).to_numpy()
        hi = np.searchsorted(t, t + SCANNER_BURST_S, side="right")
        for lo in np.flatnonzero(hi - np.arange(len(t)) >= SCANNER_MIN_FAILURES):
            kinds = sorted(set(reasons[lo:hi[lo]]))
            if len(kinds) >= SCANNER_MIN_REASONS or len(_INCOMPATIBLE.intersection(kinds)) >= SCANNER_MIN_INCOMPATIBLE:
                span = t[hi[lo] - 1] - t[lo]
                out[str(client)] = (f"{hi[lo] - lo} failures of {len(kinds)} reasons "
                                    f"({', '.join(kinds)}) within {round(float(span), 1):g} s")
                break
    return out


def _texts(reps: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``reason_text`` at ``rows`` (empty when missing), None elsewhere: only those become evidence."""
    out = np.full(len(reps), None, dtype=object)
    out[rows] = _col(reps, "reason_text").iloc[np.flatnonzero(rows)].fillna("").astype(str).to_numpy()
    return out


def _suites(value: Any) -> list[int]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [int(c) for c in value if int(c) not in _SIGNALLING and (int(c) & 0x0F0F) != 0x0A0A]


def _versions(row: pd.Series) -> list[str]:
    versions = row.get("versions")
    listed = [str(v) for v in versions] if versions is not None and not isinstance(versions, float) else []
    if listed:
        return listed
    return [str(row.get("hello_version"))] if row.get("hello_version") is not None else []


def probes(hellos: pd.DataFrame | None) -> dict[str, str]:
    """Clients whose captured hellos enumerate versions or suites, with the evidence."""
    out: dict[str, str] = {}
    if hellos is None or hellos.empty:
        return out
    for client, g in hellos.groupby(hellos["client_addr"].astype(object).astype(str), sort=True):
        versions: set[str] = set()
        suites: set[int] = set()
        n = 0
        for _, row in g.iterrows():
            vs, cs = _versions(row), _suites(row.get("cipher_suites"))
            one_version, few_suites = len(vs) == 1, 0 < len(cs) <= PROBE_MAX_SUITES
            if one_version or few_suites:
                n += 1
                versions.update(vs if one_version else [])
                suites.update(cs if few_suites else [])
        if n >= SCANNER_MIN_PROBES and (len(versions) >= SCANNER_MIN_VERSIONS
                                         or len(suites) >= SCANNER_MIN_SUITES):
            what = []
            if len(versions) >= SCANNER_MIN_VERSIONS:
                what.append(f"{len(versions)} versions ({', '.join(sorted(versions))})")
            if len(suites) >= SCANNER_MIN_SUITES:
                what.append(f"{len(suites)} cipher suites")
            out[str(client)] = f"{n} probe hellos (one version or at most {PROBE_MAX_SUITES} suites each) naming {' and '.join(what)}"
    return out


def classify(reps: pd.DataFrame, rows: pd.DataFrame, *, hellos: pd.DataFrame | None = None,
             scanner_cidrs: Sequence[str | Network] = (),
             ignore_cidrs: Sequence[str | Network] = ()) -> pd.DataFrame:
    """``class`` and ``evidence`` per failure.

    ``reps``: one row per failure (indexed by ``failure_key``) with ``ts``, ``client_addr``,
    ``attributable``, ``reason``, ``reason_text``, ``source``; ``rows``: every failure row
    with its ``failure_key`` (for the capture's say on health checks); ``hellos``: the
    ``client_hellos`` table when a capture was ingested.
    """
    n = len(reps)
    cls = np.array(["client"] * n, dtype=object)
    evidence = np.array([None] * n, dtype=object)
    if n == 0:
        return pd.DataFrame({"class": pd.Series([], dtype=object), "evidence": pd.Series([], dtype=object)},
                            index=reps.index)
    client = _col(reps, "client_addr")
    attributable = reps["attributable"].astype(bool).to_numpy()
    ignored = in_networks(client, networks(ignore_cidrs)).to_numpy()
    listed = in_networks(client, networks(scanner_cidrs)).to_numpy() & attributable
    health = health_checks(reps, rows).to_numpy(dtype=bool)
    todo = np.ones(n, dtype=bool)

    def assign(mask: np.ndarray, name: str, why: Any) -> None:
        nonlocal todo
        hit = mask & todo
        cls[hit] = name
        evidence[hit] = why[hit] if isinstance(why, np.ndarray) else why
        todo = todo & ~hit

    assign(ignored, "ignored", "listed with --ignore")
    assign(listed, "scanner", "listed with --scanner")
    assign(health, "health_check", _texts(reps, health & todo))
    # per distinct address: a million failures come from a few hundred thousand clients
    codes, uniques = pd.factorize(client.to_numpy(dtype=object), use_na_sentinel=False)
    names = pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype(str).to_numpy(dtype=object)
    # only a client with SCANNER_MIN_FAILURES failures can burst: the others are left out
    mask = todo & attributable
    many = mask & (np.bincount(codes[mask], minlength=len(names))[codes] >= SCANNER_MIN_FAILURES)
    rows = np.flatnonzero(many)
    left = pd.DataFrame({"_c": names[codes[rows]], "ts": reps["ts"].iloc[rows].array,
                         "reason": _col(reps, "reason").iloc[rows].fillna("other").to_numpy()}, index=rows)
    found = _bursts(left)
    for who, why in probes(hellos).items():
        found[who] = why if who not in found else f"{found[who]}; {why}"
    why_of = np.array([found.get(c) for c in names], dtype=object) if found else np.full(len(names), None, object)
    by_behaviour = np.array([c in found for c in names], dtype=bool)[codes] & attributable
    # a scanner's own connect-then-close probes are part of its scan, not health checks
    todo = todo | (by_behaviour & (cls == "health_check"))
    assign(by_behaviour, "scanner", why_of[codes])
    return pd.DataFrame({"class": cls, "evidence": evidence}, index=reps.index)
