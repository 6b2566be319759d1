"""The successful side (SPEC §7 ``successes``): who got in, with which protocol and suite.

Pure: ``tls_sessions`` rows in, a JSON-ready dict out.  Sessions are those of
:func:`logcorr.whatif.usable_sessions` (real clients; a connection counted once where the
log can tell); the caller passes the addresses that are not real clients (scanners,
health checks, load balancers: SPEC §6 reports them apart).  A client's *best protocol* is
the newest it ever used; ``legacy_clients`` are those whose best is TLS 1.1 or older.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import pandas as pd

from logcorr.policies import OPENSSL_NAMES
from logcorr.profile import protocol_rank, suite_name
from logcorr.whatif import cipher_code, iso, usable_sessions

LEGACY = ("SSLv3", "TLSv1", "TLSv1.1")

# User-agent families, first match wins (our table; the product tokens are the ones each
# client sends, RFC 9110 §10.1.5).  Bots before browsers: crawlers claim to be Mozilla.
UA_FAMILIES: tuple[tuple[str, str], ...] = (
    (r"bot\b|crawler|spider|slurp", "bot"),
    (r"^curl/", "curl"),
    (r"^Wget/", "Wget"),
    (r"okhttp/", "OkHttp"),
    (r"^python-requests/|^python-urllib|aiohttp/|^httpx/", "Python"),
    (r"^Go-http-client/", "Go"),
    (r"^Java/|Apache-HttpClient/", "Java"),
    (r"Dalvik/", "Android (Dalvik)"),
    (r"CFNetwork/", "Apple (CFNetwork)"),
    (r"Edg(e|A|iOS)?/", "Edge"),
    (r"MSIE |Trident/", "Internet Explorer"),
    (r"Firefox/", "Firefox"),
    (r"Chrome/|CriOS/", "Chrome"),
    (r"Safari/", "Safari"),
    (r"^Mozilla/", "other browser"),
)
_UA = [(re.compile(rx, re.IGNORECASE), fam) for rx, fam in UA_FAMILIES]


def ua_family(agent: Any) -> str | None:
    """Family of a logged user agent (None when not logged)."""
    if not isinstance(agent, str) or agent in ("", "-"):
        return None
    for rx, fam in _UA:
        if rx.search(agent):
            return fam
    return "other"


def _names(cipher: str) -> dict[str, str | None]:
    code = cipher_code(cipher)
    return {"cipher": cipher, "iana": suite_name(code) if code is not None else None,
            "openssl": OPENSSL_NAMES.get(code, cipher) if code is not None else cipher}


def _counts(s: pd.DataFrame, keys: list[str]) -> list[dict[str, Any]]:
    sub = s.dropna(subset=keys)
    if sub.empty:
        return []
    g = sub.groupby(keys, sort=False).agg(sessions=("client_addr", "size"), clients=("client_addr", "nunique"))
    rows = [{**dict(zip(keys, k if isinstance(k, tuple) else (k,), strict=True)),
             "sessions": int(r.sessions), "clients": int(r.clients)} for k, r in g.iterrows()]
    rank = (lambda r: -protocol_rank(r["protocol"])) if "protocol" in keys else (lambda r: 0)
    return sorted(rows, key=lambda r: (-r["sessions"], rank(r), str([r[k] for k in keys])))


def best_protocols(s: pd.DataFrame) -> pd.Series:
    """Each client's newest protocol (index: client address)."""
    if s.empty:
        return pd.Series(dtype=object)
    ranks = s["ssl_protocol"].map({p: protocol_rank(str(p)) for p in s["ssl_protocol"].unique()})
    return s.assign(_r=ranks).sort_values(["client_addr", "_r"]).groupby("client_addr")["ssl_protocol"].last()


def successes(sessions: pd.DataFrame, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The ``successes`` section: sessions and distinct real clients per protocol, suite, SNI, UA family."""
    s = usable_sessions(sessions, exclude).rename(columns={"ssl_protocol": "protocol", "ssl_cipher": "cipher"})
    out: dict[str, Any] = {"sessions": len(s), "clients": int(s["client_addr"].nunique()) if len(s) else 0}
    out["by_protocol"] = sorted(_counts(s, ["protocol"]), key=lambda r: -protocol_rank(r["protocol"]))
    s_c = s[s["cipher"].notna() & ~s["cipher"].astype(object).isin(["", "-"])] if "cipher" in s else s.iloc[:0]
    out["by_cipher"] = [{**_names(r["cipher"]), "sessions": r["sessions"], "clients": r["clients"]}
                        for r in _counts(s_c, ["cipher"])]
    out["by_protocol_cipher"] = [{"protocol": r["protocol"], **_names(r["cipher"]), "sessions": r["sessions"],
                                  "clients": r["clients"]} for r in _counts(s_c, ["protocol", "cipher"])]
    if "server_name" in s:
        sni = s[s["server_name"].notna() & ~s["server_name"].astype(object).isin(["", "-"])]
        out["by_sni"] = [{"sni": r["server_name"], "sessions": r["sessions"], "clients": r["clients"]}
                         for r in _counts(sni, ["server_name"])]
    else:
        out["by_sni"] = []
    fam = s["user_agent"].map(ua_family) if "user_agent" in s else pd.Series([None] * len(s), dtype=object)
    out["by_user_agent"] = [{"family": r["family"], "sessions": r["sessions"], "clients": r["clients"]}
                            for r in _counts(s.assign(family=fam.to_numpy()), ["family"])]
    best = best_protocols(s.rename(columns={"protocol": "ssl_protocol"}))
    per = best.value_counts()
    out["best_protocol"] = sorted(({"protocol": str(p), "clients": int(n)} for p, n in per.items()),
                                  key=lambda r: -protocol_rank(r["protocol"]))
    out["legacy_clients"] = legacy_clients(s, best)
    return out


def legacy_clients(s: pd.DataFrame, best: pd.Series) -> list[dict[str, Any]]:
    """Clients whose best protocol is TLS 1.1 or older: address, sessions, user agent (most used), last seen."""
    legacy = [c for c, p in best.items() if p in LEGACY]
    mine = s[s["client_addr"].isin(legacy).to_numpy()]
    if mine.empty:
        return []
    g = mine.groupby("client_addr", sort=True)
    counts, last = g.size(), (g["ts"].max() if "ts" in mine else None)
    agent: dict[str, str] = {}
    if "user_agent" in mine:
        ua = mine.dropna(subset=["user_agent"]).astype({"user_agent": str})
        top = ua.groupby(["client_addr", "user_agent"]).size().reset_index(name="n")
        top = top.sort_values(["client_addr", "n", "user_agent"], ascending=[True, False, True])
        agent = dict(top.drop_duplicates("client_addr")[["client_addr", "user_agent"]].itertuples(index=False))
    rows = [{"client": str(c), "sessions": int(counts[c]), "best_protocol": str(best[c]),
             "user_agent": agent.get(c), "last_seen": iso(last[c]) if last is not None else None}
            for c in counts.index]
    return sorted(rows, key=lambda r: (-r["sessions"], r["client"]))
