"""The escaped code points (logcorr.textsafe.ESCAPED) never reach any renderer raw (issue 12.10)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from logcorr.report.html import render_html
from logcorr.report.render import render_json, render_markdown, render_text
from logcorr.report.terminal import render_rich
from logcorr.textsafe import ESCAPED, clean
from tests.test_html import make_report

# Every code point of the table (a few thousand: the surrogates are most of them).
EVERY = [chr(c) for a, b, _ in ESCAPED for c in range(a, b + 1)]
# The ones the issue found passing raw, and the classic ones.
NAMED = {"\u200f": "RLM", "\u061c": "ALM", "\u200b": "ZWSP", "\u2028": "LINE SEPARATOR",
         "\u2029": "PARAGRAPH SEPARATOR", "\u202e": "RLO", "\u2066": "LRI", "\ufeff": "BOM",
         "\x1b": "ESC", "\x9b": "CSI", "\x00": "NUL", "\x7f": "DEL", "\r": "CR"}


def test_table_covers_the_named_characters() -> None:
    table = {c for a, b, _ in ESCAPED for c in range(a, b + 1)}
    assert {ord(c) for c in NAMED} <= table
    assert {0x09, 0x0A}.isdisjoint(table)  # each renderer handles TAB and LF itself
    assert all(a <= b for a, b, _ in ESCAPED)
    assert "U+2028–U+2029: LINE SEPARATOR" in (__import__("logcorr.textsafe").textsafe.__doc__ or "")


def test_clean_escapes_every_code_point() -> None:
    wrong = []
    for char in EVERY:
        code = ord(char)
        if clean(f"a{char}b") != (f"a\\x{code:02x}b" if code < 0x100 else f"a\\u{code:04x}b"):
            wrong.append(f"U+{code:04X}")
    assert wrong == []
    assert len(EVERY) == 2_145


def test_clean_keeps_ordinary_text() -> None:
    text = "198.51.100.7 café 東京 ‐ – “quoted” \t\n"
    assert clean(text) == text


def _hostile_report() -> object:
    report = make_report(hostile=True)
    # Put the named characters (and a run of every table entry's first and last) everywhere a
    # log string goes: a client, a scanner's evidence, a host, a finding.
    edge = "".join(chr(a) + chr(b) for a, b, _ in ESCAPED if not 0xD800 <= a <= 0xDFFF)
    evil = "x" + "".join(NAMED) + edge + "y"
    data = report.data  # type: ignore[attr-defined]
    data["unrecovered_clients"][0]["client"] = evil
    data["scanners"][0]["evidence"] = evil
    data["scanners"][0]["client"] = evil
    data["hosts"][0]["host"] = evil
    data["health_checks"]["by_lb"] = {evil: 3}
    data["verdict"]["findings"][0]["text"] = evil
    data["verdict"]["summary"] = evil
    return report


def _rendered() -> dict[str, str]:
    report = _hostile_report()
    buf = io.StringIO()
    render_rich(report, Console(file=buf, force_terminal=False, width=200, highlight=False))  # type: ignore[arg-type]
    return {"text": render_text(report), "markdown": render_markdown(report),  # type: ignore[arg-type]
            "html": render_html(report), "terminal": buf.getvalue()}  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "terminal"])
def test_no_renderer_lets_a_table_code_point_through(fmt: str) -> None:
    out = _rendered()[fmt]
    raw = [f"U+{ord(c):04X}" for c in EVERY if c in out and c not in "\r"]
    assert raw == []
    assert "\r" not in out
    for shown in ("\\u200f", "\\u2028", "\\x1b"):
        assert shown in out


def test_json_is_ascii_and_round_trips() -> None:
    report = _hostile_report()
    doc = render_json(report)  # type: ignore[arg-type]
    assert doc.isascii()
    assert json.loads(doc)["hosts"][0]["host"] == report.data["hosts"][0]["host"]  # type: ignore[attr-defined]
