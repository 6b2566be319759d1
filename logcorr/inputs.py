"""Finding input files, opening them (gzip by content), and deciding their kind by content.

Kinds: ``nginx_error``, ``nginx_access``, ``alb_access``, ``alb_connection``, ``nlb_tls``,
``clb_access``, ``cloudwatch``, ``pcap``, ``nmap`` and ``nginx_conf`` (the server's TLS
profile; nginx.conf also gives the ``log_format`` definitions).  A file's kind is decided from its first
lines (or magic number), never from its name alone (SPEC §2).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from logcorr.errors import InputError
from logcorr.sources import Options

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024
HEAD_LINES = 20

LINE_KINDS = ("nginx_error", "nginx_access", "alb_access", "alb_connection", "nlb_tls", "clb_access")
"""Kinds read line by line (fed in chunks; resumable at a byte offset)."""

# Rotation suffixes, oldest last: access.log.2.gz, access.log.1, access.log-20261126(.gz)
_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?P<n>\d{1,3}|\d{8}(?:\d{2,6})?))?(?P<gz>\.gz)?$")


@dataclass
class Detected:
    kind: str
    fmt: str | None = None  # the access-log format that fits, when kind is nginx_access


@dataclass
class Found:
    """What a walk turned up: the files to read, and what could not be read as a file."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, str, bool]] = field(default_factory=list)  # (path, message, is_error)


def discover(paths: Iterable[str | os.PathLike[str]], exclude: Path | None = None) -> Found:
    """Every regular file under ``paths`` (directories walked), rotated sets oldest first.

    Hidden files, documentation (``README*``, ``*.md``) and the data directory itself are
    left out; a file named explicitly is always tried.  What a walk meets that is not a
    regular file (a FIFO, a socket, a device) is reported once and never opened; a
    subdirectory that cannot be listed is an error (its logs would be missing).
    """
    found = Found()

    def walk_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else Path("?")
        found.problems.append((where, f"{where}: cannot list directory: {exc.strerror or exc}; "
                                      "its files were not read (check its permissions)", True))

    for p in paths:
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=walk_error):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and (exclude is None or Path(root, d).resolve() != exclude.resolve()))
                for f in files:
                    if f.startswith(".") or _is_doc(f):
                        continue
                    full = Path(root, f)
                    what = _not_regular(full)
                    if what:
                        found.problems.append((full, f"{full}: {what}, not read", False))
                    else:
                        found.files.append(full)
        else:
            found.files.append(path)  # missing, unreadable or special files are reported when opened
    found.files = sorted(dict.fromkeys(found.files), key=_rotation_key)
    return found


def _not_regular(path: Path) -> str | None:
    """``None`` for a regular file (or one that vanished); else what it is."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # reported when opened
    return None if stat.S_ISREG(mode) else describe_mode(mode)


def describe_mode(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return f"not a regular file ({name})"
    return "not a regular file"


def _is_doc(name: str) -> bool:
    """Documentation beside logs (a README in a log folder) is not input."""
    return name.lower().endswith((".md", ".rst")) or name.upper().startswith("README")


def _rotation_key(path: Path) -> tuple[str, str, int, int, str]:
    """Sort key: within a rotation set, dated names by date, then .N descending, then live."""
    m = _ROTATION.match(path.name)
    assert m is not None
    n = m.group("n")
    parent, base = str(path.parent), m.group("base")
    if n is None:
        return (parent, base, 2, 0, path.name)
    if len(n) <= 3:
        return (parent, base, 1, -int(n), path.name)
    return (parent, base, 0, int(n), path.name)


class Opened:
    """One input file, opened once: identified by ``fstat`` on this descriptor, read from it.

    Special files are refused before anything is read (the descriptor is opened
    non-blocking, so a FIFO with no writer does not hang).  ``gz`` files are read
    decompressed; offsets are offsets into the decompressed content.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):  # not even opened (a tape device rewinds when opened)
                raise InputError(f"{describe_mode(mode)}, not read", file=str(path))
            fd = os.open(path, flags)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
        try:
            self.st = os.fstat(fd)
            if not stat.S_ISREG(self.st.st_mode):
                raise InputError(f"{describe_mode(self.st.st_mode)}, not read", file=str(path))
            self.raw: BinaryIO = open(fd, "rb", closefd=True)  # noqa: SIM115  (closed by close())
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self._gz: gzip.GzipFile | None = None
        try:
            self.gz = os.pread(fd, 2, 0) == GZIP_MAGIC
            self.head = self._read_head()
        except OSError as exc:
            self.close()
            raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc

    @property
    def identity(self) -> tuple[int, int]:
        return (self.st.st_dev, self.st.st_ino)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_head(self) -> bytes:
        if not self.gz:
            return os.pread(self.fd, HEAD_BYTES, 0)
        out = io.BytesIO()
        try:  # a truncated gzip gives what it has
            stream = self.stream_at(0)
            while out.tell() < HEAD_BYTES and (piece := stream.read1(HEAD_BYTES)):  # type: ignore[attr-defined]
                out.write(piece)
        except (EOFError, OSError, zlib.error):
            self._gz = None
        return out.getvalue()[:HEAD_BYTES]

    def stream_at(self, offset: int) -> BinaryIO:
        """A stream of the (decompressed) content positioned at ``offset`` (short if it ends first)."""
        if not self.gz:
            self.raw.seek(offset)
            return self.raw
        if self._gz is None or self._gz.tell() > offset:
            self.raw.seek(0)
            self._gz = gzip.GzipFile(fileobj=self.raw, mode="rb")
        remaining = offset - self._gz.tell()
        while remaining > 0:
            got = self._gz.read(min(remaining, 1 << 20))
            if not got:
                break
            remaining -= len(got)
        return self._gz  # type: ignore[return-value]

    def read_at(self, offset: int, n: int) -> bytes:
        """``n`` bytes of the content at ``offset`` (fewer at the end; damage reads as the end)."""
        if not self.gz:
            return os.pread(self.fd, n, offset)
        try:
            stream = self.stream_at(offset)
            if self._gz is None or self._gz.tell() != offset:
                return b""
            return stream.read(n)
        except (EOFError, OSError, zlib.error):
            self._gz = None
            return b""

    def size(self) -> int:
        """The content's length now (for gzip: decompressed, which reads it all; -1 if damaged)."""
        if not self.gz:
            return os.fstat(self.fd).st_size
        try:
            stream = self.stream_at(0)
            while stream.read(1 << 20):
                pass
            return self._gz.tell() if self._gz else -1
        except (EOFError, OSError, zlib.error):
            self._gz = None
            return -1

    def idle_for(self) -> float:
        """Seconds since the file was last written."""
        import time

        return time.time() - os.fstat(self.fd).st_mtime


def open_binary(path: Path) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing gzip when the content is gzip."""
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
        if magic == GZIP_MAGIC:
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc


def read_head(path: Path) -> bytes:
    """The first bytes of the (decompressed) content; a truncated gzip gives what it has."""
    with Opened(path) as f:
        return f.head


def sniff_head(f: Opened, limit: int = 16 << 20) -> bytes:
    """The bytes to decide a file's kind from: its head or, when its first line is longer
    than the head, the head that starts after that line (a first line over 64 KiB does not
    make a file "not a log"; the line itself is read and accounted for like any other)."""
    from logcorr.sources.signatures import sniff_pcap

    head = f.head
    if len(head) < HEAD_BYTES or b"\n" in head or sniff_pcap(head):
        return head
    offset = HEAD_BYTES
    while offset < limit:
        block = f.read_at(offset, HEAD_BYTES)
        if not block:
            return head
        cut = block.find(b"\n")
        if cut >= 0:
            return (block[cut + 1:] + f.read_at(offset + len(block), cut + 1))[:HEAD_BYTES]
        offset += len(block)
    return head


def head_lines(head: bytes) -> list[bytes]:
    lines = head.split(b"\n")
    if len(head) >= HEAD_BYTES:  # the last piece may be a cut line
        lines = lines[:-1]
    return [ln for ln in lines[:HEAD_LINES] if ln.strip()]


def detect(path: Path, head: bytes, options: Options) -> Detected:
    """Decide the kind of a file from its first bytes.

    Each reader module is imported when its check is reached (captures and nmap reports by
    their signatures alone): an nginx error log does not load the AWS, capture or access-log
    readers.
    """
    from logcorr.sources import cloudwatch, signatures

    if signatures.sniff_pcap(head[:4]):
        return Detected("pcap")
    if not head.strip():
        raise InputError("empty file", file=str(path))
    if cloudwatch.sniff(head):
        return Detected("cloudwatch")
    if signatures.sniff_nmap(head):
        return Detected("nmap")
    lines = head_lines(head)
    if not lines:
        raise InputError("no complete line in the first 64 KiB: not a log", file=str(path))
    from logcorr.sources import errorlog

    if errorlog.sniff(lines):
        return Detected("nginx_error")
    from logcorr.sources import elblogs

    elb = elblogs.sniff(lines)
    if elb:
        return Detected(elb)
    from logcorr.sources import accesslog

    fmt = accesslog.sniff(lines, options)
    if fmt is not None:
        return Detected("nginx_access", fmt)
    from logcorr.sources import nginxconf

    if nginxconf.sniff(head):
        return Detected("nginx_conf")
    if _looks_binary(head):
        raise InputError("binary data, not a log or a capture we know", file=str(path))
    first = lines[0][:200].decode("utf-8", "backslashreplace")
    raise InputError(f"not a log format logcorr knows (nginx error/access with a known log_format, "
                     f"AWS export or capture); first line: {first!r}", file=str(path), line=1)


def nginx_confs(paths: Iterable[Path], options: Options) -> list[Path]:
    """The nginx configurations among ``paths`` (by content, :func:`detect`), so that their
    ``log_format`` definitions serve the access logs of the same ingest whatever the
    order of the files.  Only regular files are looked at; unreadable ones are left to
    the ingest's own error report."""
    import stat

    from logcorr.sources import nginxconf

    out = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as fh:
            try:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    continue
                head = fh.read(HEAD_BYTES)
            except OSError:
                continue
        if head[:2] == GZIP_MAGIC or not nginxconf.sniff(head):
            continue
        try:
            if detect(path, head, options).kind == "nginx_conf":
                out.append(path)
        except InputError:
            continue
    return out


def _looks_binary(head: bytes) -> bool:
    sample = head[:4096]
    if b"\x00" in sample:
        return True
    text_bytes = sum(1 for b in sample if b in (9, 10, 13) or 32 <= b < 127 or b >= 128)
    return text_bytes < 0.9 * len(sample)


def chunks(fh: BinaryIO, start: int = 0, size: int = 8 << 20) -> Iterator[tuple[bytes, int]]:
    """Yield ``(data, end_offset)`` blocks of whole lines from ``start`` (decompressed offset).

    The last block may end without a newline (the file's last line is unterminated).
    A truncated or corrupt gzip yields every line before the damage (the cut last line
    included, so that it is accounted for), then raises :class:`EOFError`.
    """
    if start:
        if isinstance(fh, gzip.GzipFile):
            remaining = start
            while remaining:
                got = fh.read(min(remaining, 1 << 20))
                if not got:
                    break
                remaining -= len(got)
        else:
            fh.seek(start)
    offset = start
    carry = b""
    damage: Exception | None = None
    # read1 hands out what is decompressed so far: a damaged gzip loses only its tail.
    read = fh.read1 if isinstance(fh, gzip.GzipFile) else fh.read
    while damage is None:
        parts = [carry]
        have = len(carry)
        try:
            # a line longer than ``size`` is carried whole: read as much again as is carried
            # (the carry doubles, so a long line is copied a bounded number of times)
            while have < max(size, 2 * len(carry)):
                piece = read(min(size, 1 << 20))
                if not piece:
                    break
                parts.append(piece)
                have += len(piece)
        except (EOFError, OSError, zlib.error) as exc:
            damage = exc
        if have == len(carry):  # nothing new was read
            break
        # The block ends at the last newline, which is in the last piece that has one (the
        # carry has none): joined once, without a copy of the whole block to cut it.
        k = len(parts) - 1
        while k and (nl := parts[k].rfind(b"\n")) < 0:
            k -= 1
        if not k:
            carry = b"".join(parts)
            continue
        block = b"".join([*parts[:k], parts[k][:nl + 1]])
        carry = b"".join([parts[k][nl + 1:], *parts[k + 1:]])
        offset += len(block)
        yield block, offset
    if carry:
        offset += len(carry)
        yield carry, offset
    if damage is not None:
        raise EOFError(str(damage))
