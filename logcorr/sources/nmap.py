"""``nmap --script ssl-enum-ciphers`` output → :class:`logcorr.profile.ServerProfile` per host:port.

Two shapes, both documented in nmap's ``scripts/ssl-enum-ciphers.nse`` (``@output`` and
``@xmloutput``):

* the normal text output (``-oN`` or the terminal, as pasted in the original report,
  ``reference/client-fallback.md`` §6)::

      | ssl-enum-ciphers:
      |   TLSv1.0:
      |     ciphers:
      |       TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (secp256r1) - A
      |     compressors:
      |       NULL
      |     cipher preference: server
      |_  least strength: A

  Older nmap (before 6.49) wrote ``TLSv1.0`` without a colon, ``Ciphers (6)`` and
  ``NAME - strong``; those lines are read too.
* the XML output (``-oX``): ``<host>`` / ``<port portid="443">`` /
  ``<script id="ssl-enum-ciphers">`` / ``<table key="TLSv1.2">`` / ``<table key="ciphers">`` /
  ``<table>`` with ``<elem key="name">``, ``<elem key="kex_info">``, ``<elem key="strength">``,
  and ``<elem key="cipher preference">``.

Suite names are IANA names (nmap's ``tls.lua``), except TLS 1.3 suites, which nmap calls
``TLS_AKE_WITH_*``.  ``kex_info`` names the group the server picked for ECDHE suites
(``secp256r1``, ``ecdh_x25519``); it is not the full list the server accepts, so the profile's
``groups_complete`` is False.

XML is parsed with :mod:`xml.etree.ElementTree`, which does not fetch external entities; a
document that declares entities (``<!ENTITY``, the "billion laughs" shape) is refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from logcorr.errors import InputError
from logcorr.profile import ServerProfile, group_code, normalize_protocol, suite_code
from logcorr.sources.signatures import NMAP_SCRIPT as SCRIPT

KIND = "nmap"

_REPORT = re.compile(r"^Nmap scan report for (\S+)(?: \(([^)]+)\))?")
_PORT = re.compile(r"^(\d+)/(?:tcp|udp)\s+\S+")
_PROTO = re.compile(r"^(SSLv2|SSLv3|TLSv1(?:\.[0-3])?):?$")
# "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (secp256r1) - A"; old nmap: "TLS_RSA_WITH_RC4_128_MD5 - strong"
_CIPHER = re.compile(r"^((?:TLS|SSL)_\w+)(?: \(([^)]*)\))?(?: - .+)?$")
_PREFERENCE = re.compile(r"^cipher preference: (\S+)$")


def read_nmap(data: bytes, file: str) -> dict[str, ServerProfile]:
    """Every ssl-enum-ciphers result in ``data``, keyed ``"host:port"``.

    The host is the scanned address (``unknown`` when the text has no "Nmap scan report"
    line, as in a pasted script block); the port likewise.  Raises :class:`InputError`
    when the file holds no ssl-enum-ciphers result or is malformed XML.
    """
    stripped = data.lstrip()
    if stripped.startswith(b"<"):
        profiles = _read_xml(data, file)
    else:
        profiles = _read_text(data.decode("utf-8", "replace"), file)
    if not profiles:
        raise InputError(f"no {SCRIPT} result found", file=file)
    return profiles


class _Builder:
    """Collects one script result."""

    def __init__(self, name: str) -> None:
        self.profile = ServerProfile(protocols=set(), ciphers={}, groups=set(), source="nmap",
                                     groups_complete=False, name=name)
        self.unknown: list[str] = []

    def protocol(self, key: str) -> str | None:
        proto = normalize_protocol(key)
        if proto is not None:
            self.profile.protocols.add(proto)
            self.profile.ciphers.setdefault(proto, set())
        return proto

    def cipher(self, proto: str, name: str, kex: str | None) -> None:
        code = suite_code(name)
        if code is None:
            if name not in self.unknown:
                self.unknown.append(name)
        else:
            self.profile.ciphers[proto].add(code)
        if kex:
            group = group_code(kex)
            if group is not None:
                self.profile.groups.add(group)

    def done(self) -> ServerProfile:
        notes = self.profile.notes
        notes.append("groups are those nmap saw the server pick, not every group it accepts")
        if self.unknown:
            notes.append("unknown suite names ignored: " + ", ".join(self.unknown))
        return self.profile


def _key(host: str | None, port: str | None) -> str:
    return f"{host or 'unknown'}:{port or 'unknown'}"


def _read_text(text: str, file: str) -> dict[str, ServerProfile]:
    profiles: dict[str, ServerProfile] = {}
    host: str | None = None
    hostname: str | None = None
    port: str | None = None
    builder: _Builder | None = None
    proto: str | None = None
    section: str | None = None

    def finish() -> None:
        nonlocal builder
        if builder is not None:
            key = _key(host, port)
            profiles[key] = builder.done()
        builder = None

    for raw in text.splitlines():
        line = raw.rstrip()
        m = _REPORT.match(line)
        if m:
            finish()
            host, port = (m.group(2) or m.group(1)), None
            hostname = m.group(1) if m.group(2) else None
            continue
        m = _PORT.match(line)
        if m:
            finish()
            port = m.group(1)
            continue
        if not line.startswith("|"):
            if line.strip():
                finish()
            continue
        body = line[1:]
        last = body.startswith("_")
        if last:
            body = body[1:]
        content = body.lstrip(" ")
        if len(body) - len(content) <= 1:  # "| name:" or "|_name: ..." starts a script's output
            finish()
            if content.startswith(SCRIPT + ":"):
                builder = _Builder(f"{file} {_key(host, port)}" + (f" ({hostname})" if hostname else ""))
                proto, section = None, None
            continue
        if builder is None:
            continue
        m = _PROTO.match(content)
        if m:
            proto, section = builder.protocol(m.group(1)), None
        elif content in ("ciphers:",) or re.match(r"^Ciphers \(\d+\)$", content):
            section = "ciphers"
        elif (m := _PREFERENCE.match(content)) and proto is not None:
            builder.profile.cipher_preference[proto] = m.group(1)
            section = None
        elif content.endswith(":") or re.match(r"^\w+ \(\d+\)$", content) or content.lower().startswith(
                ("least strength", "cipher preference")):
            section = None  # compressors:, warnings:, least strength, preference error
        elif section == "ciphers" and proto is not None and (m := _CIPHER.match(content)):
            builder.cipher(proto, m.group(1), m.group(2))
        if last:
            finish()
    finish()
    return profiles


def _read_xml(data: bytes, file: str) -> dict[str, ServerProfile]:
    if b"<!ENTITY" in data:
        raise InputError("XML declaring entities refused (nmap output never declares any)", file=file)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(f"not well-formed XML: {exc}", file=file, line=line) from None
    except LookupError as exc:  # <?xml encoding="..."?> names a codec Python does not have
        raise InputError(f"XML in an unknown encoding ({exc})", file=file) from None
    profiles: dict[str, ServerProfile] = {}
    if root.tag == "script":
        if root.get("id") == SCRIPT:
            profiles[_key(None, None)] = _read_script(root, f"{file} {_key(None, None)}")
        return profiles
    for host_el in root.iter("host"):
        addrs = host_el.findall("address")
        addr = next((a.get("addr") for a in addrs if a.get("addrtype") in ("ipv4", "ipv6")),
                    addrs[0].get("addr") if addrs else None)
        names = [h.get("name") for h in host_el.findall("hostnames/hostname") if h.get("name")]
        for port_el in host_el.iter("port"):
            for script in port_el.findall("script"):
                if script.get("id") != SCRIPT:
                    continue
                key = _key(addr, port_el.get("portid"))
                label = f"{file} {key}" + (f" ({names[0]})" if names else "")
                profiles[key] = _read_script(script, label)
    return profiles


def _elem(table: ET.Element, key: str) -> str | None:
    for el in table.findall("elem"):
        if el.get("key") == key:
            return (el.text or "").strip()
    return None


def _read_script(script: ET.Element, label: str) -> ServerProfile:
    builder = _Builder(label)
    for table in script.findall("table"):
        proto = builder.protocol(table.get("key") or "")
        if proto is None:
            continue
        for sub in table.findall("table"):
            if sub.get("key") != "ciphers":
                continue
            for cipher in sub.findall("table"):
                name = _elem(cipher, "name")
                if name:
                    builder.cipher(proto, name, _elem(cipher, "kex_info"))
        pref = _elem(table, "cipher preference")
        if pref:
            builder.profile.cipher_preference[proto] = pref
    return builder.done()
