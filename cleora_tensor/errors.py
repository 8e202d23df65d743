"""Exception classes raised on bad user input.

Every class derives from :class:`ValueError` or :class:`OSError`, so callers that
already catch those keep working; the command-line interface turns them into a
one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = ["ColumnSpecError", "InputFormatError"]


class ColumnSpecError(ValueError):
    """The column specification (``columns=`` / ``--columns``) is invalid.

    Parameters
    ----------
    spec : str
        The specification as given.
    reason : str
        What is wrong, naming the offending token.
    """

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"invalid column specification {spec!r}: {reason}")


class InputFormatError(ValueError):
    """A row, cell or byte of the input cannot be used.

    Parameters
    ----------
    source : str
        File path, or ``"<lines>"`` for an iterable of lines.
    reason : str
        What is wrong.
    line : int, optional
        1-based line number in ``source`` (physical line of the file).
    column : int, optional
        1-based column: the field number for cell errors, the byte offset in the
        line for encoding errors (the message says which).
    """

    def __init__(
        self,
        source: str,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        self.column = column
        where = source
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {reason}")
