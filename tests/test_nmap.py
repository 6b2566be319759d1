"""nmap ssl-enum-ciphers output → ServerProfile.  Fixture origins: tests/fixtures/nmap/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from logcorr.errors import InputError
from logcorr.sources.nmap import read_nmap
from logcorr.sources.signatures import sniff_nmap

FIX = Path(__file__).parent / "fixtures" / "nmap"

# Report profile (client-fallback.md §6): ECDHE-RSA and RSA AES-CBC at TLS 1.0/1.1 ...
OLD = {0xC013, 0xC014, 0x002F, 0x0035}
# ... and TLS 1.2 adding GCM and SHA-256/384
TLS12 = OLD | {0xC02F, 0xC027, 0xC030, 0xC028, 0x009C, 0x003C, 0x009D, 0x003D}
SERVER3 = dict.fromkeys(("TLSv1", "TLSv1.1", "TLSv1.2"), "server")
NMAP_NOTE = "groups are those nmap saw the server pick, not every group it accepts"

# (fixture, "host:port", protocols → suites, groups, cipher preference, notes)
CASES = [
    ("report-alb.txt", "203.0.113.10:443",
     {"TLSv1": OLD, "TLSv1.1": OLD, "TLSv1.2": TLS12}, {23}, SERVER3, [NMAP_NOTE]),
    ("two-hosts.xml", "203.0.113.10:443",
     {"TLSv1": OLD, "TLSv1.1": OLD, "TLSv1.2": TLS12}, {23}, SERVER3, [NMAP_NOTE]),
    ("two-hosts.xml", "198.51.100.5:8443",
     {"TLSv1.2": {0xC02F, 0xCCA8}, "TLSv1.3": {0x1301, 0x1302, 0x1303}}, {29},
     {"TLSv1.2": "server", "TLSv1.3": "client"},
     [NMAP_NOTE, "unknown suite names ignored: TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC"]),
    ("nse-doc.txt", "unknown:443",  # "dh 256" is not a named group
     {"SSLv3": {0x0004, 0x0005, 0x000A}, "TLSv1": {0x0004, 0x0005, 0x000A, 0x0039, 0x0033}},
     set(), {"SSLv3": "server", "TLSv1": "server"}, [NMAP_NOTE]),
    ("nse-doc-old.txt", "unknown:443",
     {"SSLv3": {0x0016, 0x0033, 0x0039, 0x000A, 0x002F, 0x0035},
      "TLSv1": {0x0016, 0x0033, 0x0039, 0x000A, 0x002F, 0x0035}}, set(), {}, [NMAP_NOTE]),
]


@pytest.mark.parametrize(("fixture", "key", "ciphers", "groups", "preference", "notes"), CASES)
def test_read_nmap(fixture: str, key: str, ciphers: dict[str, set[int]], groups: set[int],
                   preference: dict[str, str], notes: list[str]) -> None:
    profiles = read_nmap((FIX / fixture).read_bytes(), fixture)
    p = profiles[key]
    assert (p.protocols, p.ciphers, p.groups) == (set(ciphers), ciphers, groups)
    assert (p.cipher_preference, p.notes, p.source, p.groups_complete) == (preference, notes, "nmap", False)


def test_keys_and_names() -> None:
    xml = read_nmap((FIX / "two-hosts.xml").read_bytes(), "two-hosts.xml")
    assert {k: v.name for k, v in xml.items()} == {
        "203.0.113.10:443": "two-hosts.xml 203.0.113.10:443 (app.example.com)",
        "198.51.100.5:8443": "two-hosts.xml 198.51.100.5:8443 (edge.example.net)",
    }
    text = read_nmap((FIX / "report-alb.txt").read_bytes(), "r.txt")
    assert {k: (v.name, v.lowest, v.highest) for k, v in text.items()} == {
        "203.0.113.10:443": ("r.txt 203.0.113.10:443 (app.example.com)", "TLSv1", "TLSv1.2")}


def test_pasted_block_without_port_line() -> None:
    # the script block alone, as pasted into a mailing-list message (client-fallback.md §6)
    block = b"""| ssl-enum-ciphers:
|   TLSv1.2:
|     ciphers:
|       TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (secp256r1) - A
|     compressors:
|       NULL
|     cipher preference: server
|_  least strength: A
"""
    assert {k: v.ciphers for k, v in read_nmap(block, "paste").items()} == {
        "unknown:unknown": {"TLSv1.2": {0xC02F}}}


@pytest.mark.parametrize(("head", "expected"), [
    ((FIX / "report-alb.txt").read_bytes()[:512], True),   # -oN header
    ((FIX / "two-hosts.xml").read_bytes()[:256], True),    # <?xml ... <nmaprun
    (b"| ssl-enum-ciphers:\n|   TLSv1.2:\n", True),         # pasted block
    (b'<?xml version="1.0"?><nmaprun scanner="nmap">', True),
    (b"2026/11/26 17:00:01 [info] 12#12: *1 SSL_do_handshake() failed", False),  # nginx error log
    (b'<?xml version="1.0"?><svg/>', False),
])
def test_sniff(head: bytes, expected: bool) -> None:
    assert sniff_nmap(head) is expected


@pytest.mark.parametrize(("data", "message"), [
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
     b"<nmaprun>&lol2;</nmaprun>", "f.xml: XML declaring entities refused"),
    (b'<?xml version="1.0"?>\n<nmaprun>\n<host>\n</nmaprun>', "f.xml:4: not well-formed XML"),
    (b'<?xml version="1.0"?><nmaprun><host><ports><port portid="443">'
     b'<script id="ssl-cert"/></port></ports></host></nmaprun>', "f.xml: no ssl-enum-ciphers result found"),
    (b"Starting Nmap 7.94\nPORT STATE SERVICE\n443/tcp open https\n", "f.xml: no ssl-enum-ciphers result found"),
])
def test_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        read_nmap(data, "f.xml")
    assert str(info.value).startswith(message)
