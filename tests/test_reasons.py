"""Reason texts → SPEC §5 codes (``reference/handshake-reasons.md`` §2–§5).

Each row is hand-typed from the reference; the section it comes from is noted.  Strings
marked "built" were assembled from the reference's layout rules (§1 code packing) where it
elides a part with ``…`` or gives only the reason code.
"""

from __future__ import annotations

import pytest

from logcorr.reasons import FAMILY, REASON_TABLE, Classified, classify_nginx, classify_ssl

SPEC_CODES = {
    "inappropriate_fallback": "retry", "no_shared_cipher": "incompatible",
    "unsupported_protocol": "incompatible", "no_shared_group": "incompatible",
    "no_shared_sigalg": "incompatible", "client_rejected_cert": "certificate",
    "peer_alert": "other alert", "plain_http": "noise", "not_tls": "noise",
    "peer_closed": "network", "timeout": "network", "other": "other",
}

# §3: every OpenSSL/LibreSSL reason text, in the OpenSSL 3.x layout (test host form).
TEXTS_3 = [
    ("inappropriate fallback", "inappropriate_fallback"),
    ("no shared cipher", "no_shared_cipher"),
    ("unsupported protocol", "unsupported_protocol"),
    ("version too low", "unsupported_protocol"),
    ("no suitable key share", "no_shared_group"),
    ("no shared groups", "no_shared_group"),
    ("no suitable signature algorithm", "no_shared_sigalg"),
    ("no shared signature algorithms", "no_shared_sigalg"),
    ("no shared sigature algorithms", "no_shared_sigalg"),  # 1.0.2 spelling, sic
    ("http request", "plain_http"),
    ("https proxy request", "plain_http"),
    ("wrong version number", "not_tls"),
    ("unknown protocol", "not_tls"),
    ("packet length too long", "not_tls"),
    ("data length too long", "not_tls"),
    ("encrypted length too long", "not_tls"),
    ("unexpected eof while reading", "peer_closed"),
    ("no application protocol", "other"),
    ("callback failed", "other"),
    ("clienthello tlsext", "other"),
    ("cert cb error", "other"),
    ("no ciphers available", "other"),
    # §3 malformed hello or record
    *[(t, "other") for t in (
        "length mismatch", "record length mismatch", "length too short", "record too small",
        "bad length", "bad packet length", "parse tlsext", "bad extension",
        "error in received cipher list", "no ciphers passed", "no ciphers specified",
        "no compression specified", "excessive message size", "ssl3 session id too long",
        "ssl session id too long", "tls session id too long", "bad legacy version",
        "bad key share", "missing sigalgs extension")],
    # §3 record protection or protocol state
    *[(t, "other") for t in (
        "decryption failed or bad record mac", "block cipher pad is wrong", "bad record type",
        "unexpected message", "unexpected record", "bad change cipher spec", "ccs received early",
        "data between ccs and finished", "got a fin before a ccs",
        "mixed handshake and non handshake data", "digest check failed", "bad digest length",
        "bad cipher", "bad ecpoint", "bad key update", "tls rsa encrypted value length is wrong",
        "application data after close notify", "too much skipped early data")],
    # §3 alert-record problems, renegotiation
    *[(t, "other") for t in ("unknown alert type", "invalid alert", "too many warn alerts")],
    *[(t, "other") for t in (
        "unsafe legacy renegotiation disabled", "renegotiate ext too long",
        "renegotiation encoding err", "renegotiation mismatch", "scsv received when renegotiating",
        "no renegotiation")],
    ("certificate verify failed", "other"),
    ("record layer failure", "other"),  # §3: "other only if it stands alone"
    ("reason(999)", "other"),  # §3: reason(N), N < 1000
    ("reason(1256)", "other"),  # §3: reason(N), N > 1255
]

# §3: every BoringSSL symbol (layout of §1: lowercase hex, OPENSSL_internal).
SYMBOLS = [
    ("INAPPROPRIATE_FALLBACK", "inappropriate_fallback"),
    ("NO_SHARED_CIPHER", "no_shared_cipher"),
    ("UNSUPPORTED_PROTOCOL", "unsupported_protocol"),
    ("NO_SHARED_GROUP", "no_shared_group"),
    ("NO_COMMON_SIGNATURE_ALGORITHMS", "no_shared_sigalg"),
    ("HTTP_REQUEST", "plain_http"),
    ("HTTPS_PROXY_REQUEST", "plain_http"),
    ("WRONG_VERSION_NUMBER", "not_tls"),
    ("UNKNOWN_PROTOCOL", "not_tls"),
    ("RECORD_TOO_LARGE", "not_tls"),
    ("DATA_LENGTH_TOO_LONG", "not_tls"),
    ("ENCRYPTED_LENGTH_TOO_LONG", "not_tls"),
    ("NO_APPLICATION_PROTOCOL", "other"),
    ("CLIENTHELLO_TLSEXT", "other"),
    ("CERT_CB_ERROR", "other"),
    ("NO_CIPHERS_AVAILABLE", "other"),
    *[(s, "other") for s in (
        "LENGTH_MISMATCH", "RECORD_LENGTH_MISMATCH", "DECODE_ERROR", "ERROR_PARSING_EXTENSION",
        "PARSE_TLSEXT", "INVALID_COMPRESSION_LIST", "MISSING_KEY_SHARE", "SSL_SESSION_ID_TOO_LONG",
        "EXCESSIVE_MESSAGE_SIZE")],
    *[(s, "other") for s in (
        "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "BLOCK_CIPHER_PAD_IS_WRONG", "BAD_RECORD_TYPE",
        "UNEXPECTED_MESSAGE", "UNEXPECTED_RECORD", "BAD_CHANGE_CIPHER_SPEC", "CCS_RECEIVED_EARLY",
        "DIGEST_CHECK_FAILED", "BAD_DIGEST_LENGTH", "BAD_CIPHER", "BAD_ECPOINT",
        "APPLICATION_DATA_AFTER_CLOSE_NOTIFY", "TOO_MUCH_SKIPPED_EARLY_DATA",
        "APPLICATION_DATA_ON_SHUTDOWN")],
    *[(s, "other") for s in ("BAD_ALERT", "TOO_MANY_WARNING_ALERTS", "UNKNOWN_ALERT_TYPE")],
    *[(s, "other") for s in (
        "UNSAFE_LEGACY_RENEGOTIATION_DISABLED", "RENEGOTIATE_EXT_TOO_LONG",
        "RENEGOTIATION_ENCODING_ERR", "RENEGOTIATION_MISMATCH", "SCSV_RECEIVED_WHEN_RENEGOTIATING",
        "NO_RENEGOTIATION")],
    ("CERTIFICATE_VERIFY_FAILED", "other"),
]

# §5: full strings per library → code.  LibreSSL strings are built from the reason code
# given there with the ACCEPT_SR_CLNT_HELLO function (0x026) of NGX#13987c88c's line.
FULL = [
    # inappropriate fallback
    ("error:140A1175:SSL routines:ssl_bytes_to_cipher_list:inappropriate fallback", "inappropriate_fallback"),  # 1.0.2h tables, SPEC
    ("error:140A1175:SSL routines:SSL_BYTES_TO_CIPHER_LIST:inappropriate fallback", "inappropriate_fallback"),  # real log, serverfault 663290
    ("error:14209175:SSL routines:tls_early_post_process_client_hello:inappropriate fallback", "inappropriate_fallback"),  # 1.1.1 real log
    ("error:0A000175:SSL routines::inappropriate fallback", "inappropriate_fallback"),  # test host
    ("error:1000009d:SSL routines:OPENSSL_internal:INAPPROPRIATE_FALLBACK", "inappropriate_fallback"),  # BoringSSL
    ("error:14026175:SSL routines:ACCEPT_SR_CLNT_HELLO:inappropriate fallback", "inappropriate_fallback"),  # LibreSSL, built
    # no shared cipher
    ("error:1408A0C1:SSL routines:ssl3_get_client_hello:no shared cipher", "no_shared_cipher"),
    ("error:1417A0C1:SSL routines:tls_post_process_client_hello:no shared cipher", "no_shared_cipher"),
    ("error:142090C1:SSL routines:tls_early_post_process_client_hello:no shared cipher", "no_shared_cipher"),
    ("error:0A0000C1:SSL routines::no shared cipher", "no_shared_cipher"),
    ("error:100000b8:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER", "no_shared_cipher"),
    ("error:140260C1:SSL routines:ACCEPT_SR_CLNT_HELLO:no shared cipher", "no_shared_cipher"),  # built
    ("error:140260C1:SSL routines:(UNKNOWN)SSL_internal:no shared cipher", "no_shared_cipher"),  # LibreSSL TLS 1.3 stack, built
    # unsupported protocol
    ("error:14076102:SSL routines:SSL23_GET_CLIENT_HELLO:unsupported protocol", "unsupported_protocol"),
    ("error:14209102:SSL routines:tls_early_post_process_client_hello:unsupported protocol", "unsupported_protocol"),  # VirtuBox#11
    ("error:0A000102:SSL routines::unsupported protocol", "unsupported_protocol"),
    ("error:100000f0:SSL routines:OPENSSL_internal:UNSUPPORTED_PROTOCOL", "unsupported_protocol"),
    ("error:14026102:SSL routines:ACCEPT_SR_CLNT_HELLO:unsupported protocol", "unsupported_protocol"),  # built
    # version too low
    ("error:1420918C:SSL routines:tls_early_post_process_client_hello:version too low", "unsupported_protocol"),
    ("error:0A00018C:SSL routines::version too low", "unsupported_protocol"),
    ("error:1402618C:SSL routines:ACCEPT_SR_CLNT_HELLO:version too low", "unsupported_protocol"),  # built
    # wrong version number
    ("error:1408F10B:SSL routines:SSL3_GET_RECORD:wrong version number", "not_tls"),
    ("error:1408A10B:SSL routines:ssl3_get_client_hello:wrong version number", "not_tls"),
    ("error:1408F10B:SSL routines:ssl3_get_record:wrong version number", "not_tls"),
    ("error:0A00010B:SSL routines::wrong version number", "not_tls"),
    ("error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "not_tls"),
    ("error:1402610B:SSL routines:ACCEPT_SR_CLNT_HELLO:wrong version number", "not_tls"),  # built
    # http request, https proxy request
    ("error:1407609C:SSL routines:SSL23_GET_CLIENT_HELLO:http request", "plain_http"),
    ("error:1408F09C:SSL routines:ssl3_get_record:http request", "plain_http"),
    ("error:0A00009C:SSL routines::http request", "plain_http"),
    ("error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST", "plain_http"),
    ("error:1402609C:SSL routines:ACCEPT_SR_CLNT_HELLO:http request", "plain_http"),  # built
    ("error:1407609B:SSL routines:SSL23_GET_CLIENT_HELLO:https proxy request", "plain_http"),
    ("error:1408F09B:SSL routines:ssl3_get_record:https proxy request", "plain_http"),
    ("error:0A00009B:SSL routines::https proxy request", "plain_http"),
    ("error:1000009b:SSL routines:OPENSSL_internal:HTTPS_PROXY_REQUEST", "plain_http"),
    ("error:1402609B:SSL routines:ACCEPT_SR_CLNT_HELLO:https proxy request", "plain_http"),  # built
    # unknown protocol
    ("error:140760FC:SSL routines:SSL23_GET_CLIENT_HELLO:unknown protocol", "not_tls"),
    ("error:142090FC:SSL routines:tls_early_post_process_client_hello:unknown protocol", "not_tls"),
    ("error:0A0000FC:SSL routines::unknown protocol", "not_tls"),
    ("error:140260FC:SSL routines:ACCEPT_SR_CLNT_HELLO:unknown protocol", "not_tls"),  # built
    # signature algorithms
    ("error:14201076:SSL routines:tls_choose_sigalg:no suitable signature algorithm", "no_shared_sigalg"),
    ("error:0A000076:SSL routines::no suitable signature algorithm", "no_shared_sigalg"),
    ("error:100000fd:SSL routines:OPENSSL_internal:NO_COMMON_SIGNATURE_ALGORITHMS", "no_shared_sigalg"),
    ("error:1414F178:SSL routines:tls1_set_server_sigalgs:no shared sigature algorithms", "no_shared_sigalg"),
    ("error:1414F178:SSL routines:tls1_set_server_sigalgs:no shared signature algorithms", "no_shared_sigalg"),
    ("error:0A000178:SSL routines::no shared signature algorithms", "no_shared_sigalg"),
    # key share
    ("error:141F7065:SSL routines:final_key_share:no suitable key share", "no_shared_group"),
    ("error:0A000065:SSL routines::no suitable key share", "no_shared_group"),
    ("error:1000010a:SSL routines:OPENSSL_internal:NO_SHARED_GROUP", "no_shared_group"),
    # §5 lists MISSING_KEY_SHARE in this row, but §3 (the mapping) files it as malformed: other.
    ("error:10000102:SSL routines:OPENSSL_internal:MISSING_KEY_SHARE", "other"),
    ("error:141CF06C:SSL routines:tls_parse_ctos_key_share:bad key share", "other"),
    ("error:0A00006C:SSL routines::bad key share", "other"),
    # unexpected eof
    ("error:14095126:SSL routines:ssl3_read_n:unexpected eof while reading", "peer_closed"),
    ("error:0A000126:SSL routines::unexpected eof while reading", "peer_closed"),
    # record lengths
    ("error:1408F0C6:SSL routines:SSL3_GET_RECORD:packet length too long", "not_tls"),
    ("error:1408F0C6:SSL routines:ssl3_get_record:packet length too long", "not_tls"),
    ("error:0A0000C6:SSL routines::packet length too long", "not_tls"),
    ("error:100000c8:SSL routines:OPENSSL_internal:RECORD_TOO_LARGE", "not_tls"),
    ("error:140260C6:SSL routines:ACCEPT_SR_CLNT_HELLO:packet length too long", "not_tls"),  # built
    ("error:140760D5:SSL routines:SSL23_GET_CLIENT_HELLO:record length mismatch", "other"),
    ("error:1417D0D5:SSL routines:tls_process_client_hello:record length mismatch", "other"),
    ("error:0A0000D5:SSL routines::record length mismatch", "other"),
    ("error:100000c7:SSL routines:OPENSSL_internal:RECORD_LENGTH_MISMATCH", "other"),
    ("error:140260D5:SSL routines:ACCEPT_SR_CLNT_HELLO:record length mismatch", "other"),  # built
    # record protection
    ("error:1408F119:SSL routines:SSL3_GET_RECORD:decryption failed or bad record mac", "other"),  # openssl#4938
    ("error:1408F119:SSL routines:ssl3_get_record:decryption failed or bad record mac", "other"),
    ("error:0A000119:SSL routines::decryption failed or bad record mac", "other"),
    ("error:1000008b:SSL routines:OPENSSL_internal:DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "other"),
    ("error:14026119:SSL routines:ACCEPT_SR_CLNT_HELLO:decryption failed or bad record mac", "other"),  # built
    # malformed hellos
    ("error:1408A09F:SSL routines:ssl3_get_client_hello:length mismatch", "other"),
    ("error:1417D09F:SSL routines:tls_process_client_hello:length mismatch", "other"),
    ("error:0A00009F:SSL routines::length mismatch", "other"),
    ("error:10000089:SSL routines:OPENSSL_internal:DECODE_ERROR", "other"),
    ("error:1402609F:SSL routines:ACCEPT_SR_CLNT_HELLO:length mismatch", "other"),  # built
    ("error:1408F0A0:SSL routines:ssl3_get_record:length too short", "other"),
    ("error:0A0000A0:SSL routines::length too short", "other"),
    ("error:1408A0E3:SSL routines:ssl3_get_client_hello:parse tlsext", "other"),
    ("error:141B306E:SSL routines:tls_collect_extensions:bad extension", "other"),  # openssl#21347
    ("error:0A0000E3:SSL routines::parse tlsext", "other"),
    ("error:0A00006E:SSL routines::bad extension", "other"),
    ("error:100000be:SSL routines:OPENSSL_internal:PARSE_TLSEXT", "other"),
    ("error:10000095:SSL routines:OPENSSL_internal:ERROR_PARSING_EXTENSION", "other"),
    ("error:140260E3:SSL routines:ACCEPT_SR_CLNT_HELLO:parse tlsext", "other"),  # built
    # renegotiation
    ("error:14140152:SSL routines:SSL_SCAN_CLIENTHELLO_TLSEXT:unsafe legacy renegotiation disabled", "other"),
    ("error:141E3152:SSL routines:final_renegotiate:unsafe legacy renegotiation disabled", "other"),
    ("error:0A000152:SSL routines::unsafe legacy renegotiation disabled", "other"),
    ("error:100000ec:SSL routines:OPENSSL_internal:UNSAFE_LEGACY_RENEGOTIATION_DISABLED", "other"),
    ("error:14026152:SSL routines:ACCEPT_SR_CLNT_HELLO:unsafe legacy renegotiation disabled", "other"),  # built
    # callbacks, ALPN
    ("error:1408A0E2:SSL routines:ssl3_get_client_hello:clienthello tlsext", "other"),
    ("error:1422E0EA:SSL routines:final_server_name:callback failed", "other"),
    ("error:0A0000EA:SSL routines::callback failed", "other"),
    ("error:10000084:SSL routines:OPENSSL_internal:CLIENTHELLO_TLSEXT", "other"),
    ("error:140260E2:SSL routines:ACCEPT_SR_CLNT_HELLO:clienthello tlsext", "other"),  # built
    ("error:14216179:SSL routines:tls_post_process_client_hello:cert cb error", "other"),  # 1.1.1 "…", built
    ("error:0A000179:SSL routines::cert cb error", "other"),
    ("error:1000007e:SSL routines:OPENSSL_internal:CERT_CB_ERROR", "other"),
    ("error:142320EB:SSL routines:tls_handle_alpn:no application protocol", "other"),
    ("error:0A0000EB:SSL routines::no application protocol", "other"),
    ("error:10000133:SSL routines:OPENSSL_internal:NO_APPLICATION_PROTOCOL", "other"),
    ("error:140260EB:SSL routines:ACCEPT_SR_CLNT_HELLO:no application protocol", "other"),  # built
    # other real-world spellings at the end of §5
    ("error:10000066:SSL routines:OPENSSL_internal:BAD_ALERT", "other"),  # NGX#5c480f917
    ("error:100000dc:SSL routines:OPENSSL_internal:TOO_MANY_WARNING_ALERTS", "other"),
    ("error:14026073:SSL routines:ACCEPT_SR_CLNT_HELLO:bad packet length", "other"),  # NGX#13987c88c
    ("error:1402612C:SSL routines:ACCEPT_SR_CLNT_HELLO:ssl3 session id too long", "other"),
]

# §4.1: N, RFC name, OpenSSL text, BoringSSL symbol, code.
ALERTS = [
    (0, "close_notify", "reason(1000)", "SSLV3_ALERT_CLOSE_NOTIFY", "peer_closed"),
    (10, "unexpected_message", "sslv3 alert unexpected message", "SSLV3_ALERT_UNEXPECTED_MESSAGE", "peer_alert"),
    (20, "bad_record_mac", "sslv3 alert bad record mac", "SSLV3_ALERT_BAD_RECORD_MAC", "peer_alert"),
    (21, "decryption_failed", "tlsv1 alert decryption failed", "TLSV1_ALERT_DECRYPTION_FAILED", "peer_alert"),
    (22, "record_overflow", "tlsv1 alert record overflow", "TLSV1_ALERT_RECORD_OVERFLOW", "peer_alert"),
    (30, "decompression_failure", "sslv3 alert decompression failure", "SSLV3_ALERT_DECOMPRESSION_FAILURE", "peer_alert"),
    (40, "handshake_failure", "sslv3 alert handshake failure", "SSLV3_ALERT_HANDSHAKE_FAILURE", "peer_alert"),
    (41, "no_certificate", "sslv3 alert no certificate", "SSLV3_ALERT_NO_CERTIFICATE", "peer_alert"),
    (42, "bad_certificate", "sslv3 alert bad certificate", "SSLV3_ALERT_BAD_CERTIFICATE", "client_rejected_cert"),
    (43, "unsupported_certificate", "sslv3 alert unsupported certificate", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "client_rejected_cert"),
    (44, "certificate_revoked", "sslv3 alert certificate revoked", "SSLV3_ALERT_CERTIFICATE_REVOKED", "client_rejected_cert"),
    (45, "certificate_expired", "sslv3 alert certificate expired", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "client_rejected_cert"),
    (46, "certificate_unknown", "sslv3 alert certificate unknown", "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "client_rejected_cert"),
    (47, "illegal_parameter", "sslv3 alert illegal parameter", "SSLV3_ALERT_ILLEGAL_PARAMETER", "peer_alert"),
    (48, "unknown_ca", "tlsv1 alert unknown ca", "TLSV1_ALERT_UNKNOWN_CA", "client_rejected_cert"),
    (49, "access_denied", "tlsv1 alert access denied", "TLSV1_ALERT_ACCESS_DENIED", "peer_alert"),
    (50, "decode_error", "tlsv1 alert decode error", "TLSV1_ALERT_DECODE_ERROR", "peer_alert"),
    (51, "decrypt_error", "tlsv1 alert decrypt error", "TLSV1_ALERT_DECRYPT_ERROR", "peer_alert"),
    (60, "export_restriction", "tlsv1 alert export restriction", "TLSV1_ALERT_EXPORT_RESTRICTION", "peer_alert"),
    (70, "protocol_version", "tlsv1 alert protocol version", "TLSV1_ALERT_PROTOCOL_VERSION", "peer_alert"),
    (71, "insufficient_security", "tlsv1 alert insufficient security", "TLSV1_ALERT_INSUFFICIENT_SECURITY", "peer_alert"),
    (80, "internal_error", "tlsv1 alert internal error", "TLSV1_ALERT_INTERNAL_ERROR", "peer_alert"),
    (86, "inappropriate_fallback", "tlsv1 alert inappropriate fallback", "TLSV1_ALERT_INAPPROPRIATE_FALLBACK", "peer_alert"),
    (90, "user_canceled", "tlsv1 alert user cancelled", "TLSV1_ALERT_USER_CANCELLED", "peer_alert"),
    (100, "no_renegotiation", "tlsv1 alert no renegotiation", "TLSV1_ALERT_NO_RENEGOTIATION", "peer_alert"),
    (109, "missing_extension", "tlsv13 alert missing extension", None, "peer_alert"),
    (110, "unsupported_extension", "tlsv1 unsupported extension", "TLSV1_ALERT_UNSUPPORTED_EXTENSION", "peer_alert"),
    (111, "certificate_unobtainable", "tlsv1 certificate unobtainable", "TLSV1_ALERT_CERTIFICATE_UNOBTAINABLE", "peer_alert"),
    (112, "unrecognized_name", "tlsv1 unrecognized name", "TLSV1_ALERT_UNRECOGNIZED_NAME", "peer_alert"),
    (113, "bad_certificate_status_response", "tlsv1 bad certificate status response", "TLSV1_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE", "client_rejected_cert"),
    (114, "bad_certificate_hash_value", "tlsv1 bad certificate hash value", "TLSV1_ALERT_BAD_CERTIFICATE_HASH_VALUE", "peer_alert"),
    (115, "unknown_psk_identity", "tlsv1 alert unknown psk identity", "TLSV1_ALERT_UNKNOWN_PSK_IDENTITY", "peer_alert"),
    (116, "certificate_required", "tlsv13 alert certificate required", "TLSV1_ALERT_CERTIFICATE_REQUIRED", "peer_alert"),
    (120, "no_application_protocol", "tlsv1 alert no application protocol", "TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "peer_alert"),
    (121, "ech_required", "reason(1121)", "TLSV1_ALERT_ECH_REQUIRED", "peer_alert"),
]


@pytest.mark.parametrize(("text", "code"), TEXTS_3)
def test_section3_text(text: str, code: str) -> None:
    got = classify_ssl(f"error:0A000000:SSL routines::{text}")
    assert (got.reason, got.alert, got.text) == (code, None, text)


@pytest.mark.parametrize(("symbol", "code"), SYMBOLS)
def test_section3_boringssl_symbol(symbol: str, code: str) -> None:
    got = classify_ssl(f"error:10000000:SSL routines:OPENSSL_internal:{symbol}")
    assert (got.reason, got.alert, got.text) == (code, None, symbol)


@pytest.mark.parametrize(("full", "code"), FULL)
def test_section5_full_string(full: str, code: str) -> None:
    assert classify_ssl(full).reason == code


@pytest.mark.parametrize(("n", "name", "text", "symbol", "code"), ALERTS)
def test_section4_alert(n: int, name: str, text: str, symbol: str | None, code: str) -> None:
    hexcode = f"{1000 + n:03X}"
    if text.startswith("reason("):  # no text: OpenSSL prints the reason number, no data
        strings = [f"error:0A000{hexcode}:SSL routines::{text}",
                   f"error:14094{hexcode}:SSL routines:ssl3_read_bytes:{text}"]
    else:
        strings = [f"error:0A000{hexcode}:SSL routines::{text}:SSL alert number {n}",  # 3.x
                   f"error:14094{hexcode}:SSL routines:ssl3_read_bytes:{text}:SSL alert number {n}",  # 1.0.2/1.1.1
                   f"error:0A000{hexcode}:SSL routines::{text}"]  # text alone names the alert
    if symbol:
        strings += [f"error:10000{hexcode.lower()}:SSL routines:OPENSSL_internal:{symbol}:SSL alert number {n}",
                    f"error:10000{hexcode.lower()}:SSL routines:OPENSSL_internal:{symbol}"]
    for s in strings:
        assert classify_ssl(s)[:3] == (code, n, name), s


@pytest.mark.parametrize(("ssl_text", "expected"), [
    # §1, test host: alert 48 with data
    ("error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48",
     Classified("client_rejected_cert", 48, "unknown_ca", "tlsv1 alert unknown ca")),
    # §2 rule 5/"decode error:" trap: "error:" inside the data separator is not a new entry
    ("error:0A000432:SSL routines::tlsv1 alert decode error:SSL alert number 50",
     Classified("peer_alert", 50, "decode_error", "tlsv1 alert decode error")),
    # §2 rule 7, test host: reason(1000) = close_notify, reason(1255) = alert 255 (unknown)
    ("error:0A0003E8:SSL routines::reason(1000)", Classified("peer_closed", 0, "close_notify", "reason(1000)")),
    ("error:0A0004E7:SSL routines::reason(1255)", Classified("peer_alert", 255, None, "reason(1255)")),
    ("error:0A0003E8:SSL routines::reason(1000))", Classified("peer_closed", 0, "close_notify", "reason(1000)")),  # closing paren kept by caller
    # an alert number the text table does not know: the data decides
    ("error:0A000500:SSL routines::tlsv1 alert something new:SSL alert number 200",
     Classified("peer_alert", 200, None, "tlsv1 alert something new")),
    # §2 rule 9: whole texts
    ("error:0A000456:SSL routines::tlsv1 alert inappropriate fallback:SSL alert number 86",
     Classified("peer_alert", 86, "inappropriate_fallback", "tlsv1 alert inappropriate fallback")),
    # §2 rule 3/8: other library first, SSL error decides (openssl/openssl#21347)
    ("error:800640A8:lib(128):aes_gcm_tls_cipher:gcm tag verify failure error:1408F119:SSL routines:ssl3_get_record:decryption failed or bad record mac",
     Classified("other", None, None, "decryption failed or bad record mac")),
    # NGX#a976e6b9e: Diffie-Hellman error then bad ecpoint
    ("error:02800066:Diffie-Hellman routines::invalid public key error:0A000132:SSL routines::bad ecpoint",
     Classified("other", None, None, "bad ecpoint")),
    # §2 rule 8, nginx/nginx#961: record layer failure is skipped
    ("error:0A00010B:SSL routines::wrong version number error:0A000139:SSL routines::record layer failure",
     Classified("not_tls", None, None, "wrong version number")),
    ("error:0A000119:SSL routines::decryption failed or bad record mac error:0A000139:SSL routines::record layer failure",
     Classified("other", None, None, "decryption failed or bad record mac")),
    ("error:0A000139:SSL routines::record layer failure", Classified("other", None, None, "record layer failure")),
    # the last known SSL error decides; an unknown one after it does not
    ("error:0A000102:SSL routines::unsupported protocol error:0A000999:SSL routines::brand new text",
     Classified("unsupported_protocol", None, None, "unsupported protocol")),
    ("error:0A000175:SSL routines::inappropriate fallback error:0A000102:SSL routines::unsupported protocol",
     Classified("unsupported_protocol", None, None, "unsupported protocol")),
    # §1.5: cut at ~1023 bytes, closing paren missing
    ("error:0A000102:SSL routines::unsupported protocol error:0A0000C1:SSL routines::no sha",
     Classified("unsupported_protocol", None, None, "unsupported protocol")),
    ("error:0A0000C1:SSL rout", Classified("other", None, None, "")),
    ("error:0A000102:SSL routines::unsupported protocol error:", Classified("unsupported_protocol", None, None, "unsupported protocol")),
    ("error:0A000102:SSL routines::unsupported protocol)", Classified("unsupported_protocol", None, None, "unsupported protocol")),
    # §2 rule 5: other data after the reason (code-derived, OpenSSL 1.1.1+)
    ("error:141640B5:SSL routines:tls_construct_client_hello:no ciphers available:No ciphers enabled for max supported SSL/TLS version",
     Classified("other", None, None, "no ciphers available")),
    # §2 rule 10: unknown text, kept
    ("error:0A000999:SSL routines::something nobody has seen", Classified("other", None, None, "something nobody has seen")),
    ("error:10000999:SSL routines:OPENSSL_internal:SOMETHING_NEW", Classified("other", None, None, "SOMETHING_NEW")),
    # before 1.15.9 an empty queue printed "(SSL:)" (NGX#2d7faa231)
    ("", Classified("other", None, None, "")),
])
def test_parsing_rules(ssl_text: str, expected: Classified) -> None:
    assert classify_ssl(ssl_text) == expected


@pytest.mark.parametrize(("message", "code"), [
    # handshake-reasons.md §3 "nginx:" rows; nginx-logs.md §3 and §8 (test host)
    ("peer closed connection in SSL handshake", "peer_closed"),
    ("peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking", "peer_closed"),
    ("client closed connection while SSL handshaking", "peer_closed"),
    ("recv() failed (104: Connection reset by peer) while SSL handshaking", "peer_closed"),
    ("recv() failed (110: Connection timed out) while SSL handshaking", "timeout"),
    ("recv() failed (9: Bad file descriptor)", "other"),
    ("client timed out (110: Connection timed out) while SSL handshaking", "timeout"),
    ("client timed out (110: Connection timed out) while reading PROXY protocol", "timeout"),
    ("client sent plain HTTP request to HTTPS port while reading client request headers", "plain_http"),
    ("client sent invalid method while reading client request line", "not_tls"),
    ("handshake rejected while SSL handshaking", "other"),
    ('broken header: "\x16\x03\x01\x00\xb7" while reading PROXY protocol', "other"),
    ("unknown PROXY protocol version: 3 while reading PROXY protocol", "other"),
    ("header is too large while reading PROXY protocol", "other"),
    ('no "ssl_certificate" is defined in server listening on SSL port while SSL handshaking', "other"),
    ("unexpected eof while reading", "peer_closed"),
    ('upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream', "other"),
    # SSL_ERROR_SYSCALL: no (SSL: ...) part since 1.15.9, the errno decides (nginx-logs.md §2.1)
    ("SSL_do_handshake() failed (104: Connection reset by peer) while SSL handshaking", "peer_closed"),
    ("SSL_do_handshake() failed (110: Connection timed out) while SSL handshaking", "timeout"),
    # a message with an (SSL: ...) part is classified by it, errno or not
    ("SSL_do_handshake() failed (SSL: error:0A000175:SSL routines::inappropriate fallback) while SSL handshaking", "inappropriate_fallback"),
    ("SSL_do_handshake() failed (SSL: error:0A0003E8:SSL routines::reason(1000)) (104: Connection reset by peer)", "peer_closed"),
    ("something else entirely", "other"),
])
def test_nginx_texts(message: str, code: str) -> None:
    assert classify_nginx(message).reason == code


def test_families_are_spec_section5() -> None:
    assert FAMILY == SPEC_CODES
    assert {code for _, code, _ in REASON_TABLE} - {"skip"} <= set(FAMILY)


def test_classification_is_memoized() -> None:
    text = "error:0A000102:SSL routines::unsupported protocol"
    assert classify_ssl(text) is classify_ssl(text)
