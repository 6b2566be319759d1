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
from typing import TYPE_CHECKING, Any

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


COLUMNS = (("file", "left"), ("kind", "left"), ("status", "left"), ("lines", "right"),
           ("parsed", "right"), ("skipped", "right"), ("rejected", "right"))
PIPE_WIDTH = 240  # piped output is read by people and scripts alike: never cut a path to fit 80
_PRINTABLE = re.compile(r"[ -~]*")
_RICH_SYNTAX = re.compile(r"[\[\\]|:\S*?:|^ | $|  ")  # markup, emoji codes, spaces rich may move


def print_ingest_summary(result: IngestResult, file: object = None) -> None:
    """One row per file (kind, lines, parsed, skipped, rejected), then the warnings.

    Drawn by rich; to a pipe, plain text that is the same characters when it can be
    (:func:`plain_summary`: importing rich costs a one-line ingest 20 %).
    """
    out: Any = file or sys.stdout
    tty = getattr(out, "isatty", lambda: False)()
    if not tty and not _rich_styles_pipes():
        text = plain_summary(result)
        if text is not None:
            out.write(text)
            return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=out, highlight=False, width=None if tty else PIPE_WIDTH)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in COLUMNS:
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in _rows(result):
        table.add_row(*map(escape, row))
    console.print(table)
    for note, style in _notes(result):
        console.print(escape(note), style=style)


def plain_summary(result: IngestResult) -> str | None:
    """The summary as rich prints it to a pipe, or None when rich could print it otherwise.

    rich pads each column to its widest cell, two spaces apart; it only differs from that
    for text it would wrap, fold, parse (markup, ``:emoji:`` codes) or measure differently
    (non-ASCII): those summaries are left to rich.  tests/test_startup.py compares the two.
    """
    rows = [tuple(col for col, _ in COLUMNS), *_rows(result)]
    notes = [note for note, _ in _notes(result)]
    texts = [cell for row in rows for cell in row] + notes
    if any(not _PRINTABLE.fullmatch(t) or _RICH_SYNTAX.search(t) for t in texts):
        return None
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) if justify == "right" else cell.ljust(w)
                       for cell, w, (_, justify) in zip(row, widths, COLUMNS, strict=True))
             for row in rows]
    lines += notes
    if any(len(line) > PIPE_WIDTH for line in lines):
        return None
    return "".join(line + "\n" for line in lines)


def _rich_styles_pipes() -> bool:
    """True when rich would treat a pipe as a terminal (its environment switches, Jupyter)."""
    import builtins
    import os

    return any(v in os.environ for v in ("FORCE_COLOR", "TTY_COMPATIBLE")) or hasattr(builtins, "get_ipython")


def _rows(result: IngestResult) -> list[tuple[str, ...]]:
    return [(clean(f.path), f.kind, f.status, f"{f.lines:,}", f"{f.parsed:,}", f"{f.skipped:,}",
             f"{f.rejected:,}") for f in result.files]


def _notes(result: IngestResult) -> list[tuple[str, str | None]]:
    """The lines under the table, as text (not markup), with their style."""
    notes: list[tuple[str, str | None]] = []
    units = {"pcap": "packets", "cloudwatch": "datapoints"}
    counted = sorted({units[f.kind] for f in result.files if f.kind in units})
    if counted:  # "lines" of a capture are packets, of a JSON export datapoints
        notes.append((f"lines: {' and '.join(counted)} for " + ", ".join(
            k for k in ("pcap", "cloudwatch") if units[k] in counted) + " files", None))
    for f in result.files:
        if len(f.formats) > 1:  # a log_format change inside the file (nginx -s reload)
            runs = ", ".join(f"{clean(name)} lines {a:,}-{b:,}" for name, a, b in f.formats)
            notes.append((f"{clean(f.path)}: log_format changes: {runs}", None))
    rows = ", ".join(f"{n} {k}" for k, n in sorted(result.rows.items()) if n)
    notes.append((f"stored: {rows if rows else 'nothing new'}", None))
    if result.error_tz:
        notes.append((f"error-log times read in zone {result.error_tz}", None))
    notes.extend((f"warning: {clean(w)}", "yellow") for w in result.warnings)
    return notes


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
    is not imported, so pyarrow is told "no pandas", as on a machine without it.  Without
    pandas pyarrow differs only in reading pandas objects and in turning nanosecond times
    into Python values; ingest has neither (its times are microseconds).  Used by the
    command only (the process ends after it): pyarrow keeps that answer until pandas is
    asked for by name (``to_pandas`` imports it then).  When pandas is already imported,
    nothing changes.
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
