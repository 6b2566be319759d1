"""Errors a user can fix. The CLI prints them as one line; anything else is a bug."""

from __future__ import annotations


class LogcorrError(Exception):
    """Base class of every error that is the input's or the user's, not ours."""


class InputError(LogcorrError):
    """A file (and line) that stops the run, or that is skipped as a whole."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = file or ""
        if file and line is not None:
            where = f"{file}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class FormatSyntaxError(LogcorrError):
    """A `log_format` (or similar grammar) that does not parse, shown with a caret."""

    def __init__(self, message: str, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos
        self.reason = message
        caret = " " * pos + "^"
        super().__init__(f"{message}\n    {text}\n    {caret}")


class DataError(LogcorrError):
    """The data directory is missing, empty or from an incompatible version."""
