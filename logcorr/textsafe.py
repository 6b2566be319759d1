"""Making strings that came from logs safe to print: the escaped code points, as a table.

Every renderer (text, rich terminal, Markdown, HTML) passes log-derived strings through
:func:`clean`, which replaces each code point of :data:`ESCAPED` with a visible escape
(``\\xHH`` below U+0100, else ``\\uHHHH``).  JSON needs no table: it is written with
``ensure_ascii``, so every non-ASCII code point is a ``\\uHHHH`` escape there.  TAB and LF are
not in the table: each renderer turns them into a space or ``\\n`` itself (a table cell and a
paragraph want different things).

Why each range (Unicode 15; UAX #9 for the bidi controls; CVE-2021-42574 "Trojan Source"
for why bidi controls and invisible characters are dangerous in text a person reads):
"""

from __future__ import annotations

import re

ESCAPED: tuple[tuple[int, int, str], ...] = (
    (0x0000, 0x0008, "C0 controls (NUL ... BS)"),
    (0x000B, 0x001F, "C0 controls (VT, FF, CR, ESC, ...): ESC starts terminal escape sequences"),
    (0x007F, 0x007F, "DEL"),
    (0x0080, 0x009F, "C1 controls (0x9B is an 8-bit CSI for terminals)"),
    (0x00AD, 0x00AD, "SOFT HYPHEN (invisible)"),
    (0x061C, 0x061C, "ARABIC LETTER MARK (bidi control)"),
    (0x180E, 0x180E, "MONGOLIAN VOWEL SEPARATOR (invisible)"),
    (0x200B, 0x200D, "ZERO WIDTH SPACE, NON-JOINER, JOINER"),
    (0x200E, 0x200F, "LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK (bidi controls)"),
    (0x2028, 0x2029, "LINE SEPARATOR, PARAGRAPH SEPARATOR (line breaks in some viewers, JS)"),
    (0x202A, 0x202E, "LRE, RLE, PDF, LRO, RLO (bidi embeddings and overrides)"),
    (0x2060, 0x2064, "WORD JOINER and invisible operators"),
    (0x2066, 0x2069, "LRI, RLI, FSI, PDI (bidi isolates)"),
    (0x206A, 0x206F, "deprecated format characters (shaping and digit controls)"),
    (0xD800, 0xDFFF, "lone surrogates (undecodable input; not printable text)"),
    (0xFEFF, 0xFEFF, "ZERO WIDTH NO-BREAK SPACE / byte order mark"),
    (0xFFF9, 0xFFFB, "interlinear annotation controls"),
)
"""``(first, last, why)``: the code points that never reach a report raw."""

__doc__ = (__doc__ or "") + "\n" + "\n".join(
    f"- U+{a:04X}" + (f"–U+{b:04X}" if b != a else "") + f": {why}" for a, b, why in ESCAPED) + "\n"


def _char(code: int) -> str:
    return f"\\u{code:04x}"


_CONTROL = re.compile("[" + "".join(
    _char(a) + ("-" + _char(b) if b != a else "") for a, b, _ in ESCAPED) + "]")


def clean(text: str) -> str:
    """Replace every code point of :data:`ESCAPED` with a visible ``\\xHH`` / ``\\uHHHH`` escape."""
    return _CONTROL.sub(_visible, text)


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
