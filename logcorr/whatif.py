"""What a policy change would do to the clients seen: who loses access, who gets in (SPEC §7 ``what_if``).

Pure functions: pandas in, dicts out, no I/O.  The evidence, and how strong it is
(issue 14 §2):

- **A protocol is strong evidence.**  A client that negotiated TLS 1.0 with a server that
  offers TLS 1.2 can do no better (TLS picks the highest common version, RFC 5246 §7.4.1.2,
  RFC 8446 §4.2.1), so if every session of a client used a protocol below the policy's
  lowest, and the server offered more, the client loses access: rule ``protocol``.
- **A captured ClientHello is proof.**  When nothing a client offered (versions, then suites
  for the version the server would pick, then groups) is inside the policy, it loses
  access: rule ``client_hello``; when something is, it keeps it, whatever its sessions used.
- **A cipher is weak evidence.**  A session's cipher shows only that the client offered that
  suite among others, so a client whose every session used a suite outside the policy *may*
  lose access: rule ``cipher``.  ``protocol_not_offered`` (the server never offered anything
  better, so the logs cannot show what the client could do) and ``protocol_above_policy``
  (it used only versions above the policy's highest) are "may" too.

Failing clients *gain* access when their captured offer fits the policy and does not fit
the current server (its profile; without one, when the capture shows the server refused it
for lack of a common version or suite).  Real clients only: the caller passes the addresses
to leave out (scanners, health checks, load balancers).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from logcorr.facts import Scope, SessionFacts, facts_from_frames
from logcorr.policies import AWS, MOZILLA, SUITE_AUTH, Policy
from logcorr.profile import (
    FALLBACK_SCSV,
    OPENSSL_CODES,
    SCSVS,
    ServerProfile,
    normalize_protocol,
    protocol_rank,
    suite_code,
    suite_name,
)
from logcorr.timewindow import iso_second as iso

# Server alerts a capture shows when nothing was in common (RFC 8446 §6.2, RFC 5246 §7.2.2).
REFUSED = frozenset({"handshake_failure", "protocol_version", "insufficient_security"})
PROVED = ("protocol", "client_hello")
DEFAULT_WITHOUT_PROFILE = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def _seq(value: Any) -> list[Any]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)


def _grease(code: int) -> bool:
    return (code & 0x0F0F) == 0x0A0A and (code >> 8) == (code & 0xFF)  # RFC 8701 §2


def cipher_code(name: Any) -> int | None:
    """Code of a logged ``$ssl_cipher`` (OpenSSL name) or an IANA name; None when unknown."""
    if not isinstance(name, str) or not name or name == "-":
        return None
    return OPENSSL_CODES.get(name) or suite_code(name)


@dataclass
class Offer:
    """What one client's ClientHellos offered (GREASE and signalling suites left out)."""

    client: str
    versions: set[str] = field(default_factory=set)  # explicit supported_versions
    legacy_max: str | None = None  # highest legacy_version of hellos without the extension
    suites: set[int] = field(default_factory=set)
    groups: set[int] = field(default_factory=set)
    hellos: int = 0
    refused: int = 0  # hellos the server refused for lack of a common version/suite
    scsv: int = 0

    def accepts(self, protocol: str) -> bool:
        rank = protocol_rank(protocol)
        return protocol in self.versions or (
            self.legacy_max is not None and 0 <= rank <= protocol_rank(self.legacy_max))

    @property
    def highest(self) -> str | None:
        cands = [*self.versions, *([self.legacy_max] if self.legacy_max else [])]
        return max(cands, key=protocol_rank) if cands else None


def offers(hellos: pd.DataFrame, *, failed_only: bool = False) -> dict[str, Offer]:
    """One :class:`Offer` per client of ``client_hellos`` (only failed hellos with ``failed_only``)."""
    out: dict[str, Offer] = {}
    if hellos is None or hellos.empty:
        return out
    for row in hellos.itertuples(index=False):
        addr, outcome = getattr(row, "client_addr", None), getattr(row, "outcome", None)
        if not isinstance(addr, str) or not isinstance(outcome, str):
            continue
        if failed_only and outcome == "ok":
            continue
        o = out.setdefault(addr, Offer(addr))
        o.hellos += 1
        o.refused += outcome in REFUSED
        suites = [int(s) for s in _seq(getattr(row, "cipher_suites", None))]
        o.scsv += FALLBACK_SCSV in suites
        versions = [v for v in (normalize_protocol(str(x)) for x in _seq(getattr(row, "versions", None))) if v]
        if versions:
            o.versions.update(versions)
        else:
            hv = normalize_protocol(str(getattr(row, "hello_version", "") or ""))
            if hv and (o.legacy_max is None or protocol_rank(hv) > protocol_rank(o.legacy_max)):
                o.legacy_max = hv
        o.suites.update(s for s in suites if s not in SCSVS and not _grease(s))
        o.groups.update(int(g) for g in _seq(getattr(row, "groups", None)) if not _grease(int(g)))
    return out


def blocked(offer: Offer, profile: ServerProfile) -> str | None:
    """What stops ``offer`` against ``profile``: ``protocol``, ``cipher``, ``group``, or None (it fits).

    The server's order (OpenSSL): the highest common version, then a suite for it, then a group.
    """
    common = [p for p in profile.protocols if offer.accepts(p)]
    if not common:
        return "protocol"
    version = max(common, key=protocol_rank)
    shared = offer.suites & profile.ciphers.get(version, set())
    if not shared:
        return "cipher"
    ecdhe_only = all("ECDHE" in suite_name(s) for s in shared)
    if (version == "TLSv1.3" or ecdhe_only) and offer.groups and profile.groups \
            and not offer.groups & profile.groups:
        return "group"
    return None


def _inside(protocol: str, cipher: Any, profile: ServerProfile) -> bool:
    if protocol not in profile.protocols:
        return False
    if not isinstance(cipher, str) or not cipher or cipher == "-":
        return True  # cipher not logged: the protocol fits, nothing says otherwise
    return cipher_code(cipher) in profile.ciphers.get(protocol, set())


def facts_of(sessions: pd.DataFrame | SessionFacts, exclude: Collection[str] = ()) -> SessionFacts:
    """``sessions`` as facts: ``tls_sessions`` rows go through the pandas reference
    (:func:`logcorr.facts.facts_from_frames`) with ``exclude`` left out; facts pass through."""
    if isinstance(sessions, SessionFacts):
        return sessions
    return facts_from_frames(sessions, None, Scope(excluded=frozenset(str(a) for a in exclude)))


def evaluate(policy: Policy, sessions: pd.DataFrame | SessionFacts, hellos: pd.DataFrame | None = None, *,
             current: ServerProfile | None = None, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The SPEC §7 ``what_if`` entry of one policy.

    ``sessions``: the session facts (:mod:`logcorr.facts`; their ``excluded`` are the
    addresses that are not real clients), or ``tls_sessions`` rows, then with ``exclude``;
    ``hellos``: ``client_hellos`` rows (or None); ``current``: the server's profile now
    (None when unknown); ``exclude``: addresses that are not real clients (for the hellos).
    Sessions are judged once per distinct (protocol, cipher), then only the clients with no
    session inside the policy are fetched, client by client (cost ~ distinct pairs + those
    clients, not rows).
    """
    target = policy.profile()
    facts = facts_of(sessions, exclude)
    all_offers = offers(hellos) if hellos is not None else {}
    seen = facts["protocols"]["protocol"].tolist()
    server_top = current.highest if current is not None and current.highest else (
        max(seen, key=protocol_rank) if seen else None)
    lowest = min(target.protocols, key=protocol_rank)
    highest = max(target.protocols, key=protocol_rank)
    losing: list[dict[str, Any]] = []
    maybe: list[dict[str, Any]] = []
    combos = facts["combos"]
    fits = [_inside(str(p), "" if pd.isna(c) else str(c), target)
            for p, c in zip(combos["protocol"], combos["ssl_cipher"], strict=True)]
    for client, count, proto_set, cipher_set, last in _per_client(facts.candidates(combos[pd.Series(fits, index=combos.index, dtype=bool)])):
        protos = sorted(proto_set, key=protocol_rank)
        best = protos[-1]
        used = sorted(cipher_set)
        entry = {"client": client, "sessions": count, "protocols": protos, "ciphers": used, "last_seen": last}
        offer = all_offers.get(str(client))
        if offer is not None:
            cause = blocked(offer, target)
            if cause is None:
                continue  # its ClientHello shows it could use the policy
            losing.append({**entry, "rule": "client_hello", "cause": cause,
                           "evidence": _offer_text(offer)})
            continue
        below = protocol_rank(best) < protocol_rank(lowest)
        if below and server_top is not None and protocol_rank(server_top) > protocol_rank(best):
            losing.append({**entry, "rule": "protocol", "cause": "protocol",
                           "evidence": f"best protocol {best}; the server offered {server_top}"})
        elif below:
            maybe.append({**entry, "rule": "protocol_not_offered", "cause": "protocol",
                          "evidence": f"best protocol {best}; the server offered nothing higher"})
        elif protocol_rank(protos[0]) > protocol_rank(highest):
            maybe.append({**entry, "rule": "protocol_above_policy", "cause": "protocol",
                          "evidence": f"used only {', '.join(protos)}; the policy stops at {highest}"})
        else:
            maybe.append({**entry, "rule": "cipher", "cause": "cipher",
                          "evidence": "every session used a suite outside the policy: "
                                      + ", ".join(used)})
    gaining = gaining_access(policy, hellos, current=current, exclude=exclude)
    total_sessions, total_clients = facts.totals["usable_sessions"], facts.totals["usable_clients"]
    lost = sum(e["sessions"] for e in losing)
    maybe_lost = sum(e["sessions"] for e in maybe)
    return {
        "policy": policy.name, "kind": policy.kind, "unverified": policy.unverified,
        "protocols": list(policy.protocols), "clients": total_clients, "sessions": total_sessions,
        "clients_losing_access": losing, "clients_maybe_losing_access": maybe,
        "sessions_losing_share": _share(lost, total_sessions),
        "sessions_maybe_losing_share": _share(maybe_lost, total_sessions),
        "clients_losing_share": _share(len(losing), total_clients),
        "failing_clients_gaining_access": gaining,
    }


def _per_client(c: pd.DataFrame) -> list[tuple[str, int, set[str], set[str], str | None]]:
    """(client, sessions, protocols, ciphers, last seen) per client of the ``candidates`` fact."""
    out: dict[str, list[Any]] = {}
    for client, proto, cipher, n, last in zip(c["client_addr"], c["protocol"], c["ssl_cipher"], c["sessions"],
                                              c["last_ts"], strict=True):
        e = out.setdefault(str(client), [0, set(), set(), pd.NaT])
        e[0] += int(n)
        e[1].add(str(proto))
        if not pd.isna(cipher):
            e[2].add(str(cipher))
        if not pd.isna(last) and (pd.isna(e[3]) or last > e[3]):
            e[3] = last
    return [(k, n, p, x, iso(t)) for k, (n, p, x, t) in sorted(out.items())]


def gaining_access(policy: Policy, hellos: pd.DataFrame | None, *, current: ServerProfile | None,
                   exclude: Collection[str] = ()) -> list[dict[str, Any]]:
    """Failing clients whose captured (failed) offer fits ``policy`` and not the current server."""
    if hellos is None:
        return []
    target = policy.profile()
    out = []
    for client, offer in sorted(offers(hellos, failed_only=True).items()):
        if client in exclude or blocked(offer, target) is not None:
            continue
        now = blocked(offer, current) if current is not None else ("refused" if offer.refused else None)
        if now is None:
            continue
        out.append({"client": client, "failures": offer.hellos, "blocked_now_by": now,
                    "needs_ecdsa_certificate": _ecdsa_needed(offer, target),
                    "evidence": _offer_text(offer)})
    return out


def _ecdsa_needed(offer: Offer, profile: ServerProfile) -> bool:
    """True when every suite the client shares with ``profile`` needs an ECDSA certificate."""
    common = [p for p in profile.protocols if offer.accepts(p)]
    if not common:
        return False
    shared = offer.suites & profile.ciphers.get(max(common, key=protocol_rank), set())
    return bool(shared) and all(SUITE_AUTH.get(s) == "ECDSA" for s in shared)


def ecdsa_only(hellos: pd.DataFrame | None, *, current: ServerProfile | None,
               exclude: Collection[str] = ()) -> list[str]:
    """Failing clients that offered only ECDSA-signed suites (no TLS 1.3) and were refused a suite."""
    if hellos is None:
        return []
    out = []
    for client, offer in sorted(offers(hellos, failed_only=True).items()):
        if client in exclude or not offer.suites or "TLSv1.3" in offer.versions:
            continue
        if all(SUITE_AUTH.get(s) == "ECDSA" for s in offer.suites) and (
                (current is not None and blocked(offer, current) == "cipher") or offer.refused):
            out.append(client)
    return out


def _offer_text(offer: Offer) -> str:
    versions = sorted(offer.versions, key=protocol_rank) if offer.versions else (
        [f"up to {offer.legacy_max}"] if offer.legacy_max else ["?"])
    n = len(offer.suites)
    return f"offered {', '.join(versions)} with {n} suite{'' if n == 1 else 's'}"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _pairs(profile: ServerProfile) -> set[tuple[str, int]]:
    return {(p, c) for p in profile.protocols if p != "TLSv1.3" for c in profile.ciphers.get(p, set())}


def nearest_stricter_aws(current: ServerProfile) -> Policy | None:
    """The AWS policy one step stricter than ``current``: its floor raised one version, most suites kept.

    Our rule (SPEC leaves it open): candidates are verified ALB/NLB policies whose lowest
    protocol is the next one above the current lowest (when that is below TLS 1.2), else
    TLS 1.2 policies that drop some current TLS 1.2 suites; the one sharing the most
    (protocol, suite) pairs with the current server wins, then one with TLS 1.3, then one
    without FIPS/PQ in its name, then the name.
    """
    if not current.protocols:
        return None
    low = protocol_rank(current.lowest or "TLSv1.2")
    mine = _pairs(current)
    cands = [p for p in AWS.values() if not p.unverified and {"alb", "nlb"} & set(p.load_balancers)]
    if low < protocol_rank("TLSv1.2"):
        floors = sorted({protocol_rank(p.protocols[0]) for p in cands if protocol_rank(p.protocols[0]) > low})
        if not floors:
            return None
        cands = [p for p in cands if protocol_rank(p.protocols[0]) == floors[0]]
    else:
        cands = [p for p in cands if p.protocols[0] == "TLSv1.2" and _pairs(p.profile()) & mine
                 and _pairs(p.profile()) & mine != mine]
    if not cands:
        return None

    def score(p: Policy) -> tuple[int, bool, bool, str]:
        return (-len(_pairs(p.profile()) & mine), "TLSv1.3" not in p.protocols,
                "FIPS" in p.name or "-PQ-" in p.name, p.name)

    return min(cands, key=score)


def default_policies(current: ServerProfile | None) -> list[Policy]:
    """What ``report`` evaluates with no ``--what-if``: the nearest stricter AWS policy and Mozilla intermediate."""
    first = nearest_stricter_aws(current) if current is not None else AWS[DEFAULT_WITHOUT_PROFILE]
    chosen = [p for p in (first, MOZILLA["mozilla-intermediate"]) if p is not None]
    return list({p.name: p for p in chosen}.values())
