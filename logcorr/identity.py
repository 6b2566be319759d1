"""Which stored source an input file is, and where to resume reading it (SPEC §2).

A source (one entry of the manifest's ``sources``) is one stream of log lines, whatever
names it had: ``access.log``, renamed ``access.log.1``, compressed ``access.log.2.gz``.
It is recognised by:

- ``dev``/``ino``: the file that holds it while that file lives (a rename keeps them);
- ``head_len``/``head_sha``: a hash of its first bytes, over as much as was read, up to
  64 KiB (it grows with the file, so two files whose first KiB are a common header block
  still differ);
- ``bytes``/``tail_len``/``tail_sha``: the offset reached and a hash of the 4 KiB before
  it.  A file whose content at that offset does not hash the same is another file
  (truncated and regrown, a new file with an old file's first lines, a reused inode).

In one run, files whose content is the same stream are read once: the file that holds
the source's inode (the live file) or else the longest; another file whose content is a
prefix of that one is a copy (logrotate ``copy``, a ``.gz`` of a copy) and gives nothing
new; one that is not is another stream, read from its start.  Compressed files already
seen in full are known by ``finals`` (device, inode, size, mtime) and not decompressed again.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from logcorr.inputs import HEAD_BYTES, Opened

TAIL = 4096
MAX_FINALS = 64  # compressed files remembered per source


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_source(kind: str, fmt: str | None) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:16], "kind": kind, "format": fmt, "bytes": 0, "lines": 0,
            "head_len": 0, "head_sha": sha(b""), "parsed": 0, "skipped": 0, "rejected": 0, "paths": []}


def final_key(f: Opened) -> list[int]:
    return [f.st.st_dev, f.st.st_ino, f.st.st_size, f.st.st_mtime_ns]


def head_matches(f: Opened, src: dict[str, Any]) -> bool:
    n = int(src.get("head_len", 0))
    if n <= 0 or len(f.head) < n:
        return False
    memo: dict[int, str] = f.__dict__.setdefault("_head_shas", {})  # one hash per length per run
    if n not in memo:
        memo[n] = sha(f.head[:n])
    return memo[n] == src.get("head_sha")


def content_matches(f: Opened, src: dict[str, Any]) -> bool:
    """``f`` holds the source's stream up to its stored offset (head and tail hash alike)."""
    if not head_matches(f, src):
        return False
    if "tail_sha" not in src:  # a manifest from before tail hashes: the head decides
        return True
    end, n = int(src["bytes"]), int(src["tail_len"])
    if end <= len(f.head):
        return sha(f.head[end - n:end]) == src["tail_sha"] and len(f.head) >= end
    return sha(f.read_at(end - n, n)) == src["tail_sha"]


def is_prefix(a: Opened, b: Opened) -> bool:
    """The content of ``a`` is the start of the content of ``b`` (a copy taken earlier)."""
    size_a, size_b = a.size(), b.size()
    if size_a <= 0 or size_b < 0 or size_a > size_b:
        return False
    n = min(len(a.head), size_a)
    if a.head[:n] != b.head[:n]:
        return False
    k = min(TAIL, size_a)
    return a.read_at(size_a - k, k) == b.read_at(size_a - k, k)


def advance(src: dict[str, Any], f: Opened, end: int, tail: bytes) -> None:
    """Record that the source's stream was consumed up to ``end`` (``tail``: the bytes before it)."""
    src["bytes"] = end
    n = min(HEAD_BYTES, end)
    if len(f.head) < n:  # the file grew while it was read: hash what was read
        f.head = f.read_at(0, HEAD_BYTES)
        f.__dict__.pop("_head_shas", None)
    src["head_len"], src["head_sha"] = n, sha(f.head[:n])
    k = min(TAIL, end, len(tail))
    if end > 0 and k == min(TAIL, end):
        src["tail_len"], src["tail_sha"] = k, sha(tail[-k:] if k else b"")
    else:  # too little in hand: read it back (a plain file; a gzip stream is re-read)
        k = min(TAIL, end)
        src["tail_len"], src["tail_sha"] = k, sha(f.read_at(end - k, k))
    if f.gz:
        src["dev"] = src["ino"] = None
        remember_final(src, f)
    else:
        src["dev"], src["ino"] = f.identity


def remember_final(src: dict[str, Any], f: Opened) -> None:
    """A compressed file seen in full: next time it is known without decompressing it."""
    finals = [k for k in src.get("finals", []) if k != final_key(f)] + [final_key(f)]
    src["finals"] = finals[-MAX_FINALS:]


@dataclass
class Decision:
    """What to do with one opened file in this run."""

    file: Opened
    source: dict[str, Any] | None  # None: a new stream (its kind is not known yet)
    action: str  # read | copy | unchanged
    copy_of: str | None = None


def decide(files: list[Opened], sources: list[dict[str, Any]]) -> list[Decision]:
    """One decision per file, in the order given (rotation sets oldest first)."""
    by_inode = {f.identity: f for f in files if not f.gz}
    known_finals = {tuple(k): s for s in sources for k in s.get("finals", [])}
    primary: dict[int, tuple[Opened, dict[str, Any]]] = {}  # id(source) -> (file read for it, source)
    for s in sources:
        if s.get("ino") is None:
            continue
        f = by_inode.get((int(s.get("dev") or 0), int(s["ino"])))
        if f is not None and content_matches(f, s) and f.size() >= int(s["bytes"]):
            primary[id(s)] = (f, s)
        else:  # the inode now holds something else (truncated, replaced) or is gone
            s["dev"] = s["ino"] = None
    live = {id(f) for f, _ in primary.values()}
    decisions: dict[int, Decision] = {}
    for f in files:
        if id(f) in live:
            continue
        if f.gz and tuple(final_key(f)) in known_finals:
            decisions[id(f)] = Decision(f, known_finals[tuple(final_key(f))], "unchanged")
            continue
        src = max((s for s in sources if content_matches(f, s)), key=lambda s: int(s["bytes"]), default=None)
        if src is None:
            # Not the stream of any source as far as it went: an older copy of a stream read
            # in this run (logrotate `copy`, rotated again), or a stream of its own.
            held = next(((g, t) for g, t in primary.values() if is_prefix(f, g)), None)
            decisions[id(f)] = (Decision(f, held[1], "copy", str(held[0].path)) if held
                                else Decision(f, None, "read"))
            continue
        if src.get("complete"):
            decisions[id(f)] = Decision(f, src, "unchanged")
            continue
        other = primary.get(id(src))
        if other is None:
            primary[id(src)] = (f, src)
        elif is_prefix(f, other[0]):
            decisions[id(f)] = Decision(f, src, "copy", str(other[0].path))
        elif id(other[0]) not in live and is_prefix(other[0], f):
            primary[id(src)] = (f, src)  # the longer one is read; the one chosen before is its copy
            decisions[id(other[0])] = Decision(other[0], src, "copy", str(f.path))
        else:
            decisions[id(f)] = Decision(f, None, "read")  # one head, another stream
    for f, s in primary.values():  # a whole-file kind (a capture) is read once
        decisions[id(f)] = Decision(f, s, "unchanged" if s.get("complete") else "read")
    # New streams: a file that is a prefix of another new one in this run is its copy.
    fresh = [f for f in files if decisions[id(f)].source is None]
    for f in fresh:
        for g in fresh:
            if g is f or decisions[id(f)].action != "read" or decisions[id(g)].action != "read":
                continue
            if f.head == g.head[:len(f.head)] and is_prefix(f, g) and (f.size() < g.size() or id(f) > id(g)):
                decisions[id(f)] = Decision(f, None, "copy", str(g.path))
    return [decisions[id(f)] for f in files]
