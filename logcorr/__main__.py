"""``python -m logcorr`` is the ``logcorr`` command."""

from logcorr.cli import main

main()
