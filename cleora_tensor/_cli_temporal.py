"""The time options of the command line: ``--window``, ``--step``,
``--session-gap``, ``--since``, ``--until`` (of ``embed`` and ``info``), and
``embed --window W --step S``, which writes one output per window.

Without ``--step``, ``--window`` groups each context's rows by fixed windows
(:func:`cleora_tensor.temporal.group_events`); with it, ``--window`` is the
length of the streaming windows of :func:`cleora_tensor.windows.embed_windows`.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["describe_times", "embed_windows_command", "time_keywords", "time_options", "window_label"]


def _duration(text: str) -> str:
    from .temporal import parse_duration

    try:
        parse_duration(text, "duration")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("duration ")) from None
    return text


def _instant(text: str) -> str:
    from .temporal import parse_instant

    try:
        parse_instant(text, "time")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("time ")) from None
    return text


def time_options(parser: argparse.ArgumentParser, *, step: bool) -> None:
    """Add the time options (``--step`` only when ``step``) to ``parser``."""
    window_help = "with a time:: column: one hyperedge per context (the transient:: column) and fixed window, e.g. 1d (units s, m, h, d, w; windows aligned on the Unix epoch, UTC)"
    if step:
        window_help += "; with --step, the length of each streaming window, one output per window"
    parser.add_argument("--window", type=_duration, metavar="DURATION", help=window_help)
    if step:
        parser.add_argument("--step", type=_duration, metavar="DURATION", help="embed each window of --window length, starting every DURATION, to OUTPUT__<window start>.EXT (default: no streaming windows)")
        parser.add_argument("--warm", action="store_true", help="with --step: start each window from the previous window's vectors (coordinates carry over; see embed_windows)")
    parser.add_argument("--session-gap", type=_duration, metavar="DURATION", help="with a time:: column: one hyperedge per session, a new session of a context starting after more than DURATION without a row, e.g. 30m")
    parser.add_argument("--since", type=_instant, metavar="TIME", help="keep the rows at or after TIME (Unix seconds or ISO-8601, UTC by default)")
    parser.add_argument("--until", type=_instant, metavar="TIME", help="keep the rows before TIME (exclusive)")


def time_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The time keywords given, for :func:`~cleora_tensor.embed` and :func:`~cleora_tensor.read_hypergraph`."""
    given = {"window": args.window, "session_gap": args.session_gap, "since": args.since, "until": args.until}
    return {name: value for name, value in given.items() if value is not None}


def describe_times(hypergraph: Any) -> dict[str, Any]:
    """The time fields of ``info``'s report (see :func:`cleora_tensor.temporal.describe`)."""
    from .temporal import describe

    return describe(hypergraph.time_span, hypergraph.grouping)


def window_label(start: datetime.datetime, whole_days: bool) -> str:
    """A window's start as a file name part: ``2024-01-31``, or ``2024-01-31T12-30-00`` (UTC)."""
    if whole_days:
        return start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%dT%H-%M-%S" + ("-%f" if start.microsecond else ""))


def embed_windows_command(
    args: argparse.Namespace,
    output_paths: Callable[[Path, str | None, list[str | None], list[Any]], tuple[list[Path], str]],
    keywords: dict[str, Any],
    prog: str,
) -> None:
    """``embed --window W --step S``: every window's embedding, written as one set of files.

    ``output_paths`` is the command line's check of output files; ``keywords``
    the :func:`~cleora_tensor.embed` options parsed; ``prog`` starts the
    messages on stderr. The files are
    ``OUTPUT__<window start>.EXT``; all are written, or none (as pairwise mode's).
    """
    from .formats import save_embeddings
    from .temporal import parse_duration
    from .windows import embed_windows

    if args.window is None:
        raise ValueError("--step needs --window, the length of each window")
    if args.relations != "joint" or args.distributed:
        raise ValueError("--step writes one embedding per window: it needs --relations joint, without --distributed")
    output_paths(args.output, args.format, [None], args.inputs)  # an unusable output fails before any work
    windows = embed_windows(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        columns=args.columns,
        window=args.window,
        step=args.step,
        since=args.since,
        until=args.until,
        session_gap=args.session_gap,
        warm=args.warm,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
        progress=not args.quiet,
        memory_limit=args.memory_limit,
        **keywords,
    )
    day = 86400.0
    whole_days = all(
        parse_duration(value, name) % day == 0 for value, name in ((args.window, "window"), (args.step, "step"))
    ) and all(w.start.timestamp() % day == 0 for w in windows)
    names: list[str | None] = [window_label(w.start, whole_days) for w in windows]
    paths, fmt = output_paths(args.output, args.format, names, args.inputs)
    save_embeddings([(w.embedding, path) for w, path in zip(windows, paths)], fmt)
    if not args.quiet:
        for path, w in zip(paths, windows):
            print(
                f"{prog}: wrote {len(w.embedding)} vectors of the {w.rows} rows in [{w.start.isoformat()}, {w.end.isoformat()}) to {path}",
                file=sys.stderr,
            )
