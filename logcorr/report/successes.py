"""The successful side (SPEC §7 ``successes``): who got in, with which protocol and suite.

Pure: session facts (:mod:`logcorr.facts`) in, a JSON-ready dict out.  Sessions are the
facts' *usable* ones (real clients; a connection counted once where the log can tell); the
caller's scope leaves out the addresses that are not real clients (scanners, health
checks, load balancers: SPEC §6 reports them apart).  A client's *best protocol* is
the newest it ever used; ``legacy_clients`` are those whose best is TLS 1.1 or older.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import pandas as pd

from logcorr.facts import SessionFacts
from logcorr.policies import OPENSSL_NAMES
from logcorr.profile import protocol_rank, suite_name
from logcorr.whatif import cipher_code, facts_of, iso

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


def _rows(frame: pd.DataFrame, keys: list[str], names: list[str]) -> list[dict[str, Any]]:
    """A ``sessions``/``clients`` fact as rows (keys renamed to ``names``), most sessions first."""
    rows = [{**dict(zip(names, k, strict=True)), "sessions": int(n), "clients": int(c)}
            for *k, n, c in zip(*(frame[x] for x in keys), frame["sessions"], frame["clients"], strict=True)]
    rank = (lambda r: -protocol_rank(r["protocol"])) if "protocol" in names else (lambda r: 0)
    return sorted(rows, key=lambda r: (-r["sessions"], rank(r), str([r[k] for k in names])))


def successes(sessions: pd.DataFrame | SessionFacts, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The ``successes`` section: sessions and distinct real clients per protocol, suite, SNI, UA family.

    ``sessions``: the session facts (:mod:`logcorr.facts`), or ``tls_sessions`` rows, then
    with ``exclude`` (addresses that are not real clients).
    """
    f = facts_of(sessions, exclude)
    out: dict[str, Any] = {"sessions": f.totals["usable_sessions"], "clients": f.totals["usable_clients"]}
    out["by_protocol"] = sorted(_rows(f["protocols"], ["protocol"], ["protocol"]),
                                key=lambda r: -protocol_rank(r["protocol"]))
    out["by_cipher"] = [{**_names(r["cipher"]), "sessions": r["sessions"], "clients": r["clients"]}
                        for r in _rows(f["ciphers"], ["ssl_cipher"], ["cipher"])]
    out["by_protocol_cipher"] = [{"protocol": r["protocol"], **_names(r["cipher"]), "sessions": r["sessions"],
                                  "clients": r["clients"]}
                                 for r in _rows(f["protocol_ciphers"], ["protocol", "ssl_cipher"],
                                                ["protocol", "cipher"])]
    out["by_sni"] = _rows(f["sni"], ["server_name"], ["sni"])
    out["by_user_agent"] = _rows(f["agents"], ["family"], ["family"])
    best = f["best"].sort_values(["clients", "protocol"], ascending=[False, True], kind="stable")
    out["best_protocol"] = sorted(({"protocol": str(p), "clients": int(n)}
                                   for p, n in zip(best["protocol"], best["clients"], strict=True)),
                                  key=lambda r: -protocol_rank(r["protocol"]))
    out["legacy_clients"] = legacy_clients(f["legacy"], f["legacy_agents"])
    return out


def legacy_clients(legacy: pd.DataFrame, agents: pd.DataFrame) -> list[dict[str, Any]]:
    """Clients whose best protocol is TLS 1.1 or older: address, sessions, user agent (most used), last seen."""
    top = agents.sort_values(["client_addr", "sessions", "user_agent"], ascending=[True, False, True])
    agent = dict(top.drop_duplicates("client_addr")[["client_addr", "user_agent"]].itertuples(index=False))
    rows = [{"client": str(c), "sessions": int(n), "best_protocol": str(p), "user_agent": agent.get(c),
             "last_seen": iso(t)}
            for c, p, n, t in zip(legacy["client_addr"], legacy["protocol"], legacy["sessions"], legacy["last_ts"],
                                  strict=True)]
    return sorted(rows, key=lambda r: (-r["sessions"], r["client"]))
