"""Well-known server TLS policies (AWS ELB, Mozilla) and the ``--what-if`` values that name them.

Every row below comes from ``reference/tls-policies.md`` (§1.2 suite groups, §1.3 AWS
policies, §2.2 Mozilla configurations, §3 suite names); ``tests/test_policies.py`` reads that
file and checks the tables here row by row, so a change there shows up as a failing test.
Rows the reference marks *unverified* keep the mark (:attr:`Policy.unverified`).

A ``--what-if`` value is an AWS policy name (with or without ``ELBSecurityPolicy-``), a
Mozilla configuration (``mozilla-modern``, ``mozilla-intermediate``, ``mozilla-old``; the
5.7 guideline as ``mozilla-intermediate-5.7``, ``mozilla-old-5.7``) or nginx directives
(``"ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM"``), expanded with the local
``openssl ciphers`` like the server profile (:func:`logcorr.profile.from_nginx`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from logcorr.errors import LogcorrError
from logcorr.profile import (
    OPENSSL_CODES,
    ServerProfile,
    from_nginx,
    group_code,
    normalize_protocol,
    protocol_rank,
    suite_name,
)
from logcorr.profile import (
    SUITES as PROFILE_SUITES,
)

AWS_PREFIX = "ELBSecurityPolicy-"

# §3: OpenSSL name, IANA name, code, lowest version it can be negotiated with, certificate
# key type it needs (Au).  "=" in the reference (TLS 1.3 names) is written out here.
SUITES: tuple[tuple[str, str, int, str, str], ...] = (
    ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", 0x1301, "TLSv1.3", "any"),
    ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", 0x1302, "TLSv1.3", "any"),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", 0x1303, "TLSv1.3", "any"),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B, "TLSv1.2", "ECDSA"),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F, "TLSv1.2", "RSA"),
    ("ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC023, "TLSv1.2", "ECDSA"),
    ("ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC027, "TLSv1.2", "RSA"),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C, "TLSv1.2", "ECDSA"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 0xC030, "TLSv1.2", "RSA"),
    ("ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 0xC024, "TLSv1.2", "ECDSA"),
    ("ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", 0xC028, "TLSv1.2", "RSA"),
    ("AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009C, "TLSv1.2", "RSA"),
    ("AES128-SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003C, "TLSv1.2", "RSA"),
    ("AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009D, "TLSv1.2", "RSA"),
    ("AES256-SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256", 0x003D, "TLSv1.2", "RSA"),
    ("ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC009, "TLSv1", "ECDSA"),
    ("ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC013, "TLSv1", "RSA"),
    ("ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xC00A, "TLSv1", "ECDSA"),
    ("ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xC014, "TLSv1", "RSA"),
    ("AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", 0x002F, "SSLv3", "RSA"),
    ("AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, "SSLv3", "RSA"),
    ("DES-CBC3-SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x000A, "SSLv3", "RSA"),
    ("DHE-RSA-AES128-SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0033, "SSLv3", "RSA"),
    ("DHE-DSS-AES128-SHA", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", 0x0032, "SSLv3", "DSS"),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9, "TLSv1.2", "ECDSA"),
    ("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA8, "TLSv1.2", "RSA"),
    ("DHE-RSA-AES128-GCM-SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009E, "TLSv1.2", "RSA"),
    ("DHE-RSA-AES256-GCM-SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 0x009F, "TLSv1.2", "RSA"),
    ("DHE-RSA-CHACHA20-POLY1305", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCAA, "TLSv1.2", "RSA"),
    ("DHE-RSA-AES128-SHA256", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x0067, "TLSv1.2", "RSA"),
    ("DHE-RSA-AES256-SHA256", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0x006B, "TLSv1.2", "RSA"),
)
SUITE_LOWEST: dict[str, str] = {ossl: low for ossl, _, _, low, _ in SUITES}
SUITE_AUTH: dict[int, str] = {code: au for _, _, code, _, au in SUITES}
# OpenSSL name of every suite the profile tables know (a superset of SUITES).
OPENSSL_NAMES: dict[int, str] = {code: ossl for code, _, ossl, _ in PROFILE_SUITES if ossl}


def suite_label(code: int) -> str:
    """``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (ECDHE-RSA-AES128-GCM-SHA256)``: the IANA name
    with the OpenSSL one, once when both agree (issue 14.4: names, not numbers)."""
    iana = suite_name(code)
    ossl = OPENSSL_NAMES.get(code)
    return iana if not ossl or ossl == iana else f"{iana} ({ossl})"

# §1.2: the suite groups the AWS table is written in.
GROUPS: dict[str, tuple[str, ...]] = {
    "T13": ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"),
    "T13F": ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"),
    "EG": ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
           "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    "EC2": ("ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
            "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"),
    "EC1": ("ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA"),
    "RG": ("AES128-GCM-SHA256", "AES256-GCM-SHA384"),
    "RC2": ("AES128-SHA256", "AES256-SHA256"),
    "RC1": ("AES128-SHA", "AES256-SHA"),
    "3DES": ("DES-CBC3-SHA",),
    "DHE1": ("DHE-RSA-AES128-SHA", "DHE-DSS-AES128-SHA"),
}

_ALL = "T13 + EG + EC2 + EC1 + RG + RC2 + RC1"
_ALLF = "T13F + EG + EC2 + EC1 + RG + RC2 + RC1"
_R = "EG + EC2 + EC1 + RG + RC2 + RC1"
_CNSA2 = "`TLS_AES_256_GCM_SHA384` + `ECDHE-ECDSA-AES256-GCM-SHA384` + `ECDHE-RSA-AES256-GCM-SHA384`"
_PQ = ("X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024")  # §1.1: -PQ- hybrid groups (CUR)

# §1.3, one row per policy as the reference writes it: name without the prefix, load
# balancers, TLS range, suites, count, "Src; note".  "?" = load balancer not stated.
AWS_ROWS: tuple[tuple[str, str, str, str, int, str], ...] = (
    ("TLS13-1-3-2021-06", "ALB NLB", "1.3", "T13", 3, "A,D,M"),
    ("TLS13-1-2-2021-06", "ALB NLB", "1.2–1.3", "T13 + EG + EC2", 11, "A,D,M"),
    ("TLS13-1-2-Res-2021-06", "ALB NLB", "1.2–1.3", "T13 + EG", 7, "A,D,M"),
    ("TLS13-1-2-Ext1-2021-06", "ALB NLB", "1.2–1.3", "T13 + EG + EC2 + RG + RC2", 15, "A,D,M"),
    ("TLS13-1-2-Ext2-2021-06", "ALB NLB", "1.2–1.3", _ALL, 21, "A,D,M,S"),
    ("TLS13-1-1-2021-06", "ALB NLB", "1.1–1.3", _ALL, 21, "A,D,M"),
    ("TLS13-1-0-2021-06", "ALB NLB", "1.0–1.3", _ALL, 21, "A,D,M"),
    ("TLS13-1-3-PQ-2025-09", "ALB NLB", "1.3", "T13", 3, "M"),
    ("TLS13-1-2-PQ-2025-09", "ALB NLB", "1.2–1.3", "T13 + EG + EC2", 11, "M"),
    ("TLS13-1-2-Res-PQ-2025-09", "ALB NLB", "1.2–1.3", "T13 + EG", 7, "M"),
    ("TLS13-1-2-Ext1-PQ-2025-09", "ALB NLB", "1.2–1.3", _ALL, 21, "M; unverified; §1.5"),
    ("TLS13-1-2-Ext2-PQ-2025-09", "ALB NLB", "1.2–1.3", _ALL, 21, "M"),
    ("TLS13-1-0-PQ-2025-09", "ALB NLB", "1.0–1.3", _ALL, 21, "M"),
    ("TLS13-1-3-FIPS-2023-04", "ALB NLB", "1.3", "T13F", 2, "A"),
    ("TLS13-1-2-FIPS-2023-04", "ALB NLB", "1.2–1.3", "T13F + EG + EC2", 10, "A"),
    ("TLS13-1-2-Res-FIPS-2023-04", "ALB NLB", "1.2–1.3", "T13F + EG", 6, "A"),
    ("TLS13-1-2-Ext0-FIPS-2023-04", "ALB NLB", "1.2–1.3", "T13F + EG + EC2 + EC1", 14, "A"),
    ("TLS13-1-2-Ext1-FIPS-2023-04", "ALB NLB", "1.2–1.3", "T13F + EG + EC2 + RG + RC2", 14, "A"),
    ("TLS13-1-2-Ext2-FIPS-2023-04", "ALB NLB", "1.2–1.3", _ALLF, 20, "A"),
    ("TLS13-1-1-FIPS-2023-04", "ALB NLB", "1.1–1.3", _ALLF, 20, "A"),
    ("TLS13-1-0-FIPS-2023-04", "ALB NLB", "1.0–1.3", _ALLF, 20, "A"),
    ("FS-2018-06", "ALB NLB", "1.0–1.2", "EG + EC2 + EC1", 12, "A,D,S"),
    ("FS-1-1-2019-08", "ALB NLB", "1.1–1.2", "EG + EC2 + EC1", 12, "A,D,S"),
    ("FS-1-2-2019-08", "ALB NLB", "1.2", "EG + EC2 + EC1", 12, "A,D,S"),
    ("FS-1-2-Res-2019-08", "ALB NLB", "1.2", "EG + EC2", 8, "A,D,S"),
    ("FS-1-2-Res-2020-10", "ALB NLB", "1.2", "EG", 4, "A,D,M"),
    ("TLS-1-2-Ext-2018-06", "ALB NLB", "1.2", _R, 18, "A,D,M,S"),
    ("TLS-1-2-2017-01", "ALB NLB CLB", "1.2", "EG + EC2 + RG + RC2", 12, "A,D,C,M,S"),
    ("TLS-1-1-2017-01", "ALB NLB CLB", "1.1–1.2", _R, 18, "A,D,C,M,S"),
    ("2016-08", "ALB NLB CLB", "1.0–1.2", _R, 18, "A,D,C,M,S,CLI"),
    ("TLS-1-0-2015-04", "ALB NLB", "1.0–1.2", _R + " + 3DES", 19, "D,S,CDK; absent from A; §1.5"),
    ("2015-05", "ALB NLB", "1.0–1.2", _R, 18, "D,S; = 2016-08 (D); CLB variant below; §1.5"),
    ("2015-05@clb", "CLB", "1.0–1.2", _R + " + 3DES", 19, "C"),
    ("2015-03@clb", "CLB", "1.0–1.2", _R + " + 3DES + DHE1", 21, "C"),
    ("2015-02@clb", "CLB", "1.0–1.2", _R + " + DHE1", 20, "C"),
    ("TLS13-1-3-CNSA2-INTEROP1-FIPS-PQ-2026-07", "?", "1.3", "`TLS_AES_256_GCM_SHA384`", 1,
     "S; groups secp384r1, MLKEM1024"),
    ("TLS13-1-2-CNSA2-INTEROP2-FIPS-PQ-2026-07", "?", "1.2–1.3", _CNSA2, 3, "S; groups secp384r1, MLKEM1024"),
    ("TLS13-1-2-CNSA2-INTEROP3-FIPS-PQ-2026-07", "?", "1.2–1.3", _ALLF, 20,
     "S; groups secp384r1, secp256r1, secp521r1, MLKEM1024"),
)
# §1.5: contents or availability the reference leaves unverified beyond the row notes.
AWS_UNVERIFIED_ELSEWHERE = {"TLS-1-0-2015-04": "§1.5: current availability unverified"}
AWS_GROUPS_NOTE = ("classical groups are not in the AWS text; s2n gives secp256r1, secp384r1 "
                   "(unverified for ELB)")

# §2.2, columns in the reference's order; TLS ≤1.2 suites in the guideline's order (appendix).
_MOZ_INT6 = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
             "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305")
_MOZ_OLD58 = (
    *_MOZ_INT6,
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256", "AES256-SHA256", "AES128-SHA", "AES256-SHA",
    "DES-CBC3-SHA")
_MOZ_DHE57 = ("DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305")
_MOZ_GROUPS6 = ("X25519MLKEM768", "X25519", "prime256v1", "secp384r1")
_MOZ_GROUPS57 = ("X25519", "prime256v1", "secp384r1")
# (name, guideline, protocols, TLS ≤1.2 suites, groups, certificate types)
MOZILLA_ROWS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    ("modern", "6.0", "TLSv1.3", (), _MOZ_GROUPS6, ("ECDSA",)),
    ("intermediate", "6.0", "TLSv1.2–1.3", _MOZ_INT6, _MOZ_GROUPS6, ("ECDSA", "RSA")),
    ("old", "5.8", "TLSv1–1.3", _MOZ_OLD58, _MOZ_GROUPS6, ("RSA",)),
    ("intermediate", "5.7", "TLSv1.2–1.3", _MOZ_INT6 + _MOZ_DHE57, _MOZ_GROUPS57, ("ECDSA", "RSA")),
    ("old", "5.7", "TLSv1–1.3", _MOZ_OLD58 + _MOZ_DHE57 + ("DHE-RSA-AES128-SHA256", "DHE-RSA-AES256-SHA256"),
     _MOZ_GROUPS57, ("RSA",)),
)
MOZILLA_LATEST = {"modern": "6.0", "intermediate": "6.0", "old": "5.8"}  # §2.1

_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass(frozen=True)
class Policy:
    """A server policy: what it accepts, where it comes from, and how to write it for nginx.

    ``ciphers`` are the TLS ≤ 1.2 suites and ``tls13`` the TLS 1.3 ones, OpenSSL names in the
    policy's order; ``groups`` are empty when the source does not give them (then no group
    rule is applied).  ``unverified`` keeps the reference's mark.
    """

    name: str
    kind: str  # aws | mozilla | nginx
    protocols: tuple[str, ...]
    ciphers: tuple[str, ...]
    tls13: tuple[str, ...]
    groups: tuple[str, ...] = ()
    load_balancers: tuple[str, ...] = ()
    source: str = ""
    unverified: bool = False
    notes: tuple[str, ...] = ()
    certificates: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()  # the directives as given (nginx kind)
    expanded: ServerProfile | None = field(default=None, compare=False, repr=False)

    def profile(self) -> ServerProfile:
        """The policy as a :class:`ServerProfile` (suite codes per protocol)."""
        if self.expanded is not None:
            return self.expanded
        ciphers: dict[str, set[int]] = {}
        for proto in self.protocols:
            if proto == "TLSv1.3":
                ciphers[proto] = {OPENSSL_CODES[s] for s in self.tls13}
            else:
                ciphers[proto] = {OPENSSL_CODES[s] for s in self.ciphers
                                  if protocol_rank(SUITE_LOWEST.get(s, "TLSv1.2")) <= protocol_rank(proto)}
        groups = {c for c in (group_code(g) for g in self.groups) if c is not None}
        return ServerProfile(protocols=set(self.protocols), ciphers=ciphers, groups=groups,
                             source=self.kind, name=self.name, notes=list(self.notes))

    def directives(self) -> list[str]:
        """The nginx lines that configure this policy (generator rules, tls-policies.md §2.3)."""
        if self.lines:
            return list(self.lines)
        lines = [f"ssl_protocols {' '.join(self.protocols)};"]
        if self.ciphers:
            legacy = "@SECLEVEL=0:" if {"TLSv1", "TLSv1.1"} & set(self.protocols) else ""
            lines.append(f"ssl_ciphers {legacy}{':'.join(self.ciphers)};")
        default13 = GROUPS["T13"]
        if "TLSv1.3" in self.protocols and set(self.tls13) != set(default13):
            # nginx >= 1.19.4; OpenSSL's default TLS 1.3 list is the three T13 suites (§2.3)
            lines.append(f"ssl_conf_command Ciphersuites {':'.join(self.tls13)};")
        if self.groups:
            lines.append(f"ssl_ecdh_curve {':'.join(self.groups)};")
        return lines


def expand(expr: str) -> tuple[str, ...]:
    """``"T13 + EG + `DES-CBC3-SHA`"`` → suite names in that order (§1.2 groups)."""
    out: list[str] = []
    for part in expr.split("+"):
        token = part.strip().strip("`")
        out.extend(GROUPS.get(token, (token,)))
    return tuple(out)


def versions_of(text: str) -> tuple[str, ...]:
    """``"1.0–1.3"``, ``"1.2"``, ``"TLSv1–1.3"`` → the protocols in the range, oldest first."""
    bare = text.replace("TLSv", "").replace("-", "–")
    lo, _, hi = bare.partition("–")
    hi = hi or lo
    rank = {"1": 0, "1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}
    return _VERSIONS[rank[lo]:rank[hi] + 1]


def _aws(row: tuple[str, str, str, str, int, str]) -> Policy:
    short, lbs, tls, suites, _, note = row
    names = expand(suites)
    groups: tuple[str, ...] = ()
    notes: list[str] = []
    m = re.search(r"groups (.+)$", note)
    if m:
        groups = tuple(g.strip() for g in m.group(1).split(","))
    elif "-PQ-" in short:
        groups = _PQ
        notes.append("hybrid ML-KEM groups; classical ones too (not listed by AWS)")
    else:
        notes.append(AWS_GROUPS_NOTE)
    unverified = "unverified" in note or short in AWS_UNVERIFIED_ELSEWHERE
    if short in AWS_UNVERIFIED_ELSEWHERE:
        notes.append(AWS_UNVERIFIED_ELSEWHERE[short])
    return Policy(name=AWS_PREFIX + short, kind="aws", protocols=versions_of(tls),
                  ciphers=tuple(s for s in names if not s.startswith("TLS_")),
                  tls13=tuple(s for s in names if s.startswith("TLS_")), groups=groups,
                  load_balancers=tuple(lbs.lower().split()) if lbs != "?" else (),
                  source=note.split(";")[0], unverified=unverified, notes=tuple(notes))


def _mozilla(row: tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]) -> Policy:
    config, guideline, protocols, suites, groups, certs = row
    latest = MOZILLA_LATEST[config] == guideline
    name = f"mozilla-{config}" + ("" if latest else f"-{guideline}")
    return Policy(name=name, kind="mozilla", protocols=versions_of(protocols), ciphers=suites,
                  tls13=GROUPS["T13"], groups=groups, source=f"Mozilla Server Side TLS {guideline}",
                  certificates=certs)


AWS: dict[str, Policy] = {p.name: p for p in map(_aws, AWS_ROWS)}
MOZILLA: dict[str, Policy] = {p.name: p for p in map(_mozilla, MOZILLA_ROWS)}
POLICIES: dict[str, Policy] = {**AWS, **MOZILLA}

USAGE = ("use an AWS policy name (ELBSecurityPolicy-TLS13-1-2-2021-06), mozilla-modern, "
         "mozilla-intermediate, mozilla-old, or nginx directives "
         "(\"ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM\")")
_DIRECTIVES = ("ssl_protocols", "ssl_ciphers", "ssl_ecdh_curve", "ssl_prefer_server_ciphers")
_BY_LOWER = {k.lower(): k for k in POLICIES}


def parse_policy(value: str) -> Policy:
    """A ``--what-if`` value as a :class:`Policy`; a one-line :class:`LogcorrError` when it is not one."""
    text = value.strip()
    key = text.lower()
    for cand in (key, (AWS_PREFIX + text).lower()):
        if cand in _BY_LOWER:
            return POLICIES[_BY_LOWER[cand]]
    if key.split(None, 1)[:1] and key.split(None, 1)[0] in _DIRECTIVES:
        return _from_directives(text)
    raise LogcorrError(f"--what-if {value!r}: unknown policy; {USAGE}")


def _from_directives(text: str) -> Policy:
    values: dict[str, str] = {}
    for stmt in (s.strip() for s in text.split(";")):
        if not stmt:
            continue
        name, _, arg = stmt.partition(" ")
        if name not in _DIRECTIVES or not arg.strip():
            raise LogcorrError(f"--what-if {text!r}: cannot read {stmt!r}; {USAGE}")
        values[name] = arg.strip().strip("'\"")
    protocols = values.get("ssl_protocols")
    if protocols is not None:
        bad = [w for w in protocols.split() if normalize_protocol(w) is None]
        if bad:
            raise LogcorrError(f"--what-if {text!r}: unknown protocol {bad[0]!r} in ssl_protocols")
    prof = from_nginx(protocols, values.get("ssl_ciphers"), values.get("ssl_ecdh_curve"),
                      prefer_server_ciphers=values.get("ssl_prefer_server_ciphers") == "on")
    if not any(prof.ciphers.values()):
        raise LogcorrError(f"--what-if {text!r}: ssl_ciphers enables no suite for these protocols")
    prof.name = " ".join(f"{k} {v};" for k, v in values.items())
    prof.source = "what-if"
    order = sorted(prof.protocols, key=protocol_rank)
    legacy = sorted({c for p, cs in prof.ciphers.items() if p != "TLSv1.3" for c in cs})
    tls13 = sorted(prof.ciphers.get("TLSv1.3", set()))
    groups = tuple(values["ssl_ecdh_curve"].split(":")) if "ssl_ecdh_curve" in values else ()
    return Policy(name=prof.name, kind="nginx", protocols=tuple(order),
                  ciphers=tuple(OPENSSL_NAMES.get(c, f"0x{c:04X}") for c in legacy),
                  tls13=tuple(OPENSSL_NAMES.get(c, f"0x{c:04X}") for c in tls13), groups=groups,
                  source="nginx directives", notes=tuple(prof.notes),
                  lines=tuple(f"{k} {v};" for k, v in values.items()), expanded=prof)
