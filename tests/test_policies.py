"""Policy tables against reference/tls-policies.md, row by row; parsing --what-if values.

The reference is read here (markdown tables and its JSON appendix), so the test fails when
either side changes without the other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from logcorr import policies, profile
from logcorr.errors import LogcorrError
from logcorr.policies import AWS, MOZILLA, parse_policy

# A copy of ../shared/reference/tls-policies.md (a fresh clone has no ../shared); the test
# below keeps the copy equal to the shared file whenever that file is there.
REFERENCE = Path(__file__).parent / "fixtures" / "tls-policies.md"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "tls-policies.md"
TEXT = REFERENCE.read_text(encoding="utf-8")


def _section(start: str, end: str) -> str:
    return TEXT.split(start, 1)[1].split(end, 1)[0]


def _rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header


def _ticks(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


APPENDIX = json.loads(TEXT.split("```json", 1)[1].split("```", 1)[0])


def test_copy_is_current() -> None:
    shared = SHARED if SHARED.exists() else REFERENCE  # outside the work tree only the copy exists
    assert shared.read_text(encoding="utf-8") == TEXT


def test_suite_groups() -> None:
    rows = _rows(_section("### 1.2 Suite groups", "### 1.3"))
    seen: dict[str, tuple[str, ...]] = {}
    for names, cell in rows:
        parts = cell.split(";")
        for name, part in zip([n.strip() for n in names.split(",")], parts, strict=True):
            if "without" in part:  # "T13 without `X`"
                base, _, gone = part.partition("without")
                seen[name] = tuple(s for s in seen[base.strip()] if s not in _ticks(gone))
            else:
                seen[name] = tuple(_ticks(part))
    assert seen == policies.GROUPS


def test_aws_rows_match_the_reference_table() -> None:
    rows = [r for r in _rows(_section("### 1.3 Predefined policies", "`@clb`")) if not r[0].startswith("**")]
    assert [(*tuple(r[:4]), int(r[4]), r[5]) for r in rows] == list(policies.AWS_ROWS)
    for name, lbs, tls, _suites, n, note in rows:
        p = AWS[policies.AWS_PREFIX + name]
        assert len(p.ciphers) + len(p.tls13) == int(n), name
        assert p.load_balancers == (() if lbs == "?" else tuple(lbs.lower().split())), name
        assert p.protocols == policies.versions_of(tls), name
        assert p.unverified == ("unverified" in note or (name in _section("### 1.5", "## 2.")
                                                        and "unverified" in _bullet_about(name))), name


def _bullet_about(name: str) -> str:
    for line in _section("### 1.5", "## 2.").splitlines():
        if line.startswith(f"- `{name}`"):
            return line
    return ""


def test_aws_policies_match_the_appendix() -> None:
    aws = APPENDIX["aws"]
    in_appendix = {n for n in AWS if "CNSA2" not in n}  # CNSA rows are omitted there (its note)
    assert set(aws) == in_appendix
    for name, entry in aws.items():
        p = AWS[name]
        assert set(entry["protocols"]) == set(p.protocols), name
        assert set(entry["ciphers"]) == set(p.ciphers) | set(p.tls13), name
        assert len(entry["ciphers"]) == len(p.ciphers) + len(p.tls13), name
        assert set(entry.get("lb", ["alb", "nlb"])) == set(p.load_balancers), name


def test_mozilla_rows() -> None:
    rows = {r[0]: r[1:] for r in _rows(_section("### 2.2 Configurations", "Source: MG"))}
    order = [("modern", "6.0"), ("intermediate", "6.0"), ("old", "5.8"), ("intermediate", "5.7"), ("old", "5.7")]
    names = [f"mozilla-{c}" + ("" if policies.MOZILLA_LATEST[c] == g else f"-{g}") for c, g in order]
    assert set(names) == set(MOZILLA)
    groups: list[str] = []
    for i, name in enumerate(names):
        p = MOZILLA[name]
        assert p.protocols == policies.versions_of(rows["Protocols"][i]), name
        m = re.search(r"\((\d+)\)$", rows["TLS ≤1.2 suites"][i])
        assert len(p.ciphers) == (int(m.group(1)) if m else 0), name
        cell = rows["Groups"][i]
        groups = groups if cell == "same" else [g.strip() for g in cell.split(",")]
        assert list(p.groups) == groups, name
        assert set(p.certificates) == set(re.findall(r"ECDSA|RSA", rows["Certificate"][i])), name
        assert p.tls13 == policies.GROUPS[rows["TLS 1.3"][i]], name
    # the 5.7 sets: the 6.0/5.8 ones plus the suites the cells name
    int57 = _ticks(rows["TLS ≤1.2 suites"][3])
    assert MOZILLA["mozilla-intermediate-5.7"].ciphers == MOZILLA["mozilla-intermediate"].ciphers + tuple(int57)
    assert MOZILLA["mozilla-old-5.7"].ciphers == (MOZILLA["mozilla-old"].ciphers + tuple(int57)
                                                  + tuple(_ticks(rows["TLS ≤1.2 suites"][4])))
    for config, entry in APPENDIX["mozilla"].items():
        p = MOZILLA[f"mozilla-{config}"]
        assert (list(p.protocols), list(p.ciphers), list(p.tls13), list(p.groups)) == (
            entry["protocols"], entry["ciphers"], entry["ciphersuites"], entry["groups"]), config
        assert entry["guideline"] == policies.MOZILLA_LATEST[config]


def test_suite_names() -> None:
    rows = _rows(_section("## 3. Cipher suites", "TS and MW agree"))
    low = {"1.3": "TLSv1.3", "1.2": "TLSv1.2", "1.0–1.2": "TLSv1", "SSL3–1.2": "SSLv3"}
    expected = [(o, o if i == "=" else i, int(c, 16), low[t], au) for o, i, c, t, au, _ in rows]
    assert expected == list(policies.SUITES)
    for ossl, iana, code, _, _ in policies.SUITES:  # the profile's name table agrees
        assert (profile.SUITE_NAMES[code], profile.OPENSSL_CODES[ossl]) == (iana, code)
    for entry in APPENDIX["suites"].values():
        assert profile.suite_code(entry["iana"]) == int(entry["code"], 16)


def test_parse_names() -> None:
    assert parse_policy("ELBSecurityPolicy-TLS13-1-2-2021-06") is AWS["ELBSecurityPolicy-TLS13-1-2-2021-06"]
    assert parse_policy("tls13-1-2-2021-06").name == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert parse_policy("mozilla-intermediate") is MOZILLA["mozilla-intermediate"]
    assert parse_policy("Mozilla-Old-5.7").name == "mozilla-old-5.7"


def test_directives_equal_the_aws_policy() -> None:
    # TLS13-1-2-Res-2021-06 = T13 + EG (§1.3); ECDHE+AESGCM is exactly EG in OpenSSL 3.0
    # (measured: openssl ciphers -V -s -tls1_2 ECDHE+AESGCM), TLS 1.3 keeps OpenSSL's default three.
    mine = parse_policy("ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM").profile()
    aws = AWS["ELBSecurityPolicy-TLS13-1-2-Res-2021-06"].profile()
    assert (mine.protocols, mine.ciphers) == (aws.protocols, aws.ciphers)
    assert aws.ciphers["TLSv1.2"] == {0xC02B, 0xC02F, 0xC02C, 0xC030}


def test_profile_per_protocol() -> None:
    p = AWS["ELBSecurityPolicy-TLS-1-1-2017-01"].profile()
    # TLS 1.1 gets only the CBC-SHA suites (EC1 + RC1, §3 "1.0–1.2"/"SSL3–1.2")
    assert p.ciphers["TLSv1.1"] == {0xC009, 0xC013, 0xC00A, 0xC014, 0x002F, 0x0035}
    assert len(p.ciphers["TLSv1.2"]) == 18
    assert MOZILLA["mozilla-modern"].profile().groups == {0x11EC, 29, 23, 24}


def test_directive_lines() -> None:
    assert MOZILLA["mozilla-intermediate"].directives() == [
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;",
        "ssl_ecdh_curve X25519MLKEM768:X25519:prime256v1:secp384r1;"]
    assert AWS["ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04"].directives() == [
        "ssl_protocols TLSv1.3;", "ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384;"]
    assert AWS["ELBSecurityPolicy-2016-08"].directives()[1].startswith("ssl_ciphers @SECLEVEL=0:ECDHE-ECDSA-AES128-GCM")


@pytest.mark.parametrize("value", ["ELBSecurityPolicy-Nope", "mozilla-ancient", "ssl_protocols TLSv9;",
                                   "ssl_protocols TLSv1.2; ssl_bogus x", "ssl_protocols TLSv1.2; ssl_ciphers NOTHING-HERE",
                                   ""])
def test_bad_values(value: str) -> None:
    with pytest.raises(LogcorrError) as info:
        parse_policy(value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("--what-if ")


def test_cli_bad_value_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "logcorr", "report", "--data", str(tmp_path / "none"),
                           "--what-if", "ELBSecurityPolicy-Nope"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("logcorr: --what-if 'ELBSecurityPolicy-Nope': unknown policy; use an AWS")
    assert done.stderr.count("\n") == 1


def test_completion_offers_policy_names() -> None:
    import os
    import subprocess
    import sys

    script = Path(sys.executable).parent / "logcorr"
    env = {**os.environ, "_LOGCORR_COMPLETE": "complete_bash", "COMP_WORDS": "logcorr report --what-if mozilla-i",
           "COMP_CWORD": "3"}
    done = subprocess.run([str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.stdout.split() == ["mozilla-intermediate", "mozilla-intermediate-5.7"]
