"""``cleora-tensor update MODEL --add FILE --remove FILE -o NEW``: :func:`cleora_tensor.update` on the command line.

The options are in :mod:`cleora_tensor._cli_args`; :mod:`cleora_tensor.cli`
checks the output path before any work, and :meth:`Embedding.save` writes it
atomically (an interrupted run leaves no file).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["run_update"]


def run_update(args: argparse.Namespace, path: Path, fmt: str, prog: str) -> None:
    """Load ``args.model``, apply ``--add``/``--remove``, save the result to ``path`` in format ``fmt``.

    Raises
    ------
    ValueError
        Without ``--add`` and ``--remove``, or from :func:`~cleora_tensor.update`.
    OSError, InputFormatError
        From reading the model or the rows, or writing ``path``.
    """
    from .embedding import Embedding
    from .update import update

    if not args.add and not args.remove:
        raise ValueError("update needs rows: give --add FILE and/or --remove FILE")
    start = time.perf_counter()
    model = Embedding.load(args.model, format="npz")
    result = update(
        model,
        _source(args.add),
        _source(args.remove),
        steps=args.steps,
        start=args.start,
        whitening=args.whitening,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
        threads=args.threads,
    )
    result.save(path, format=fmt)
    if not args.quiet:
        kept = int((result.rows(model.entity_ids, model.types) >= 0).sum())
        print(
            f"{prog}: wrote {len(result)} vectors to {path} ({len(result) - kept} new, "
            f"{len(model) - kept} left) in {time.perf_counter() - start:.2f} s",
            file=sys.stderr,
        )


def _source(paths: list[Path]) -> list[Path] | Path | None:
    """The rows of the repeated option: None, one file, or several."""
    if not paths:
        return None
    return paths[0] if len(paths) == 1 else paths
