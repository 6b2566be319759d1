"""The verdict: ``benign``, ``attention`` or ``action``, one sentence, and findings (SPEC §7).

Status rule:

- ``action``: real (attributable) clients failed on an ``incompatible`` or ``certificate``
  reason and did not recover inside the window, or sent ``inappropriate_fallback`` hellos
  and never completed any handshake at all (SCSV on every connection, client-fallback.md
  §8.3): someone is locked out;
- ``attention``: no TLS sessions in the data (recovery cannot be judged); or more than
  :data:`ATTENTION_SHARE` of the failures cannot be attributed, or are unrecovered
  failures of real clients outside the noise family; or any unrecovered ``peer_alert`` /
  ``other`` failure of a real client (neither an explained retry nor noise);
- ``benign`` otherwise: retries that came back, noise, a few stragglers.

Findings quote a few client addresses as they were logged; renderers escape them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from logcorr.timewindow import format_window

ATTENTION_SHARE = 0.05
"""Share of failures (unattributable, or unrecovered from real clients) that needs a look."""
EXAMPLES = 3
"""Client addresses quoted per finding."""
LOCKOUT_FAMILIES = ("incompatible", "certificate")
LOOK_FAMILIES = ("other alert", "other")

# Most likely meaning and server-side fix per reason, from handshake-reasons.md §3
# (client_rejected_cert from §4.2: the client's alert about our certificate).
HINTS: dict[str, tuple[str, str]] = {
    "no_shared_cipher": (
        "the clients offer only cipher suites the server disabled (old clients with RC4, 3DES or "
        "CBC-only lists, or ECDSA-only clients against an RSA certificate)",
        "if these clients matter, enable a suite they offer (read it from a capture) or add an "
        "ECDSA certificate beside the RSA one"),
    "unsupported_protocol": (
        "the clients' versions are all outside the server's range (TLS 1.0/1.1 clients, or "
        "TLS 1.2-only clients against a TLS 1.3-only server)",
        "add the version to ssl_protocols only if policy allows; TLS 1.0 and 1.1 are deprecated "
        "(RFC 8996)"),
    "no_shared_group": (
        "no key-exchange group in common with ssl_ecdh_curve (clients that hard-code one curve)",
        "widen ssl_ecdh_curve, e.g. X25519:prime256v1"),
    "no_shared_sigalg": (
        "the clients' signature algorithms do not cover the server certificate's key type",
        "serve a certificate whose key type the clients list (RSA and ECDSA certificates side by side)"),
    "client_rejected_cert": (
        "the clients rejected the server's certificate (unknown CA, bad or expired certificate)",
        "check that ssl_certificate holds the full chain, that it has not expired and that its "
        "names cover what the clients ask for"),
}


def protocol_label(protocol: str) -> str:
    """``TLSv1.2`` → ``TLS 1.2``, ``TLSv1`` → ``TLS 1.0``, ``SSLv3`` → ``SSL 3.0``."""
    if protocol == "SSLv3":
        return "SSL 3.0"
    version = protocol.removeprefix("TLSv")
    return f"TLS {version if '.' in version else version + '.0'}"


def pct(share: float) -> str:
    """A share as a percentage that never rounds to a misleading 0% or 100%."""
    v = 100.0 * share
    if v == 0 or v == 100:
        return f"{v:.0f}%"
    if v < 0.1:
        return "<0.1%"
    if v < 10:
        return f"{v:.1f}%"
    if v > 99:
        return f"{math.floor(v * 10) / 10:.1f}%"
    return f"{v:.0f}%"


def _n(count: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("s") else "s")
    return f"{count:,} {noun if count == 1 else plural}"


def _examples(frame: pd.DataFrame) -> str:
    counts = frame["client_addr"].astype(str).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    names = [str(k) for k, _ in ranked[:EXAMPLES]]
    more = ", …" if len(ranked) > EXAMPLES else ""
    return f"e.g. {', '.join(names)}{more}"


def _counts(frame: pd.DataFrame) -> str:
    counts = frame["reason"].value_counts()
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def judge(m: pd.DataFrame, succeeded: set[str], *, window_s: float, min_protocol: str,
          judged: bool, failure_rate: float | None) -> dict[str, Any]:
    """``{status, summary, findings}`` for the matches ``m`` (with a ``family`` column).

    ``succeeded`` holds every client address with any session in the data; ``judged`` is
    false when the data has no TLS session at all.
    """
    total = len(m)
    if total == 0:
        return {"status": "benign", "summary": "No TLS handshake failures in the period.",
                "findings": []}
    window = format_window(window_s)
    attributable = m["attributable"].to_numpy(dtype=bool)
    recovered = m["recovered"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    real = m[attributable]
    unrec = m[attributable & ~recovered]
    never = ~unrec["client_addr"].astype(str).isin(succeeded).to_numpy(dtype=bool)
    findings: list[str] = []
    if not judged:
        summary = (f"{_n(total, 'handshake failure')} and no TLS sessions in the data: recovery "
                   "cannot be judged; ingest the access log with $ssl_protocol")
        findings += _unattributable(m)
        return {"status": "attention", "summary": summary, "findings": findings}

    lockout = unrec[unrec["family"].isin(LOCKOUT_FAMILIES).to_numpy()]
    scsv = unrec[(unrec["reason"] == "inappropriate_fallback").to_numpy() & never]
    only_noise = (real["family"] == "noise").groupby(real["client_addr"].astype(str)).all()
    noisy = {c for c in only_noise.index[only_noise.to_numpy(dtype=bool)] if c not in succeeded}
    scanners = real[real["client_addr"].astype(str).isin(noisy).to_numpy()]
    rest = unrec[~unrec.index.isin(lockout.index) & ~unrec.index.isin(scsv.index)
                 & (unrec["family"] != "noise").to_numpy()]

    for reason, g in lockout.groupby("reason", sort=True):
        meaning, fix = HINTS.get(str(reason), ("", ""))
        n_never = g.loc[~g["client_addr"].astype(str).isin(succeeded), "client_addr"].nunique()
        n_clients = g["client_addr"].nunique()
        never_text = ("" if not n_never else " and never completed any handshake" if n_never == n_clients
                      else f", {n_never} of them never completed any handshake")
        text = (f"{_n(len(g), str(reason) + ' failure')} from {_n(n_clients, 'real client')} "
                f"did not recover within {window}{never_text} ({_examples(g)})")
        findings.append(f"{text}: {meaning}. Server-side fix: {fix}." if meaning else text + ".")
    if len(scsv):
        clients = set(scsv["client_addr"].astype(str))
        path = m[m["client_addr"].astype(str).isin(clients).to_numpy() & (m["family"] == "network").to_numpy()]
        text = (f"{_n(len(clients), 'client')} had {_n(len(scsv), 'inappropriate_fallback failure')} and "
                f"never completed any handshake ({_examples(scsv)}): SCSV on every connection? a client "
                "stack bug (client-fallback.md §8.3); the fix is in the app, the only server-side "
                "workaround (lowering the server's highest version) weakens every connection.")
        if len(path):
            text += (f" {path['client_addr'].nunique()} of them also had peer_closed/timeout failures: "
                     "if each fallback follows one, a load balancer or middlebox is breaking the first "
                     "attempt (client-fallback.md §8.3).")
        findings.append(text)
    if len(rest):
        findings.append(f"{_n(len(rest), 'failure')} from {_n(rest['client_addr'].nunique(), 'real client')} "
                        f"did not recover within {window} ({_counts(rest)}; {_examples(rest)}).")
    if noisy:
        findings.append(f"{_n(len(noisy), 'address')} produced only noise ({_counts(scanners)}) and never "
                        f"completed a handshake ({_examples(scanners)}): scanners or misdirected "
                        "clients; nothing to fix.")
    findings += _unattributable(m)

    unattributable_share = 1.0 - attributable.mean()
    unrec_share = len(unrec[(unrec["family"] != "noise").to_numpy()]) / total
    look = unrec["family"].isin(LOOK_FAMILIES).any()
    if len(lockout) or len(scsv):
        status = "action"
    elif unattributable_share > ATTENTION_SHARE or unrec_share > ATTENTION_SHARE or look:
        status = "attention"
    else:
        status = "benign"
    summary = _summary(m, real, recovered[attributable], status, lockout, scsv, unrec,
                       window=window, min_protocol=min_protocol, failure_rate=failure_rate)
    return {"status": status, "summary": summary, "findings": findings}


def _unattributable(m: pd.DataFrame) -> list[str]:
    un = m[~m["attributable"].to_numpy(dtype=bool)]
    if un.empty:
        return []
    peers = un[un["client_addr"].notna().to_numpy()]
    seen = f": nginx logged only the load balancer as the client ({_examples(peers)})" if len(peers) else ""
    return [f"{_n(len(un), 'failure')} ({pct(len(un) / len(m))}) cannot be attributed to a client{seen}. "
            "To name the real clients: enable PROXY protocol on the load balancer and "
            "\"listen ... proxy_protocol\" in nginx, then take a capture of port 443 or set "
            "\"error_log ... debug\" to log \"PROXY protocol src:\" lines; or terminate TLS in the "
            "stream module with realip; or use a load balancer that preserves client IPs."]


def _summary(m: pd.DataFrame, real: pd.DataFrame, real_recovered: np.ndarray, status: str,
             lockout: pd.DataFrame, scsv: pd.DataFrame, unrec: pd.DataFrame, *, window: str,
             min_protocol: str, failure_rate: float | None) -> str:
    """One sentence that answers "is this bad?" with its numbers (SPEC §1 question 1)."""
    reasons = m["reason"].unique()
    what = str(reasons[0]).replace("_", "-") + " failure" if len(reasons) == 1 else "handshake failure"
    lead = _n(len(m), what)
    if len(real):
        lead += f" from {_n(real['client_addr'].nunique(), 'client')}"
    if failure_rate is not None:
        lead += f" ({pct(failure_rate)} of connections)"
    if len(real) == 0:
        return lead + ": none can be attributed to a client, so recovery cannot be judged"
    session = protocol_label(min_protocol) + ("" if min_protocol == "TLSv1.3" else "+")
    n_rec = int(real_recovered.sum())
    share = "were" if len(real) == len(m) else f"of the {len(real):,} attributable were"
    lead += (f"; {pct(n_rec / len(real))} {share} followed by a {session} session from the same "
             f"client within {window}")
    if n_rec:
        delays = real.loc[real_recovered, "delay_s"].dropna().to_numpy(dtype=float)
        if len(delays):
            lead += f" (median {round(float(np.median(delays)), 3):g} s)"
    if status == "action":
        rows = pd.concat([lockout, scsv])
        locked = rows["client_addr"].nunique()
        return lead + f"; {_n(locked, 'real client')} never got in (failures: {_counts(rows)})"
    if status == "attention":
        un = len(m) - len(real)
        if un / len(m) > ATTENTION_SHARE:
            return lead + f"; {pct(un / len(m))} cannot be attributed to a client"
        rest = unrec[(unrec["family"] != "noise").to_numpy()]
        return lead + f"; {_n(len(rest), 'failure')} from real clients did not recover and need a look"
    non_noise = set(m.loc[(m["family"] != "noise").to_numpy(), "family"])
    if non_noise == {"retry"}:
        return lead + ": clients retrying after a network glitch, as RFC 7507 intends"
    return lead + ": the failing clients came back; nothing to fix"
