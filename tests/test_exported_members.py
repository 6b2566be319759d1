"""``logcorr.__all__`` is honest: sorted, complete, every name importable (after httpx)."""

from __future__ import annotations

import subprocess
import sys

import logcorr


def test_all_is_sorted_and_importable() -> None:
    assert logcorr.__all__ == sorted(logcorr.__all__)
    for name in logcorr.__all__:
        assert getattr(logcorr, name) is not None, name


def test_public_names_are_in_all() -> None:
    public = {n for n in dir(logcorr) if not n.startswith("_") and n not in ("annotations", "TYPE_CHECKING", "Any")}
    # submodules imported by other tests show up as attributes; they are not API
    import types

    public = {n for n in public if not isinstance(getattr(logcorr, n), types.ModuleType)}
    assert public <= set(logcorr.__all__)


def test_import_is_lazy() -> None:
    code = "import sys, logcorr; print('pandas' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
