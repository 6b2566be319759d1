"""The ``ingest`` command without typer: a progress bar on a terminal, a per-file summary.

:func:`ingest_command` is the whole command after option parsing; ``logcorr.cli`` (typer)
and the fast path in ``logcorr.entry`` both call it, so the two cannot disagree.  rich is
imported when something is drawn, and pandas is kept out (see :func:`pandas_unimported`):
a one-line ingest starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import errno
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from logcorr.textsafe import clean

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from pathlib import Path

    from logcorr.ingestion import IngestResult

EXIT_ERROR = 1
EXIT_PARTIAL = 3
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")  # what click.echo strips when not on a terminal

ProgressFactory = Callable[[int, int], Callable[[int], None]]


@contextlib.contextmanager
def ingest_progress(enabled: bool = True) -> Iterator[ProgressFactory | None]:
    """Yield a progress factory for :func:`logcorr.ingest.ingest`; None when piped or quiet."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:

        def factory(total: int, n_files: int) -> Callable[[int], None]:
            task = bar.add_task(f"ingesting {n_files} files", total=total or None)
            return lambda n: bar.advance(task, n)

        yield factory


def print_ingest_summary(result: IngestResult, file: object = None) -> None:
    """One row per file (kind, lines, parsed, skipped, rejected), then the warnings."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

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


def ingest_command(paths: Sequence[str], *, data: Path | None, log_format: list[str] | None,
                   nginx_conf: str | None, error_tz: str | None, lb_cidr: list[str] | None,
                   scanner: list[str] | None, ignore: list[str] | None, host: str | None,
                   quiet: bool) -> int:
    """``logcorr ingest`` once its options are parsed: run, print, return the exit status.

    The keywords are the command's parameters (``logcorr.cli.ingest``).  Status 0, 1 (an
    error that stopped the run, one line on stderr) or 3 (some files could not be read).
    """
    from logcorr.errors import LogcorrError
    from logcorr.ingestion import ingest
    from logcorr.store import default_data_dir

    with pandas_unimported():
        try:
            with ingest_progress(enabled=not quiet) as progress:
                result = ingest(paths, data if data is not None else default_data_dir(),
                                log_format=log_format, nginx_conf=nginx_conf, error_tz=error_tz,
                                lb_cidrs=lb_cidr or [], scanner_cidrs=scanner or [],
                                ignore_cidrs=ignore or [], host=host, progress=progress)
        except LogcorrError as exc:
            echo_err(f"logcorr: {exc}")
            return EXIT_ERROR
        if not quiet:
            print_ingest_summary(result)
    for f in result.files:
        if f.error:
            echo_err(f"logcorr: {f.error}")
    return EXIT_PARTIAL if result.partial else 0


def echo_err(message: str) -> None:
    """One line on stderr as ``typer.echo(..., err=True)`` writes it (escapes stripped when piped)."""
    if not sys.stderr.isatty():
        message = _ANSI.sub("", message)
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class _NoPandas:
    """A meta-path finder that answers ``import pandas`` with ImportError."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError(f"{name} is not imported during ingest (logcorr.ui.pandas_unimported)")
        return None


@contextlib.contextmanager
def pandas_unimported() -> Iterator[None]:
    """Keep pandas (0.25 s to import) out of the process while ``ingest`` runs.

    Ingest never uses pandas, but pyarrow (26) imports it the first time it converts Python
    or numpy values (``pa.array``, ``pa.scalar``, compute functions given Python scalars,
    ``pq.read_table``), only to ask whether they are pandas objects.  None is while pandas
    is not imported, so pyarrow is told "no pandas", as on a machine without it, and gives
    the same arrays.  Used by the command only (the process ends after it): pyarrow keeps
    that answer until pandas is asked for by name (``to_pandas`` imports it then).  When
    pandas is already imported, nothing changes.
    """
    if "pandas" in sys.modules:
        yield
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def standalone(run: Callable[[], int]) -> None:
    """Exit as click's standalone mode does: 130 on Ctrl-C, 1 quietly on a closed pipe."""
    try:
        code = run()
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _pacify()
        code = 1
    sys.exit(code)


def _pacify() -> None:
    """After EPIPE, let the interpreter's final flush of stdout/stderr fail silently."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
