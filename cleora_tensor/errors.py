"""Exception classes raised on bad user input.

Every class derives from :class:`ValueError` or :class:`OSError`, so callers that
already catch those keep working; the command-line interface turns them into a
one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = ["ColumnSpecError", "InputFormatError", "InsufficientMemoryError", "RankFailedError"]


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
    """A file, row, cell or byte of the input cannot be used.

    The message is ``source[:line[:column]]: reason`` on one line: the line
    breaks of :meth:`str.splitlines` in ``source`` or ``reason`` are shown
    escaped (``\\n``, ``\\r``, ...).

    Parameters
    ----------
    source : str
        File path, ``"<stdin>"`` for standard input, ``"<lines>"`` for an
        iterable of lines, or ``"<table>"`` for a table.
    reason : str
        What is wrong, in plain words.
    line : int, optional
        1-based line number in ``source`` (physical line of the file; the row
        number for Parquet files and tables).
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
        where = _one_line(source)
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {_one_line(reason)}")


# Every character str.splitlines() breaks at, mapped to its escape sequence.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(text: str) -> str:
    return text.translate(_LINE_BREAKS)


class InsufficientMemoryError(MemoryError, ValueError):
    """Work predicted not to fit in the memory available was refused before it started.

    Raised by :mod:`cleora_tensor.memory` before graph building or propagation;
    the message gives the estimate, the memory available and the option that
    would make the work fit (e.g. ``--max-cell-size`` or ``--dim``). Derives from
    :class:`MemoryError` and :class:`ValueError` (so the command line reports it
    as a usage error, exit status 2).
    """


class RankFailedError(RuntimeError):
    """Another rank of a distributed run failed; its message names the rank and the cause.

    Raised on every other rank by :mod:`cleora_tensor.distributed` so that all
    ranks stop together (the command line exits 2 on each).
    """
