"""Making strings that came from logs safe to print on a terminal."""

from __future__ import annotations

import re

# C0 controls except \t and \n, DEL, and C1 controls (0x80–0x9f, e.g. the 8-bit CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Replace terminal control characters with visible ``\\xHH`` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
