"""Reason codes: what a failed handshake's text means (SPEC §5), as tables.

Sources of every row: ``reference/handshake-reasons.md`` §3 (reason texts and BoringSSL
symbols), §4 (alerts) and §5 (full strings per library).  Two entry points:

* :func:`classify_ssl` for the text inside ``(SSL: ...)`` of ``SSL_do_handshake() failed``;
* :func:`classify_nginx` for nginx's own handshake-time messages (and, when the message
  carries an ``(SSL: ...)`` part, for that part).

Both are memoized: a big error log repeats the same few strings.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

# SPEC §5: code -> family.
FAMILY: dict[str, str] = {
    "inappropriate_fallback": "retry",
    "no_shared_cipher": "incompatible",
    "unsupported_protocol": "incompatible",
    "no_shared_group": "incompatible",
    "no_shared_sigalg": "incompatible",
    "client_rejected_cert": "certificate",
    "peer_alert": "other alert",
    "plain_http": "noise",
    "not_tls": "noise",
    "peer_closed": "network",
    "timeout": "network",
    "other": "other",
}

SKIP = "skip"
"""Pseudo-code of ``record layer failure``: a generic follow-up, never decides (§2 rule 8)."""


def _rows(code: str, texts: str, source: str) -> list[tuple[str, str, str]]:
    return [(t.strip(), code, source) for t in texts.split("|") if t.strip()]


# (reason text, code, source).  Texts are OpenSSL/LibreSSL spellings; BoringSSL symbols
# are stored the way rule 6 normalises them (lowercase, "_" -> " ").
REASON_TABLE: list[tuple[str, str, str]] = [
    *_rows("inappropriate_fallback", "inappropriate fallback", "§3; RFC 7507; all libraries"),
    *_rows("no_shared_cipher", "no shared cipher", "§3; all libraries"),
    *_rows("unsupported_protocol", "unsupported protocol", "§3; NGX#b1734fd80; all libraries"),
    *_rows("unsupported_protocol", "version too low", "§3; OpenSSL 1.1.1/3.x, LibreSSL"),
    *_rows("no_shared_group", "no suitable key share | no shared groups", "§3; OpenSSL 1.1.1/3.x"),
    *_rows("no_shared_group", "no shared group", "§3; BoringSSL NO_SHARED_GROUP"),
    *_rows("no_shared_sigalg", "no suitable signature algorithm | no shared signature algorithms",
           "§3; OpenSSL 1.1.1/3.x"),
    *_rows("no_shared_sigalg", "no shared sigature algorithms", "§3; OpenSSL 1.0.2 typo (sic)"),
    *_rows("no_shared_sigalg", "no common signature algorithms",
           "§3; BoringSSL NO_COMMON_SIGNATURE_ALGORITHMS"),
    *_rows("plain_http", "http request | https proxy request", "§3; stream/mail only, NGX#f206a112c"),
    *_rows("not_tls", "wrong version number | unknown protocol | packet length too long"
           " | data length too long | encrypted length too long", "§3; all libraries"),
    *_rows("not_tls", "record too large", "§3; BoringSSL RECORD_TOO_LARGE"),
    *_rows("peer_closed", "unexpected eof while reading", "§3; NGX#5155845ce, OpenSSL 1.1.1e/3.x"),
    *_rows("other", "no application protocol | callback failed | clienthello tlsext"
           " | cert cb error | no ciphers available", "§3; NGX#df472eecc, #99d7bb690, #9ff7ba3d0"),
    # §3 "malformed hello or record"
    *_rows("other", "length mismatch | record length mismatch | length too short | record too small"
           " | bad length | bad packet length | parse tlsext | bad extension"
           " | error in received cipher list | no ciphers passed | no ciphers specified"
           " | no compression specified | excessive message size | ssl3 session id too long"
           " | ssl session id too long | tls session id too long | bad legacy version"
           " | bad key share | missing sigalgs extension", "§3 malformed; NGX#a3a94f753, #13987c88c"),
    # BoringSSL-only symbols of that row.  §5 lists MISSING_KEY_SHARE beside NO_SHARED_GROUP,
    # but §3 (the mapping) files it under malformed hellos: a TLS 1.3 hello without key_share.
    *_rows("other", "decode error | error parsing extension | invalid compression list"
           " | missing key share", "§3 malformed; BoringSSL, NGX#5c480f917"),
    # §3 "record protection or protocol state"
    *_rows("other", "decryption failed or bad record mac | block cipher pad is wrong"
           " | bad record type | unexpected message | unexpected record | bad change cipher spec"
           " | ccs received early | data between ccs and finished | got a fin before a ccs"
           " | mixed handshake and non handshake data | digest check failed | bad digest length"
           " | bad cipher | bad ecpoint | bad key update | tls rsa encrypted value length is wrong"
           " | application data after close notify | too much skipped early data",
           "§3 record protection; openssl/openssl#21347, #4938"),
    *_rows("other", "application data on shutdown", "§3; BoringSSL APPLICATION_DATA_ON_SHUTDOWN"),
    # §3 "alert-record problems"
    *_rows("other", "unknown alert type | invalid alert | too many warn alerts",
           "§3 alert records; NGX#aa09c1999"),
    *_rows("other", "bad alert | too many warning alerts", "§3; BoringSSL, NGX#5c480f917"),
    # §3 "renegotiation"
    *_rows("other", "unsafe legacy renegotiation disabled | renegotiate ext too long"
           " | renegotiation encoding err | renegotiation mismatch"
           " | scsv received when renegotiating | no renegotiation", "§3 renegotiation; RFC 5746"),
    *_rows("other", "certificate verify failed", "§3; upstream lines only (ngx_ssl_verify_callback)"),
    *_rows(SKIP, "record layer failure", "§2 rule 8; OpenSSL >= 3.2, nginx/nginx#961"),
]
REASONS: dict[str, str] = {text: code for text, code, _ in REASON_TABLE}

# TLS alert number -> (RFC name, code, OpenSSL text, BoringSSL symbol); handshake-reasons.md
# §4.1 (RFC 8446 §6, RFC 5246 §7.2, RFC 6066, RFC 7301, RFC 7507); §4.2 for the certificate set.
ALERT_TABLE: dict[int, tuple[str, str, str, str | None]] = {
    0: ("close_notify", "peer_closed", "reason(1000)", "SSLV3_ALERT_CLOSE_NOTIFY"),
    10: ("unexpected_message", "peer_alert", "sslv3 alert unexpected message", "SSLV3_ALERT_UNEXPECTED_MESSAGE"),
    20: ("bad_record_mac", "peer_alert", "sslv3 alert bad record mac", "SSLV3_ALERT_BAD_RECORD_MAC"),
    21: ("decryption_failed", "peer_alert", "tlsv1 alert decryption failed", "TLSV1_ALERT_DECRYPTION_FAILED"),
    22: ("record_overflow", "peer_alert", "tlsv1 alert record overflow", "TLSV1_ALERT_RECORD_OVERFLOW"),
    30: ("decompression_failure", "peer_alert", "sslv3 alert decompression failure", "SSLV3_ALERT_DECOMPRESSION_FAILURE"),
    40: ("handshake_failure", "peer_alert", "sslv3 alert handshake failure", "SSLV3_ALERT_HANDSHAKE_FAILURE"),
    41: ("no_certificate", "peer_alert", "sslv3 alert no certificate", "SSLV3_ALERT_NO_CERTIFICATE"),
    42: ("bad_certificate", "client_rejected_cert", "sslv3 alert bad certificate", "SSLV3_ALERT_BAD_CERTIFICATE"),
    43: ("unsupported_certificate", "client_rejected_cert", "sslv3 alert unsupported certificate", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE"),
    44: ("certificate_revoked", "client_rejected_cert", "sslv3 alert certificate revoked", "SSLV3_ALERT_CERTIFICATE_REVOKED"),
    45: ("certificate_expired", "client_rejected_cert", "sslv3 alert certificate expired", "SSLV3_ALERT_CERTIFICATE_EXPIRED"),
    46: ("certificate_unknown", "client_rejected_cert", "sslv3 alert certificate unknown", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"),
    47: ("illegal_parameter", "peer_alert", "sslv3 alert illegal parameter", "SSLV3_ALERT_ILLEGAL_PARAMETER"),
    48: ("unknown_ca", "client_rejected_cert", "tlsv1 alert unknown ca", "TLSV1_ALERT_UNKNOWN_CA"),
    49: ("access_denied", "peer_alert", "tlsv1 alert access denied", "TLSV1_ALERT_ACCESS_DENIED"),
    50: ("decode_error", "peer_alert", "tlsv1 alert decode error", "TLSV1_ALERT_DECODE_ERROR"),
    51: ("decrypt_error", "peer_alert", "tlsv1 alert decrypt error", "TLSV1_ALERT_DECRYPT_ERROR"),
    60: ("export_restriction", "peer_alert", "tlsv1 alert export restriction", "TLSV1_ALERT_EXPORT_RESTRICTION"),
    70: ("protocol_version", "peer_alert", "tlsv1 alert protocol version", "TLSV1_ALERT_PROTOCOL_VERSION"),
    71: ("insufficient_security", "peer_alert", "tlsv1 alert insufficient security", "TLSV1_ALERT_INSUFFICIENT_SECURITY"),
    80: ("internal_error", "peer_alert", "tlsv1 alert internal error", "TLSV1_ALERT_INTERNAL_ERROR"),
    86: ("inappropriate_fallback", "peer_alert", "tlsv1 alert inappropriate fallback", "TLSV1_ALERT_INAPPROPRIATE_FALLBACK"),
    90: ("user_canceled", "peer_alert", "tlsv1 alert user cancelled", "TLSV1_ALERT_USER_CANCELLED"),
    100: ("no_renegotiation", "peer_alert", "tlsv1 alert no renegotiation", "TLSV1_ALERT_NO_RENEGOTIATION"),
    109: ("missing_extension", "peer_alert", "tlsv13 alert missing extension", None),
    110: ("unsupported_extension", "peer_alert", "tlsv1 unsupported extension", "TLSV1_ALERT_UNSUPPORTED_EXTENSION"),
    111: ("certificate_unobtainable", "peer_alert", "tlsv1 certificate unobtainable", "TLSV1_ALERT_CERTIFICATE_UNOBTAINABLE"),
    112: ("unrecognized_name", "peer_alert", "tlsv1 unrecognized name", "TLSV1_ALERT_UNRECOGNIZED_NAME"),
    113: ("bad_certificate_status_response", "client_rejected_cert", "tlsv1 bad certificate status response", "TLSV1_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE"),
    114: ("bad_certificate_hash_value", "peer_alert", "tlsv1 bad certificate hash value", "TLSV1_ALERT_BAD_CERTIFICATE_HASH_VALUE"),
    115: ("unknown_psk_identity", "peer_alert", "tlsv1 alert unknown psk identity", "TLSV1_ALERT_UNKNOWN_PSK_IDENTITY"),
    116: ("certificate_required", "peer_alert", "tlsv13 alert certificate required", "TLSV1_ALERT_CERTIFICATE_REQUIRED"),
    120: ("no_application_protocol", "peer_alert", "tlsv1 alert no application protocol", "TLSV1_ALERT_NO_APPLICATION_PROTOCOL"),
    121: ("ech_required", "peer_alert", "reason(1121)", "TLSV1_ALERT_ECH_REQUIRED"),
}
ALERTS: dict[int, tuple[str, str]] = {n: (row[0], row[1]) for n, row in ALERT_TABLE.items()}


def _symbol_text(symbol: str) -> str:
    """BoringSSL symbol → OpenSSL-style text (§2 rule 6)."""
    return symbol.lower().replace("_", " ")


# Alert texts (OpenSSL, and BoringSSL symbols normalised) -> alert number.
ALERT_TEXTS: dict[str, int] = {}
for _n, (_name, _code, _text, _sym) in ALERT_TABLE.items():
    if not _text.startswith("reason("):
        ALERT_TEXTS[_text] = _n
    if _sym:
        ALERT_TEXTS[_symbol_text(_sym)] = _n


def alert_code(number: int) -> tuple[str | None, str]:
    """(RFC name, code) of a received alert; unknown numbers are ``peer_alert`` (§4.1 "other")."""
    return ALERTS.get(number, (None, "peer_alert"))


class Classified(NamedTuple):
    """What a failure text means."""

    reason: str  # SPEC §5 code
    alert: int | None  # TLS alert number received from the peer
    alert_name: str | None  # its RFC name
    text: str  # the deciding text: the reason field as logged, or nginx's message


# Rule 3: split before each "error:" that starts an entry, i.e. is followed by the hex code
# (or cut right there): "tlsv1 alert decode error:SSL alert number 50" is one entry.  The
# look-behind makes a run of blanks one attempt, not one per blank (linear time).
_SPLIT = re.compile(r"(?<!\s)\s+(?=error:(?:[0-9A-Fa-f]|$))")
_SYMBOL = re.compile(r"^[A-Z0-9_]+$")
_REASON_N = re.compile(r"^reason\((\d+)\)$")
_ALERT_DATA = re.compile(r"^SSL alert number (\d+)")
# Library fields of the TLS library (§1): "lib(20)" is 1.0.2 without loaded strings.
_SSL_LIBS = frozenset({"SSL routines", "lib(20)", ""})


def _judge(reason: str, data: str) -> tuple[str, int | None] | None:
    """(code, alert) of one error's reason field and data, None when unknown."""
    alert: int | None = None
    m = _ALERT_DATA.match(data)
    if m:
        alert = int(m.group(1))
    key = reason.strip()
    if _SYMBOL.match(key):
        key = _symbol_text(key)
    if alert is None:
        alert = ALERT_TEXTS.get(key)
        rm = _REASON_N.match(key)
        if rm and 1000 <= int(rm.group(1)) <= 1255:  # rule 7: SSL_AD_REASON_OFFSET
            alert = int(rm.group(1)) - 1000
    if alert is not None and 0 <= alert <= 255:
        return alert_code(alert)[1], alert
    code = REASONS.get(key)
    return (code, None) if code else None


@lru_cache(maxsize=4096)
def classify_ssl(ssl_text: str) -> Classified:
    """Classify the text inside ``(SSL: ...)`` (handshake-reasons.md §2).

    ``ssl_text`` may hold several ``error:`` entries, may be cut (nginx's 1024-byte
    buffer) and may still end with the closing ``)``.  The last TLS-library error with a
    known code decides; ``record layer failure`` and other libraries' errors never do.
    """
    text = ssl_text.strip()
    if text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].rstrip()
    entries: list[tuple[str, str, str]] = []  # (lib, reason, data)
    for chunk in _SPLIT.split(text):
        if not chunk:
            continue
        if chunk.startswith("error:"):
            parts = chunk.split(":", 5)
            lib = parts[2] if len(parts) > 2 else ""
            reason = parts[4] if len(parts) > 4 else ""
            data = parts[5] if len(parts) > 5 else ""
        else:  # no "error:" layout (cut or unknown library): the whole chunk is the reason
            lib, reason, data = "", chunk, ""
        entries.append((lib, reason, data))
    fallback = ""
    for lib, reason, data in reversed(entries):
        if lib not in _SSL_LIBS and not lib.startswith("SSL"):
            continue  # rule 8: other libraries (Diffie-Hellman, lib(128), ...) never decide
        judged = _judge(reason, data)
        if judged is None:
            fallback = fallback or reason
            continue
        code, alert = judged
        if code == SKIP:
            continue
        name = alert_code(alert)[0] if alert is not None else None
        return Classified(code, alert, name, reason)
    if not fallback and entries:
        fallback = entries[-1][1]  # only other libraries, or only "record layer failure"
    return Classified("other", None, None, fallback)


# nginx's own texts (handshake-reasons.md §3 "nginx:" rows; nginx-logs.md §3), matched on
# the start of the message (errno and " while ..." removed): (prefix, code, source).
NGINX_TABLE: list[tuple[str, str, str]] = [
    ("peer closed connection in SSL handshake", "peer_closed", "ngx_ssl_handshake(), NGX#d9152910d"),
    ("client closed connection", "peer_closed", "ngx_http_ssl_handshake(): recv() returned 0"),
    ("client timed out", "timeout", "client_header_timeout / proxy_protocol_timeout"),
    ("client sent plain HTTP request to HTTPS port", "plain_http", "ngx_http_request.c (497)"),
    ("handshake rejected", "other", "ssl_reject_handshake, 1.19.4+, NGX#9cdb27845"),
    ("broken header", "other", "ngx_proxy_protocol_read()"),
    ("unknown PROXY protocol version", "other", "ngx_proxy_protocol.c (v2)"),
    ("header is too large", "other", "ngx_proxy_protocol.c (v2)"),
    ('no "ssl_certificate" is defined', "other", "nginx <= 1.14.x, NGX#76be1ea9d"),
    ("unexpected eof", "peer_closed", "OpenSSL 3.x / 1.1.1e text, NGX#5155845ce"),
    ("client sent invalid method", "not_tls", "non-TLS bytes on an http ssl port (needs the config)"),
    ("upstream SSL certificate", "other", "upstream verify errors: not client-side"),
]

# errno of recv() and of SSL_ERROR_SYSCALL (nginx-logs.md §2.1): Linux numbers.
ERRNO_CODES: dict[int, str] = {
    104: "peer_closed",  # ECONNRESET
    32: "peer_closed",  # EPIPE
    107: "peer_closed",  # ENOTCONN
    111: "peer_closed",  # ECONNREFUSED
    100: "peer_closed", 101: "peer_closed",  # ENETDOWN, ENETUNREACH
    112: "peer_closed", 113: "peer_closed",  # EHOSTDOWN, EHOSTUNREACH
    110: "timeout",  # ETIMEDOUT
}

_ERRNO = re.compile(r" \((\d{1,6}): [^()]*\)")
_TRAILING_ERRNO = re.compile(r" \((\d{1,6}): [^()]*\)$")


def _drop_while(message: str) -> str:
    """``message`` without a final `` while ACTION`` (an action holds no ``,()``).

    A string search, not a regex: `` while [^,()]*$`` would rescan the tail once per
    `` while `` in a hostile line (quadratic).
    """
    i = message.rfind(" while ")
    if i >= 0 and not any(c in message[i + 7:] for c in ",()"):
        return message[:i]
    return message


def ssl_part(message: str) -> str | None:
    """The text inside ``(SSL: ...)`` of a message, None when there is none.

    The part may lack its ``)`` (cut, nginx-logs.md §1.5) and may contain parentheses
    itself (``reason(1000)``): only an unbalanced final ``)`` is dropped.
    """
    i = message.find("(SSL:")
    if i < 0:
        return None
    text = _TRAILING_ERRNO.sub("", _drop_while(message[i + 5:])).strip()
    if text.endswith(")") and text.count(")") > text.count("("):  # "reason(1000))"
        text = text[:-1].rstrip()
    return text


@lru_cache(maxsize=4096)
def classify_nginx(message: str) -> Classified:
    """Classify nginx's own text, e.g. ``client timed out (110: Connection timed out)``.

    ``message`` may include the errno and `` while ACTION``.  A message with an
    ``(SSL: ...)`` part is classified by that part; ``SSL_do_handshake() failed`` without
    one (``SSL_ERROR_SYSCALL``) and ``recv() failed`` by their errno.
    """
    ssl = ssl_part(message)
    if ssl is not None:
        return classify_ssl(ssl)
    base = _drop_while(message)
    m = _ERRNO.search(base)
    errno = int(m.group(1)) if m else None
    for prefix, code, _source in NGINX_TABLE:
        if base.startswith(prefix):
            return Classified(code, None, None, base)
    if base.startswith(("recv() failed", "SSL_do_handshake() failed")) and errno is not None:
        return Classified(ERRNO_CODES.get(errno, "other"), None, None, base)
    return Classified("other", None, None, base)


# Which error-log messages are handshake failures (SPEC §5; handshake-reasons.md §2 rule 1;
# nginx-logs.md §2, §3), matched on the start of the message (errno and " while ..." kept
# apart): (prefix, where it counts, source).  "where": "any" = whatever the action;
# "handshake" = only with the action "SSL handshaking" (client side) or "SSL handshaking to
# upstream" (nginx is the TLS client: a row with client_side false); "no action" = nginx as a
# TLS client outside the upstream module (a Lua cosocket), also client_side false.  Lines
# "while reading PROXY protocol" are failures whatever their text (the connection never
# reached TLS).  Everything else is not a failure, even "while SSL handshaking" (below).
FAILURE_MESSAGES: list[tuple[str, str, str]] = [
    ("SSL_do_handshake() failed", "any", "ngx_ssl_handshake(); nginx-logs.md §2.1"),
    ("client sent plain HTTP request to HTTPS port", "any", "nginx-logs.md §3 (497), reading client request headers"),
    ("peer closed connection in SSL handshake", "handshake", "ngx_ssl_handshake(), NGX#d9152910d"),
    ("peer closed connection in SSL handshake", "no action", "Lua cosocket, github.com/liseen/lua-resty-http/issues/38"),
    ("client closed connection", "handshake", "nginx-logs.md §3: recv() returned 0"),
    ("recv() failed", "handshake", "nginx-logs.md §3: RST before the first byte"),
    ("client timed out", "handshake", "nginx-logs.md §3: client_header_timeout"),
    ("upstream timed out", "handshake", "ngx_http_upstream.c: proxy_connect_timeout during the upstream handshake"),
    ("handshake rejected", "handshake", "ssl_reject_handshake, 1.19.4+, NGX#9cdb27845"),
    ('no "ssl_certificate" is defined', "handshake", "nginx <= 1.14.x, NGX#76be1ea9d"),
]

# Texts that are not handshake failures although their line may say "while SSL handshaking"
# (listed for the parser tests and the reader's docstring; the rule above already skips them).
NOT_FAILURES: list[tuple[str, str]] = [
    ("SSL_shutdown() failed", "after a failure or a close: github.com/openssl/openssl/issues/1760 (1.0.2f, fixed in 1.9.2)"),
    ("SSL_read() failed", "after the handshake: nginx/nginx#961"),
    ("SSL_write() failed", "after the handshake: openssl/openssl#12892"),
    ("could not allocate new session in SSL session shared cache", "session cache full: blindsidenetworks/scalelite#397"),
    ("could not add new SSL session to the session cache", "session cache full: mailman.nginx.org nginx 2014-March/042628"),
    ("client sent no required SSL certificate", "handshake completed, request refused (400): handshake-reasons.md §3"),
    ("client SSL certificate verify error", "handshake completed, request refused (400): handshake-reasons.md §3"),
    ("upstream SSL certificate verify error", "nginx's upstream check after its own handshake: nginx-logs.md §3"),
    ("upstream SSL certificate does not match", "nginx's upstream check after its own handshake: nginx-logs.md §3"),
    ("Error getting ECH status", "ECH status notice: github.com/sftcd/openssl/issues/20"),
    ("ECH ", "ECH/ESNI status notices of ECH-enabled builds (text unverified)"),
]


def failure_kind(message: str, action: str | None) -> bool | None:
    """Is ``message`` (without its `` while ACTION``) a handshake failure, and of which side?

    True: a client-side failure; False: nginx's own handshake as a TLS client
    (``client_side`` false); None: not a handshake failure (the line is skipped).
    """
    if action == "reading PROXY protocol":
        return True
    if message.startswith("SSL_do_handshake() failed"):
        return action == "SSL handshaking"
    for prefix, where, _source in FAILURE_MESSAGES:
        if not message.startswith(prefix):
            continue
        if where == "any":
            return True
        if where == "handshake" and action in ("SSL handshaking", "SSL handshaking to upstream"):
            return action == "SSL handshaking"
        if where == "no action" and action is None:
            return False
    return None
