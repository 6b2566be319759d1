"""Client fingerprints of a ClientHello: JA3 and JA4.

JA3 (salesforce/ja3 ``README.md``): ``SSLVersion,Ciphers,Extensions,EllipticCurves,
EllipticCurvePointFormats`` in decimal, values joined by ``-``, GREASE removed (RFC 8701),
MD5 of the string.  ``SSLVersion`` is the hello's ``legacy_version``.

JA4 (FoxIO-LLC/ja4 ``technical_details/JA4.md``): ``t`` + version (highest
``supported_versions``, else ``legacy_version``) + ``d``/``i`` (SNI extension present) +
2-digit cipher count + 2-digit extension count + first/last character of the first ALPN
value, then ``_`` + the first 12 hex digits of SHA-256 of the sorted cipher list, then
``_`` + the first 12 hex digits of SHA-256 of ``<sorted extensions without SNI and
ALPN>_<signature algorithms in wire order>``.  GREASE is ignored everywhere.
"""

from __future__ import annotations

import functools
import hashlib

from logcorr.sources.tls import EXT_ALPN, EXT_SNI, ClientHello, is_grease

# JA4.md "TLS and DTLS Version".
_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                 0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
_EMPTY = "000000000000"  # JA4.md: an empty list hashes to twelve zeros


def ja3_string(hello: ClientHello) -> str:
    """The JA3 string of a hello, before hashing."""

    def join(values: tuple[int, ...]) -> str:
        return "-".join(str(v) for v in values if not is_grease(v))

    return ",".join([str(hello.legacy_version), join(hello.cipher_suites), join(hello.extensions),
                     join(hello.groups), join(hello.ec_point_formats)])


def ja3(hello: ClientHello) -> str:
    """JA3 fingerprint: MD5 hex of :func:`ja3_string`."""
    return hashlib.md5(ja3_string(hello).encode(), usedforsecurity=False).hexdigest()


def _alpn_chars(first: bytes | None) -> str:
    # JA4.md "ALPN Extension Value": non-alphanumeric ends use the hex form's ends.
    if not first:
        return "00"
    a, b = first[0], first[-1]
    if chr(a).isascii() and chr(a).isalnum() and chr(b).isascii() and chr(b).isalnum():
        return chr(a) + chr(b)
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else _EMPTY


def ja4(hello: ClientHello, transport: str = "t") -> str:
    """JA4 fingerprint of a hello (``transport`` ``t`` for TLS over TCP)."""
    versions = [v for v in hello.supported_versions if not is_grease(v)]
    version = max(versions) if versions else hello.legacy_version
    ciphers = [c for c in hello.cipher_suites if not is_grease(c)]
    exts = [e for e in hello.extensions if not is_grease(e)]
    sni = "d" if EXT_SNI in exts else "i"
    alpn = _alpn_chars(hello.alpn_raw_first) if EXT_ALPN in exts else "00"
    head = f"{transport}{_JA4_VERSIONS.get(version, '00')}{sni}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}"
    cipher_list = ",".join(f"{c:04x}" for c in sorted(ciphers))
    ext_list = ",".join(f"{e:04x}" for e in sorted(exts) if e not in (EXT_SNI, EXT_ALPN))
    sigs = ",".join(f"{s:04x}" for s in hello.sig_algs if not is_grease(s))
    ext_part = _hash12(f"{ext_list}_{sigs}" if sigs and ext_list else ext_list)
    return f"{head}_{_hash12(cipher_list)}_{ext_part}"


@functools.lru_cache(maxsize=4096)
def fingerprints(hello: ClientHello) -> tuple[str, str, str]:
    """``(ja3_string, ja3, ja4)`` of a hello, cached: a capture repeats a few client stacks."""
    text = ja3_string(hello)
    return text, hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), ja4(hello)
