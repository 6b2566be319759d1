"""Signatures of the inputs that are not log lines: capture magic numbers, nmap reports.

:func:`logcorr.inputs.detect` decides every file's kind from its first bytes, so these
checks live apart from their readers: deciding that an nginx log is an nginx log must not
import the capture reader (its TLS and PROXY parsers) nor the nmap reader (XML, the TLS
profile), which cost a one-line ingest more than 10 ms.  The readers import their
constants from here.
"""

from __future__ import annotations

# pcap in both byte orders, micro- and nanosecond timestamps (pcap-savefile(5)); pcapng's
# Section Header Block type (draft-ietf-opsawg-pcapng §4.1)
PCAP_MAGICS = frozenset({bytes.fromhex(m) for m in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1")})
PCAPNG_MAGIC = bytes.fromhex("0a0d0d0a")

NMAP_SCRIPT = "ssl-enum-ciphers"
"""The nmap script whose output is read (``scripts/ssl-enum-ciphers.nse``)."""


def sniff_pcap(head: bytes) -> bool:
    """True when ``head`` starts with a pcap or pcapng magic number."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


def sniff_nmap(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) looks like nmap output with this script."""
    if NMAP_SCRIPT.encode() in head:
        return True
    text = head.lstrip()[:4096]
    return text.startswith((b"Starting Nmap", b"# Nmap ")) or (
        text.startswith(b"<?xml") and b"<nmaprun" in text)
