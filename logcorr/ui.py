"""Terminal output of ``ingest``: a progress bar on a terminal, a per-file summary."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from logcorr.ingestion import IngestResult
from logcorr.textsafe import clean

ProgressFactory = Callable[[int, int], Callable[[int], None]]


@contextlib.contextmanager
def ingest_progress(enabled: bool = True) -> Iterator[ProgressFactory | None]:
    """Yield a progress factory for :func:`logcorr.ingest.ingest`; None when piped or quiet."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:

        def factory(total: int, n_files: int) -> Callable[[int], None]:
            task = bar.add_task(f"ingesting {n_files} files", total=total or None)
            return lambda n: bar.advance(task, n)

        yield factory


def print_ingest_summary(result: IngestResult, file: object = None) -> None:
    """One row per file (kind, lines, parsed, skipped, rejected), then the warnings."""
    out = file or sys.stdout
    # Piped output is read by people and scripts alike: never cut a path to fit 80 columns.
    width = None if getattr(out, "isatty", lambda: False)() else 240
    console = Console(file=out, highlight=False, width=width)  # type: ignore[arg-type]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("file", "left"), ("kind", "left"), ("status", "left"), ("lines", "right"),
                         ("parsed", "right"), ("skipped", "right"), ("rejected", "right")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for f in result.files:
        table.add_row(escape(clean(f.path)), f.kind, f.status, f"{f.lines:,}", f"{f.parsed:,}",
                      f"{f.skipped:,}", f"{f.rejected:,}")
    console.print(table)
    units = {"pcap": "packets", "cloudwatch": "datapoints"}
    counted = sorted({units[f.kind] for f in result.files if f.kind in units})
    if counted:  # "lines" of a capture are packets, of a JSON export datapoints
        console.print(f"lines: {' and '.join(counted)} for " + ", ".join(
            k for k in ("pcap", "cloudwatch") if units[k] in counted) + " files")
    for f in result.files:
        if len(f.formats) > 1:  # a log_format change inside the file (nginx -s reload)
            runs = ", ".join(f"{escape(clean(name))} lines {a:,}-{b:,}" for name, a, b in f.formats)
            console.print(f"{escape(clean(f.path))}: log_format changes: {runs}")
    rows = ", ".join(f"{n} {k}" for k, n in sorted(result.rows.items()) if n)
    console.print(f"stored: {escape(rows) if rows else 'nothing new'}")
    if result.error_tz:
        console.print(f"error-log times read in zone {escape(result.error_tz)}")
    for w in result.warnings:
        console.print(f"warning: {escape(clean(w))}", style="yellow")
