"""``logcorr watch`` (issue 13): rounds over growing and rotated logs, metrics, HTML, events.

- :func:`test_long_run_counts_exactly_and_memory_stays_flat`: watch runs as a subprocess
  over a writer that appends nginx lines with synthetic timestamps (time compressed: 15
  log seconds per wall second), so the ``--last`` period slides many times; the counters
  must equal what was written, exactly, the verdict changes fire ``--on-change``, and RSS
  must not grow once the period is full.
- :func:`lab_watch` (module fixture): a real lab nginx served by the lab's real clients
  (``tests/lab/scenarios.py``, two rotations: ``mv`` + ``USR1``, then gzip) while
  ``logcorr watch`` runs, is stopped with SIGTERM and restarted in the middle; the tests
  check its metrics, report, ``/metrics`` and HTML against the lab's ground truth.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from logcorr import metrics as mx
from logcorr.period import FailureCounter

ROOT = Path(__file__).resolve().parent.parent


# -- helpers ------------------------------------------------------------------------------


class WatchProc:
    """``python -m logcorr watch ...`` with stdout (JSON lines) in a file, stopped by PID."""

    def __init__(self, args: list[str], out: Path) -> None:
        self.out = out
        self.err = out.with_suffix(".stderr")
        env = {k: v for k, v in os.environ.items() if k != "LOGCORR_DATA"}
        env["PYTHONPATH"] = str(ROOT)
        with open(out, "ab") as fo, open(self.err, "ab") as fe:
            self.proc = subprocess.Popen([sys.executable, "-m", "logcorr", "watch", *args],
                                         stdout=fo, stderr=fe, cwd=ROOT, env=env)

    def rounds(self) -> list[dict[str, Any]]:
        text = self.out.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def wait_for(self, predicate: Any, timeout: float = 60.0, start: int = 0) -> dict[str, Any]:
        """The first round (from line ``start`` of the file) for which ``predicate(round)`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.rounds()[start:]:
                if predicate(r):
                    return r
            if self.proc.poll() is not None:
                raise AssertionError(f"watch exited {self.proc.returncode}: {self.err.read_text()}")
            time.sleep(0.1)
        raise AssertionError(f"no such round within {timeout} s; stderr: {self.err.read_text()[-2000:]}")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise
        return self.proc.returncode


def parse_metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus's own parser; samples by name and sorted labels."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def by_label(samples: dict[tuple[tuple[str, str], ...], float], label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in samples.items():
        name = dict(key)[label]
        out[name] = out.get(name, 0.0) + value
    return out


# -- the metric table and the text format ---------------------------------------------------


def test_metric_table_follows_prometheus_conventions() -> None:
    for m in mx.METRICS:
        assert m.name.startswith("logcorr_")
        assert m.type in ("counter", "gauge")
        assert m.name.endswith("_total") == (m.type == "counter"), m.name
        assert m.help.endswith(".")
    assert len({m.name for m in mx.METRICS}) == len(mx.METRICS)


def test_rendered_text_parses_back_with_prometheus_parser() -> None:
    # A reason code of unknown origin with every character the format must escape.
    odd = 'other "x"\\y\nz'
    values = {"logcorr_handshake_failures_total": {mx.labels(reason="timeout", host="web-1"): 3,
                                                   mx.labels(reason=odd, host="web-1"): 1},
              "logcorr_ingest_lag_seconds": {(): 1.25},
              "logcorr_unrecovered_clients": {(): 0}}
    parsed = parse_metrics(mx.render(values))
    assert parsed["logcorr_handshake_failures_total"] == {
        (("host", "web-1"), ("reason", "timeout")): 3.0, (("host", "web-1"), ("reason", odd)): 1.0}
    assert parsed["logcorr_ingest_lag_seconds"] == {(): 1.25}
    assert parsed["logcorr_unrecovered_clients"] == {(): 0.0}
    families = {f.name: f.type for f in text_string_to_metric_families(mx.render(values))}
    # The parser strips _total from counter family names (OpenMetrics style).
    assert families["logcorr_handshake_failures"] == "counter"
    assert families["logcorr_ingest_lag_seconds"] == "gauge"


def test_failure_counter_seals_what_leaves_the_period() -> None:
    import pandas as pd

    def rows(*spec: tuple[int, str]) -> pd.DataFrame:
        return pd.DataFrame({"ts": [pd.Timestamp(1_800_000_000 + s, unit="s", tz="UTC") for s, _ in spec],
                             "reason": [r for _, r in spec], "host": ["h"] * len(spec)})

    t = lambda s: pd.Timestamp(1_800_000_000 + s, unit="s", tz="UTC")  # noqa: E731
    c = FailureCounter()
    c.set_history(Counter({("timeout", "h"): 2}), t(0))
    assert c.advance(t(0), rows((5, "timeout"), (8, "plain_http"))) == {("timeout", "h"): 3, ("plain_http", "h"): 1}
    # The period moves past 5: that failure is sealed, 8 is still in the period.
    assert c.advance(t(6), rows((8, "plain_http"), (20, "timeout"))) == {("timeout", "h"): 4, ("plain_http", "h"): 1}
    assert c.advance(t(30), rows()) == {("timeout", "h"): 4, ("plain_http", "h"): 1}
    # A merge that makes the period count smaller never makes a counter go down.
    assert c.advance(t(30), rows()) == {("timeout", "h"): 4, ("plain_http", "h"): 1}


# -- a long run over time-compressed synthetic traffic -------------------------------------

# Line shapes: the error-log line is nginx 1.22.1 + OpenSSL 3.0 as in sample_logs/error.log
# (tests/lab, handshake-reasons.md); the access line is tests/lab/nginx.py RECOMMENDED_FORMAT.
IST = timezone(timedelta(hours=5, minutes=30))
BASE = datetime(2026, 11, 20, 6, 0, 0, tzinfo=UTC)
SPEEDUP = 15  # log seconds per wall second
LOG_SECONDS = 480
FAIL_FROM, FAIL_UNTIL = 40, 250  # failures of clients that never get in, in these log seconds


def _error_line(t: datetime, conn: int, client: str) -> str:
    wall = t.astimezone(IST).strftime("%Y/%m/%d %H:%M:%S")
    return (f"{wall} [info] 4242#4242: *{conn} SSL_do_handshake() failed (SSL: error:0A000175:SSL "
            f"routines::inappropriate fallback) while SSL handshaking, client: {client}, "
            "server: 0.0.0.0:443\n")


def _access_line(t: datetime, conn: int, client: str) -> str:
    local = t.astimezone(IST).strftime("%d/%b/%Y:%H:%M:%S +0530")
    return (f'{client} - - [{local}] "GET / HTTP/1.1" 200 15 "-" "synthetic/1" TLSv1.3 '
            f'TLS_AES_256_GCM_SHA384 "lab.test" . - {client} {conn} 1 {t.timestamp():.3f} 0.000\n')


@dataclass
class Written:
    failures: int = 0
    access_lines: int = 0
    error_lines: int = 0


def write_traffic(logs: Path, written: Written, stop: threading.Event) -> None:
    """Append one log second of traffic every 1/SPEEDUP wall seconds: 30 sessions, and in
    [FAIL_FROM, FAIL_UNTIL) one fallback failure of a client that never gets in."""
    conn = 1
    start = time.monotonic()
    with open(logs / "access.log", "a", encoding="ascii") as acc, \
            open(logs / "error.log", "a", encoding="ascii") as err:
        for s in range(LOG_SECONDS):
            if stop.is_set():
                return
            t = BASE + timedelta(seconds=s)
            lines = []
            for i in range(30):
                lines.append(_access_line(t + timedelta(milliseconds=30 * i), conn, f"10.1.{i % 7}.{i}"))
                conn += 1
            acc.write("".join(lines))
            acc.flush()
            written.access_lines += len(lines)
            if FAIL_FROM <= s < FAIL_UNTIL:
                err.write(_error_line(t, conn, f"10.2.{s // 200}.{s % 200}"))
                err.flush()
                conn += 1
                written.failures += 1
                written.error_lines += 1
            time.sleep(max(0.0, start + (s + 1) / SPEEDUP - time.monotonic()))


def test_long_run_counts_exactly_and_memory_stays_flat(tmp_path: Path) -> None:
    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    hook_out = tmp_path / "hook.jsonl"
    hook = (f"{sys.executable} -c \"import json,os,sys; d=json.load(sys.stdin); "
            f"open({str(hook_out)!r},'a').write(json.dumps([os.environ['LOGCORR_PREVIOUS_STATUS'], "
            f"os.environ['LOGCORR_STATUS'], d['verdict']['status'], d['watch']['round']])+chr(10))\"")
    metrics_file = tmp_path / "logcorr.prom"
    written = Written()
    stop = threading.Event()
    writer = threading.Thread(target=write_traffic, args=(logs, written, stop))
    (logs / "access.log").touch()
    (logs / "error.log").touch()
    w = WatchProc([str(logs), "--data", str(data), "--every", "1s", "--window", "30s", "--last", "2m",
                   "--error-tz", "+05:30", "--metrics-file", str(metrics_file), "--on-change", hook],
                  tmp_path / "watch.jsonl")
    # (newest log second the watcher has reported, RSS KiB), every 0.2 s: sampled by time,
    # not per round, so that a loaded machine (fewer rounds) still gives enough samples
    rss: list[tuple[float, int]] = []
    try:
        w.wait_for(lambda r: r["watch"]["round"] >= 1)
        writer.start()
        while writer.is_alive():
            rounds = w.rounds()
            newest = rounds[-1]["watch"]["newest_event"] if rounds else None
            if newest:
                s = (datetime.fromisoformat(newest.replace("Z", "+00:00")) - BASE).total_seconds()
                rss.append((s, w.rss_kib()))
            time.sleep(0.2)
        writer.join()
        total_lines = written.access_lines + written.error_lines
        final = w.wait_for(lambda r: r["totals"]["handshake_failures"] == 0
                           and r["watch"]["newest_event"] is not None
                           and _lines(metrics_file) == total_lines, timeout=90)
    finally:
        stop.set()
        code = w.terminate()
    assert code == 0, w.err.read_text()
    # Every line was read once, and every failure counted once, though the 2 m period slid
    # past all of them: the counter is the sealed history plus the period.
    m = parse_metrics(metrics_file.read_text())
    assert by_label(m["logcorr_lines_read_total"], "kind") == {"nginx_access": written.access_lines,
                                                               "nginx_error": written.error_lines}
    assert m["logcorr_handshake_failures_total"] == {
        (("host", _host()), ("reason", "inappropriate_fallback")): float(written.failures)}
    assert written.failures == FAIL_UNTIL - FAIL_FROM
    assert m["logcorr_unrecovered_clients"] == {(): 0.0}
    assert final["verdict"]["status"] == "benign"
    # The verdict changed when the lockouts began and when they left the period: each
    # change ran --on-change once, with the round's report on stdin.
    changes = [(r["watch"]["status_change"]["from"], r["watch"]["status_change"]["to"], r["watch"]["round"])
               for r in w.rounds() if r["watch"]["status_change"]]
    calls = [json.loads(line) for line in hook_out.read_text().splitlines()]
    assert [(a, b, n) for a, b, _, n in calls] == changes
    assert all(b == status for _, b, status, _ in calls)
    assert changes[0][0] == "benign"
    assert changes[-1][1] == "benign"
    assert "action" in {b for _, b, _ in changes}
    # Memory: flat once the period is full (2 m = 120 log s), while traffic goes on.
    early = [kib for s, kib in rss if 130 <= s < 190]
    late = [kib for s, kib in rss if 190 <= s < 250]
    assert len(early) >= 3
    assert len(late) >= 3
    assert statistics.median(late) <= statistics.median(early) * 1.10, (early, late)


def _lines(path: Path) -> int:
    if not path.exists():
        return -1
    m = parse_metrics(path.read_text())
    return int(sum(m.get("logcorr_lines_read_total", {}).values()))


def _host() -> str:
    import socket

    return socket.gethostname()


# -- a real nginx, real clients, rotations, a restart ---------------------------------------


@dataclass
class LabWatch:
    """What the lab run left: truth, logs, the watch's outputs, what was measured on the way."""

    truth: dict[str, Any]
    logs: Path
    data: Path
    metrics_file: Path
    html: Path
    first_rounds: tuple[int, int]  # (round when the client finished, round whose metrics showed it)
    scraped: str  # /metrics over 127.0.0.1 after the mix
    final: dict[str, Any]  # the last JSON report
    html_page: dict[str, Any]  # what Chromium saw
    exit_codes: list[int]


def _metric_rounds(path: Path) -> int:
    if not path.exists():
        return 0
    m = parse_metrics(path.read_text())
    return int(next(iter(m.get("logcorr_watch_rounds_total", {(): 0}).values())))


def _fallbacks(path: Path) -> float:
    if not path.exists():
        return 0.0
    m = parse_metrics(path.read_text())
    return by_label(m.get("logcorr_handshake_failures_total", {}), "reason").get("inappropriate_fallback", 0.0)


def _view_in_chromium(html: Path) -> dict[str, Any]:
    from tests.browser import Browser, require_chromium

    browser = Browser(require_chromium())
    try:
        page = browser.open(html)
        first = page.evaluate("performance.timeOrigin")
        deadline = time.monotonic() + 20
        again = first
        while again == first and time.monotonic() < deadline:  # the page reloads itself
            time.sleep(0.5)
            again = page.evaluate("performance.timeOrigin")
        return {"reloaded": again != first,
                "refresh": page.evaluate("document.querySelector('meta[http-equiv=refresh]').content"),
                "badge": page.evaluate("document.querySelector('.badge').textContent"),
                "text": page.evaluate("document.body.innerText"),
                "errors": page.errors(), "requests": sorted(set(page.requests())),
                "uri": html.resolve().as_uri()}
    finally:
        browser.close()


@pytest.fixture(scope="module")
def lab_watch(tmp_path_factory: pytest.TempPathFactory) -> LabWatch:
    from tests.conftest import require_nginx
    from tests.lab import scenarios
    from tests.lab.nginx import LB_ADDR, free_ports, running

    require_nginx()
    base = tmp_path_factory.mktemp("watchlab")
    prefix, data = base / "lab", base / "data"
    metrics_file, html = base / "logcorr.prom", base / "report.html"
    port = free_ports(1)[0]
    codes: list[int] = []
    with running(prefix) as lab:
        args = [str(lab.logs), "--data", str(data), "--every", "1s", "--window", "30s", "--last", "1h",
                "--lb-cidr", f"{LB_ADDR}/32", "--metrics-port", str(port),
                "--metrics-file", str(metrics_file), "--html", str(html)]
        w = WatchProc(args, base / "watch.jsonl")
        holder: dict[str, Any] = {"w": w}
        try:
            w.wait_for(lambda r: r["watch"]["round"] >= 1)
            # One failure, then: how many rounds until the metrics show it?
            first = scenarios.Player(lab)
            first.step("scsv_always", "direct", "127.0.0.13", "alert:inappropriate_fallback",
                       "inappropriate_fallback", scenarios._pinned("TLSv1.2", scsv=True))
            r0 = _metric_rounds(metrics_file)
            deadline = time.monotonic() + 30
            while _fallbacks(metrics_file) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            r1 = _metric_rounds(metrics_file)

            # The whole mix (two rotations); the watch is stopped and restarted meanwhile.

            def restart() -> None:
                time.sleep(4)
                codes.append(holder["w"].terminate())
                holder["lines"] = len(holder["w"].rounds())
                time.sleep(3)  # down while clients keep coming (and, usually, a rotation)
                holder["w"] = WatchProc(args, base / "watch.jsonl")

            t = threading.Thread(target=restart)
            t.start()
            attempts = scenarios.play(lab)
            t.join()
            w = holder["w"]
            done_at = time.time()
            # A round that began after the last client finished, and several rounds of the
            # restarted watch (the HTML page has been rewritten a few times).
            w.wait_for(lambda r: datetime.fromisoformat(r["watch"]["started"].replace("Z", "+00:00"))
                       .timestamp() > done_at + 1.5, timeout=60)
            w.wait_for(lambda r: r["watch"]["round"] >= 3, timeout=60, start=holder["lines"])
            scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            page = _view_in_chromium(html)
            final = w.rounds()[-1]
        finally:
            for proc in {id(p): p for p in (w, holder.get("w", w))}.values():
                codes.append(proc.terminate())
    truth = scenarios.write_truth(lab, sorted(first.attempts + attempts, key=lambda a: a.started),
                                  prefix / "truth.json")
    return LabWatch(truth, lab.logs, data, metrics_file, html, (r0, r1), scraped, final, page, codes)


@pytest.mark.nginx
def test_failure_shows_in_metrics_within_two_rounds(lab_watch: LabWatch) -> None:
    r0, r1 = lab_watch.first_rounds
    assert 1 <= r1 - r0 <= 2, lab_watch.first_rounds


@pytest.mark.nginx
def test_sigterm_stops_cleanly(lab_watch: LabWatch) -> None:
    assert lab_watch.exit_codes == [0, 0]


@pytest.mark.nginx
def test_counters_match_the_clients_through_rotation_and_restart(lab_watch: LabWatch) -> None:
    from tests.lab.scenarios import expected_report

    want = expected_report(lab_watch.truth, 30)
    m = parse_metrics(lab_watch.metrics_file.read_text())
    counted = by_label(m["logcorr_handshake_failures_total"], "reason")
    assert counted == {k: float(v["failures"]) for k, v in want["reasons"].items()}
    outcome = m["logcorr_window_failures"]
    for reason, v in want["reasons"].items():
        got = {o: outcome[(("outcome", o), ("reason", reason))] for o in ("recovered", "unrecovered")}
        assert got == {"recovered": v["recovered"], "unrecovered": v["unrecovered"]}, reason
    assert m["logcorr_unrecovered_clients"] == {(): float(len(want["unrecovered_clients"]))}


@pytest.mark.nginx
def test_final_report_equals_ground_truth(lab_watch: LabWatch) -> None:
    from tests.lab.scenarios import expected_report

    doc = lab_watch.final
    want = expected_report(lab_watch.truth, 30)
    assert doc["totals"]["handshake_failures"] == want["totals"]["handshake_failures"]
    reasons = {r["reason"]: {k: r[k] for k in ("failures", "attributable", "recovered", "unrecovered")}
               for r in doc["reasons"] if r["failures"]}
    assert reasons == want["reasons"]
    assert sorted(c["client"] for c in doc["unrecovered_clients"]) == want["unrecovered_clients"]
    assert doc["watch"]["input_errors"] == []


@pytest.mark.nginx
def test_nothing_lost_or_stored_twice_against_a_fresh_ingest(lab_watch: LabWatch, tmp_path: Path) -> None:
    """The watched store equals one `logcorr ingest` of the final logs, table by table."""
    from logcorr import Dataset
    from tests.lab.nginx import LB_ADDR

    fresh = tmp_path / "fresh"
    done = subprocess.run([sys.executable, "-m", "logcorr", "ingest", str(lab_watch.logs), "--data", str(fresh),
                           "--lb-cidr", f"{LB_ADDR}/32", "-q"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    watched, ref = Dataset(lab_watch.data), Dataset(fresh)
    for table in ("handshake_failures", "tls_sessions", "proxy_headers", "rejects"):
        a = watched.table(table)[["file", "line"]]
        b = ref.table(table)[["file", "line"]]
        # Paths differ after rotation (a line read from access.log is now in access.log.1):
        # compare what was read, line numbers per source, by count and uniqueness.
        assert len(a) == len(b), table
    keys = ["ts", "client_addr", "reason", "conn_id"]
    fa = watched.table("handshake_failures")[keys].astype(str).sort_values(keys).reset_index(drop=True)
    fb = ref.table("handshake_failures")[keys].astype(str).sort_values(keys).reset_index(drop=True)
    assert fa.equals(fb)
    sk = ["ts", "client_addr", "ssl_protocol", "conn_id"]
    sa = watched.table("tls_sessions")[sk].astype(str).sort_values(sk).reset_index(drop=True)
    sb = ref.table("tls_sessions")[sk].astype(str).sort_values(sk).reset_index(drop=True)
    assert sa.equals(sb)


@pytest.mark.nginx
def test_metrics_endpoint_serves_prometheus_text(lab_watch: LabWatch) -> None:
    families = {f.name: f for f in text_string_to_metric_families(lab_watch.scraped)}
    assert families["logcorr_handshake_failures"].type == "counter"
    assert families["logcorr_ingest_lag_seconds"].type == "gauge"
    m = parse_metrics(lab_watch.scraped)
    total = sum(m["logcorr_handshake_failures_total"].values())
    assert total == sum(r["failures"] for r in lab_watch.final["reasons"])
    assert sum(m["logcorr_verdict_status"].values()) == 1.0
    assert m["logcorr_verdict_status"][(("status", lab_watch.final["verdict"]["status"]),)] == 1.0
    lag = m["logcorr_ingest_lag_seconds"][()]
    assert 0 <= lag < 120


@pytest.mark.nginx
def test_html_reloads_itself_in_chromium(lab_watch: LabWatch) -> None:
    page = lab_watch.html_page
    assert page["reloaded"]
    assert page["refresh"] == "1"
    assert page["badge"] == lab_watch.final["verdict"]["status"]
    assert page["errors"] == []  # no CSP violation, no script error
    assert page["requests"] == [page["uri"]]  # the page itself, reloaded, and nothing else
    assert "TLS handshake failures" in page["text"]


def test_a_named_file_is_followed_through_its_rotation(tmp_path: Path) -> None:
    """``watch logs/access.log``: lines written just before ``mv access.log access.log.1``
    are read from the renamed file; two runs (stop, rotate, start) read every line once."""
    from logcorr import Dataset
    from logcorr.watch import follow_paths

    logs, data = tmp_path / "logs", tmp_path / "data"
    logs.mkdir()
    live = logs / "access.log"

    def write(n: int, first: int) -> None:
        with open(live, "a", encoding="ascii") as fh:
            fh.writelines(_access_line(BASE + timedelta(seconds=i), i, "10.1.0.1") for i in range(first, first + n))

    def run_once() -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if k != "LOGCORR_DATA"}
        done = subprocess.run([sys.executable, "-m", "logcorr", "watch", str(live), "--data", str(data),
                               "--rounds", "1", "--poll"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        doc: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        return doc

    write(100, 0)
    assert run_once()["watch"]["lines_read"] == 100
    write(50, 100)  # written after the last round, then rotated away
    live.rename(logs / "access.log.1")
    write(30, 150)
    (logs / "other.log").write_text("not followed: only access.log and its rotations are\n")
    assert follow_paths([str(live)]) == [str(live), str(logs / "access.log.1")]
    assert run_once()["watch"]["lines_read"] == 80
    lines = Dataset(data).table("tls_sessions")["conn_id"].astype(int).tolist()
    assert sorted(lines) == list(range(180))


def test_on_change_runs_without_a_shell_and_is_killed_after_its_timeout(tmp_path: Path) -> None:
    from logcorr.watch import RoundState, WatchConfig, Watcher, parse_command

    marker = tmp_path / "ran"
    # No shell: "$HOME" and ">" reach the program as they are.
    argv = parse_command(f"{sys.executable} -c 'import sys; open(sys.argv[1], \"w\").write(sys.stdin.read()"
                         f" + \"|\" + \"|\".join(sys.argv[2:]))' {marker} $HOME '>' x")
    warnings: list[str] = []
    cfg = WatchConfig(paths=[str(tmp_path)], data=tmp_path / "data", on_change=argv, polling=True,
                      on_change_timeout_s=5)
    w = Watcher(cfg, lambda s, w: None, warnings.append)
    state = RoundState(1, time.time(), 0.1, None, None, None, None, 0, 0, [], change=("benign", "action"))
    w._hook(state)
    got = marker.read_text()
    assert got.endswith("|$HOME|>|x")
    assert json.loads(got.split("|")[0])["watch"]["status_change"] == {"from": "benign", "to": "action"}
    assert warnings == []
    cfg.on_change = [sys.executable, "-c", "import time; time.sleep(30)"]
    cfg.on_change_timeout_s = 1
    t0 = time.monotonic()
    w._hook(state)
    assert time.monotonic() - t0 < 10
    assert warnings == [f"--on-change {sys.executable}: killed after 1 s"]


def test_live_view_on_a_terminal(tmp_path: Path) -> None:
    """stdout a terminal (a pty): the rich live view, not JSON lines."""
    import pty

    logs = tmp_path / "logs"
    logs.mkdir()
    with open(logs / "error.log", "w", encoding="ascii") as fh:
        fh.write(_error_line(BASE, 7, "10.2.0.1"))
    with open(logs / "access.log", "w", encoding="ascii") as fh:
        fh.write(_access_line(BASE + timedelta(seconds=2), 8, "10.1.0.1"))
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "LOGCORR_DATA"}
    env.update(COLUMNS="140", LINES="60", TERM="xterm")
    proc = subprocess.Popen([sys.executable, "-m", "logcorr", "watch", str(logs), "--data", str(tmp_path / "d"),
                             "--rounds", "2", "--every", "1s", "--error-tz", "+05:30", "--poll"],
                            stdout=slave, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    proc.stderr.close()
    text = out.decode("utf-8", "replace")
    assert "\x1b[" in text  # drawn with escape sequences
    assert "logcorr watch · round 2" in text
    assert "ACTION" in text  # 10.2.0.1 failed once and never got in
    assert "10.2.0.1" in text
    assert "Coverage:" in text
    assert '{"schema"' not in text


def test_a_backfill_older_than_the_period_is_counted(tmp_path: Path) -> None:
    """Failures that arrive already older than ``--last`` are in no report: a recount adds them."""
    logs, data, prom = tmp_path / "logs", tmp_path / "data", tmp_path / "m.prom"
    logs.mkdir()
    with open(logs / "error.log", "w", encoding="ascii") as fh:
        fh.writelines(_error_line(BASE + timedelta(seconds=s), s, "10.2.0.1") for s in range(3))
    with open(logs / "access.log", "w", encoding="ascii") as fh:
        fh.writelines(_access_line(BASE + timedelta(seconds=s), 100 + s, "10.1.0.1") for s in range(10))
    w = WatchProc([str(logs), "--data", str(data), "--every", "1s", "--last", "2m", "--error-tz", "+05:30",
                   "--metrics-file", str(prom)], tmp_path / "watch.jsonl")
    try:
        w.wait_for(lambda r: r["watch"]["round"] >= 1)
        assert by_label(parse_metrics(prom.read_text())["logcorr_handshake_failures_total"], "reason") == {
            "inappropriate_fallback": 3.0}
        # Yesterday's rotated log turns up (copied back from an archive, say).
        old = BASE - timedelta(days=1)
        with open(logs / "error.log-20261119", "w", encoding="ascii") as fh:
            fh.writelines(_error_line(old + timedelta(seconds=s), 1000 + s, "10.2.0.9") for s in range(5))
        w.wait_for(lambda r: r["watch"]["lines_read"] == 5, start=1)
        w.wait_for(lambda r: True, start=len(w.rounds()))  # the metrics file of that round is written
        m = parse_metrics(prom.read_text())
        assert by_label(m["logcorr_handshake_failures_total"], "reason") == {"inappropriate_fallback": 8.0}
    finally:
        assert w.terminate() == 0
