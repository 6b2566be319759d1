"""The verdict: ``benign``, ``attention`` or ``action``, one sentence, and findings (SPEC §7).

Status rule:

- ``action``: real (attributable) clients failed on an ``incompatible`` or ``certificate``
  reason and did not recover inside the window, or sent ``inappropriate_fallback`` hellos
  and never completed any handshake at all (TLS_FALLBACK_SCSV on every connection), and at
  least one of them never got in at all (``ever_succeeded`` false): someone is locked out;
- ``attention``: such clients all got in at another time; or no TLS sessions in the data
  (recovery cannot be judged); or more than
  :data:`ATTENTION_SHARE` of the failures cannot be attributed, or are unrecovered
  failures of real clients outside the noise family; or any unrecovered ``peer_alert`` /
  ``other`` failure of a real client (neither an explained retry nor noise);
- ``benign`` otherwise: retries that came back, noise, a few stragglers.

Findings are objects (``kind``, ``text``, ``clients``, ``counts``): data first, the sentence
beside it, self-contained (no pointer to a document the reader may not have).  Sentences
quote a few client addresses as they were logged; renderers escape them.  The verdict's
``limited_by`` lists the coverage findings that limit it (SPEC §7 ``coverage``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from logcorr.codes import arrow_strings, categories_of, sorted_codes
from logcorr.timewindow import format_window

ATTENTION_SHARE = 0.05
"""Share of failures (unattributable, or unrecovered from real clients) that needs a look."""
EXAMPLES = 3
"""Client addresses quoted per finding's sentence."""
MAX_CLIENTS = 100
"""Client addresses listed per finding object (``counts`` has the full number)."""
LOCKOUT_FAMILIES = ("incompatible", "certificate")
LOOK_FAMILIES = ("other alert", "other")
JUDGED_COLUMNS = ("client_addr", "reason", "family", "attributable", "recovered", "delay_s")
"""The columns of the failures that the verdict reads."""

# Most likely meaning and server-side fix per reason, from handshake-reasons.md §3
# (client_rejected_cert from §4.2: the client's alert about our certificate).
HINTS: dict[str, tuple[str, str]] = {
    "no_shared_cipher": (
        "the clients offer only cipher suites the server disabled (old clients with RC4, 3DES or "
        "CBC-only lists, or ECDSA-only clients against an RSA certificate)",
        "if these clients matter, enable a suite they offer (read it from a capture) or add an "
        "ECDSA certificate beside the RSA one"),
    "unsupported_protocol": (
        "the clients' versions are all outside the server's range: older than its lowest (TLS "
        "1.0/1.1 clients against a TLS 1.2+ server) or newer than its highest (TLS 1.3-only "
        "clients against a server that stops at TLS 1.2); the log does not say which",
        "read what they offered from a capture or a server profile (--nginx-conf, an nmap scan); "
        "if they offer only newer versions, add TLS 1.3 to ssl_protocols; if only older ones, "
        "enabling them is a policy decision (RFC 8996 deprecates TLS 1.0 and 1.1)"),
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


def _ranked(frame: pd.DataFrame, limit: int | None = MAX_CLIENTS) -> list[str]:
    """Client addresses, most failures first, then by address: the first ``limit`` (None: all).

    Counted on the clients' sorted codes (:func:`logcorr.codes.sorted_codes`): a finding
    lists :data:`MAX_CLIENTS` of what may be hundreds of thousands of clients.
    """
    code, names = sorted_codes(frame["client_addr"])
    n = np.bincount(code[code >= 0], minlength=len(names))
    order = np.argsort(-n, kind="stable")  # ties stay in code order: the addresses' order
    return [str(c) for c in names.take(pa.array(order if limit is None else order[:limit])).to_pylist()]


def _distinct(frame: pd.DataFrame) -> pa.Array:
    """The distinct client addresses of ``frame`` (missing ones left out), sorted."""
    return sorted_codes(frame["client_addr"])[1]


def _pool(addresses: set[str]) -> pa.Array:
    """A set of addresses as an Arrow value set (pandas' ``isin`` on Arrow strings walks a
    Python set on every call: hundreds of thousands of clients, several calls)."""
    return pa.array([a for a in addresses if isinstance(a, str)], pa.large_string())


def _in(values: pd.Series, pool: pa.Array) -> np.ndarray:
    """``values.astype(str).isin(pool)`` (a categorical: its categories looked up once)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # code -1 (missing) takes the last: False
        return np.r_[_found(categories_of(values), pool), False][values.cat.codes.to_numpy()]
    return _found(arrow_strings(values), pool)


def _found(values: pa.Array | pa.ChunkedArray, pool: pa.Array) -> np.ndarray:
    found = pc.is_in(values.cast(pool.type), value_set=pool).fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _never_in(distinct: pa.Array, got_in: pa.Array) -> int:
    """How many of the ``distinct`` addresses are not in ``got_in``."""
    return len(distinct) - int(_found(distinct, got_in).sum())


def _only_noise(real: pd.DataFrame) -> set[str]:
    """Clients all of whose failures are of the noise family."""
    code, names = sorted_codes(real["client_addr"])
    mine = code >= 0
    other = np.bincount(code[mine], weights=(real["family"] != "noise").to_numpy(dtype=bool)[mine],
                        minlength=len(names))
    return set(names.filter(pa.array(other == 0)).to_pylist())


def _examples(frame: pd.DataFrame) -> str:
    names = _ranked(frame, EXAMPLES + 1)
    more = ", …" if len(names) > EXAMPLES else ""
    return f"e.g. {', '.join(names[:EXAMPLES])}{more}"


def _reason_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["reason"].astype(str).value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def _counts(frame: pd.DataFrame) -> str:
    return ", ".join(f"{k} {v}" for k, v in _reason_counts(frame).items())


def finding(kind: str, text: str, names: list[str] | None = None, **counts: Any) -> dict[str, Any]:
    """A finding (SPEC §7): data first (``kind``, ``clients``, ``counts``), the sentence beside.

    ``names``: the client (or peer) addresses it is about, most failures first; at most
    :data:`MAX_CLIENTS` are listed, ``counts`` has the numbers.
    """
    listed = list(names or [])
    return {"kind": kind, "text": text, "clients": listed[:MAX_CLIENTS], "counts": counts}


def judge(m: pd.DataFrame, succeeded: set[str], *, window_s: float, min_protocol: str,
          judged: bool, failure_rate: float | None, totals: dict[str, Any] | None = None,
          coverage: dict[str, Any] | None = None, scanners: list[dict[str, Any]] | None = None,
          health_checks: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{status, summary, findings}`` for the client-class failures ``m`` (one row per failure,
    with a ``family`` column).

    ``succeeded`` holds every client address that got in at any time (a completed session,
    or an answer on an access line without TLS fields); ``judged`` is false when the data
    has neither.  ``coverage``, ``scanners``, ``health_checks`` are the report's sections:
    findings say what they change and when coverage limits the verdict.
    """
    m = m[[c for c in JUDGED_COLUMNS if c in m]]  # every subset below copies only these
    totals = totals or {}
    coverage = coverage or {}
    scanners = scanners or []
    health = health_checks or {"count": 0, "by_lb": {}}
    side = _side_findings(scanners, health)
    limits = _coverage_findings(coverage, judged)
    total = len(m)
    if total == 0:
        summary = f"No handshake failures in this period; {_sessions_text(totals)}"
        if scanners or health.get("count"):
            summary += f"; {_beside(scanners, health)} reported apart"
        return {"status": "benign", "summary": summary + ".", "findings": side + limits,
                "limited_by": [f["kind"] for f in limits]}
    window = format_window(window_s)
    attributable = m["attributable"].to_numpy(dtype=bool)
    recovered = m["recovered"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    real = m[attributable]
    unrec = m[attributable & ~recovered]
    got_in = _pool(succeeded)
    never = ~_in(unrec["client_addr"], got_in)
    findings: list[dict[str, Any]] = []
    if not judged:
        summary = (f"{_n(total, 'handshake failure')} and no TLS sessions in the data: recovery "
                   "cannot be judged; ingest the access log with $ssl_protocol")
        findings += _unattributable(m) + side + limits
        return {"status": "attention", "summary": summary, "findings": findings,
                "limited_by": [f["kind"] for f in limits]}

    lockout = unrec[unrec["family"].isin(LOCKOUT_FAMILIES).to_numpy()]
    scsv = unrec[(unrec["reason"] == "inappropriate_fallback").to_numpy() & never]
    noisy = _only_noise(real) - succeeded
    noise_rows = real[_in(real["client_addr"], _pool(noisy))]
    rest = unrec[~unrec.index.isin(lockout.index) & ~unrec.index.isin(scsv.index)
                 & (unrec["family"] != "noise").to_numpy()]

    for reason, g in lockout[["reason", "client_addr"]].groupby("reason", sort=True):
        findings.append(_lockout(str(reason), g, got_in, window))
    if len(scsv):
        findings.append(_scsv(m, scsv))
    if len(rest):
        findings.append(finding(
            "unrecovered_real_clients",
            f"{_n(len(rest), 'failure')} from {_n(rest['client_addr'].nunique(), 'real client')} "
            f"did not recover within {window} ({_counts(rest)}; {_examples(rest)}).",
            _ranked(rest), failures=len(rest), clients=int(rest["client_addr"].nunique()),
            reasons=_reason_counts(rest)))
    if noisy:
        findings.append(finding(
            "noise_only",
            f"{_n(len(noisy), 'address')} produced only noise ({_counts(noise_rows)}) and never "
            f"completed a handshake ({_examples(noise_rows)}): plain HTTP or non-TLS bytes sent to "
            "the TLS port by misdirected clients or probes; nothing to fix.",
            _ranked(noise_rows), failures=len(noise_rows), clients=len(noisy),
            reasons=_reason_counts(noise_rows)))
    findings += _unattributable(m) + side + limits

    locked = set(_distinct(lockout).to_pylist()) | set(_distinct(scsv).to_pylist())
    never_in = {c for c in locked if c not in succeeded}
    unattributable_share = 1.0 - attributable.mean()
    unrec_share = len(unrec[(unrec["family"] != "noise").to_numpy()]) / total
    look = unrec["family"].isin(LOOK_FAMILIES).any()
    if never_in:
        status = "action"
    elif locked or unattributable_share > ATTENTION_SHARE or unrec_share > ATTENTION_SHARE or look:
        status = "attention"
    else:
        status = "benign"
    summary = _summary(m, real, recovered[attributable], status, lockout, scsv, unrec, never_in,
                       got_in, window=window, min_protocol=min_protocol, failure_rate=failure_rate,
                       scanners=scanners, health=health)
    if limits:
        summary += "; coverage limits this verdict: " + ", ".join(f["counts"].get("what", f["kind"]) for f in limits)
    return {"status": status, "summary": summary, "findings": findings,
            "limited_by": [f["kind"] for f in limits]}


def _lockout(reason: str, g: pd.DataFrame, got_in: pa.Array, window: str) -> dict[str, Any]:
    meaning, fix = HINTS.get(reason, ("", ""))
    distinct = _distinct(g)
    n_clients = len(distinct)
    n_never = _never_in(distinct, got_in)
    clients = _ranked(g)
    never_text = ("" if not n_never else " and never got in at all" if n_never == n_clients
                  else f"; {n_never} of them never got in at all")
    text = (f"{_n(len(g), reason + ' failure')} from {_n(n_clients, 'real client')} "
            f"did not recover within {window}{never_text} ({_examples(g)})")
    text = f"{text}: {meaning}. Server-side fix: {fix}." if meaning else text + "."
    return finding("unrecovered_real_clients", text, clients, reason=reason, failures=len(g),
                   clients=n_clients, never_got_in=n_never)


def _scsv(m: pd.DataFrame, scsv: pd.DataFrame) -> dict[str, Any]:
    clients = set(_distinct(scsv).to_pylist())
    path = m[_in(m["client_addr"], _pool(clients)) & (m["family"] == "network").to_numpy()]
    text = (f"{_n(len(clients), 'client')} had {_n(len(scsv), 'inappropriate_fallback failure')} and "
            f"never got in at all ({_examples(scsv)}): each of their hellos carried TLS_FALLBACK_SCSV, "
            "which a client may only send when retrying with a lower version, so the server refused "
            "every one. Either the client's TLS stack sends it on every connection (a client bug: the "
            "fix is in the app; the only server-side workaround, lowering the server's highest "
            "version, weakens every connection), or each of its first attempts fails on the way.")
    n_path = int(path["client_addr"].nunique()) if len(path) else 0
    if n_path:
        text += (f" {n_path} of them also had peer_closed/timeout failures: if each fallback follows "
                 "one, a load balancer or middlebox is breaking the first attempt.")
    return finding("scsv_every_connection", text, _ranked(scsv), failures=len(scsv),
                   clients=len(clients), with_network_failures=n_path)


def _sessions_text(totals: dict[str, Any]) -> str:
    n = int(totals.get("tls_sessions") or 0)
    text = _n(n, "TLS session") + " (connections)"
    extra = int(totals.get("unlabelled_requests") or 0)
    if extra:
        text += f" and {_n(extra, 'access line')} without TLS fields"
    return text


def _beside(scanners: list[dict[str, Any]], health: dict[str, Any]) -> str:
    parts = []
    if scanners:
        parts.append(f"{_n(sum(int(s['failures']) for s in scanners), 'failure')} from "
                     f"{_n(len(scanners), 'scanner')}")
    if health.get("count"):
        parts.append(_n(int(health["count"]), "health check"))
    return " and ".join(parts)


def _side_findings(scanners: list[dict[str, Any]], health: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    if scanners:
        n = sum(int(s["failures"]) for s in scanners)
        names = [str(s["client"]) for s in scanners]
        shown = ", ".join(names[:EXAMPLES]) + (", …" if len(names) > EXAMPLES else "")
        out.append(finding(
            "scanners",
            f"{_n(len(scanners), 'address')} scanned the TLS port ({_n(n, 'failure')}; {shown}): "
            f"{scanners[0]['evidence']}. Reported apart and left out of the failure rate.",
            names, failures=n, clients=len(scanners)))
    if health.get("count"):
        by = health.get("by_lb") or {}
        peers = ", ".join(list(by)[:EXAMPLES]) + (", …" if len(by) > EXAMPLES else "")
        out.append(finding(
            "health_checks",
            f"{_n(int(health['count']), 'connection')} opened and closed without a byte of TLS "
            f"(load-balancer health checks or probes, from {peers}): not client failures.",
            list(by), connections=int(health["count"]), peers=len(by)))
    return out


def _coverage_findings(coverage: dict[str, Any], judged: bool) -> list[dict[str, Any]]:
    out = []
    n_plain = int(coverage.get("access_lines_without_tls_answered") or 0)
    if n_plain:
        out.append(finding(
            "coverage_access_lines_without_tls",
            f"{_n(n_plain, 'answered access line')} of {int(coverage.get('access_lines') or 0):,} carry "
            "no TLS fields (a log_format without $ssl_protocol, such as the default combined): their clients "
            "got an answer on the TLS port, at an unknown protocol, so they count as having got in, "
            "but they cannot show a recovery at the minimum protocol. Add $ssl_protocol and "
            "$ssl_cipher to the log_format to judge them.",
            lines=n_plain, what=f"{n_plain:,} access lines without TLS fields"))
    periods = coverage.get("error_log_periods_without_access_log") or []
    if periods and judged:
        n = sum(int(p["failures"]) for p in periods)
        first = periods[0]
        out.append(finding(
            "coverage_no_access_log",
            f"{_n(len(periods), 'period')} with error-log failures but no access-log line "
            f"({n:,} failures; first {first['start']} to {first['end']} on {first['host']}): those "
            "failures cannot be matched with a recovery; ingest the access log of that time.",
            periods=len(periods), failures=n, what=f"{len(periods):,} periods without access log"))
    rejects = int(coverage.get("rejects") or 0)
    if rejects:
        out.append(finding(
            "coverage_rejects",
            f"{_n(rejects, 'input line')} could not be read (see the rejects table: file, line and error).",
            lines=rejects, what=f"{rejects:,} unreadable lines"))
    return out


def _unattributable(m: pd.DataFrame) -> list[dict[str, Any]]:
    un = m[~m["attributable"].to_numpy(dtype=bool)]
    if un.empty:
        return []
    peers = un[un["client_addr"].notna().to_numpy()]
    seen = f": nginx logged only the load balancer as the client ({_examples(peers)})" if len(peers) else ""
    return [finding(
        "unattributable",
        f"{_n(len(un), 'failure')} ({pct(len(un) / len(m))}) cannot be attributed to a client{seen}. "
        "To name the real clients: enable PROXY protocol on the load balancer and "
        "\"listen ... proxy_protocol\" in nginx, then take a capture of port 443 or set "
        "\"error_log ... debug\" to log \"PROXY protocol src:\" lines; or terminate TLS in the "
        "stream module with realip; or use a load balancer that preserves client IPs.",
        _ranked(peers) if len(peers) else [], failures=len(un), reasons=_reason_counts(un))]


def _summary(m: pd.DataFrame, real: pd.DataFrame, real_recovered: np.ndarray, status: str,
             lockout: pd.DataFrame, scsv: pd.DataFrame, unrec: pd.DataFrame, never_in: set[str],
             got_in: pa.Array, *,
             window: str, min_protocol: str, failure_rate: float | None,
             scanners: list[dict[str, Any]], health: dict[str, Any]) -> str:
    """One sentence that answers "is this bad?" with its numbers (SPEC §1 question 1)."""
    reasons = m["reason"].unique()
    what = str(reasons[0]).replace("_", "-") + " failure" if len(reasons) == 1 else "handshake failure"
    lead = _n(len(m), what)
    if len(real):
        lead += f" from {_n(real['client_addr'].nunique(), 'client')}"
    if failure_rate is not None:
        lead += f" ({pct(failure_rate)} of connections)"
    if scanners or health.get("count"):
        lead += f", besides {_beside(scanners, health)}"
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
    rows = pd.concat([lockout[["client_addr", "reason"]], scsv[["client_addr", "reason"]]])
    n_locked = int(rows["client_addr"].nunique()) if len(rows) else 0
    # The two client counts of SPEC §7, as unrecovered_clients counts them in every format:
    # did not recover within the window; of them, never got in at all.
    distinct = _distinct(unrec)
    n_unrec = len(distinct)
    n_never = _never_in(distinct, got_in)
    counts = f"; {_n(n_unrec, 'real client')} did not recover within {window}, " + (
        f"{n_never:,} of them never got in at all" if n_never else "each got in at another time (never got in: 0)")
    if status == "action":
        were = "was" if len(never_in) == 1 else "were"
        return (lead + counts + f"; {len(never_in):,} of those {were} refused for what they offer "
                f"(failures: {_counts(rows)})")
    if status == "attention":
        if n_locked:
            were = "was" if n_locked == 1 else "were"
            return (lead + counts + f"; {n_locked:,} {were} refused for what they offer "
                    f"(failures: {_counts(rows)})")
        un = len(m) - len(real)
        if un / len(m) > ATTENTION_SHARE:
            return lead + f"; {pct(un / len(m))} cannot be attributed to a client"
        rest = unrec[(unrec["family"] != "noise").to_numpy()]
        return lead + f"; {_n(len(rest), 'failure')} from real clients did not recover and need a look"
    non_noise = set(m.loc[(m["family"] != "noise").to_numpy(), "family"])
    if non_noise == {"retry"}:
        # Why they fell back is not assumed: the report adds what the previous attempts show
        # (fallback_clause, from SPEC §7 preceded_by).
        return lead + ": fallback retries that came back, as RFC 7507 intends"
    return lead + ": the failing clients came back; nothing to fix"


def fallback_clause(ev: dict[str, Any] | None) -> str | None:
    """What the summary says of why clients fell back, from ``fallback_evidence`` (numbers
    of SPEC §7 ``preceded_by``), so that it states evidence instead of assuming a glitch."""
    if not ev or not ev.get("fallbacks"):
        return None
    n, net = int(ev["fallbacks"]), int(ev.get("after_network_failure_within_2s", 0))
    text = (f"{net} of {n} {'fallback' if n == 1 else 'fallbacks'} followed a failed first attempt "
            "(peer closed or timed out) from the same client within 2 s")
    seen, resets = int(ev.get("captured_first_attempts", 0)), int(ev.get("captured_reset_within_2s", 0))
    if seen:
        text += f"; the capture saw {resets} of {seen} first attempts reset within 2 s"
    if 2 * net < n:
        text += (f"; for the other {n - net} the logs show no failed first attempt (it did not reach "
                 "nginx, or the client sends TLS_FALLBACK_SCSV on every connection)")
    return text
