"""What-if policies, the successes section and actions, on small hand-built frames.

Where each case's facts come from:
- the current server is the lab's nginx profile (tests/test_profile.py LAB_SUITES: TLS 1.0-1.2,
  ECDHE-ECDSA/RSA-AES128-GCM-SHA256 at 1.2, ECDHE-RSA-AES128-SHA and AES128-SHA from 1.0,
  prime256v1);
- clients: .10 a TLS 1.0-only client (openssl s_client -tls1 against that listener logs
  TLSv1 / ECDHE-RSA-AES128-SHA), .11 an RSA-CBC-only client (-cipher AES128-SHA), .12 a modern
  client, .13 a TLS 1.1 client whose captured ClientHello (legacy_version TLS 1.1, no
  supported_versions) offers nothing newer, .14 a session with no cipher logged, .9 a scanner;
- failing captured clients: .20 TLS 1.3 only (supported_versions [TLS 1.3], server alert
  protocol_version), .21 ECDSA-only (ECDHE-ECDSA-AES256-GCM-SHA384, -AES256-SHA384; server alert
  handshake_failure), .22 3DES only (DES-CBC3-SHA);
- policy contents: reference/tls-policies.md §1.3 and §2.2 (logcorr.policies).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from logcorr.policies import AWS, MOZILLA, parse_policy
from logcorr.profile import ServerProfile
from logcorr.report.actions import ECDSA_DIRECTIVE, build_actions
from logcorr.report.successes import successes, ua_family
from logcorr.whatif import default_policies, ecdsa_only, evaluate, nearest_stricter_aws

CURRENT = ServerProfile(
    protocols={"TLSv1", "TLSv1.1", "TLSv1.2"},
    ciphers={"TLSv1": {0xC013, 0x002F}, "TLSv1.1": {0xC013, 0x002F},
             "TLSv1.2": {0xC02B, 0xC02F, 0xC013, 0x002F}},
    groups={23}, source="nginx.conf")
SCANNER = "203.0.113.9"
T0 = pd.Timestamp("2026-11-26T17:00:00Z")
MSIE8 = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1)"


def _s(client: str, proto: str | None, cipher: str | None, sec: int, *, sni: str | None = None,
       ua: str | None = None, conn: bool | None = True) -> dict[str, object]:
    return {"client_addr": client, "ssl_protocol": proto, "ssl_cipher": cipher, "ts": T0 + pd.Timedelta(seconds=sec),
            "server_name": sni, "user_agent": ua, "is_connection": conn, "source": "nginx_access",
            "status": 200, "file": "access.log", "line": sec}


SESSIONS = pd.DataFrame([
    _s("198.51.100.10", "TLSv1", "ECDHE-RSA-AES128-SHA", 1, ua=MSIE8),
    _s("198.51.100.10", "TLSv1", "ECDHE-RSA-AES128-SHA", 2, ua=MSIE8),
    _s("198.51.100.10", "TLSv1", "ECDHE-RSA-AES128-SHA", 30, ua=MSIE8),
    _s("198.51.100.11", "TLSv1.2", "AES128-SHA", 3),
    _s("198.51.100.11", "TLSv1.2", "AES128-SHA", 4),
    *[_s("198.51.100.12", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 5 + i, sni="www.example.com",
         ua="curl/7.88.1") for i in range(4)],
    _s("198.51.100.12", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 9, conn=False),  # a later request
    _s("198.51.100.13", "TLSv1.1", "ECDHE-RSA-AES128-SHA", 10),
    _s("198.51.100.14", "TLSv1.2", None, 11),
    _s(SCANNER, "TLSv1", "AES128-SHA", 12),
])


def _h(client: str, outcome: str, *, hv: str = "TLSv1.2", versions: list[str] | None = None,
       suites: list[int], groups: list[int] | None = None) -> dict[str, object]:
    return {"client_addr": client, "outcome": outcome, "hello_version": hv, "versions": versions,
            "cipher_suites": suites, "groups": groups or [], "has_fallback_scsv": False}


HELLOS = pd.DataFrame([
    _h("198.51.100.13", "ok", hv="TLSv1.1", suites=[0xC013, 0x002F]),
    _h("198.51.100.20", "protocol_version", versions=["TLSv1.3"], suites=[0x1301, 0x1302, 0x1303], groups=[29]),
    _h("198.51.100.21", "handshake_failure", suites=[0xC02C, 0xC024], groups=[23]),
    _h("198.51.100.22", "handshake_failure", suites=[0x000A]),
])
AWS_1_2 = AWS["ELBSecurityPolicy-TLS13-1-2-2021-06"]


def _clients(entries: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(e["client"], e.get("rule", e.get("blocked_now_by")), e.get("sessions", e.get("failures")))
            for e in entries]


def test_aws_policy() -> None:
    r = evaluate(AWS_1_2, SESSIONS, HELLOS, current=CURRENT, exclude={SCANNER})
    assert (r["clients"], r["sessions"]) == (5, 11)
    assert _clients(r["clients_losing_access"]) == [("198.51.100.10", "protocol", 3),
                                                    ("198.51.100.13", "client_hello", 1)]
    assert _clients(r["clients_maybe_losing_access"]) == [("198.51.100.11", "cipher", 2)]
    assert (r["sessions_losing_share"], r["sessions_maybe_losing_share"], r["clients_losing_share"]) == (
        round(4 / 11, 4), round(2 / 11, 4), 0.4)
    assert _clients(r["failing_clients_gaining_access"]) == [("198.51.100.20", "protocol", 1),
                                                             ("198.51.100.21", "cipher", 1)]
    assert [e["needs_ecdsa_certificate"] for e in r["failing_clients_gaining_access"]] == [False, True]
    assert r["clients_losing_access"][0]["evidence"] == "best protocol TLSv1; the server offered TLSv1.2"
    assert r["clients_losing_access"][0]["last_seen"] == "2026-11-26T17:00:30Z"


def test_directives_and_aws_name_agree() -> None:
    by_name = evaluate(AWS["ELBSecurityPolicy-TLS13-1-2-Res-2021-06"], SESSIONS, HELLOS, current=CURRENT,
                       exclude={SCANNER})
    by_lines = evaluate(parse_policy("ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM"), SESSIONS,
                        HELLOS, current=CURRENT, exclude={SCANNER})
    keys = ["clients_losing_access", "clients_maybe_losing_access", "sessions_losing_share",
            "failing_clients_gaining_access"]
    assert [by_name[k] for k in keys] == [by_lines[k] for k in keys]
    # Res drops EC2 (CBC-SHA384): .21 still gets in with ECDHE-ECDSA-AES256-GCM-SHA384
    assert _clients(by_name["failing_clients_gaining_access"]) == [("198.51.100.20", "protocol", 1),
                                                                   ("198.51.100.21", "cipher", 1)]


def test_mozilla_and_groups() -> None:
    r = evaluate(MOZILLA["mozilla-intermediate"], SESSIONS, HELLOS, current=CURRENT, exclude={SCANNER})
    assert [e["client"] for e in r["clients_losing_access"]] == ["198.51.100.10", "198.51.100.13"]
    # .20 offers only x25519: inside Mozilla's groups; with only secp384r1 it would be refused
    assert [e["client"] for e in r["failing_clients_gaining_access"]] == ["198.51.100.20", "198.51.100.21"]
    strict = parse_policy("ssl_protocols TLSv1.3; ssl_ecdh_curve secp384r1")
    r = evaluate(strict, SESSIONS, HELLOS, current=CURRENT, exclude={SCANNER})
    assert r["failing_clients_gaining_access"] == []
    # every client used TLS 1.2 or lower and the server offered no TLS 1.3: unproven, "may"
    assert [(e["client"], e["rule"]) for e in r["clients_maybe_losing_access"]] == [
        ("198.51.100.11", "protocol_not_offered"), ("198.51.100.12", "protocol_not_offered"),
        ("198.51.100.14", "protocol_not_offered")]
    assert [(e["client"], e["rule"]) for e in r["clients_losing_access"]] == [
        ("198.51.100.10", "protocol"), ("198.51.100.13", "client_hello")]


def test_without_profile_or_capture() -> None:
    r = evaluate(AWS_1_2, SESSIONS, None, current=None, exclude={SCANNER})
    # without the capture .13 is decided by the protocol rule: the server was seen doing TLS 1.2
    assert _clients(r["clients_losing_access"]) == [("198.51.100.10", "protocol", 3),
                                                    ("198.51.100.13", "protocol", 1)]
    assert r["failing_clients_gaining_access"] == []
    r = evaluate(AWS_1_2, SESSIONS, HELLOS, current=None, exclude={SCANNER})
    # the server's refusal alerts stand in for the profile
    assert _clients(r["failing_clients_gaining_access"]) == [("198.51.100.20", "refused", 1),
                                                             ("198.51.100.21", "refused", 1)]


def test_defaults() -> None:
    assert nearest_stricter_aws(CURRENT) is AWS["ELBSecurityPolicy-TLS13-1-1-2021-06"]
    tls12 = ServerProfile(protocols={"TLSv1.2", "TLSv1.3"}, ciphers={
        "TLSv1.2": AWS["ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06"].profile().ciphers["TLSv1.2"],
        "TLSv1.3": {0x1301, 0x1302, 0x1303}}, groups=set(), source="nginx.conf")
    # Ext1 minus nothing is Ext1 itself: the nearest TLS 1.2 policy that drops suites is TLS13-1-2 (11)
    assert nearest_stricter_aws(tls12) is AWS_1_2
    assert [p.name for p in default_policies(CURRENT)] == ["ELBSecurityPolicy-TLS13-1-1-2021-06",
                                                           "mozilla-intermediate"]
    assert [p.name for p in default_policies(None)] == ["ELBSecurityPolicy-TLS13-1-2-2021-06",
                                                        "mozilla-intermediate"]


def test_actions() -> None:
    pols = [AWS_1_2, MOZILLA["mozilla-intermediate"]]
    results = [evaluate(p, SESSIONS, HELLOS, current=CURRENT, exclude={SCANNER}) for p in pols]
    ecdsa = ecdsa_only(HELLOS, current=CURRENT, exclude={SCANNER})
    assert ecdsa == ["198.51.100.21"]
    acts = build_actions(results, pols, CURRENT, ecdsa)
    got = [(a["directive"].split(None, 1)[0], a["policy"], a["locks_out"], a["maybe_locks_out"], a["lets_in"])
           for a in acts]
    assert got == [
        ("ssl_protocols", AWS_1_2.name, 2, 0, 1),
        ("ssl_ciphers", AWS_1_2.name, 0, 1, 1),
        ("ssl_protocols", "mozilla-intermediate", 2, 0, 1),
        ("ssl_ciphers", "mozilla-intermediate", 0, 1, 1),
        ("ssl_ecdh_curve", "mozilla-intermediate", 0, 0, 0),
        ("ssl_certificate", None, 0, 0, 1),
    ]
    assert acts[0]["directive"] == "ssl_protocols TLSv1.2 TLSv1.3;"
    assert acts[0]["clients_locked_out"] == ["198.51.100.10", "198.51.100.13"]
    assert acts[-1]["directive"] == ECDSA_DIRECTIVE
    # a line that is already the server's is not proposed
    same = parse_policy("ssl_protocols TLSv1 TLSv1.1 TLSv1.2; ssl_ciphers AES128-SHA")
    lines = [a["directive"] for a in build_actions([evaluate(same, SESSIONS, HELLOS, current=CURRENT)], [same], CURRENT)]
    assert lines == ["ssl_ciphers AES128-SHA;"]


def test_successes() -> None:
    s = successes(SESSIONS, exclude={SCANNER})
    assert (s["sessions"], s["clients"]) == (11, 5)
    assert s["by_protocol"] == [{"protocol": "TLSv1.2", "sessions": 7, "clients": 3},
                                {"protocol": "TLSv1.1", "sessions": 1, "clients": 1},
                                {"protocol": "TLSv1", "sessions": 3, "clients": 1}]
    assert [(r["cipher"], r["iana"], r["sessions"], r["clients"]) for r in s["by_cipher"]] == [
        ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 4, 1),
        ("ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 4, 2),
        ("AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", 2, 1)]
    assert [(r["protocol"], r["cipher"], r["sessions"]) for r in s["by_protocol_cipher"]] == [
        ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 4), ("TLSv1", "ECDHE-RSA-AES128-SHA", 3),
        ("TLSv1.2", "AES128-SHA", 2), ("TLSv1.1", "ECDHE-RSA-AES128-SHA", 1)]
    assert s["by_sni"] == [{"sni": "www.example.com", "sessions": 4, "clients": 1}]
    assert s["by_user_agent"] == [{"family": "curl", "sessions": 4, "clients": 1},
                                  {"family": "Internet Explorer", "sessions": 3, "clients": 1}]
    assert s["best_protocol"] == [{"protocol": "TLSv1.2", "clients": 3}, {"protocol": "TLSv1.1", "clients": 1},
                                  {"protocol": "TLSv1", "clients": 1}]
    assert s["legacy_clients"] == [
        {"client": "198.51.100.10", "sessions": 3, "best_protocol": "TLSv1", "user_agent": MSIE8,
         "last_seen": "2026-11-26T17:00:30Z"},
        {"client": "198.51.100.13", "sessions": 1, "best_protocol": "TLSv1.1", "user_agent": None,
         "last_seen": "2026-11-26T17:00:10Z"}]


def test_ua_family() -> None:
    # User-Agent strings as these clients send them (their documentation / default headers)
    cases = {"curl/8.5.0": "curl", "okhttp/3.12.1": "OkHttp", "Googlebot/2.1 (+http://www.google.com/bot.html)": "bot",
             "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36": "Chrome",
             "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0": "Firefox",
             "-": None, "FooClient": "other"}
    assert {ua: ua_family(ua) for ua in cases} == cases


@pytest.mark.parametrize("data", ["samples", "fleet", "random"])
@pytest.mark.parametrize("policy", ["ELBSecurityPolicy-TLS13-1-2-2021-06", "mozilla-old",
                                    "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM"])
def test_notebook_what_if_at_scale_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               data: str, policy: str) -> None:
    """``Dataset.what_if`` above ``DUCKDB_FROM_ROWS`` sessions (facts by DuckDB, rows of the
    matches' clients only) gives what the pandas reference gives from every session."""
    import logcorr
    from logcorr.report import pipeline
    from tools.make_fleet import write_fleet_store

    store = tmp_path / "data"
    if data == "samples":
        logcorr.ingest([str(Path(__file__).resolve().parent.parent / "sample_logs")], store)
    elif data == "fleet":
        write_fleet_store(store, 20_000, 2_000)
    else:  # scanner and load-balancer blocks whose addresses have usable sessions: excluded
        from tests.test_facts import random_tables, write_store

        write_store(store, random_tables(9), {"scanner_cidrs": ["198.51.100.21/32"], "lb_cidrs": ["10.0.1.0/30"]})
    ds = logcorr.open(store)
    ds.report(window="5m")  # stores matches (scanners and health checks are left out)
    out = []
    for threshold in (10**12, 0):
        monkeypatch.setattr(pipeline, "DUCKDB_FROM_ROWS", threshold)
        out.append(ds.what_if(policy))
    reference, scaled = out
    assert scaled.data == reference.data
    assert set(scaled.frames) == set(reference.frames)
    for name, frame in reference.frames.items():
        pd.testing.assert_frame_equal(scaled.frames[name].reset_index(drop=True), frame.reset_index(drop=True),
                                      obj=name, check_dtype=False, check_categorical=False)
    assert reference.data["policy"]
