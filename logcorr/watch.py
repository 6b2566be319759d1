"""``logcorr watch``: follow the logs, keep the verdict current, export metrics (issue 13).

A *round* is: :func:`logcorr.ingestion.ingest` over the watched paths (it resumes every
source at its stored offset, follows rotation by content and commits atomically, so a
round adds each new line exactly once, and a stop between or inside rounds loses
nothing), then the report of the ``--last`` period, then the outputs (live view or JSON
lines, ``--html``, metrics, ``--on-change``).

Rounds start every ``--every`` seconds.  After a quiet round (nothing new read), a
file-system event (inotify through watchdog; polling alone when that is unavailable)
starts the next one early, after a short debounce, but never sooner than
:data:`MIN_GAP_S` after the previous round began: a failure after a quiet spell shows
at once, and a steady stream of lines costs one round per ``--every``, not one per write.

Bounded cost.  The report reads only what the ``--last`` period needs: files whose
newest ``ts`` (Parquet statistics, cached per file) is older than the period's start
minus :data:`SLACK_S` are not opened, and rows are filtered on ``ts`` as they
are read (:class:`WindowStore`).  The period ends at the newest event ingested (never in
the future), so a watch over logs copied from elsewhere shows their last hour; the
ingest lag says how far that is from now.  Consequence: ``ever_succeeded`` of a client
looks at the sessions read (the period and :data:`SLACK_S` before it), not at all history.

Counters are monotonic over all the data: failures that slide out of the period are
added to a sealed total (:class:`FailureCounter`); the first round, and a round that
ingests failures older than the period (a back-fill; at most every
:data:`HISTORY_EVERY_S`), count the history before the period with a full report.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pandas as pd

from logcorr import metrics as mx
from logcorr.errors import LogcorrError
from logcorr.period import FailureCounter, FileIndex, WindowStore, count_rows, failure_rows
from logcorr.store import Store

if TYPE_CHECKING:
    from logcorr.ingestion import IngestResult
    from logcorr.report.build import Report

MIN_GAP_S = 1.0  # a burst of events never makes rounds closer than this
DEBOUNCE_S = 0.3  # after the first event, wait this long for the rest of the burst
SLACK_S = 60.0  # read before the period: preceded_by looks 10 s back, scanner bursts a few s
STATUSES = ("benign", "attention", "action")
HISTORY_EVERY_S = 300.0  # a back-fill older than the period is recounted at most this often


@dataclass
class WatchConfig:
    """What ``logcorr watch`` was asked to do (durations in seconds)."""

    paths: list[str]
    data: Path
    every_s: float = 10.0
    window_s: int = 300
    last_s: int = 3600
    min_protocol: str = "TLSv1.2"
    html: Path | None = None
    metrics_port: int | None = None
    metrics_file: Path | None = None
    on_change: list[str] | None = None
    on_change_timeout_s: float = 30.0
    ingest_options: dict[str, Any] = field(default_factory=dict)
    polling: bool = False  # no inotify: rounds every --every only
    rounds: int | None = None  # stop after this many rounds (None: until a signal)
    json_lines: bool | None = None  # None: JSON lines unless stdout is a terminal


def parse_command(text: str) -> list[str]:
    """``--on-change CMD`` as an argument vector: split like a shell would, never run by one."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise LogcorrError(f"--on-change {text!r} does not parse ({exc})") from exc
    if not argv:
        raise LogcorrError("--on-change needs a command")
    return argv


def follow_paths(paths: Sequence[str]) -> list[str]:
    """``paths``, and beside each named file its rotated siblings (``access.log.1``,
    ``access.log.2.gz``, ``access.log-20261126``): lines written just before a rotation are
    in the renamed file, and ingest knows a source by its content, not by its name."""
    out: list[str] = []
    for p in paths:
        out.append(p)
        path = Path(p)
        if path.is_dir() or not path.parent.is_dir():
            continue
        for sib in sorted(path.parent.glob(glob.escape(path.name) + "[.-]*")):
            m = _ROTATED.fullmatch(sib.name[len(path.name):])
            if m and sib.is_file() and str(sib) not in out:
                out.append(str(sib))
    return out


_ROTATED = re.compile(r"[.-](?:\d{1,3}|\d{8}(?:\d{2,6})?)(?:\.gz)?")  # as logcorr.inputs rotation sets


# -- wake-ups -------------------------------------------------------------------------------


class Wakeup:
    """Set on a file-system event under the watched paths (watchdog), or by :meth:`set`."""

    def __init__(self, paths: Sequence[str], ignore: Sequence[Path], polling: bool) -> None:
        self.event = threading.Event()
        self.mode = "polling"
        self.observer: Any = None
        if polling:
            return
        try:
            self._start(paths, [p.resolve() for p in ignore])
        except Exception as exc:  # no inotify (limits, platform): poll, and say so
            self.observer = None
            self.note = f"file-system events unavailable ({type(exc).__name__}: {exc}); polling"
        else:
            self.mode = "events"

    note: str | None = None

    def _start(self, paths: Sequence[str], ignore: list[Path]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        wake = self.event

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return  # reads (our own included) are not news
                where = Path(os.fsdecode(event.src_path)).resolve()
                if where.name.startswith(".") or any(where == p or p in where.parents for p in ignore):
                    return
                wake.set()

        observer = Observer()
        handler = Handler()
        for p in paths:
            path = Path(p)
            if path.is_dir():
                observer.schedule(handler, str(path), recursive=True)
            elif path.parent.is_dir():  # a file: its directory, where rotation happens
                observer.schedule(handler, str(path.parent), recursive=False)
        observer.daemon = True
        observer.start()
        self.observer = observer

    def set(self) -> None:
        self.event.set()

    def close(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)


# -- the loop -------------------------------------------------------------------------------


@dataclass
class RoundState:
    """What one round produced, for the outputs."""

    number: int
    started: float
    duration_s: float
    report: Report | None
    lag_s: float | None
    newest: pd.Timestamp | None
    since: pd.Timestamp | None
    files: int
    new_lines: int
    errors: list[str]
    change: tuple[str | None, str] | None = None


class Watcher:
    """Runs rounds until stopped; ``emit`` receives every :class:`RoundState`."""

    def __init__(self, config: WatchConfig, emit: Callable[[RoundState, Watcher], None],
                 warn: Callable[[str], None]) -> None:
        self.config = config
        self.emit = emit
        self.warn = warn
        self.stop = threading.Event()
        self.index = FileIndex()
        self.counter = FailureCounter()
        self.status: str | None = None
        self.rounds = 0
        self.host = socket.gethostname()
        self.metrics_values: dict[str, dict[mx.Labels, float]] = {}
        self.server: mx.MetricsServer | None = None
        self._errors_seen: set[str] = set()
        self._warned: set[str] = set()
        self._backfill = False
        self._recounted = -HISTORY_EVERY_S
        ignore = [config.data] + [p for p in (config.html, config.metrics_file) if p is not None]
        self.wakeup = Wakeup(config.paths, ignore, config.polling)
        if self.wakeup.note:
            warn(self.wakeup.note)

    # signals: the first asks for a stop after the round; a second one abandons it
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        self.wakeup.set()

    def run(self) -> None:
        cfg = self.config
        if cfg.metrics_port is not None:
            self.server = mx.MetricsServer(cfg.metrics_port, mx.render({}))
        old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, self._on_signal)
        try:
            while not self.stop.is_set():
                begun = time.monotonic()
                state = self.round()
                if state is not None:
                    self.emit(state, self)
                if cfg.rounds is not None and self.rounds >= cfg.rounds:
                    break
                # Events start a round early only after a quiet round: while lines keep
                # arriving, rounds follow --every (a round costs the period's report).
                self._wait(begun, early=state is None or state.new_lines == 0)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            self.wakeup.close()
            if self.server is not None:
                self.server.close()

    def _wait(self, begun: float, early: bool) -> None:
        due = begun + self.config.every_s
        while not self.stop.is_set():
            left = due - time.monotonic()
            if left <= 0:
                return
            if not early:
                self.stop.wait(left)
                continue
            if self.wakeup.event.wait(left) and not self.stop.is_set():
                start = max(begun + min(MIN_GAP_S, self.config.every_s), time.monotonic() + DEBOUNCE_S)
                self.stop.wait(max(0.0, start - time.monotonic()))
                return

    def round(self) -> RoundState | None:
        """Ingest what is new, report the period, update the counters; None when stopped early
        (or when the round could not run: the reason is warned, the next round tries again)."""
        from logcorr.ingestion import ingest

        cfg = self.config
        t0, m0 = time.time(), time.monotonic()
        self.wakeup.event.clear()
        try:
            result = ingest(follow_paths(cfg.paths), cfg.data, **cfg.ingest_options)
            return self._judge(result, t0, m0)
        except LogcorrError as exc:
            if self.rounds == 0:
                raise  # bad options, unusable data directory: stop now, with the message
            self.warn(f"round skipped: {exc}")  # e.g. another run holds the data directory
            return None

    def _judge(self, result: IngestResult, t0: float, m0: float) -> RoundState | None:
        cfg = self.config
        # A live log that is empty (just rotated, nothing written yet) is not an error here.
        errors = [f.error for f in result.files if f.error and not _empty(f.path, f.error)]
        for e in errors:
            if e not in self._errors_seen:
                self.warn(e)
        self._errors_seen = set(errors)  # said again when it comes back after a good round
        for w in result.warnings:
            if w not in self._warned and len(self._warned) < 10_000:
                self._warned.add(w)
                self.warn(w)
        if self.stop.is_set():
            return None  # what was read is committed; the report can wait for the next run

        store = Store(cfg.data)
        new_files = self.index.refresh(store)
        newest = self.index.newest(store)
        now = pd.Timestamp.now(tz="UTC")
        end = min(newest, now) if newest is not None else now
        since = end - pd.Timedelta(seconds=cfg.last_s)
        oldest_new = min((lo for f in new_files if "handshake_failures" in str(f)
                          and (lo := self.index.range(f)[0]) is not None), default=None)
        report = self._report(store, since)
        counts = self._count(store, since, report, oldest_new) if newest is not None else dict(self.counter.exposed)

        self.rounds += 1
        data = report.data
        status = str((data.get("verdict") or {}).get("status") or "benign")
        change = (self.status, status) if self.status is not None and status != self.status else None
        self.status = status
        state = RoundState(self.rounds, t0, time.monotonic() - m0, report,
                           (now - newest).total_seconds() if newest is not None else None,
                           newest, since, len(result.files), sum(f.lines for f in result.files),
                           errors, change)
        self._metrics(state, store, counts)
        if change is not None and cfg.on_change:
            self._hook(state)
        return state

    def _count(self, store: Store, since: pd.Timestamp, report: Report,
               oldest_new: pd.Timestamp | None) -> dict[tuple[str, str], int]:
        """The failure counters after this round (called once events are stored: before,
        the period is only a guess from the clock)."""
        self._backfill |= self.counter.needs_history(oldest_new, since)
        # A recount reads all history: the first at once, later ones at most every
        # HISTORY_EVERY_S (a host whose logs always arrive late must not make every round
        # read everything); meanwhile late failures are missing, never counted twice.
        first = self.counter.sealed_until is None
        if first or (self._backfill and time.monotonic() - self._recounted >= HISTORY_EVERY_S):
            if not first:
                self._recounted = time.monotonic()
            self.counter.set_history(self._history(store, since), since)
            self._backfill = False
        return self.counter.advance(since, failure_rows(report, store, self.host))

    def _report(self, store: Store, since: pd.Timestamp) -> Report:
        from logcorr.api import Dataset

        cfg = self.config
        dataset = Dataset(cfg.data)
        floor = since - pd.Timedelta(seconds=SLACK_S)
        dataset.store = WindowStore(cfg.data, floor, self.index)
        return dataset.report(window=cfg.window_s, min_protocol=cfg.min_protocol,
                              since=since.isoformat(), save_matches=False)

    def _history(self, store: Store, until: pd.Timestamp) -> Counter[tuple[str, str]]:
        """Failures before the period, counted once with the whole data (first round, back-fill)."""
        from logcorr.api import Dataset

        if not store.files("handshake_failures"):
            return Counter()
        rep = Dataset(self.config.data).report(window=self.config.window_s,
                                               min_protocol=self.config.min_protocol,
                                               until=until.isoformat(), save_matches=False)
        return count_rows(failure_rows(rep, store, self.host))

    def _metrics(self, state: RoundState, store: Store, counts: dict[tuple[str, str], int]) -> None:
        data = state.report.data if state.report is not None else {}
        v: dict[str, dict[mx.Labels, float]] = {m.name: {} for m in mx.METRICS}
        for (reason, host), n in counts.items():
            v["logcorr_handshake_failures_total"][mx.labels(reason=reason, host=host)] = n
        for r in data.get("reasons") or []:
            reason = str(r.get("reason"))
            failures, attributable = int(r.get("failures") or 0), int(r.get("attributable") or 0)
            for outcome, n in (("recovered", r.get("recovered")), ("unrecovered", r.get("unrecovered")),
                               ("unattributable", failures - attributable)):
                v["logcorr_window_failures"][mx.labels(reason=reason, outcome=outcome)] = int(n or 0)
        clients = data.get("unrecovered_clients") or []
        v["logcorr_unrecovered_clients"][()] = len(clients)
        v["logcorr_never_got_in_clients"][()] = sum(1 for c in clients if not c.get("ever_succeeded"))
        v["logcorr_scanners"][()] = len(data.get("scanners") or [])
        v["logcorr_health_checks"][()] = int((data.get("health_checks") or {}).get("count") or 0)
        v["logcorr_window_tls_sessions"][()] = int((data.get("totals") or {}).get("tls_sessions") or 0)
        status = str((data.get("verdict") or {}).get("status") or "benign")
        for s in STATUSES:
            v["logcorr_verdict_status"][mx.labels(status=s)] = 1 if s == status else 0
        if state.lag_s is not None:
            v["logcorr_ingest_lag_seconds"][()] = round(state.lag_s, 3)
        lines: Counter[str] = Counter()
        rejects: Counter[str] = Counter()
        for s in store.manifest.get("sources", []):
            lines[str(s.get("kind"))] += int(s.get("lines") or 0)
            rejects[str(s.get("kind"))] += int(s.get("rejected") or 0)
        for kind, n in lines.items():
            v["logcorr_lines_read_total"][mx.labels(kind=kind)] = n
            v["logcorr_rejects_total"][mx.labels(kind=kind)] = rejects[kind]
        v["logcorr_input_errors"][()] = len(state.errors)
        v["logcorr_watch_rounds_total"][()] = state.number
        v["logcorr_watch_round_duration_seconds"][()] = round(state.duration_s, 3)
        v["logcorr_watch_last_round_timestamp_seconds"][()] = round(time.time(), 3)
        self.metrics_values = v
        text = mx.render(v)
        if self.server is not None:
            self.server.update(text)
        if self.config.metrics_file is not None:
            try:
                mx.write_textfile(self.config.metrics_file, text)
            except LogcorrError as exc:
                self.warn(str(exc))

    def _hook(self, state: RoundState) -> None:
        """Run ``--on-change`` with the round's JSON on stdin; its stdout goes to our stderr."""
        cfg = self.config
        assert cfg.on_change is not None
        assert state.change is not None
        env = {**os.environ, "LOGCORR_STATUS": state.change[1],
               "LOGCORR_PREVIOUS_STATUS": state.change[0] or ""}
        try:
            done = subprocess.run(cfg.on_change, input=round_json(state), text=True, env=env,
                                  stdout=sys.stderr, timeout=cfg.on_change_timeout_s, check=False)
        except subprocess.TimeoutExpired:
            self.warn(f"--on-change {cfg.on_change[0]}: killed after {cfg.on_change_timeout_s:g} s")
        except OSError as exc:
            self.warn(f"--on-change {cfg.on_change[0]}: cannot run ({exc.strerror or exc})")
        else:
            if done.returncode != 0:
                self.warn(f"--on-change {cfg.on_change[0]}: exited with status {done.returncode}")


def _empty(path: str, error: str) -> bool:
    """An empty live log (just rotated): not an error while following (ingest says so)."""
    if error == f"{path}: empty file":
        return True
    try:
        return os.stat(path).st_size == 0
    except OSError:
        return False


def round_json(state: RoundState) -> str:
    """The round's report (SPEC §7 object) plus a ``watch`` key, as one line of JSON."""
    data = dict(state.report.data) if state.report is not None else {}
    data["watch"] = {
        "round": state.number,
        "started": pd.Timestamp(state.started, unit="s", tz="UTC").isoformat().replace("+00:00", "Z"),
        "duration_s": round(state.duration_s, 3),
        "since": state.since.isoformat().replace("+00:00", "Z") if state.since is not None else None,
        "newest_event": state.newest.isoformat().replace("+00:00", "Z") if state.newest is not None else None,
        "ingest_lag_s": round(state.lag_s, 3) if state.lag_s is not None else None,
        "files": state.files,
        "lines_read": state.new_lines,
        "input_errors": state.errors,
        "status_change": ({"from": state.change[0], "to": state.change[1]}
                          if state.change is not None else None),
    }
    return json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"), default=str)


def write_html(path: Path, report: Report, refresh_s: int) -> None:
    """The HTML report, reloading itself every ``refresh_s`` seconds, written atomically.

    ``<meta http-equiv="refresh">`` is not governed by the page's CSP (no fetch, no script:
    the browser re-navigates to the same file), so the CSP stays ``default-src 'none'``.
    """
    from logcorr.report.html import render_html

    page = render_html(report)
    meta = f'<meta http-equiv="refresh" content="{int(refresh_s)}">'
    anchor = '<meta charset="utf-8">'
    page = page.replace(anchor, anchor + meta, 1) if anchor in page else page.replace("<head>", "<head>" + meta, 1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise LogcorrError(f"cannot write {path}: {exc.strerror or exc}") from exc
