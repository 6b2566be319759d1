"""logcorr: why do TLS handshakes fail at an nginx endpoint, and do the failing clients come back?

A notebook needs only this module::

    import logcorr
    logcorr.ingest(["sample_logs/"], data="logcorr-data")
    ds = logcorr.open("logcorr-data")
    ds.table("handshake_failures")          # pandas DataFrame
    rep = ds.report(window="5m")
    rep.data["verdict"], rep.frames["reasons"]

Names are imported lazily so that ``import logcorr`` stays fast.  The pure correlation
function is ``logcorr.correlate.correlate`` (``Dataset.correlate`` runs it on a data
directory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "Dataset",
    "InputError",
    "LogcorrError",
    "Report",
    "__version__",
    "ingest",
    "open",
    "parse_window",
]

_LAZY = {
    "DataError": ("logcorr.errors", "DataError"),
    "Dataset": ("logcorr.api", "Dataset"),
    "InputError": ("logcorr.errors", "InputError"),
    "LogcorrError": ("logcorr.errors", "LogcorrError"),
    "Report": ("logcorr.report.build", "Report"),
    "ingest": ("logcorr.ingestion", "ingest"),
    "open": ("logcorr.api", "open"),
    "parse_window": ("logcorr.timewindow", "parse_window"),
}

if TYPE_CHECKING:
    from logcorr.api import Dataset, open
    from logcorr.errors import DataError, InputError, LogcorrError
    from logcorr.ingestion import ingest
    from logcorr.report.build import Report
    from logcorr.timewindow import parse_window


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'logcorr' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
