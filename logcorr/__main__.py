"""``python -m logcorr`` is the ``logcorr`` command."""

from logcorr.entry import main

main()
