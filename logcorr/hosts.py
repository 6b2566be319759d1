"""Which nginx instance a file comes from (SPEC §2 ``--host``), and this machine's zone.

Rule, in order:

1. ``--host NAME`` names every file of the run.
2. The directory layout: the first path part *below* the ``PATH`` argument that holds the
   file and is not a generic folder name (``logcorr ingest fleet/`` with
   ``fleet/web-1/var/log/nginx/access.log`` → ``web-1``; ``logs/web-2/error.log`` → ``web-2``).
3. The ``PATH`` argument's own name when nothing below it names a host and it is not generic
   (``logcorr ingest web-1/ web-2/`` → ``web-1`` and ``web-2``; a file argument counts as
   its folder: ``logcorr ingest web-1/access.log`` → ``web-1``).
4. This machine's hostname (``logcorr ingest /var/log/nginx`` on the nginx host).

Generic names are the folders every host has (``var``, ``log``, ``nginx`` ...) and anything
that says "logs" (``sample_logs``, ``nginx-logs``).  The rule looks only at the file's own
path and the argument it was found under, so the same files get the same hosts however
they are grouped into ``ingest`` runs.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GENERIC = frozenset({
    "", ".", "..", "var", "log", "logs", "nginx", "apache", "apache2", "httpd", "www", "srv",
    "opt", "tmp", "home", "data", "export", "exports", "archive", "archives", "backup",
    "backups", "rotated", "old", "current", "latest", "error", "access", "stream", "http",
    "https", "tls", "ssl", "pcap", "pcaps", "captures", "aws", "elb", "alb", "nlb", "cloudwatch",
})
_LOGS_WORD = re.compile(r"(?:^|[-_.])logs?(?:$|[-_.\d])", re.IGNORECASE)


def is_generic(name: str) -> bool:
    """True for folder names that every nginx host has, which therefore name none."""
    return name.lower() in GENERIC or bool(_LOGS_WORD.search(name))


def machine_host() -> str:
    """This machine's short hostname (``web-1`` of ``web-1.example.com``)."""
    name = socket.gethostname() or "localhost"
    return name.split(".")[0] or name


def layout_host(file: Path, root: Path) -> str | None:
    """The host the layout under ``root`` (a PATH argument) names for ``file``, if any."""
    base = root if root.is_dir() else root.parent
    try:
        below = file.parent.resolve().relative_to(base.resolve()).parts
    except ValueError:
        below = ()
    for part in below:
        if not is_generic(part):
            return part
    own = base.resolve().name
    return own if own and not is_generic(own) else None


def host_of(file: Path, roots: list[Path], given: str | None) -> str:
    """The host of ``file`` found under one of ``roots`` (rules in the module docstring)."""
    if given:
        return given
    resolved = file.resolve()
    best: Path | None = None
    for root in roots:
        r = root.resolve()
        inside = resolved == r or r in resolved.parents
        if inside and (best is None or len(r.parts) > len(best.resolve().parts)):
            best = root
    if best is not None:
        found = layout_host(file, best)
        if found:
            return found
    return machine_host()


def machine_zone() -> tzinfo:
    """This machine's zone: ``$TZ`` or ``/etc/localtime`` as an IANA zone, else the offset now."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            target = os.readlink("/etc/localtime")
            name = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
        except OSError:
            name = ""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz
