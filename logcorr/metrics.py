"""Prometheus metrics of ``logcorr watch``: the metric table, the text format, where it goes.

One table (:data:`METRICS`) names every metric with its type, labels and help text; the
README's list is this table.  Values are computed by :mod:`logcorr.watch`; this module
only renders them in the Prometheus text exposition format (version 0.0.4, written with
the standard library) and serves or writes that text:

- ``--metrics-port PORT``: an HTTP server on 127.0.0.1 only (``GET /metrics``);
- ``--metrics-file FILE``: node_exporter's textfile collector form, written atomically
  (a temporary file in the same directory, then ``os.replace``); node_exporter reads only
  files named ``*.prom`` in its ``--collector.textfile.directory``.

Conventions (prometheus.io "Metric and label naming"): ``logcorr_`` prefix, base units in
the name (``_seconds``), counters end in ``_total``; counters are monotonic over all the
data the watch has seen, gauges describe the ``--last`` period of the newest round.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from logcorr.errors import LogcorrError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # counter | gauge
    labels: tuple[str, ...]
    help: str


METRICS: tuple[Metric, ...] = (
    Metric("logcorr_handshake_failures_total", "counter", ("reason", "host"),
           "TLS handshake failures ingested, copies of one failure merged (SPEC 6), by reason code and host."),
    Metric("logcorr_window_failures", "gauge", ("reason", "outcome"),
           "Failures in the --last period by reason and outcome: recovered, unrecovered (real client, "
           "no good session within --window) or unattributable (client unknown)."),
    Metric("logcorr_unrecovered_clients", "gauge", (),
           "Real clients with a failure in the --last period that was not recovered within --window."),
    Metric("logcorr_never_got_in_clients", "gauge", (),
           "Unrecovered real clients with no successful session at all in the data read."),
    Metric("logcorr_scanners", "gauge", (),
           "Addresses classified as scanners in the --last period (never counted as clients)."),
    Metric("logcorr_health_checks", "gauge", (),
           "Load-balancer health checks (connect and close, PROXY v2 LOCAL) in the --last period."),
    Metric("logcorr_window_tls_sessions", "gauge", (),
           "Successful TLS connections in the --last period."),
    Metric("logcorr_verdict_status", "gauge", ("status",),
           "1 for the current verdict status (benign, attention, action), 0 for the others."),
    Metric("logcorr_ingest_lag_seconds", "gauge", (),
           "Now minus the time of the newest event ingested."),
    Metric("logcorr_lines_read_total", "counter", ("kind",),
           "Input lines read from line-based sources, by input kind."),
    Metric("logcorr_rejects_total", "counter", ("kind",),
           "Input lines that could not be parsed (stored in the rejects table), by input kind."),
    Metric("logcorr_input_errors", "gauge", (),
           "Input files the last round could not read."),
    Metric("logcorr_watch_rounds_total", "counter", (),
           "Rounds (ingest, then report) completed by this watch process."),
    Metric("logcorr_watch_round_duration_seconds", "gauge", (),
           "Wall time of the last round."),
    Metric("logcorr_watch_last_round_timestamp_seconds", "gauge", (),
           "Unix time at which the last round finished."),
)
BY_NAME = {m.name: m for m in METRICS}

Labels = tuple[tuple[str, str], ...]
Values = Mapping[str, Mapping[Labels, float]]


def labels(**kw: str) -> Labels:
    """A label set as a hashable, sorted tuple."""
    return tuple(sorted(kw.items()))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def render(values: Values) -> str:
    """Every metric of :data:`METRICS` in the text format; metrics without samples keep
    their HELP/TYPE lines (so a scraper sees the family before its first sample)."""
    out: list[str] = []
    unknown = set(values) - set(BY_NAME)
    if unknown:
        raise LogcorrError(f"metrics not in logcorr.metrics.METRICS: {', '.join(sorted(unknown))}")
    for m in METRICS:
        out.append(f"# HELP {m.name} {_escape_help(m.help)}")
        out.append(f"# TYPE {m.name} {m.type}")
        for lab, value in sorted(values.get(m.name, {}).items()):
            if {k for k, _ in lab} != set(m.labels):
                raise LogcorrError(f"{m.name}: labels {sorted(k for k, _ in lab)} != {sorted(m.labels)}")
            text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in lab)
            out.append(f"{m.name}{{{text}}} {_number(value)}" if text else f"{m.name} {_number(value)}")
    return "\n".join(out) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """Write ``text`` atomically: node_exporter never reads half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LogcorrError(f"cannot write {path}: {exc.strerror or exc}") from exc


class MetricsServer:
    """``GET /metrics`` on 127.0.0.1:``port`` in a daemon thread; :meth:`update` swaps the text."""

    def __init__(self, port: int, text: str = "") -> None:
        self._text = text.encode()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404, "only /metrics is here")
                    return
                body = owner.text()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # no access log on stderr: stderr is for the watch's own messages

        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise LogcorrError(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port} "
                               f"({exc.strerror or exc})") from exc
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)
        self.thread.start()

    def text(self) -> bytes:
        with self._lock:
            return self._text

    def update(self, text: str) -> None:
        with self._lock:
            self._text = text.encode()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def readme_table(metrics: Iterable[Metric] = METRICS) -> str:
    """The README's metric list (Markdown), generated from :data:`METRICS`."""
    rows = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for m in metrics:
        rows.append(f"| `{m.name}` | {m.type} | {', '.join(m.labels) or '-'} | {m.help} |")
    return "\n".join(rows) + "\n"
