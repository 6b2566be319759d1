"""Making strings that came from logs safe to print on a terminal."""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, C1 controls (0x80–0x9f, e.g. the 8-bit CSI), and the
# Unicode bidi overrides/isolates that can make an address read backwards (CVE-2021-42574).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Replace terminal control characters with visible ``\\xHH`` escapes."""
    return _CONTROL.sub(_visible, text)


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
