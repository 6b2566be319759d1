"""JA3 and JA4 against the published examples.

JA3: salesforce/ja3 ``README.md`` (commit 006f7e53), section "How it works":
``769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0 --> ada70206e40642a3e4461f35503241d5``
and ``769,4-5-10-9-100-98-3-6-19-18-99,,, --> de350869b8c85de67a350c8d186f11e6``.
JA4: FoxIO-LLC/ja4 ``technical_details/JA4.md`` (commit d8f731ce), sections "Cipher hash",
"Extension hash" and "Example": ``t13d1516h2_8daaf6152771_e5627efa2ab1``.
The hellos are built in code with exactly the published values (plus GREASE, which
both algorithms must ignore) and parsed back, so the test covers parsing too.
"""

from __future__ import annotations

import pytest

from logcorr.fingerprint import fingerprints, ja3, ja3_string, ja4
from logcorr.sources.tls import ClientHello, RecordStream
from tests import packets as P


def parsed(record: bytes) -> ClientHello:
    (event,) = RecordStream(1).feed(record)
    assert event.kind == "hello"
    assert isinstance(event.value, ClientHello)
    return event.value


JA3_SUITES = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]


@pytest.mark.parametrize(("hello", "text", "digest"), [
    # salesforce/ja3 README, first example (SNI, supported_groups, ec_point_formats)
    (P.client_hello(0x0301, JA3_SUITES, [P.ext_sni("example.com"), P.ext_u16s(0x000A, [23, 24, 25]),
                                         P.ext_point_formats([0])]),
     "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
     "ada70206e40642a3e4461f35503241d5"),
    # the same with GREASE suites, extension and group (RFC 8701): JA3 ignores them
    (P.client_hello(0x0301, [0x0A0A, *JA3_SUITES], [P.ext(0x1A1A), P.ext_sni("example.com"),
                                                    P.ext_u16s(0x000A, [0x2A2A, 23, 24, 25]),
                                                    P.ext_point_formats([0])]),
     "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
     "ada70206e40642a3e4461f35503241d5"),
    # salesforce/ja3 README, second example: no extensions at all
    (P.client_hello(0x0301, [4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], None),
     "769,4-5-10-9-100-98-3-6-19-18-99,,,", "de350869b8c85de67a350c8d186f11e6"),
])
def test_ja3_published_examples(hello: bytes, text: str, digest: str) -> None:
    h = parsed(hello)
    assert ja3_string(h) == text
    assert ja3(h) == digest
    assert fingerprints(h) == (text, digest, ja4(h))


# JA4.md: ciphers in wire order, extensions in wire order, signature algorithms.
JA4_SUITES = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014,
              0x009C, 0x009D, 0x002F, 0x0035]
JA4_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012,
            0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
JA4_SIGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def ja4_example(grease: bool) -> bytes:
    exts = []
    for e in JA4_EXTS:
        if e == 0x0000:
            exts.append(P.ext_sni("example.com"))
        elif e == 0x0010:
            exts.append(P.ext_alpn(["h2", "http/1.1"]))
        elif e == 0x002B:
            exts.append(P.ext_versions([0x3A3A, 0x0304, 0x0303] if grease else [0x0304, 0x0303]))
        elif e == 0x000D:
            exts.append(P.ext_u16s(0x000D, JA4_SIGS))
        else:
            exts.append(P.ext(e))
    if grease:  # Chrome puts GREASE first and last
        exts = [P.ext(0x0A0A), *exts, P.ext(0xFAFA, b"\x00")]
    suites = [0x5A5A, *JA4_SUITES] if grease else JA4_SUITES
    return P.client_hello(0x0303, suites, exts)


@pytest.mark.parametrize("grease", [False, True])
def test_ja4_published_example(grease: bool) -> None:
    assert ja4(parsed(ja4_example(grease))) == "t13d1516h2_8daaf6152771_e5627efa2ab1"


@pytest.mark.parametrize(("hello", "expected_prefix"), [
    # JA4.md "ALPN Extension Value": http/1.1 → h1; no ALPN → 00; no SNI → i;
    # TLS 1.0 legacy_version without supported_versions → 10
    (P.client_hello(0x0303, [0xC02F], [P.ext_alpn(["http/1.1"])]), "t12i0101h1_"),
    (P.client_hello(0x0301, [0xC02F], [P.ext_sni("a.example")]), "t10d0101" + "00_"),
    # JA4.md: "0xAB 0xCD would be printed as ad", "0x30 0xAB would be printed as 3b"
    (P.client_hello(0x0303, [0xC02F], [P.ext_alpn([b"\xab\xcd"])]), "t12i0101ad_"),
    (P.client_hello(0x0303, [0xC02F], [P.ext_alpn([b"0\xab"])]), "t12i01013b_"),
])
def test_ja4_header(hello: bytes, expected_prefix: str) -> None:
    assert ja4(parsed(hello)).startswith(expected_prefix)


def test_ja4_empty_lists_hash_to_zeros() -> None:
    # JA4.md: "If there are no ciphers ... 000000000000"; same for no extensions.
    assert ja4(parsed(P.client_hello(0x0303, [], None))) == "t12i000000_000000000000_000000000000"


def test_ja4_without_signature_algorithms_has_no_trailing_underscore() -> None:
    # JA4.md "Extension hash": "0005,000a,...,ff01 = 6d807ffa2a79" when no sigalgs are sent
    exts = [P.ext(e) for e in (0x0005, 0x000A, 0x000B, 0x000D, 0x0012, 0x0015, 0x0017, 0x001B, 0x0023,
                               0x002B, 0x002D, 0x0033, 0x4469, 0xFF01)]
    assert ja4(parsed(P.client_hello(0x0303, [0x1301], exts))).endswith("_6d807ffa2a79")
