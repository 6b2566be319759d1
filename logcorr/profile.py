"""What the server accepts: protocol versions, cipher suites per version, key-exchange groups.

A :class:`ServerProfile` comes from ``nmap --script ssl-enum-ciphers`` output
(:func:`logcorr.sources.nmap.read_nmap`) or from nginx.conf directives (:func:`from_nginx`).
:mod:`logcorr.needs` compares it with what failing clients offered (SPEC §7 ``findings``).

The name/code tables are deliberately small: TLS 1.3 suites, the TLS 1.0–1.2 suites that
common clients and nginx configurations use, and the named groups in use today.  Codes and
IANA names are from the IANA "TLS Parameters" registry (TLS Cipher Suites, TLS Supported
Groups, https://www.iana.org/assignments/tls-parameters/); OpenSSL names from
``openssl ciphers -V -stdname`` (OpenSSL 3.0).  Anything else is looked up in the local
``openssl`` binary when there is one.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

# Protocol spellings as nginx's $ssl_protocol writes them, oldest first.
PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_PROTOCOL_ALIASES = {"TLSv1.0": "TLSv1", "TLS1.0": "TLSv1", "TLS1.1": "TLSv1.1",
                     "TLS1.2": "TLSv1.2", "TLS1.3": "TLSv1.3"}

# (code, IANA name, OpenSSL name, first protocol it can be used with).  IANA registry;
# the protocol column follows RFC 5246 §1.2 (SHA-256/384 PRF and AEAD suites are TLS 1.2
# only) and RFC 8446 §B.4 (TLS 1.3 suites).
SUITES: tuple[tuple[int, str, str, str], ...] = (
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5", "SSLv3"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA", "SSLv3"),
    (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", "SSLv3"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE-RSA-DES-CBC3-SHA", "SSLv3"),
    (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", "SSLv3"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA", "SSLv3"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA", "SSLv3"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", "SSLv3"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA", "SSLv3"),
    (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", "TLSv1.2"),
    (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256", "TLSv1.2"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256", "TLSv1.2"),
    (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256", "TLSv1.2"),
    (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", "TLSv1.2"),
    (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", "TLSv1.2"),
    (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
    (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384", "TLSv1.2"),
    (0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "", "SSLv3"),  # RFC 5746 signal
    (0x1301, "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    (0x1302, "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", "TLSv1.3"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3"),
    (0x1304, "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_SHA256", "TLSv1.3"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_8_SHA256", "TLSv1.3"),
    (0x5600, "TLS_FALLBACK_SCSV", "", "SSLv3"),  # RFC 7507 signal
    (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA", "SSLv3"),
    (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-ECDSA-DES-CBC3-SHA", "SSLv3"),
    (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", "SSLv3"),
    (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", "SSLv3"),
    (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", "SSLv3"),
    (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA", "SSLv3"),
    (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", "SSLv3"),
    (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", "SSLv3"),
    (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", "TLSv1.2"),
    (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", "TLSv1.2"),
    (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", "TLSv1.2"),
    (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", "TLSv1.2"),
    (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2"),
    (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2"),
    (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
    (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2"),
    (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "TLSv1.2"),
    (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", "TLSv1.2"),
    (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305", "TLSv1.2"),
)
SUITE_NAMES: dict[int, str] = {code: iana for code, iana, _, _ in SUITES}
SUITE_CODES: dict[str, int] = {iana: code for code, iana, _, _ in SUITES}
OPENSSL_CODES: dict[str, int] = {ossl: code for code, _, ossl, _ in SUITES if ossl}
SCSVS = frozenset({0x00FF, 0x5600})
FALLBACK_SCSV = 0x5600

# nmap's tls.lua names the TLS 1.3 suites TLS_AKE_WITH_* (seen in its ssl-enum-ciphers output).
NMAP_ALIASES = {
    "TLS_AKE_WITH_AES_128_GCM_SHA256": 0x1301,
    "TLS_AKE_WITH_AES_256_GCM_SHA384": 0x1302,
    "TLS_AKE_WITH_CHACHA20_POLY1305_SHA256": 0x1303,
    "TLS_AKE_WITH_AES_128_CCM_SHA256": 0x1304,
    "TLS_AKE_WITH_AES_128_CCM_8_SHA256": 0x1305,
}

# IANA TLS Supported Groups: code -> (name, other spellings: OpenSSL/nginx, nmap kex_info).
GROUPS: dict[int, tuple[str, tuple[str, ...]]] = {
    23: ("secp256r1", ("prime256v1", "P-256")),
    24: ("secp384r1", ("P-384",)),
    25: ("secp521r1", ("P-521",)),
    29: ("x25519", ("X25519", "ecdh_x25519")),
    30: ("x448", ("X448", "ecdh_x448")),
    256: ("ffdhe2048", ()),
    257: ("ffdhe3072", ()),
    258: ("ffdhe4096", ()),
    259: ("ffdhe6144", ()),
    260: ("ffdhe8192", ()),
    0x11EC: ("X25519MLKEM768", ()),
}
GROUP_CODES: dict[str, int] = {
    spelling.lower(): code
    for code, (name, others) in GROUPS.items()
    for spelling in (name, *others)
}

# OpenSSL 3.0 ssl/t1_lib.c supported_groups_default (GOST groups left out: they need the
# GOST provider): what nginx's "ssl_ecdh_curve auto" leaves in place with OpenSSL >= 1.1.0.
OPENSSL3_DEFAULT_GROUPS = frozenset({29, 23, 30, 25, 24, 256, 257, 258, 259, 260})
# OpenSSL 1.1.1/3.x ssl.h TLS_DEFAULT_CIPHERSUITES; nginx's ssl_ciphers does not touch them.
OPENSSL_TLS13_DEFAULT = frozenset({0x1302, 0x1303, 0x1301})

# nginx defaults (src/event/ngx_event_openssl.h, src/http/modules/ngx_http_ssl_module.c):
# ssl_ciphers "HIGH:!aNULL:!MD5" (NGX_DEFAULT_CIPHERS), ssl_ecdh_curve "auto"
# (NGX_DEFAULT_ECDH_CURVE); ssl_protocols TLSv1 TLSv1.1 TLSv1.2 before 1.23.4,
# adds TLSv1.3 from 1.23.4, and is TLSv1.2 TLSv1.3 from 1.27.3 (NGX_SSL_DEFAULT_PROTOCOLS).
NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"
NGINX_DEFAULT_ECDH_CURVE = "auto"


def nginx_default_protocols(version: tuple[int, int, int] | None = None) -> set[str]:
    """``ssl_protocols`` when the directive is absent, for nginx ``version`` (None: current)."""
    if version is not None and version < (1, 23, 4):
        return {"TLSv1", "TLSv1.1", "TLSv1.2"}
    if version is not None and version < (1, 27, 3):
        return {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
    return {"TLSv1.2", "TLSv1.3"}


def normalize_protocol(name: str) -> str | None:
    """``TLSv1.0``/``TLSv1`` → ``TLSv1``; None when it is not a protocol name."""
    name = name.strip()
    name = _PROTOCOL_ALIASES.get(name, name)
    return name if name in PROTOCOLS else None


def protocol_rank(name: str) -> int:
    """Position of a protocol in :data:`PROTOCOLS` (-1 when unknown)."""
    norm = normalize_protocol(name)
    return PROTOCOLS.index(norm) if norm else -1


def protocol_label(name: str) -> str:
    """``TLSv1`` → ``TLS 1.0``, ``TLSv1.2`` → ``TLS 1.2`` (for findings)."""
    norm = normalize_protocol(name) or name
    if norm == "TLSv1":
        return "TLS 1.0"
    if norm.startswith("TLSv"):
        return "TLS " + norm[4:]
    if norm == "SSLv3":
        return "SSL 3.0"
    return norm


def suite_name(code: int) -> str:
    """IANA name of a suite, from the table or the local openssl, else ``0xC0FF``."""
    return SUITE_NAMES.get(code) or _openssl_stdnames()[1].get(code) or f"0x{code:04X}"


def suite_code(name: str) -> int | None:
    """Code of an IANA (or nmap TLS 1.3 alias) suite name, None when unknown."""
    name = name.strip()
    code = SUITE_CODES.get(name, NMAP_ALIASES.get(name))
    if code is None:
        code = _openssl_stdnames()[0].get(name)
    return code


def group_name(code: int) -> str:
    """Name of a named group (``x25519``), else ``0x001D`` style."""
    entry = GROUPS.get(code)
    return entry[0] if entry else f"0x{code:04X}"


def group_code(name: str) -> int | None:
    """Code of a group spelled the OpenSSL, nginx, IANA or nmap way."""
    return GROUP_CODES.get(name.strip().lower())


@dataclass
class ServerProfile:
    """What a TLS server accepts.

    ``ciphers`` maps each protocol to the IANA suite codes enabled with it.  ``groups`` are
    IANA named-group codes; ``groups_complete`` is False when they are only those observed
    (nmap reports the group the server picked, not every group it accepts).
    ``cipher_preference`` maps protocol → ``server``/``client`` (nmap; nginx's
    ``ssl_prefer_server_ciphers``).  ``notes`` say what was assumed or could not be read.
    """

    protocols: set[str]
    ciphers: dict[str, set[int]]
    groups: set[int]
    source: str
    cipher_preference: dict[str, str] = field(default_factory=dict)
    groups_complete: bool = True
    name: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def lowest(self) -> str | None:
        """The oldest protocol enabled."""
        return min(self.protocols, key=protocol_rank) if self.protocols else None

    @property
    def highest(self) -> str | None:
        """The newest protocol enabled."""
        return max(self.protocols, key=protocol_rank) if self.protocols else None


def from_nginx(ssl_protocols: str | None, ssl_ciphers: str | None, ssl_ecdh_curve: str | None,
               *, prefer_server_ciphers: bool = False,
               nginx_version: tuple[int, int, int] | None = None,
               use_openssl: bool = True) -> ServerProfile:
    """Profile from the values of nginx's ``ssl_protocols``, ``ssl_ciphers``, ``ssl_ecdh_curve``.

    None means the directive is absent (nginx's default applies; ``nginx_version`` picks the
    ``ssl_protocols`` default).  Cipher strings are expanded by the local ``openssl ciphers``
    per protocol when the binary exists (and ``use_openssl``); otherwise only suite names in
    the built-in table are understood, and the profile's notes say so.
    """
    notes: list[str] = []
    if ssl_protocols is None:
        protocols = nginx_default_protocols(nginx_version)
        notes.append("ssl_protocols absent: nginx default " + " ".join(sorted(protocols, key=protocol_rank)))
    else:
        protocols = set()
        for word in ssl_protocols.replace(";", " ").split():
            norm = normalize_protocol(word)
            if norm is None:
                notes.append(f"ssl_protocols: unknown protocol {word!r} ignored")
            else:
                protocols.add(norm)
    cipher_string = (ssl_ciphers if ssl_ciphers is not None else NGINX_DEFAULT_CIPHERS).strip().strip("'\"")
    openssl = shutil.which("openssl") if use_openssl else None
    if openssl is None:
        notes.append("openssl binary not found: ssl_ciphers expanded with the built-in table only")
    ciphers: dict[str, set[int]] = {}
    for proto in sorted(protocols, key=protocol_rank):
        if proto == "TLSv1.3":
            ciphers[proto] = set(OPENSSL_TLS13_DEFAULT)  # ssl_ciphers does not apply to TLS 1.3
        elif openssl is not None:
            ciphers[proto] = _expand_openssl(openssl, cipher_string, proto, notes)
        else:
            ciphers[proto] = _expand_builtin(cipher_string, proto, notes)
    if (protocols & {"TLSv1", "TLSv1.1"}) and "@SECLEVEL=0" not in cipher_string.upper():
        notes.append("TLS 1.0/1.1 need @SECLEVEL=0 in ssl_ciphers with OpenSSL 3.x; "
                     "without it they are enabled but refused")
    curve = (ssl_ecdh_curve if ssl_ecdh_curve is not None else NGINX_DEFAULT_ECDH_CURVE).strip().strip("'\"")
    groups: set[int] = set()
    if curve.lower() == "auto":
        groups = set(OPENSSL3_DEFAULT_GROUPS)
    else:
        for word in curve.split(":"):
            code = group_code(word)
            if code is None:
                notes.append(f"ssl_ecdh_curve: unknown group {word!r}")
            else:
                groups.add(code)
    pref = "server" if prefer_server_ciphers else "client"
    return ServerProfile(protocols=protocols, ciphers=ciphers, groups=groups, source="nginx.conf",
                         cipher_preference=dict.fromkeys(protocols, pref), notes=notes)


def from_nginx_conf(conf_path: str, **kwargs: Any) -> ServerProfile:
    """Profile from an nginx.conf (includes followed): ``ssl_protocols``, ``ssl_ciphers``,
    ``ssl_ecdh_curve`` and ``ssl_prefer_server_ciphers`` (nginx's default ``off``: the
    client's order wins, DOC ngx_http_ssl_module.xml).  ``kwargs`` go to :func:`from_nginx`."""
    from logcorr.sources import nginxconf

    tls = nginxconf.read_tls_profile(conf_path)
    prefer = tls.get("ssl_prefer_server_ciphers", "off").strip().lower()
    prof = from_nginx(tls.get("ssl_protocols"), tls.get("ssl_ciphers"), tls.get("ssl_ecdh_curve"),
                      prefer_server_ciphers=prefer == "on", **kwargs)
    if prefer not in ("on", "off"):
        prof.notes.append(f"ssl_prefer_server_ciphers {prefer!r} is neither on nor off: off assumed")
    prof.name = conf_path
    return prof


_OPENSSL_FLAG = {"SSLv3": "-ssl3", "TLSv1": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2"}
# `openssl ciphers -V` line: "0xC0,0x2F - ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 Kx=ECDH ..."
# With -stdname: "0x13,0x02 - TLS_AES_256_GCM_SHA384 - TLS_AES_256_GCM_SHA384 TLSv1.3 Kx=any".
_CIPHERS_V = re.compile(
    r"^\s*0x([0-9A-Fa-f]{2}),0x([0-9A-Fa-f]{2}) - (\S+)(?:\s+- \S+)?\s+(\S+)\s+Kx=")


def parse_openssl_ciphers(text: str) -> dict[int, str]:
    """Parse ``openssl ciphers -V`` output into code → name (OpenSSL or standard name)."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        m = _CIPHERS_V.match(line)
        if m:
            out[int(m.group(1) + m.group(2), 16)] = m.group(3)
    return out


def _run_openssl(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)


def _expand_openssl(openssl: str, cipher_string: str, proto: str, notes: list[str]) -> set[int]:
    flag = _OPENSSL_FLAG[proto]
    try:
        done = _run_openssl([openssl, "ciphers", "-V", "-s", flag, cipher_string])
    except (OSError, subprocess.TimeoutExpired) as exc:
        notes.append(f"openssl ciphers failed for {proto} ({exc}); built-in table used")
        return _expand_builtin(cipher_string, proto, notes)
    if done.returncode != 0:
        err = (done.stderr.strip().splitlines() or ["error"])[0][:200]
        notes.append(f"openssl ciphers {flag}: no suite ({err})")
        return set()
    return set(parse_openssl_ciphers(done.stdout))


def _expand_builtin(cipher_string: str, proto: str, notes: list[str]) -> set[int]:
    """Explicit OpenSSL suite names only; aliases like HIGH need openssl (noted)."""
    rank = protocol_rank(proto)
    chosen: list[int] = []
    removed: set[int] = set()
    for token in re.split(r"[:, ]+", cipher_string):
        if not token or token.startswith("@"):
            continue
        neg = token[0] in "!-"
        name = token.lstrip("!-+")
        code = OPENSSL_CODES.get(name)
        if code is None:
            if not neg and f"cannot expand {name!r}" not in " ".join(notes):
                notes.append(f"cannot expand {name!r} without openssl")
            continue
        if neg:
            removed.add(code)
        elif code not in chosen:
            chosen.append(code)
    minimum = {code: protocol_rank(p) for code, _, _, p in SUITES}
    return {c for c in chosen if c not in removed and minimum[c] <= rank}


@functools.cache
def _openssl_stdnames() -> tuple[dict[str, int], dict[int, str]]:
    """IANA name ↔ code for every suite the local openssl knows (empty without openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return {}, {}
    try:
        done = _run_openssl([openssl, "ciphers", "-V", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"])
    except (OSError, subprocess.TimeoutExpired):
        return {}, {}
    by_code: dict[int, str] = {}
    for line in done.stdout.splitlines():
        m = _CIPHERS_V.match(line)
        if m and m.group(3).startswith(("TLS_", "SSL_")):
            by_code[int(m.group(1) + m.group(2), 16)] = m.group(3)
    return {v: k for k, v in by_code.items()}, by_code


def profile_to_json(profile: ServerProfile) -> dict[str, Any]:
    """A JSON-ready dict, stored in the data directory's manifest by ``ingest``."""
    return {
        "protocols": sorted(profile.protocols, key=protocol_rank),
        "ciphers": {p: sorted(c) for p, c in profile.ciphers.items()},
        "groups": sorted(profile.groups),
        "source": profile.source,
        "cipher_preference": profile.cipher_preference,
        "groups_complete": profile.groups_complete,
        "name": profile.name,
        "notes": profile.notes,
    }


def profile_from_json(data: dict[str, Any]) -> ServerProfile:
    """The inverse of :func:`profile_to_json`."""
    return ServerProfile(
        protocols=set(data["protocols"]),
        ciphers={p: set(c) for p, c in data["ciphers"].items()},
        groups=set(data["groups"]),
        source=data["source"],
        cipher_preference=dict(data.get("cipher_preference", {})),
        groups_complete=bool(data.get("groups_complete", True)),
        name=data.get("name", ""),
        notes=list(data.get("notes", [])),
    )
