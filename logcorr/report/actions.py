"""The ``actions`` section (SPEC §7): nginx lines to write, with the clients each lets in or locks out.

Each what-if policy becomes its directive lines (:meth:`logcorr.policies.Policy.directives`);
a line is proposed only when it changes the current server (all lines when the current
profile is unknown).  A client is counted against the line that decides it: the
``cause`` of a client losing access (``protocol`` → ``ssl_protocols``, ``cipher`` →
``ssl_ciphers``/``ssl_conf_command``, ``group`` → ``ssl_ecdh_curve``) and, for a failing
client getting in, what blocks it now.  Without a current profile a refused client's cause
is unknown and it is counted on the policy's first line.  Failing clients that offered
only ECDSA-signed suites get a second-certificate action of their own.
"""

from __future__ import annotations

from typing import Any

from logcorr.policies import Policy
from logcorr.profile import ServerProfile, group_code

ECDSA_DIRECTIVE = "ssl_certificate ecdsa.crt; ssl_certificate_key ecdsa.key;"
ECDSA_NOTE = ("a second certificate with an ECDSA (P-256) key beside the RSA one: nginx 1.11.0+ "
              "accepts several ssl_certificate lines and gives each client one it can use")

_CAUSE = {"ssl_protocols": "protocol", "ssl_ciphers": "cipher", "ssl_conf_command": "cipher",
          "ssl_ecdh_curve": "group"}


def _changes(line: str, policy: Policy, current: ServerProfile | None) -> bool:
    if current is None:
        return True
    target = policy.profile()
    word = line.split(None, 1)[0]
    if word == "ssl_protocols":
        return target.protocols != current.protocols
    if word == "ssl_ciphers":
        old = {p: c for p, c in current.ciphers.items() if p != "TLSv1.3" and p in target.protocols}
        new = {p: c for p, c in target.ciphers.items() if p != "TLSv1.3"}
        return old != new
    if word == "ssl_conf_command":
        return target.ciphers.get("TLSv1.3") != current.ciphers.get("TLSv1.3")
    if word == "ssl_ecdh_curve":
        groups = {c for c in (group_code(g) for g in policy.groups) if c is not None}
        return groups != current.groups
    return True


def build_actions(what_if: list[dict[str, Any]], policies: list[Policy], current: ServerProfile | None,
                  ecdsa_clients: list[str] | None = None) -> list[dict[str, Any]]:
    """One action per directive line that would change the server, then the ECDSA certificate."""
    out: list[dict[str, Any]] = []
    for result, policy in zip(what_if, policies, strict=True):
        lines = [ln for ln in policy.directives() if _changes(ln, policy, current)]
        for i, line in enumerate(lines):
            cause = _CAUSE.get(line.split(None, 1)[0], "")
            locked = [e["client"] for e in result["clients_losing_access"] if e["cause"] == cause]
            maybe = [e["client"] for e in result["clients_maybe_losing_access"] if e["cause"] == cause]
            let_in = [e["client"] for e in result["failing_clients_gaining_access"]
                      if e["blocked_now_by"] == cause or (e["blocked_now_by"] == "refused" and i == 0)]
            out.append({"directive": line, "lets_in": len(let_in), "locks_out": len(locked),
                        "maybe_locks_out": len(maybe), "policy": policy.name,
                        "clients_let_in": let_in, "clients_locked_out": locked,
                        "clients_maybe_locked_out": maybe})
    if ecdsa_clients:
        out.append({"directive": ECDSA_DIRECTIVE, "lets_in": len(ecdsa_clients), "locks_out": 0,
                    "maybe_locks_out": 0, "policy": None, "note": ECDSA_NOTE,
                    "clients_let_in": list(ecdsa_clients), "clients_locked_out": [],
                    "clients_maybe_locked_out": []})
    return out
