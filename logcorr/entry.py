"""The ``logcorr`` script's entry point: ``--version`` without importing the CLI stack.

Scripts call ``logcorr --version`` to check what is installed; answering it before typer
and click are imported keeps that fast.  Everything else goes to :mod:`logcorr.cli`.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the ``logcorr`` script."""
    if sys.argv[1:] == ["--version"]:
        from logcorr import __version__

        sys.stdout.write(f"logcorr {__version__}\n")
        return
    from logcorr.cli import main as cli_main

    cli_main()
