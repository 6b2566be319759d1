"""CloudWatch exports of load-balancer metrics → ``lb_metrics``.

Three shapes are read (``reference/aws-load-balancers.md`` §7):

* ``aws cloudwatch get-metric-statistics`` JSON: ``{"Label", "Datapoints": [...]}``.  The
  file names the metric (``Label``) but not the load balancer, the namespace or the
  period: the load balancer comes from the ``load_balancer`` option, else from the file
  name (``app.my-alb.50dc6c495c0c9188`` → ``app/my-alb/50dc6c495c0c9188``, else the name
  with the metric and statistic words taken out), else ``"unknown"``.
* ``aws cloudwatch get-metric-data`` JSON: ``{"MetricDataResults": [...], "NextToken"?,
  "Messages"}``.  Metric, load balancer and statistic are read from each result's
  ``Label`` when it names them (``app/my-alb/50dc6c495c0c9188 ClientTLSNegotiationErrorCount``),
  else from its ``Id``; the statistic, which the output never states, defaults to the
  metric's documented one (``Sum`` for counts).
* Console "Download as .csv": no documented layout (§7.4), so nothing is positional: one
  time column (by header, else by content) and one value column per metric label; or a
  long layout with ``label``/``metric``, ``time`` and ``value`` columns.

What the file says wins; the reader's options fill in what it does not say.  The period,
never in the output, is the ``period_s`` option, else the smallest spacing between two
timestamps of the file (one query, one period; null with a warning for a single timestamp).
Timestamps without an offset are UTC; epoch numbers above 1e11 are milliseconds.

Accounting: one "line" per datapoint (JSON) or per row (CSV, header included); a
truncated JSON file keeps every datapoint before the cut and adds one reject for the rest.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from logcorr import schema
from logcorr.errors import InputError
from logcorr.sources import Batch, Options, printable, rejects_table

KIND = "cloudwatch"

ALB, NLB, CLB = "AWS/ApplicationELB", "AWS/NetworkELB", "AWS/ELB"
STATISTICS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")

# Metric → (namespaces, documented statistic); reference §6.1 (ALB-M), §6.2 (NLB-M), §6.3 (CLB).
METRICS: dict[str, tuple[frozenset[str], str]] = {}


def _known(namespaces: tuple[str, ...], statistic: str, *names: str) -> None:
    for name in names:
        old = METRICS.get(name)
        spaces = frozenset(namespaces) | (old[0] if old else frozenset())
        METRICS[name] = (spaces, old[1] if old else statistic)


_known((ALB, NLB), "Sum", "ClientTLSNegotiationErrorCount", "TargetTLSNegotiationErrorCount",
       "ProcessedBytes")
_known((ALB,), "Sum", "NewConnectionCount", "ActiveConnectionCount", "RejectedConnectionCount",
       "TargetConnectionErrorCount", "HTTPCode_ELB_4XX_Count", "HTTPCode_ELB_5XX_Count",
       "HTTPCode_ELB_500_Count", "HTTPCode_ELB_502_Count", "HTTPCode_ELB_503_Count",
       "HTTPCode_ELB_504_Count", "IPv6RequestCount")
_known((ALB, CLB), "Sum", "RequestCount", "DesyncMitigationMode_NonCompliant_Request_Count")
_known((ALB,), "Average", "TargetResponseTime")
_known((NLB,), "Sum", "NewFlowCount", "NewFlowCount_TCP", "NewFlowCount_TLS", "NewFlowCount_UDP",
       "TCP_Client_Reset_Count", "TCP_Target_Reset_Count", "TCP_ELB_Reset_Count",
       "ProcessedBytes_TCP", "ProcessedBytes_TLS", "ProcessedBytes_UDP", "PortAllocationErrorCount")
_known((NLB,), "Average", "ActiveFlowCount", "ActiveFlowCount_TCP", "ActiveFlowCount_TLS",
       "ActiveFlowCount_UDP")
_known((ALB, NLB, CLB), "Average", "HealthyHostCount", "UnHealthyHostCount")
_known((CLB,), "Sum", "BackendConnectionErrors", "HTTPCode_ELB_4XX", "HTTPCode_ELB_5XX",
       "HTTPCode_Backend_2XX", "HTTPCode_Backend_3XX", "HTTPCode_Backend_4XX",
       "HTTPCode_Backend_5XX", "SpilloverCount")
_known((CLB,), "Average", "Latency")
_known((CLB,), "Maximum", "SurgeQueueLength")
_CLB_PREFIX = "EstimatedALB"  # CLB: EstimatedALBActiveConnectionCount, ... (§6.3)

_LB_TOKEN = re.compile(r"^(?:app|net)/[^/\s]+/[0-9a-f]+$")
_LB_IN_NAME = re.compile(r"(app|net)[._/]([A-Za-z0-9-]+)[._/]([0-9a-f]{16})")
_STAT_TOKEN = re.compile(r"^(?:Sum|Average|Minimum|Maximum|SampleCount|[pt]m?\d+(?:\.\d+)?)$")
_TIME_HEADER = re.compile(r"^(?:date\s*)?(?:time(?:stamp)?s?|date(?:time)?)\b", re.I)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_DEC = json.JSONDecoder()


def known_metric(name: str) -> bool:
    """True for a metric of AWS/ApplicationELB, AWS/NetworkELB or AWS/ELB (reference §6)."""
    return name in METRICS or name.startswith(_CLB_PREFIX)


def namespace_of(load_balancer: str, metric: str) -> str | None:
    """The namespace a series belongs to: by the LB id (``app/``, ``net/``), else the metric."""
    if load_balancer.startswith("app/"):
        return ALB
    if load_balancer.startswith("net/"):
        return NLB
    if metric.startswith(_CLB_PREFIX):
        return CLB
    spaces = METRICS.get(metric, (frozenset(), ""))[0]
    return next(iter(spaces)) if len(spaces) == 1 else None


def sniff(head: bytes) -> bool:
    """True for get-metric-statistics / get-metric-data JSON, or a console CSV download."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return b'"Datapoints"' in text or b'"MetricDataResults"' in text
    first = text.split(b"\n", 1)[0].decode("utf-8", "replace")
    if "," not in first:
        return False
    try:
        cells = [c.strip() for c in next(csv.reader([first.replace("\r", "").replace("\x00", "")]), [])]
    except csv.Error:
        return False
    has_time = any(_TIME_HEADER.match(c) for c in cells)
    has_metric = any(known_metric(t) or _LB_TOKEN.match(t) for c in cells for t in _tokens(c))
    return has_time and has_metric


def parse_time(value: Any) -> datetime | None:
    """A CloudWatch timestamp (ISO with ``Z``/``+00:00``/none, or epoch s/ms) as UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return _sane(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip()[:1].isdigit():
        return None
    text = value.strip()
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        from dateutil import parser as dateparser

        try:
            ts = dateparser.parse(text)
        except (ValueError, OverflowError):
            return None
    try:
        return _sane(ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC))
    except (ValueError, OverflowError):  # an offset that takes it out of datetime's range
        return None


# the times a log can hold (schema.TS_MIN_US..TS_MAX_US); outside, a datapoint is a reject
_TS_MIN = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=schema.TS_MIN_US)
_TS_MAX = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=schema.TS_MAX_US)
MAX_PERIOD_S = 31 * 86400  # CloudWatch keeps data for 15 months; a longer "period" is a gap


def _sane(ts: datetime) -> datetime | None:
    return ts if _TS_MIN <= ts < _TS_MAX else None


def _json_string(quoted: str) -> str:
    """A JSON string literal found by a regex in a cut file (raw TABs and bad escapes allowed)."""
    try:
        value = json.loads(quoted, strict=False)
    except ValueError:
        return quoted[1:-1]
    return value if isinstance(value, str) else ""


def _tokens(label: str) -> list[str]:
    return [t.strip("()[],;:\"'") for t in label.split()]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        return float(value) if _NUMBER.match(value.strip()) else None
    return float(value)


class CloudWatchReader:
    """Reads one whole CloudWatch export (JSON or CSV) into ``lb_metrics`` rows."""

    def __init__(self, file: str, options: Options, load_balancer: str | None = None,
                 metric: str | None = None, period_s: int | None = None) -> None:
        self.file = file
        self.options = options
        self.load_balancer = load_balancer
        self.metric = metric
        self.period_s = period_s
        self._rows: list[tuple[Any, ...]] = []
        self._rejects: list[tuple[str, int, str, str, str]] = []
        self._batch = Batch()
        self._unknown: set[str] = set()

    # -- entry point --------------------------------------------------------------------
    def read(self, data: bytes) -> Batch:
        """Parse the whole file; bad datapoints become rejects, an unusable file InputError."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"CloudWatch export is not UTF-8 (byte {exc.start})", file=self.file) from exc
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        if text.lstrip().startswith("{"):
            self._read_json(text)
        else:
            self._read_csv(text)
        return self._finish()

    def _line(self, pos: int) -> int:
        return bisect.bisect_left(self._newlines, pos) + 1

    def _reject(self, line: int, error: str, text: str) -> None:
        self._rejects.append((self.file, line, KIND, error, printable(text.encode())))
        self._batch.lines += 1
        self._batch.rejected += 1

    def _series(self, label: str, id_: str | None = None) -> tuple[str, str, str | None]:
        """(load balancer, metric, statistic) named by a label (or a result's Id)."""
        tokens = _tokens(label)
        lb = next((t for t in tokens if _LB_TOKEN.match(t)), None)
        stat = next((t for t in tokens if _STAT_TOKEN.match(t)), None)
        metric = next((t for t in tokens if known_metric(t)), None)
        if metric is None and id_:
            metric = next((m for m in METRICS if m.lower() == id_.lower()), None)
        if metric is not None and lb is None:
            rest = [t for t in tokens if t not in (metric, stat) and t]
            if len(rest) == 1:  # "my-loadbalancer RequestCount": a Classic LB name
                lb = rest[0]
        if metric is None:
            metric = label.strip() or id_ or self.metric or ""
        if not metric:
            raise InputError("no Label or metric name: cannot tell which metric this is",
                             file=self.file)
        if not known_metric(metric) and metric not in self._unknown:
            self._unknown.add(metric)
            self._batch.warnings.append(
                f"unknown metric {metric!r} (not in AWS/ApplicationELB, AWS/NetworkELB or "
                "AWS/ELB): kept as is")
        if stat is None and metric in METRICS:
            stat = METRICS[metric][1]
        return lb or self._default_lb(metric), metric, stat

    def _default_lb(self, metric: str) -> str:
        if self.load_balancer:
            return self.load_balancer
        stem = Path(self.file).name.split(".json")[0].split(".csv")[0]
        m = _LB_IN_NAME.search(stem)
        if m:
            return f"{m.group(1)}/{m.group(2)}/{m.group(3)}"
        for word in (metric, *STATISTICS):
            stem = stem.replace(word, "")
        stem = re.sub(r"[-_. ]{2,}", "-", stem).strip("-_. ")
        return stem or "unknown"

    def _add(self, ts: datetime, lb: str, metric: str, stat: str | None, value: float,
             unit: str | None, line: int) -> None:
        self._rows.append((ts, lb, metric, stat, value, unit, line))

    # -- JSON ---------------------------------------------------------------------------
    def _read_json(self, text: str) -> None:
        doc: dict[str, Any] | None = None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            self._batch.warnings.append(
                f"truncated or broken JSON at line {exc.lineno} ({exc.msg}): "
                "the datapoints before the break were ingested")
        else:
            if not isinstance(parsed, dict):
                raise InputError("JSON is not an object: not a CloudWatch export", file=self.file)
            doc = parsed
        if (doc is not None and "MetricDataResults" in doc) or (
                doc is None and '"MetricDataResults"' in text):
            self._metric_data(text, doc)
        elif (doc is not None and "Datapoints" in doc) or (doc is None and '"Datapoints"' in text):
            self._metric_statistics(text, doc)
        else:
            raise InputError("JSON without Datapoints or MetricDataResults: not a CloudWatch "
                             "get-metric-statistics / get-metric-data output", file=self.file)

    def _array(self, text: str, key: str, start: int = 0,
               end: int | None = None) -> tuple[list[tuple[Any, int]], int | None, int] | None:
        """Items of the array under ``"key"`` with their offsets, even in a cut file.

        Returns (items, offset after ``]`` or None when the array breaks off, break offset).
        """
        m = re.compile(rf'"{key}"\s*:\s*\[').search(text, start, len(text) if end is None else end)
        if not m:
            return None
        pos = m.end()
        items: list[tuple[Any, int]] = []
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == "]":
                return items, pos + 1, pos
            if items:
                if pos >= len(text) or text[pos] != ",":
                    return items, None, pos
                pos = _skip_ws(text, pos + 1)
            try:
                value, nxt = _DEC.raw_decode(text, pos)
            except json.JSONDecodeError:
                return items, None, pos
            items.append((value, pos))
            pos = nxt

    def _truncated(self, text: str, pos: int, what: str) -> None:
        self._reject(self._line(pos), f"truncated JSON: {what} breaks off here; "
                     "the datapoints before this line were ingested", text[pos:pos + 200])

    def _metric_statistics(self, text: str, doc: dict[str, Any] | None) -> None:
        label = doc.get("Label") if doc is not None else None
        if doc is None:
            m = re.search(r'"Label"\s*:\s*("(?:[^"\\]|\\.)*")', text)
            label = _json_string(m.group(1)) if m else None
        if not isinstance(label, str) or not label.strip():
            label = self.metric or next((m for m in METRICS if m in Path(self.file).name), "")
        lb, metric, _ = self._series(label)
        found = self._array(text, "Datapoints")
        if found is None:
            raise InputError("Datapoints is not a list", file=self.file)
        items, end, broke = found
        if not items and end is not None:
            self._batch.warnings.append(f"{metric}: no datapoints (CloudWatch publishes none "
                                        "while there is no traffic)")
        for dp, pos in items:
            self._datapoint(dp, self._line(pos), lb, metric, text[pos:pos + 200])
        if end is None:
            self._truncated(text, broke, "the Datapoints list")

    def _datapoint(self, dp: Any, line: int, lb: str, metric: str, raw: str) -> None:
        self._batch.lines += 1
        if not isinstance(dp, dict):
            return self._reject_counted(line, "datapoint is not an object", raw)
        ts = parse_time(dp.get("Timestamp"))
        if ts is None:
            return self._reject_counted(line, f"datapoint without a valid Timestamp "
                                        f"({dp.get('Timestamp')!r})", raw)
        stats: list[tuple[str, Any]] = [(s, dp[s]) for s in STATISTICS if s in dp]
        extended = dp.get("ExtendedStatistics")
        if isinstance(extended, dict):
            stats.extend(extended.items())
        if not stats:
            return self._reject_counted(line, "datapoint has no statistic (Sum, Average, "
                                        "Minimum, Maximum, SampleCount or ExtendedStatistics)", raw)
        values = [(s, _number(v)) for s, v in stats]
        bad = [s for s, v in values if v is None]
        if bad:
            return self._reject_counted(line, f"statistic {bad[0]} is not a number", raw)
        unit = dp.get("Unit") if isinstance(dp.get("Unit"), str) else None
        for stat, value in values:
            assert value is not None
            self._add(ts, lb, metric, stat, value, unit, line)
        self._batch.parsed += 1
        return None

    def _reject_counted(self, line: int, error: str, raw: str) -> None:
        """A reject for a datapoint already counted in ``lines``."""
        self._rejects.append((self.file, line, KIND, error, printable(raw.encode())))
        self._batch.rejected += 1

    def _metric_data(self, text: str, doc: dict[str, Any] | None) -> None:
        found = self._array(text, "MetricDataResults")
        if found is None:
            raise InputError("MetricDataResults is not a list", file=self.file)
        items, end, broke = found
        for i, (result, pos) in enumerate(items):
            stop = items[i + 1][1] if i + 1 < len(items) else (end or len(text))
            if not isinstance(result, dict):
                self._reject(self._line(pos), "MetricDataResults entry is not an object",
                             text[pos:pos + 200])
                continue
            self._result(text, pos, stop, result, complete=True)
        if end is None:  # recover what the cut result holds before the break
            m = re.search(r'"Label"\s*:\s*("(?:[^"\\]|\\.)*")', text[broke:])
            id_ = re.search(r'"Id"\s*:\s*("(?:[^"\\]|\\.)*")', text[broke:])
            partial = {"Label": _json_string(m.group(1)) if m else "",
                       "Id": _json_string(id_.group(1)) if id_ else None}
            self._result(text, broke, len(text), partial, complete=False)
        token = doc.get("NextToken") if doc is not None else (
            "?" if '"NextToken"' in text else None)
        if token:
            self._batch.warnings.append("NextToken present: this is one page of a longer "
                                        "answer; fetch the rest with --next-token and ingest it too")
        messages = doc.get("Messages") if doc is not None else None
        for msg in messages if isinstance(messages, list) else []:
            if isinstance(msg, dict):
                self._batch.warnings.append(f"CloudWatch message {msg.get('Code')}: {msg.get('Value')}")

    def _result(self, text: str, start: int, stop: int, result: dict[str, Any],
                *, complete: bool) -> None:
        label = result.get("Label") if isinstance(result.get("Label"), str) else ""
        id_ = result.get("Id") if isinstance(result.get("Id"), str) else None
        lb, metric, stat = self._series(str(label), id_)
        status = result.get("StatusCode")
        if complete and status not in (None, "Complete"):
            self._batch.warnings.append(
                f"{metric}: StatusCode {status}" + (" (more datapoints on the next page)"
                                                    if status == "PartialData" else ""))
        times = self._array(text, "Timestamps", start, stop)
        values = self._array(text, "Values", start, stop)
        t_items = times[0] if times else []
        v_items = values[0] if values else []
        for (t, pos), (v, _) in zip(t_items, v_items, strict=False):
            line = self._line(pos)
            self._batch.lines += 1
            ts, value = parse_time(t), _number(v)
            if ts is None:
                self._reject_counted(line, f"{metric}: timestamp {t!r} is not a time", f"{t} {v}")
            elif value is None:
                self._reject_counted(line, f"{metric}: value {v!r} is not a number", f"{t} {v}")
            else:
                self._add(ts, lb, metric, stat, value, None, line)
                self._batch.parsed += 1
        if len(t_items) != len(v_items) and complete:
            longer, name = (t_items, "Timestamps") if len(t_items) > len(v_items) else (v_items, "Values")
            for x, pos in longer[min(len(t_items), len(v_items)):]:
                self._reject(self._line(pos), f"{metric}: {name} has {len(longer)} entries but "
                             f"the other list {min(len(t_items), len(v_items))}: no pair", str(x))
        if not complete:
            cut = max([p for _, p in t_items + v_items], default=start)
            self._truncated(text, cut, f"result {id_ or label!r}")

    # -- CSV ----------------------------------------------------------------------------
    def _read_csv(self, text: str) -> None:
        # newline="" as the csv module wants; NULs are never part of a CloudWatch CSV
        clean_text = text.replace("\x00", "")
        try:
            rows = [(n + 1, r) for n, r in enumerate(csv.reader(io.StringIO(clean_text, newline="")))]
        except csv.Error as exc:
            raise InputError(f"not a readable CSV ({exc})", file=self.file) from exc
        rows = [(n, r) for n, r in rows if any(c.strip() for c in r)]
        # csv line numbers: a row per physical line (CloudWatch CSVs have no multi-line cells)
        self._batch.lines += len(text.splitlines()) - len(rows)
        self._batch.skipped += len(text.splitlines()) - len(rows)
        if not rows:
            raise InputError("empty CSV", file=self.file)
        (hline, header), body = rows[0], rows[1:]
        header = [h.strip() for h in header]
        self._batch.lines += 1
        self._batch.skipped += 1
        lower = [h.lower() for h in header]
        time_col = next((i for i, h in enumerate(header) if _TIME_HEADER.match(h)), None)
        if time_col is None and body:
            time_col = next((i for i, c in enumerate(body[0][1]) if i < len(header)
                             and not _NUMBER.match(c.strip()) and parse_time(c)), None)
        if time_col is None:
            raise InputError(f"CSV without a time column (header: {','.join(header)!r})",
                             file=self.file, line=hline)
        label_col = next((i for i, h in enumerate(lower) if h in ("label", "metric", "metricname",
                                                                   "metric name")), None)
        value_col = next((i for i, h in enumerate(lower) if h == "value"), None)
        columns: dict[int, tuple[str, str, str | None] | None] = {}
        if label_col is not None and value_col is not None:
            columns[value_col] = None
        else:
            for i, h in enumerate(header):
                if i == time_col:
                    continue
                numeric = all(_NUMBER.match(r[i].strip()) for _, r in body
                              if i < len(r) and r[i].strip())
                if any(known_metric(t) for t in _tokens(h)) or (h and numeric):
                    columns[i] = self._series(h)
                else:
                    self._batch.warnings.append(f"CSV column {i + 1} {h!r} is neither a time nor "
                                                "a metric column: ignored")
            if not columns:
                raise InputError(f"CSV has no metric column (header: {','.join(header)!r})",
                                 file=self.file, line=hline)
        for line, row in body:
            self._csv_row(line, row, header, time_col, columns, label_col)

    def _csv_row(self, line: int, row: list[str], header: list[str], time_col: int,
                 columns: dict[int, tuple[str, str, str | None] | None], label_col: int | None) -> None:
        raw = ",".join(row)
        if len(row) != len(header):
            return self._reject(line, f"{len(row)} cells, the header has {len(header)}", raw)
        ts = parse_time(row[time_col].strip())
        if ts is None:
            return self._reject(line, f"{header[time_col]} {row[time_col]!r} is not a time", raw)
        out = []
        for i, series in columns.items():
            cell = row[i].strip()
            if not cell:
                continue
            value = _number(cell)
            if value is None:
                return self._reject(line, f"{header[i]} {cell!r} is not a number", raw)
            if series is None:
                assert label_col is not None
                series = self._series(row[label_col])
            out.append((series, value))
        self._batch.lines += 1
        if not out:
            self._batch.skipped += 1
            return None
        for (lb, metric, stat), value in out:
            self._add(ts, lb, metric, stat, value, None, line)
        self._batch.parsed += 1
        return None

    # -- output -------------------------------------------------------------------------
    def _finish(self) -> Batch:
        period = self.period_s
        if period is None and self._rows:
            # one query, one period: the smallest spacing of any two timestamps in the file
            ordered = sorted({r[0] for r in self._rows})
            gaps = [int((b - a).total_seconds()) for a, b in itertools.pairwise(ordered)]
            period = min((g for g in gaps if g > 0), default=None)
            if period is None:
                self._batch.warnings.append("a single timestamp: the metric period is unknown")
            elif period > MAX_PERIOD_S:
                self._batch.warnings.append(f"datapoints {period} s apart at the closest: the "
                                            "metric period is unknown")
                period = None
        cols: dict[str, list[Any]] = {k: [] for k in ("ts", "load_balancer", "metric", "statistic",
                                                      "value", "unit", "period_s", "namespace",
                                                      "file", "line")}
        for ts, lb, metric, stat, value, unit, line in sorted(self._rows, key=lambda r: (r[1], r[2], r[0])):
            for k, v in zip(cols, (ts, lb, metric, stat, value, unit,
                                   period,
                                   namespace_of(lb, metric), self.file, line), strict=True):
                cols[k].append(v)
        table = schema.conform("lb_metrics", pa.Table.from_pydict(
            cols, schema=pa.schema([schema.LB_METRICS.field(k) for k in cols])))
        self._batch.tables["lb_metrics"] = table
        self._batch.tables["rejects"] = rejects_table(sorted(self._rejects, key=lambda r: r[1]))
        return self._batch


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
