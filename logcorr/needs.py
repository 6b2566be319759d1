"""What the failing clients needed: their ClientHellos against the server's TLS profile.

SPEC §1 question 2 and §7 ``verdict.findings``.  A client is *failing* when at least one
of its captured connections did not end ``ok`` (``client_hellos.outcome``); its
``failures`` are those connections.  Each failing client gets one cause, checked in the
order the server itself decides (OpenSSL picks the version first, then a suite for that
version, then a group; RFC 8446 §4.1.1, RFC 5246 §7.4.1.2):

``scsv_always``
    every one of its hellos carried TLS_FALLBACK_SCSV and none completed: the Conscrypt-era
    client bug (``reference/client-fallback.md`` §3.1, §8.3), not a server problem.
``protocol``
    no version in common (``unsupported_protocol``).
``cipher``
    a version in common but no suite enabled for it (``no_shared_cipher``).
``group``
    TLS 1.3, or only ECDHE suites in common, and none of the client's groups is accepted
    (``no_shared_group``).  nmap shows only the group the server picked, so with an nmap
    profile the finding says so.
``fallback``
    nothing missing, but its retries with TLS_FALLBACK_SCSV were refused (RFC 7507 §3).
``other``
    nothing missing: the failures had another cause (outcome names are listed).

Without a profile only what the clients offered is described.  Strings are plain text;
renderers escape them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from logcorr.policies import suite_label
from logcorr.profile import (
    FALLBACK_SCSV,
    SCSVS,
    ServerProfile,
    group_name,
    normalize_protocol,
    protocol_label,
    protocol_rank,
    suite_name,
)

# The fallback ClientHello of the original report (client-fallback.md §6): OkHttp 2.2.x's
# COMPATIBLE_TLS spec on Android's BoringSSL/Conscrypt, TLS 1.0, SCSV appended last.
OKHTTP22_FALLBACK = (0xC00A, 0xC009, 0xC013, 0xC014, 0xC007, 0xC011, 0x0033, 0x0039,
                     0x002F, 0x0035, 0x000A, 0x0005, 0x0004, 0x5600)

COLUMNS = ["client", "failures", "highest_version_offered", "offered_suites_count",
           "common_suites_count", "missing", "cause", "outcomes", "ever_succeeded",
           "logged_failures"]

PROFILE_HINT = ("a server profile (nmap --script ssl-enum-ciphers output or --nginx-conf) "
                "would let logcorr say what these clients are missing")

_FAMILY_ORDER = ("TLS 1.3", "AES-GCM", "ChaCha20", "AES-CCM", "AES-CBC", "Camellia", "3DES",
                 "RC4", "DES", "NULL", "other")


def suite_family(code: int) -> str:
    """Coarse family of a suite (``3DES``, ``AES-CBC``, ...), for findings."""
    if 0x1301 <= code <= 0x1305:
        return "TLS 1.3"
    name = suite_name(code)
    for needle, family in (("3DES", "3DES"), ("RC4", "RC4"), ("_DES_", "DES"), ("NULL", "NULL"),
                           ("GCM", "AES-GCM"), ("CHACHA20", "ChaCha20"), ("CCM", "AES-CCM"),
                           ("CAMELLIA", "Camellia"), ("AES", "AES-CBC")):
        if needle in name:
            return family
    return "other"


def _seq(value: Any) -> list[Any]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)


def _is_grease(code: int) -> bool:
    return (code & 0x0F0F) == 0x0A0A and (code >> 8) == (code & 0xFF)  # RFC 8701 §2


@dataclass
class _Client:
    """What one client offered in its failed connections."""

    client: str
    failures: int = 0
    ok: int = 0
    all_scsv: bool = True
    versions: set[str] = field(default_factory=set)  # explicit supported_versions
    legacy_max: str | None = None  # highest legacy_version of hellos without the extension
    suites: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    fallback_refused: int = 0

    @property
    def highest(self) -> str | None:
        cands = [*self.versions, *([self.legacy_max] if self.legacy_max else [])]
        return max(cands, key=protocol_rank) if cands else None

    def acceptable(self, protocol: str) -> bool:
        """Could this client speak ``protocol``?  A legacy hello accepts its version and lower."""
        rank = protocol_rank(protocol)
        return protocol in self.versions or (
            self.legacy_max is not None and 0 <= rank <= protocol_rank(self.legacy_max))

    def offered_text(self) -> str:
        if self.versions and not self.legacy_max:
            ordered = sorted(self.versions, key=protocol_rank)
            labels = [protocol_label(v) for v in ordered]
            if len(labels) == 1:
                return f"only {labels[0]}"
            tail = [x.removeprefix("TLS ") for x in labels[1:]]
            return f"only {labels[0]}" + (", " + ", ".join(tail[:-1]) if len(tail) > 1 else "") + f" and {tail[-1]}"
        return f"at most {protocol_label(self.highest or '?')}"


def _gather(hellos: pd.DataFrame) -> dict[str, _Client]:
    clients: dict[str, _Client] = {}
    for row in hellos.itertuples(index=False):
        addr = getattr(row, "client_addr", None)
        outcome = getattr(row, "outcome", None)
        if not isinstance(addr, str) or not isinstance(outcome, str):
            continue  # no client, or outcome unknown (capture cut short)
        c = clients.setdefault(addr, _Client(addr))
        suites = [int(s) for s in _seq(getattr(row, "cipher_suites", None))]
        flag = getattr(row, "has_fallback_scsv", None)
        scsv = (flag is not None and flag is not pd.NA and bool(flag)) or FALLBACK_SCSV in suites
        c.all_scsv = c.all_scsv and scsv
        if outcome == "ok":
            c.ok += 1
            continue
        c.failures += 1
        c.outcomes[outcome] += 1
        if scsv and outcome == "inappropriate_fallback":
            c.fallback_refused += 1
        versions = [v for v in (normalize_protocol(str(x)) for x in _seq(getattr(row, "versions", None))) if v]
        if versions:
            c.versions.update(versions)
        else:
            hv = normalize_protocol(str(getattr(row, "hello_version", "") or ""))
            if hv and (c.legacy_max is None or protocol_rank(hv) > protocol_rank(c.legacy_max)):
                c.legacy_max = hv
        c.suites.update(s for s in suites if s not in SCSVS and not _is_grease(s))
        c.groups.update(int(g) for g in _seq(getattr(row, "groups", None)) if not _is_grease(int(g)))
    return {k: v for k, v in clients.items() if v.failures}


def _families(codes: set[int]) -> list[str]:
    fams = {suite_family(c) for c in codes}
    return [f for f in _FAMILY_ORDER if f in fams]


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _judge(c: _Client, profile: ServerProfile) -> tuple[str, str, Any, int | None]:
    """(cause, missing, grouping key, common suite count) for one failing client."""
    if c.all_scsv and not c.ok and (profile.highest is None or c.highest is None
                                    or protocol_rank(c.highest) < protocol_rank(profile.highest)):
        return "scsv_always", "a client fix: TLS_FALLBACK_SCSV on every connection", None, None
    common = [p for p in profile.protocols if c.acceptable(p)]
    if not common:
        # a legacy hello also accepts lower versions, so only explicit lists can be too new
        lowest = min(c.versions, key=protocol_rank) if c.versions and not c.legacy_max else None
        if lowest and profile.highest and protocol_rank(lowest) > protocol_rank(profile.highest):
            return "protocol", lowest, (c.offered_text(), "maximum", profile.highest), 0
        return "protocol", c.highest or "?", (c.offered_text(), "minimum", profile.lowest), 0
    version = max(common, key=protocol_rank)
    shared = c.suites & profile.ciphers.get(version, set())
    if not shared:
        fams = _families(c.suites) or ["no"]
        return "cipher", _and(fams), tuple(fams), 0
    needs_group = version == "TLSv1.3" or all("ECDHE" in suite_name(s) for s in shared)
    if needs_group and c.groups and profile.groups and not (c.groups & profile.groups):
        offered = tuple(sorted(c.groups))
        return "group", "group " + _and([group_name(g) for g in offered]), offered, len(shared)
    if c.fallback_refused:
        return "fallback", "", c.ok > 0, len(shared)
    return "other", "", None, len(shared)


def client_needs(hellos: pd.DataFrame, failures: pd.DataFrame | None,
                 profile: ServerProfile | None) -> tuple[list[str], pd.DataFrame]:
    """Findings (sorted by number of clients) and one row per failing client.

    ``hellos`` has the ``client_hellos`` columns (SPEC §4), ``failures`` the
    ``handshake_failures`` columns (only counted per client, as ``logged_failures``).
    """
    clients = _gather(hellos)
    if profile is not None and not profile.protocols:
        profile = None  # a scan that found no protocol says nothing about what is missing
    logged: dict[str, int] = {}
    if failures is not None and len(failures) and "client_addr" in failures.columns:
        logged = {str(k): int(v) for k, v in failures["client_addr"].value_counts().items()}
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, Any], list[_Client]] = {}
    for c in clients.values():
        if profile is not None:
            cause, missing, key, common = _judge(c, profile)
        elif c.all_scsv and not c.ok:
            cause, missing, key, common = "scsv_always", "a client fix: TLS_FALLBACK_SCSV on every connection", None, None
        else:
            cause, missing, key, common = "unknown", "", c.highest, None
        groups.setdefault((cause, key), []).append(c)
        rows.append({
            "client": c.client, "failures": c.failures,
            "highest_version_offered": c.highest, "offered_suites_count": len(c.suites),
            "common_suites_count": common, "missing": missing, "cause": cause,
            "outcomes": ", ".join(f"{k}:{v}" for k, v in sorted(c.outcomes.items())),
            "ever_succeeded": c.ok > 0, "logged_failures": logged.get(c.client, 0),
        })
    scored = [(len(members), sum(m.failures for m in members), _finding(cause, key, members, profile))
              for (cause, key), members in groups.items()]
    scored.extend(_okhttp(hellos))
    findings = [text for _, _, text in sorted(scored, key=lambda t: (-t[0], -t[1], t[2]))]
    if profile is None and clients:
        findings.append(PROFILE_HINT[0].upper() + PROFILE_HINT[1:])
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({
        "client": "string", "failures": "int64", "highest_version_offered": "string",
        "offered_suites_count": "int64", "common_suites_count": "Int64", "missing": "string",
        "cause": "string", "outcomes": "string", "ever_succeeded": "bool", "logged_failures": "int64"})
    frame = frame.sort_values(["failures", "client"], ascending=[False, True], ignore_index=True)
    return findings, frame


def _finding(cause: str, key: Any, members: list[_Client], profile: ServerProfile | None) -> str:
    who = f"{_plural(len(members), 'client')} ({_plural(sum(m.failures for m in members), 'failure')})"
    if cause == "scsv_always":
        return (f"{who} sent TLS_FALLBACK_SCSV on every connection and never completed a handshake: "
                "a client stack bug (RFC 7507 allows the SCSV only on a retry with a lower version), not a server problem; only "
                "lowering the server's highest version would let them in, at a cost to everyone")
    if cause == "protocol":
        offered, bound, version = key
        return f"{who} offered {offered}: the server's {bound} is {protocol_label(version)}"
    if cause == "cipher":
        codes = set().union(*(m.suites for m in members))
        fams = list(key)
        listed = f" ({', '.join(suite_label(s) for s in sorted(codes))})" if len(codes) <= 3 else f" ({len(codes)} suites)"
        return f"{who} offered only {_and(fams)} suites{listed}: none is enabled"
    if cause == "group":
        assert profile is not None
        server = ", ".join(group_name(g) for g in sorted(profile.groups))
        if not profile.groups_complete:
            server += ", the only one(s) nmap saw"
        offered = ", ".join(group_name(g) for g in key)
        return f"{who} offered no key-exchange group the server accepts (offered: {offered}; server: {server})"
    if cause == "fallback":
        top = protocol_label(profile.highest) if profile and profile.highest else "its highest version"
        tail = ("and also completed handshakes: harmless retries" if key else
                "and never completed a handshake: their first attempts fail before the fallback "
                "(a load balancer or middlebox that breaks the first attempt, or a client that "
                "retries lower at once)")
        return f"{who} were refused a fallback retry (TLS_FALLBACK_SCSV below the server's {top}) {tail}"
    if cause == "other":
        outcomes = Counter[str]()
        for m in members:
            outcomes.update(m.outcomes)
        listed = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"{who} offered a version, suites and groups the server accepts: "
                f"the failures had other causes (outcomes: {listed})")
    # no profile: describe the offer
    codes = set().union(*(m.suites for m in members))
    fams = _families(codes)
    suites = f" ({_and(fams)} suites)" if fams else ""
    return f"{who} offered at most {protocol_label(key) if key else 'an unknown version'}{suites}"


def _okhttp(hellos: pd.DataFrame) -> list[tuple[int, int, str]]:
    """The report's OkHttp 2.2 fallback hello among failed connections (client-fallback.md §6)."""
    hits: Counter[str] = Counter()
    for row in hellos.itertuples(index=False):
        outcome = getattr(row, "outcome", None)
        if not isinstance(outcome, str) or outcome == "ok":
            continue
        if normalize_protocol(str(getattr(row, "hello_version", "") or "")) != "TLSv1":
            continue
        if tuple(int(s) for s in _seq(getattr(row, "cipher_suites", None))) == OKHTTP22_FALLBACK:
            hits[str(getattr(row, "client_addr", ""))] += 1
    if not hits:
        return []
    n = sum(hits.values())
    text = (f"{_plural(n, 'fallback failure')} from {_plural(len(hits), 'client')} carried the report's "
            "OkHttp 2.2 / Android 6 ClientHello (TLS 1.0, 14 suites ending in TLS_FALLBACK_SCSV): most "
            "likely an app bundling OkHttp 2.2.x on Android 6.0, retrying after a failed TLS 1.2 "
            "attempt (OkHttp 2.x falls back to TLS 1.0 with the SCSV after a failed TLS 1.2 handshake)")
    return [(len(hits), n, text)]
