"""client_needs: failing ClientHellos against the server profile (SPEC §7 findings).

Hellos are hand-built rows of the client_hellos schema (logcorr/schema.py), converted the way
the store returns them (Arrow → pandas, list columns as arrays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from logcorr import schema
from logcorr.needs import OKHTTP22_FALLBACK, client_needs
from logcorr.profile import ServerProfile
from logcorr.sources.nmap import read_nmap

FIX = Path(__file__).parent / "fixtures" / "nmap"
# The original report's ALB as nmap saw it (TLS 1.0-1.2, secp256r1 only seen): client-fallback.md §6
ALB = read_nmap((FIX / "report-alb.txt").read_bytes(), "report-alb.txt")["203.0.113.10:443"]
# A modern nginx: TLS 1.2 + 1.3, ssl_ecdh_curve prime256v1 (groups complete)
MODERN = ServerProfile(protocols={"TLSv1.2", "TLSv1.3"},
                       ciphers={"TLSv1.2": {0xC02F, 0xC030}, "TLSv1.3": {0x1301, 0x1302, 0x1303}},
                       groups={23}, source="nginx.conf")
TLS13_HELLO = [0x1301, 0x1302, 0x1303, 0xC02F, 0xC030]
# OkHttp 2.2.0 MODERN_TLS minus DSS, the expected first attempt (client-fallback.md §6)
OKHTTP_MODERN = [0xC02B, 0xC02F, 0x009E, 0xC00A, 0xC009, 0xC013, 0xC014, 0xC007, 0xC011,
                 0x0033, 0x0039, 0x009C, 0x002F, 0x0035, 0x000A, 0x0005, 0x0004]


def hello(client: str, outcome: str, version: str, suites: list[int], *, versions: list[str] | None = None,
          groups: list[int] | None = None) -> dict[str, Any]:
    return {"ts": pd.Timestamp("2026-11-26T17:00:00Z"), "client_addr": client, "hello_version": version,
            "versions": versions or [], "cipher_suites": suites, "has_fallback_scsv": 0x5600 in suites,
            "groups": groups or [], "outcome": outcome}


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pa.Table.from_pylist(rows)
    return schema.conform("client_hellos", table).to_pandas()


NO_FAILURES = schema.empty("handshake_failures").to_pandas()


def test_protocol_too_old_and_too_new() -> None:
    rows = [
        hello("198.51.100.1", "protocol_version", "TLSv1.1", [0xC013]),   # legacy: no supported_versions
        hello("198.51.100.1", "protocol_version", "TLSv1.1", [0xC013]),
        hello("198.51.100.2", "protocol_version", "TLSv1.1", [0x002F]),
        hello("198.51.100.3", "protocol_version", "TLSv1.1", [0x002F], versions=["TLSv1.1", "TLSv1"]),
    ]
    findings, table = client_needs(frame(rows), NO_FAILURES, MODERN)
    assert findings == [
        "2 clients (3 failures) offered at most TLS 1.1: the server's minimum is TLS 1.2",
        "1 client (1 failure) offered only TLS 1.0 and 1.1: the server's minimum is TLS 1.2",
    ]
    assert table.to_dict("list") == {
        "client": ["198.51.100.1", "198.51.100.2", "198.51.100.3"], "failures": [2, 1, 1],
        "highest_version_offered": ["TLSv1.1"] * 3, "offered_suites_count": [1, 1, 1],
        "common_suites_count": [0, 0, 0], "missing": ["TLSv1.1"] * 3, "cause": ["protocol"] * 3,
        "outcomes": ["protocol_version:2", "protocol_version:1", "protocol_version:1"],
        "ever_succeeded": [False] * 3, "logged_failures": [0, 0, 0]}
    findings, table = client_needs(frame([hello("198.51.100.9", "protocol_version", "TLSv1.2", [0x1301],
                                                versions=["TLSv1.3"])]), NO_FAILURES, ALB)
    assert findings == ["1 client (1 failure) offered only TLS 1.3: the server's maximum is TLS 1.2"]
    assert table["missing"].tolist() == ["TLSv1.3"]


def test_only_3des() -> None:
    rows = [hello(f"203.0.113.{i}", "handshake_failure", "TLSv1.2", [0x000A, 0x00FF]) for i in (1, 2, 2, 3, 4)]
    findings, table = client_needs(frame(rows), NO_FAILURES, ALB)
    # names, not numbers: IANA and OpenSSL (issue 14.4)
    assert findings == ["4 clients (5 failures) offered only 3DES suites (TLS_RSA_WITH_3DES_EDE_CBC_SHA (DES-CBC3-SHA)): "
                        "none is enabled"]
    assert table["missing"].tolist() == ["3DES"] * 4
    assert table["offered_suites_count"].tolist() == [1] * 4  # the renegotiation SCSV is not a suite


def test_no_shared_group() -> None:
    rows = [hello("192.0.2.7", "handshake_failure", "TLSv1.2", TLS13_HELLO, versions=["TLSv1.3", "TLSv1.2"],
                  groups=[0x0A0A, 29]),  # GREASE dropped (RFC 8701)
            hello("192.0.2.8", "handshake_failure", "TLSv1.2", [0xC02F], groups=[29])]
    findings, table = client_needs(frame(rows), NO_FAILURES, MODERN)
    assert findings == ["2 clients (2 failures) offered no key-exchange group the server accepts "
                        "(offered: x25519; server: secp256r1)"]
    assert table[["common_suites_count", "missing"]].to_dict("list") == {
        "common_suites_count": [3, 1], "missing": ["group x25519", "group x25519"]}
    # with nmap's partial view the finding says so; RSA key exchange needs no group
    rows = [hello("192.0.2.9", "handshake_failure", "TLSv1.2", [0xC02F], groups=[29]),
            hello("192.0.2.10", "closed", "TLSv1.2", [0xC02F, 0x002F], groups=[29])]
    findings, _ = client_needs(frame(rows), NO_FAILURES, ALB)
    assert findings == [
        "1 client (1 failure) offered a version, suites and groups the server accepts: the failures had other causes (outcomes: closed 1)",
        "1 client (1 failure) offered no key-exchange group the server accepts (offered: x25519; server: secp256r1, the only one(s) nmap saw)",
    ]


def test_scsv_on_every_connection() -> None:
    # Conscrypt-era app: TLS 1.2 max, SCSV on its first hello, against a TLS 1.3 server (§3.1)
    scsv = [0xC02F, 0xC030, 0x5600]
    rows = [hello(c, "inappropriate_fallback", "TLSv1.2", scsv) for c in ("10.9.0.1", "10.9.0.1", "10.9.0.2", "10.9.0.3")]
    expected = ("3 clients (4 failures) sent TLS_FALLBACK_SCSV on every connection and never completed a "
                "handshake: a client stack bug (RFC 7507 allows the SCSV only on a retry with a lower "
                "version), not a server problem; "
                "only lowering the server's highest version would let them in, at a cost to everyone")
    findings, table = client_needs(frame(rows), NO_FAILURES, MODERN)
    assert findings == [expected]
    assert set(table["cause"]) == {"scsv_always"}
    findings, _ = client_needs(frame(rows), NO_FAILURES, None)
    assert findings[0] == expected


def test_okhttp_fallback_recovered() -> None:
    rows = [
        hello("100.64.1.5", "reset", "TLSv1.2", OKHTTP_MODERN),             # network-level failure
        hello("100.64.1.5", "inappropriate_fallback", "TLSv1", list(OKHTTP22_FALLBACK)),
        hello("100.64.1.5", "ok", "TLSv1.2", OKHTTP_MODERN),                # next route
        hello("100.64.1.6", "inappropriate_fallback", "TLSv1", list(OKHTTP22_FALLBACK)),
        hello("100.64.1.6", "ok", "TLSv1.2", OKHTTP_MODERN),
        hello("100.64.1.6", "inappropriate_fallback", "TLSv1", list(OKHTTP22_FALLBACK)),
    ]
    failures = pd.DataFrame({"client_addr": ["100.64.1.5", "100.64.1.5", "100.64.1.6"]})
    findings, table = client_needs(frame(rows), failures, ALB)
    assert findings == [
        "2 clients (4 failures) were refused a fallback retry (TLS_FALLBACK_SCSV below the server's TLS 1.2) "
        "and also completed handshakes: harmless retries",
        "3 fallback failures from 2 clients carried the report's OkHttp 2.2 / Android 6 ClientHello "
        "(TLS 1.0, 14 suites ending in TLS_FALLBACK_SCSV): most likely an app bundling OkHttp 2.2.x on "
        "Android 6.0, retrying after a failed TLS 1.2 attempt (OkHttp 2.x falls back to TLS 1.0 with "
        "the SCSV after a failed TLS 1.2 handshake)",
    ]
    assert table.to_dict("list") == {
        "client": ["100.64.1.5", "100.64.1.6"], "failures": [2, 2],
        "highest_version_offered": ["TLSv1.2", "TLSv1"], "offered_suites_count": [17, 13],
        "common_suites_count": [6, 4], "missing": ["", ""], "cause": ["fallback", "fallback"],
        "outcomes": ["inappropriate_fallback:1, reset:1", "inappropriate_fallback:2"],
        "ever_succeeded": [True, True], "logged_failures": [2, 1]}


def test_without_profile() -> None:
    rows = [hello("198.51.100.1", "protocol_version", "TLSv1", [0x000A, 0x0005]),
            hello("198.51.100.2", "protocol_version", "TLSv1", [0x002F]),
            hello("198.51.100.2", "ok", "TLSv1.2", [0xC02F]),
            hello("198.51.100.3", "unknown_ca", "TLSv1.2", TLS13_HELLO, versions=["TLSv1.3", "TLSv1.2"])]
    findings, table = client_needs(frame(rows), NO_FAILURES, None)
    assert findings == [
        "2 clients (2 failures) offered at most TLS 1.0 (AES-CBC, 3DES and RC4 suites)",
        "1 client (1 failure) offered at most TLS 1.3 (TLS 1.3 and AES-GCM suites)",
        "A server profile (nmap --script ssl-enum-ciphers output or --nginx-conf) would let logcorr "
        "say what these clients are missing",
    ]
    assert table["common_suites_count"].isna().all()
    assert table["cause"].tolist() == ["unknown"] * 3


def test_nothing_failed() -> None:
    findings, table = client_needs(frame([hello("192.0.2.1", "ok", "TLSv1.2", [0xC02F])]), NO_FAILURES, None)
    assert findings == []
    assert (len(table), list(table.columns)[:3]) == (0, ["client", "failures", "highest_version_offered"])
    findings, table = client_needs(schema.empty("client_hellos").to_pandas(), NO_FAILURES, MODERN)
    assert (findings, len(table)) == ([], 0)


def test_scsv_flag_without_suite_and_empty_profile() -> None:
    # has_fallback_scsv is what the capture reader sets; trust it even if the list was cut
    rows = [hello("10.9.0.4", "inappropriate_fallback", "TLSv1.2", [0xC02F])]
    rows[0]["has_fallback_scsv"] = True
    findings, _ = client_needs(frame(rows), NO_FAILURES, MODERN)
    assert findings[0].startswith("1 client (1 failure) sent TLS_FALLBACK_SCSV on every connection")
    empty = ServerProfile(protocols=set(), ciphers={}, groups=set(), source="nmap")
    findings, table = client_needs(frame(rows), NO_FAILURES, empty)
    assert table["cause"].tolist() == ["scsv_always"]
