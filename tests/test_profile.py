"""ServerProfile from nginx directives, and the name/code tables."""

from __future__ import annotations

import shutil

import pytest

from logcorr import profile
from logcorr.profile import from_nginx, nginx_default_protocols, parse_openssl_ciphers

# The lab's nginx (tests/lab): TLS 1.0-1.2 with OpenSSL 3.0, which needs @SECLEVEL=0 for 1.0/1.1.
LAB_PROTOCOLS = "TLSv1 TLSv1.1 TLSv1.2"
LAB_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0"
# expected: GCM suites are TLS 1.2 only (RFC 5246); the CBC-SHA ones work from TLS 1.0
LAB_SUITES = {"TLSv1": {0xC013, 0x002F}, "TLSv1.1": {0xC013, 0x002F},
              "TLSv1.2": {0xC02B, 0xC02F, 0xC013, 0x002F}}


def test_lab_config() -> None:
    # openssl is on this machine (OpenSSL 3.0); without it the built-in table gives the same
    # answer for explicit names, so this test never needs a skip.
    p = from_nginx(LAB_PROTOCOLS, f"'{LAB_CIPHERS}'", "prime256v1", prefer_server_ciphers=True)
    assert (p.protocols, p.ciphers, p.groups, p.source) == (set(LAB_SUITES), LAB_SUITES, {23}, "nginx.conf")
    assert p.cipher_preference == dict.fromkeys(LAB_SUITES, "server")
    expected_notes = [] if shutil.which("openssl") else [
        "openssl binary not found: ssl_ciphers expanded with the built-in table only"]
    assert p.notes == expected_notes


def test_without_openssl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile.shutil, "which", lambda name: None)
    p = from_nginx(LAB_PROTOCOLS, LAB_CIPHERS, None)
    assert p.ciphers == LAB_SUITES
    assert p.notes == ["openssl binary not found: ssl_ciphers expanded with the built-in table only"]
    # aliases need openssl; negations and @-directives are not worth a note
    p = from_nginx("TLSv1.2", "HIGH:!aNULL:-MD5:ECDHE-RSA-AES256-GCM-SHA384:!ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA", None)
    assert p.ciphers == {"TLSv1.2": {0x002F}}
    assert p.notes[1:] == ["cannot expand 'HIGH' without openssl"]


def test_openssl_expands_aliases() -> None:
    if shutil.which("openssl") is None:  # pragma: no cover - the fallback is tested above
        p = from_nginx("TLSv1.2", None, None)
        assert p.ciphers == {"TLSv1.2": set()}
        return
    p = from_nginx("TLSv1.2 TLSv1.3", None, None)  # nginx default ciphers HIGH:!aNULL:!MD5
    assert {0xC02F, 0xC030, 0xCCA8, 0x009C} <= p.ciphers["TLSv1.2"]
    assert not {0x0004, 0x0005} & p.ciphers["TLSv1.2"]  # RC4 is not HIGH
    assert p.ciphers["TLSv1.3"] == {0x1301, 0x1302, 0x1303}  # ssl_ciphers does not apply
    bad = from_nginx("TLSv1.2", "NO-SUCH-CIPHER", None)
    assert bad.ciphers == {"TLSv1.2": set()}
    assert bad.notes[0].startswith("openssl ciphers -tls1_2: no suite (")


@pytest.mark.parametrize(("version", "expected"), [
    # nginx ngx_http_ssl_module docs / NGX_SSL_DEFAULT_PROTOCOLS in ngx_event_openssl.h
    ((1, 22, 1), {"TLSv1", "TLSv1.1", "TLSv1.2"}),
    ((1, 23, 4), {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}),
    ((1, 27, 3), {"TLSv1.2", "TLSv1.3"}),
    (None, {"TLSv1.2", "TLSv1.3"}),
])
def test_default_protocols(version: tuple[int, int, int] | None, expected: set[str]) -> None:
    assert nginx_default_protocols(version) == expected
    p = from_nginx(None, "AES128-SHA", "X25519", nginx_version=version)
    assert p.protocols == expected


@pytest.mark.parametrize(("curve", "groups", "notes"), [
    (None, {29, 23, 30, 25, 24, 256, 257, 258, 259, 260}, []),  # "auto": OpenSSL 3.0 defaults
    ("X25519:prime256v1:secp384r1", {29, 23, 24}, []),
    ("P-256:X25519MLKEM768:brainpoolP256r1", {23, 0x11EC}, ["ssl_ecdh_curve: unknown group 'brainpoolP256r1'"]),
])
def test_groups(curve: str | None, groups: set[int], notes: list[str]) -> None:
    p = from_nginx("TLSv1.2", "AES128-SHA", curve)
    assert (p.groups, p.notes) == (groups, notes)


def test_tls10_without_seclevel_is_noted() -> None:
    p = from_nginx("TLSv1 TLSv1.2", "ECDHE-RSA-AES128-SHA", "prime256v1")
    assert p.notes[-1].startswith("TLS 1.0/1.1 need @SECLEVEL=0")


def test_parse_openssl_ciphers() -> None:
    # `openssl ciphers -V` and `-V -stdname` lines, OpenSSL 3.0.19 (this machine)
    out = """          0xC0,0x2F - ECDHE-RSA-AES128-GCM-SHA256    TLSv1.2 Kx=ECDH     Au=RSA   Enc=AESGCM(128)            Mac=AEAD
          0x13,0x02 - TLS_AES_256_GCM_SHA384                        - TLS_AES_256_GCM_SHA384         TLSv1.3 Kx=any      Au=any   Enc=AESGCM(256)            Mac=AEAD
Error in cipher list"""
    assert parse_openssl_ciphers(out) == {0xC02F: "ECDHE-RSA-AES128-GCM-SHA256", 0x1302: "TLS_AES_256_GCM_SHA384"}


@pytest.mark.parametrize(("name", "code"), [
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F),  # IANA registry
    ("TLS_AKE_WITH_CHACHA20_POLY1305_SHA256", 0x1303),  # nmap's TLS 1.3 spelling
    ("TLS_FALLBACK_SCSV", 0x5600),                      # RFC 7507
    ("NOT_A_SUITE", None),
])
def test_suite_code(name: str, code: int | None) -> None:
    assert profile.suite_code(name) == code


def test_names() -> None:
    assert [profile.group_name(c) for c in (23, 29, 0x11EC, 0x0017 + 1000)] == [
        "secp256r1", "x25519", "X25519MLKEM768", "0x03FF"]
    assert [profile.group_code(n) for n in ("prime256v1", "ecdh_x25519", "P-384", "nope")] == [23, 29, 24, None]
    assert [profile.protocol_label(p) for p in ("TLSv1", "TLSv1.0", "TLSv1.3", "SSLv3")] == [
        "TLS 1.0", "TLS 1.0", "TLS 1.3", "SSL 3.0"]
    assert profile.suite_name(0x000A) == "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
