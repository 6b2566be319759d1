"""The ``logcorr`` script's entry point: the common calls answered without the CLI stack.

typer, click and pydantic take 0.15-0.3 s to import and to build a command, longer than a
one-line ingest.  So ``--version``, ``--help`` (of the program and of each command) and
``ingest`` with plain options are answered here: help from the text typer renders
(stored in :mod:`logcorr.clisnapshot`, which a test keeps equal to typer's output), ingest
options parsed with the parameter table stored beside it.  Anything else, and anything
the table does not cover plainly (an unknown option, ``--``, a missing value, a narrow
terminal, shell completion), goes to typer in :mod:`logcorr.cli`, which has the last word
on usage errors.
"""

from __future__ import annotations

import os
import sys
from typing import Any

FALLBACK = None
"""What :func:`parse_ingest` returns for arguments it leaves to typer."""


def main() -> None:
    """Entry point of the ``logcorr`` script."""
    args = sys.argv[1:]
    if args == ["--version"]:
        from logcorr import __version__

        sys.stdout.write(f"logcorr {__version__}\n")
        return
    lazy_arenas()  # every command: ingest, report and watch all allocate and free large columns
    if args[:1] == ["ingest"]:
        one_blas_thread()
    if not _completing():
        text = help_text(args, program_name())
        if text is not None:
            sys.stdout.write(text)
            return
        parsed = parse_ingest(args[1:]) if args[:1] == ["ingest"] else FALLBACK
        if parsed is not None:
            from logcorr.ui import ingest_command, standalone

            paths, options = parsed
            standalone(lambda: ingest_command(paths, **options))
            return
    from logcorr.cli import main as cli_main

    cli_main()


def one_blas_thread() -> None:
    """Let OpenBLAS start no thread pool when numpy loads (pyarrow imports numpy).

    Ingest does no linear algebra, and OpenBLAS starting a thread per core costs a one-line
    ingest about 10 ms.  A value the user set wins.  OpenBLAS reads the variable once, when
    it loads: only the ``logcorr`` script's own process, before any import of numpy, sets it.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def lazy_arenas() -> None:
    """Let Arrow's allocator (mimalloc) commit its arenas' memory as it uses it.

    By default mimalloc commits a whole arena at once, in transparent huge pages; an ingest
    allocates a few hundred MiB of columns per second and frees them at each commit, and in
    the VMs here faulting those huge pages in cost 0.4-1.4 s of kernel time per 1M
    access-log lines (a third of the wall time, and most of its spread between runs).
    Committed as used, the same ingest spends 0.2-0.5 s in the kernel and peaks 50 MiB
    lower (issue 11.5); the 10M-session report spends 8.5-9.3 s there instead of 12.5-13.5 s.  mimalloc reads the variable when pyarrow loads: only the ``logcorr``
    script's own process sets it, before that; a value the user set wins.
    """
    os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")


def _completing() -> bool:
    """True when a shell asks for completions (click's ``_PROG_COMPLETE`` variable)."""
    return any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)


def help_text(args: list[str], prog: str) -> str | None:
    """The stored ``--help`` text for ``args``, or None when typer must render it.

    Stored texts are typer's at 80 columns for the program name ``logcorr``; another name
    changes only the usage line, as long as that line does not wrap.
    """
    import shutil

    from logcorr.clisnapshot import HELP, WIDTH

    if not args or args[-1] != "--help" or len(args) > 2:
        return None
    text = HELP.get(args[0] if len(args) == 2 else "")
    if text is None or shutil.get_terminal_size().columns < WIDTH + 2:
        return None
    usage, rest = text.split("\n", 1)
    usage = usage.replace("Usage: logcorr", f"Usage: {prog}", 1)
    prefix = len(usage) - len(usage.split(" [", 1)[-1]) - 1  # "Usage: PROG [CMD] " before the args
    if len(usage) > WIDTH or prefix + 20 > WIDTH:  # click would wrap this usage line
        return None
    return f"{usage}\n{rest}"


def program_name() -> str:
    """The program name click shows in usage lines (``click.utils._detect_program_name``)."""
    main_module = sys.modules["__main__"]
    package = getattr(main_module, "__package__", None)
    if package in {None, ""}:
        return os.path.basename(sys.argv[0])
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    module = package if name == "__main__" else f"{package}.{name}"
    return f"python -m {module.lstrip('.')}"


def parse_ingest(args: list[str]) -> tuple[list[str], dict[str, Any]] | None:
    """``ingest``'s arguments as the paths and :func:`logcorr.ui.ingest_command`'s keywords.

    Plain forms only (``--opt VALUE``, ``--opt=VALUE``, flags, paths in any order);
    :data:`FALLBACK` for the rest, so that typer reports usage errors.
    """
    from pathlib import Path

    from logcorr.clisnapshot import INGEST

    by_opt = {opt: (name, kind) for name, opts, kind in INGEST for opt in opts if kind != "args"}
    values: dict[str, Any] = {}
    paths: list[str] = []
    rest = list(args)
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            paths.append(token)
            continue
        opt, eq, value = token.partition("=")
        name, kind = by_opt.get(opt, (None, None))
        if name is None or (kind == "flag" and eq) or (kind != "flag" and name in values and kind != "multi"):
            return FALLBACK
        if kind == "flag":
            values[name] = True
            continue
        if not eq:
            if not rest:
                return FALLBACK
            value = rest.pop(0)
        if value.startswith("-"):
            return FALLBACK
        if kind == "multi":
            values.setdefault(name, []).append(value)
        else:
            values[name] = Path(value) if kind == "path" else value
    if not paths:
        return FALLBACK
    options = {name: values.get(name, False if kind == "flag" else None)
               for name, _, kind in INGEST if kind != "args"}
    return paths, options
