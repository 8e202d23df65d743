"""Command-line interface: ``cleora-tensor embed | embed-new | update | info | similar | evaluate | demo``.

Exit status 0 on success, 2 on bad usage or bad input (one line on stderr, no
traceback), 130 when interrupted (SIGINT), 143 when terminated (SIGTERM); an
interrupted, terminated or failed run leaves no output file behind and previous
outputs untouched. Outputs are checked before any work (folder, format, not a special
file, not an input); only the detection of the columns, which reads a sample, comes
first. Progress bars, warnings and the detected columns go to stderr.

pycleora 3.2.1's command lines run too (the options are in :mod:`cleora_tensor._cli_args`):
``embed --input FILE --output FILE --dim D --iterations N [--algorithm cleora]``,
``info --input FILE``, ``similar --input FILE --entity ID --top-k K``, where FILE
of ``similar`` is an embedding file or a table to embed first. Without
``--columns``, the specification is detected from the first rows
(:func:`cleora_tensor.detect.detect_columns`) and printed. The defaults stay this
library's (``--preset classification``); ``--preset pycleora`` gives pycleora's vectors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._cli_args import PROG, parser
from ._cli_temporal import describe_times, time_keywords
from .config import EmbedConfig
from .formats import DEFAULT_EXTENSIONS, SIDECAR_FORMATS
from .errors import InputFormatError, RankFailedError
from .formats.atomic import Terminated, check_output

if TYPE_CHECKING:  # for annotations only: detection is imported when used
    from .detect import Detection

__all__ = ["main"]


def _output_paths(output: Path, fmt: str | None, names: list[str | None], inputs: list[Any]) -> tuple[list[Path], str]:
    """The output files (one per relation name, or ``[output]`` for ``[None]``), checked before any work.

    An output without an extension gets its format's (``-o embeddings`` writes
    ``embeddings.npz``, as :func:`numpy.savez`, and so pycleora's ``embed``, does).
    """
    from .formats import infer_format

    fmt = fmt or (infer_format(output) if output.suffix else "npz")
    suffix = output.suffix or DEFAULT_EXTENSIONS[fmt]
    stem = output.with_suffix("") if output.suffix else output
    paths = [stem.with_name(stem.name + ("" if name is None else f"__{name}") + suffix) for name in names]
    for path in paths:
        check_output(path, inputs)
        if fmt in SIDECAR_FORMATS:
            check_output(path.with_name(path.name + ".json"), inputs)
    return paths, fmt


#: The keywords of :func:`~cleora_tensor.embed` that ``embed`` and the ranking
#: protocols of ``evaluate`` share, each from the option of the same name.
_EMBED_KEYWORDS = (
    "preset", "dim", "iterations", "propagation", "whiten", "whiten_each_step", "whiten_floor", "residual",
    "tol", "seed", "init", "singletons", "scales", "attention", "directed", "max_cell_size", "threads", "backend",
    "device",
)


def _embed_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The shared :func:`~cleora_tensor.embed` keywords from the parsed options (see ``_EMBED_KEYWORDS``)."""
    return {name: getattr(args, name) for name in _EMBED_KEYWORDS}


def _cmd_embed(args: argparse.Namespace) -> None:
    from . import embed
    from .columns import parse_columns
    from .formats import infer_format, save_embeddings

    start = time.perf_counter()
    _resolve_table(args)
    if args.warm and args.step is None:
        raise ValueError("--warm needs streaming windows (--window and --step)")
    if args.step is not None:  # streaming windows: one output per window
        from ._cli_temporal import embed_windows_command

        embed_windows_command(args, _output_paths, _embed_keywords(args), PROG)
        return
    names = [r.name for r in parse_columns(args.columns).relations] if args.relations == "pairwise" else [None]
    paths, fmt = _output_paths(args.output, args.format, names, args.inputs)
    # embed writes a joint result itself (out of core, it computes it in the file).
    written_by_embed = names == [None] and fmt == infer_format(paths[0])
    group = None
    if args.distributed:
        from .distributed import join

        group = join(timeout=args.distributed_timeout)
    try:
        result = embed(
            args.inputs if len(args.inputs) > 1 else args.inputs[0],
            columns=args.columns,
            relations=args.relations,
            input_format=args.input_format,
            skip_bad_rows=args.skip_bad_rows,
            progress=not args.quiet,
            memory_limit=args.memory_limit,
            output=paths[0] if written_by_embed else None,
            distributed=args.distributed,
            **time_keywords(args),
            **_embed_keywords(args),
        )
    finally:
        if group is not None:
            group.close()
    embeddings = [result[name] for name in names] if isinstance(result, dict) else [result]
    if not written_by_embed:
        save_embeddings(list(zip(embeddings, paths)), fmt)
    if not args.quiet:
        for path, embedding in zip(paths, embeddings):
            print(f"{PROG}: wrote {len(embedding)} vectors of dim {embedding.dim} to {path}", file=sys.stderr)
        print(f"{PROG}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _cmd_embed_new(args: argparse.Namespace) -> None:
    from .embedding import Embedding
    from .inductive import embed_new

    (path,), fmt = _output_paths(args.output, args.format, [None], [args.model, *args.inputs])
    model = Embedding.load(args.model, format="npz")
    new = embed_new(
        model,
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        columns=args.columns,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
        threads=args.threads,
    )
    new.save(path, format=fmt)
    if not args.quiet:
        cold = int((new.degrees == 0).sum())
        print(f"{PROG}: wrote {len(new)} new vectors to {path} ({cold} without a known neighbour got their initial vector)", file=sys.stderr)


def _cmd_update(args: argparse.Namespace) -> None:
    from ._cli_update import run_update

    (path,), fmt = _output_paths(args.output, args.format, [None], [args.model, *args.add, *args.remove])
    run_update(args, path, fmt, PROG)


def _cmd_info(args: argparse.Namespace) -> None:
    from .memory import BASELINE_BYTES, estimate_memory
    from .outofcore_embed import planned_mode
    from .pipeline import read_hypergraph

    detection = _resolve_table(args)
    hypergraph = read_hypergraph(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        args.columns,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
        **time_keywords(args),
    )
    vocabulary = hypergraph.vocabulary
    planned = EmbedConfig.from_preset(
        args.preset, columns=hypergraph.spec.spec, dim=args.dim, singletons=args.singletons
    )
    graphs = hypergraph.graphs(args.relations, max_cell_size=args.max_cell_size, singletons=planned.singletons)
    dim = planned.dim
    estimates = [
        estimate_memory(
            g.num_entities, g.nnz, dim, threads=args.threads, pairs=g.pairs,
            input_ids=hypergraph.n_ids, output_entities=int(g.output.sum()), scales=len(planned.scales or ()),
        )
        for g in graphs
    ]
    # The mode embed would choose (as plan_slices does, for an .npy output).
    out_of_core, limit, mode = planned_mode(
        graphs[0], dim, estimates[0], memory_limit=args.memory_limit, threads=args.threads, input_ids=hypergraph.n_ids
    )
    report: dict[str, Any] = {
        "columns": hypergraph.spec.spec,
        "columns_detected": None if detection is None else detection.reason,
        "rows": hypergraph.n_rows,
        **hypergraph.table_stats,
        "entities_per_type": {
            name: int((vocabulary.type_codes == code).sum()) for code, name in enumerate(vocabulary.type_names)
        },
        "output_types": list(hypergraph.spec.output_types),
        "relations": [r.name for r in hypergraph.spec.relations],
        "graphs": [
            {
                "name": g.name or "joint",
                "entities": g.num_entities,
                "output_entities": int(g.output.sum()),
                "nnz": g.nnz,
                "truncated_cells": g.truncated_cells,
                "singleton_cells": g.singleton_cells,
                "leaf_connectors": g.leaf_connectors,
                "lone_entities": g.lone,
                "pairs": g.pairs,
                "estimated_peak_memory_bytes": estimate,
            }
            for g, estimate in zip(graphs, estimates)
        ],
        "preset": args.preset,
        "dim": dim,
        "scales": list(planned.scales or ()),
        # Of the whole embed run; pairwise mode holds every graph at once (a bound).
        "estimated_peak_memory_bytes": BASELINE_BYTES + sum(e - BASELINE_BYTES for e in estimates),
        "estimated_out_of_core_peak_memory_bytes": out_of_core if len(graphs) == 1 else None,
        "memory_limit_bytes": limit,
        "mode": mode if len(graphs) == 1 else "in memory (pairwise relations do not run out of core)",
        **describe_times(hypergraph),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if key == "graphs":
            for graph in value:
                print(f"graph {graph['name']}: " + ", ".join(f"{k}={v}" for k, v in graph.items() if k != "name"))
        else:
            print(f"{key}: {value}")


def _cmd_similar(args: argparse.Namespace) -> None:
    source, entity = _similar_target(args)
    embedding = _similar_embedding(args, source)
    for rank, (found, score) in enumerate(
        embedding.most_similar(entity, args.top_k, entity_type=args.entity_type, target_type=args.target_type), 1
    ):
        print(f"{rank}\t{found}\t{score:.6f}")


#: Embedding formats whose extensions input tables share (pycleora's CSV/TSV outputs).
_TABLE_OR_EMBEDDING = ("csv", "tsv")


def _similar_target(args: argparse.Namespace) -> tuple[str, str]:
    """The file and the entity id, given as ``EMBEDDINGS ID`` or pycleora's ``--input FILE --entity ID``."""
    positional = [value for value in (args.embeddings, args.entity) if value is not None]
    source = args.input_file if args.input_file is not None else (positional.pop(0) if positional else None)
    ids = positional if args.entity_option is None else [*positional, args.entity_option]
    if source is None or len(ids) != 1:
        raise ValueError("give one file (EMBEDDINGS or --input FILE) and one entity (ID or --entity ID)")
    return source, ids[0]


def _similar_embedding(args: argparse.Namespace, source: str) -> Any:
    """The embedding in ``source``, or, when it is a table rather than an embedding file, its embedding.

    A table: ``--columns`` or ``--input-format`` is given, the extension is no
    embedding format's (``.gz`` included), or it is ``.tsv``/``.csv`` and the
    file does not load as pycleora's CSV/TSV embedding (whose header row
    ``entity_id,dim_0,...`` tells it apart); then the detected columns are
    printed, and if the file is no table either, the error gives both reasons.
    Else an embedding file: ``--format`` is given, or the extension is another
    embedding format's (``.npz``, ``.npy``, ``.txt``, ``.parquet``, ...), so that a
    damaged embedding file is reported as such.
    """
    from . import embed
    from .embedding import Embedding
    from .formats import can_mmap, infer_format

    not_embedding = None
    if args.columns is None and args.input_format is None:
        try:
            fmt = infer_format(source, args.format)
        except ValueError:
            fmt = None
        if fmt is not None:
            try:
                return Embedding.load(source, format=fmt, mmap=can_mmap(source, fmt))
            except InputFormatError as error:
                if args.format is not None or fmt not in _TABLE_OR_EMBEDDING:
                    raise
                not_embedding = error
    try:
        columns = args.columns or _detected(source, args.input_format).columns
        return embed(source, columns=columns, input_format=args.input_format, dim=args.dim, iterations=args.iterations, preset=args.preset)
    except ValueError as error:
        if not_embedding is not None:
            raise ValueError(f"{source} is neither an embedding file ({not_embedding}) nor a table to embed ({error})") from None
        raise


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from . import evaluation

    if getattr(args, "train_output", None) is not None:
        check_output(args.train_output, [args.inputs])
    try:
        if args.protocol == "classification":
            report = evaluation.classification_report(
                args.embeddings, args.labels, split_file=args.split_file, train_ratio=args.train_ratio,
                seeds=args.seeds, embedding_format=args.format,
            )
        else:
            run = evaluation.link_prediction_report if args.protocol == "link-prediction" else evaluation.basket_completion_report
            report = run(
                args.inputs, columns=args.columns, test_fraction=args.test_fraction, split_seed=args.split_seed,
                prior=args.prior, with_stability=args.stability, train_output=args.train_output,
                **_embed_keywords(args),
            )
    except ImportError as error:  # scikit-learn is an optional extra
        raise ValueError(f"{error}; install it with: pip install 'cleora-tensor[eval]'") from None
    print(json.dumps(report, indent=2) if args.json else evaluation.format_report(report))


def _cmd_demo(args: argparse.Namespace) -> None:
    from . import embed
    from .datasets import dataset_path

    (output,), _ = _output_paths(args.output, None, [None], [])
    start = time.perf_counter()
    embedding = embed(dataset_path("karate_club"), columns="member member", dim=args.dim)
    embedding.save(output)
    elapsed = time.perf_counter() - start
    clubs = dict(line.split("\t") for line in dataset_path("karate_club", labels=True).read_text().splitlines())
    hits = sum(clubs[embedding.most_similar(i, 1)[0][0]] == clubs[i] for i in embedding.entity_ids)
    print(f"embedded {len(embedding)} karate club members (dim {embedding.dim}) in {elapsed:.2f} s -> {output}")
    for leader in ("0", "33"):
        neighbours = ", ".join(f"{i} ({clubs[i]})" for i, _ in embedding.most_similar(leader, 3))
        print(f"most similar to {leader} ({clubs[leader]}): {neighbours}")
    print(f"nearest neighbour in the same club: {hits}/{len(embedding)} members")


def _resolve_table(args: argparse.Namespace) -> Detection | None:
    """Set ``args.inputs`` to the INPUT then --input files, and ``args.columns`` if not given to the
    specification detected from the data; returns the :class:`~cleora_tensor.detect.Detection` or None."""
    args.inputs = [*args.inputs, *args.input_files]
    if not args.inputs:
        raise ValueError("no input: give input files (INPUT or --input FILE), with --columns SPEC, or without it to detect the columns from the data")
    if args.columns is not None:
        return None
    detection = _detected(args.inputs, args.input_format)
    args.columns = detection.columns
    return detection


def _detected(source: Any, input_format: str | None) -> Detection:
    """The :class:`~cleora_tensor.detect.Detection` of ``source``, printed on stderr."""
    from .detect import detect_columns

    detection = detect_columns(source, input_format=input_format)
    print(f"{PROG}: detected {detection}; give --columns to choose otherwise", file=sys.stderr)
    return detection


_HANDLERS = {
    "embed": _cmd_embed, "embed-new": _cmd_embed_new, "update": _cmd_update, "info": _cmd_info, "similar": _cmd_similar,
    "evaluate": _cmd_evaluate, "demo": _cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    args = parser().parse_args(argv)
    status, message = 0, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _HANDLERS[args.command](args)
        except KeyboardInterrupt:
            status, message = 130, "interrupted"
        except Terminated as stop:  # SIGTERM while writing: the outputs were rolled back
            status, message = stop.code, "terminated"
        except (ValueError, OSError, KeyError, RankFailedError) as error:
            # KeyError's str() adds quotes around the message.
            text = error.args[0] if isinstance(error, KeyError) and error.args else error
            status, message = 2, f"error: {text}"
    for warning in caught:
        print(f"{PROG}: warning: {warning.message}", file=sys.stderr)
    if message:
        print(f"{PROG}: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
