"""The client-side sections in every format: the same numbers, log strings escaped (SPEC §7).

Frames: tests/test_whatif.py's hand-built sessions and hellos (facts noted there), plus a
hostile User-Agent (an ANSI escape, HTML and a Markdown table pipe) on the TLS 1.0 client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from logcorr.policies import AWS, MOZILLA
from logcorr.report.policy_render import html_sections, markdown_sections, text_sections
from logcorr.report.policy_sections import client_timelines, policy_sections
from tests.test_whatif import CURRENT, HELLOS, SCANNER, SESSIONS

EVIL = "\x1b[31mEvil<script>alert(1)</script>|x"


@dataclass
class _Report:
    data: dict[str, object]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _report() -> _Report:
    sessions = SESSIONS.copy()
    sessions.loc[sessions["client_addr"] == "198.51.100.10", "user_agent"] = EVIL
    data, frames = policy_sections(sessions, HELLOS, None, current=CURRENT,
                                   policies=[AWS["ELBSecurityPolicy-TLS13-1-2-2021-06"], MOZILLA["mozilla-intermediate"]],
                                   exclude={SCANNER})
    frames["client_timelines"] = client_timelines(["198.51.100.10"], SESSIONS.iloc[:0], sessions, HELLOS, None)
    return _Report(data, frames)


def test_text() -> None:
    lines = text_sections(_report().data)
    table = lines[lines.index("What if the server used another policy") + 1:][:4]
    assert table == [
        "policy                               lose access  may lose access  sessions lost  failing clients let in",
        "-----------------------------------  -----------  ---------------  -------------  ----------------------",
        "ELBSecurityPolicy-TLS13-1-2-2021-06            2                1          36.4%                       2",
        "mozilla-intermediate                           2                1          36.4%                       2"]
    assert "- ssl_certificate ecdsa.crt; ssl_certificate_key ecdsa.key;" in lines
    text = "\n".join(lines)
    assert "\x1b" not in text
    assert "\\x1b[31mEvil<script>" in text


def test_markdown() -> None:
    text = "\n".join(markdown_sections(_report().data))
    assert "| ELBSecurityPolicy-TLS13-1-2-2021-06 | 2 | 1 | 36.4% | 2 |" in text
    assert "<script>" not in text
    assert "Evil&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in text


def test_html_with_drilldown() -> None:
    rep = _report()
    page = html_sections(rep.data, rep.frames)
    assert "<script>" not in page
    assert "Evil&lt;script&gt;" in page
    assert '<details class="client" id="client-198.51.100.10"><summary>198.51.100.10: 0 failures, 3 sessions, 0 captured hellos</summary>' in page
    assert page.count("<td>access.log:") == 3  # file:line of each session row
    assert "<td>TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA</td>" in page  # IANA name beside the OpenSSL one
