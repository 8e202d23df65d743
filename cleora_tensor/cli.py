"""Command-line interface: ``cleora-tensor embed | embed-new | info | similar | evaluate | demo``.

Exit status 0 on success, 2 on bad usage or bad input (one line on stderr, no
traceback), 130 when interrupted (SIGINT), 143 when terminated (SIGTERM); an
interrupted, terminated or failed run leaves no output file behind and previous
outputs untouched. Outputs are checked before any work (folder, format, not a special
file, not an input). Progress bars and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .backends import available_backends
from .config import CHOICES, PRESETS, EmbedConfig
from .formats import DEFAULT_EXTENSIONS, FORMATS
from .errors import RankFailedError
from .formats.atomic import Terminated, check_output
from .io import INPUT_FORMATS

__all__ = ["main"]

PROG = "cleora-tensor"


def _embed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files (TSV, CSV, Parquet; .gz allowed); - reads standard input")
    parser.add_argument("--columns", "-c", required=True, metavar="SPEC", help='column specification, e.g. "transient::basket complex::reflexive::item"')
    parser.add_argument("--input-format", choices=INPUT_FORMATS, help="input format (default: from the extension, else tsv)")
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip rows with a wrong number of fields (counted) instead of failing")
    parser.add_argument("--relations", choices=CHOICES["relations"], default="joint", help="one graph for all relations, or one per relation (default: joint)")
    parser.add_argument("--max-cell-size", type=_cell_size, default=1024, metavar="N", help="clique guard: ids kept per complex cell in complex x complex relations; 0 disables (default: 1024)")
    parser.add_argument("--dim", "-d", type=_positive, default=None, help="embedding dimension (preset; classification: 256)")


def _singletons_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--singletons", choices=CHOICES["singletons"], default=None, help="hyperedges of one entity (a session of one item): leave out, or keep as self-loops like pycleora (preset; classification: drop)")


def _propagation_options(parser: argparse.ArgumentParser) -> None:
    _singletons_option(parser)
    # Options left at None take the preset's value (cleora_tensor.config.PRESETS).
    parser.add_argument("--preset", choices=tuple(PRESETS), default="classification", help="starting values of the options marked (preset): classification (default), retrieval, or pycleora (reproduces pycleora 3.2.1)")
    parser.add_argument("--iterations", "-n", type=int, default=None, help="propagation steps (preset; classification: 15)")
    parser.add_argument("--scales", type=_positive, nargs="+", default=None, metavar="STEP", help="multi-scale: the vectors after these steps side by side, --dim columns each (preset; retrieval: 1 2; classification: the last step only)")
    parser.add_argument("--propagation", choices=CHOICES["propagation"], default="left", help="transition matrix (default: left)")
    parser.add_argument("--whiten", choices=CHOICES["whiten"], default=None, help="whitening method (preset; classification: zca)")
    parser.add_argument("--whiten-each-step", action=argparse.BooleanOptionalAction, default=None, help="whiten after every step, as pycleora does, or once at the end (preset; classification: at the end)")
    parser.add_argument("--whiten-floor", type=float, default=None, help="relative eigenvalue floor of the whitening in [0, 1] (preset; classification: 0.1)")
    parser.add_argument("--residual", type=float, default=0.0, help="weight of the previous iterate in [0, 1) (default: 0)")
    parser.add_argument("--tol", type=float, default=None, help="stop when the RMS per-entity change of a step falls below TOL; 0 disables (preset; classification: 0.32)")
    parser.add_argument("--seed", type=int, default=0, help="initialization seed (default: 0)")
    parser.add_argument("--init", choices=CHOICES["init"], default=None, help="initializer; pycleora reproduces pycleora 3.2.1 (preset; classification: hash)")


def _cell_size(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value or None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _size(text: str) -> int:
    from .memory import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("memory_limit ")) from None


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, like every other error; exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Cleora entity embeddings from relational data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    embed = commands.add_parser("embed", help="embed the entities of input files", description="Embed the entities of input files and write them to --output.")
    _embed_options(embed)
    _propagation_options(embed)
    embed.add_argument("--output", "-o", type=Path, default=Path("embeddings.npz"), help="output file; pairwise mode writes PREFIX__typeA__typeB.EXT (default: embeddings.npz)")
    embed.add_argument("--format", choices=FORMATS, help="output format (default: from the --output extension, else npz)")
    embed.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")
    embed.add_argument("--backend", choices=available_backends(), default="scipy", help="backend; torch and cupy need their pip extras (default: scipy)")
    embed.add_argument("--device", default=None, help="device of the backend, e.g. cpu, cuda, cuda:1 (default: the backend's: cpu; the current GPU for cupy)")
    embed.add_argument("--memory-limit", type=_size, default=None, metavar="SIZE", help="memory the run may use, e.g. 8G; beyond it, propagate out of core in column slices of an -o FILE.npy (default: the memory available; out of core automatically with an .npy output)")
    embed.add_argument("--distributed", action="store_true", help="propagate across the ranks of torchrun (gloo; every rank runs this command; -o FILE.npy on a shared file system)")
    embed.add_argument("--distributed-timeout", type=_positive, default=600, metavar="SECONDS", help="how long a rank waits for the others before failing (default: 600)")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    embed.set_defaults(handler=_cmd_embed)

    embed_new = commands.add_parser("embed-new", help="embed entities of new rows that a model did not know", description="Embed the entities of NEW_INPUT that MODEL (an .npz written by 'embed') did not know: one propagation step from their known neighbours, no re-training.")
    embed_new.add_argument("model", type=Path, metavar="MODEL", help=".npz file written by 'embed'")
    embed_new.add_argument("inputs", nargs="+", metavar="NEW_INPUT", help="files with the new rows")
    embed_new.add_argument("--columns", "-c", metavar="SPEC", help="column specification of the new rows (default: the model's)")
    embed_new.add_argument("--input-format", choices=INPUT_FORMATS, help="input format (default: from the extension, else tsv)")
    embed_new.add_argument("--skip-bad-rows", action="store_true", help="skip rows with a wrong number of fields (counted) instead of failing")
    embed_new.add_argument("--output", "-o", type=Path, default=Path("new_embeddings.npz"), help="output file (default: new_embeddings.npz)")
    embed_new.add_argument("--format", choices=FORMATS, help="output format (default: from the extension, else npz)")
    embed_new.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")
    embed_new.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    embed_new.set_defaults(handler=_cmd_embed_new)

    info = commands.add_parser("info", help="describe the graph of input files", description="Count rows, entities, relations and non-zeros, and estimate the memory of embedding.")
    _embed_options(info)
    _singletons_option(info)
    info.add_argument("--threads", type=_positive, default=None, help="CPU threads for the memory estimate (default: all cores)")
    info.add_argument("--memory-limit", type=_size, default=None, metavar="SIZE", help="memory limit of the planned embed, e.g. 8G (default: the memory available)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_cmd_info)

    similar = commands.add_parser("similar", help="nearest entities by cosine similarity", description="Print the entities most similar to ID. The vectors of an .npy output, or of an .npz file stored uncompressed (as 'embed' writes it), are memory-mapped, not read: they are searched a block at a time, so that memory stays far below the file's size.")
    similar.add_argument("embeddings", type=Path, metavar="EMBEDDINGS", help="file written by 'embed'")
    similar.add_argument("entity", metavar="ID", help="entity id")
    similar.add_argument("--top-k", "-k", type=_positive, default=10, help="number of results (default: 10)")
    similar.add_argument("--type", dest="entity_type", help="entity type of ID, if several types share it")
    similar.add_argument("--target-type", help="type of the results; 'all' for every type (default: the type of ID)")
    similar.add_argument("--format", choices=FORMATS, help="file format (default: from the extension)")
    similar.set_defaults(handler=_cmd_similar)

    demo = commands.add_parser("demo", help="embed the bundled karate club graph and check it", description="Embed Zachary's karate club (shipped with the package), write --output, and report how well nearest neighbours recover the two clubs.")
    demo.add_argument("--output", "-o", type=Path, default=Path("karate_club.npz"), help="output file (default: karate_club.npz)")
    demo.add_argument("--dim", "-d", type=_positive, default=16, help="embedding dimension (default: 16)")
    demo.set_defaults(handler=_cmd_demo)

    evaluate = commands.add_parser("evaluate", help="measure embedding quality on held-out data", description="Node classification of saved embeddings, or link prediction / basket completion: split the rows (seeded), embed the training part, rank the held-out part, beside the popularity and co-occurrence baselines.")
    protocols = evaluate.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL")
    classification = protocols.add_parser("classification", help="logistic regression on saved embeddings", description="Logistic regression on the vectors of EMBEDDINGS: accuracy and macro-F1 (single-label) or micro/macro-F1 with top-k prediction (multi-label, DeepWalk protocol).")
    classification.add_argument("embeddings", type=Path, metavar="EMBEDDINGS", help="file written by 'embed'")
    classification.add_argument("labels", type=Path, metavar="LABELS", help="node<TAB>label lines; repeat a node for several labels")
    classification.add_argument("--split-file", type=Path, help="node<TAB>train|val|test lines (e.g. planetoid_split.tsv); default: random splits")
    classification.add_argument("--train-ratio", type=float, default=0.8, help="training fraction of the random splits (default: 0.8)")
    classification.add_argument("--seeds", type=_positive, default=5, help="number of random splits, seeds 0..N-1 (default: 5)")
    classification.add_argument("--format", choices=FORMATS, help="format of EMBEDDINGS (default: from the extension)")
    for name, default_fraction, metavar, held_out, spec_help in (
        ("link-prediction", 0.1, "EDGES", "edges", '"node node" or "user item"'),
        ("basket-completion", 0.2, "BASKETS", "baskets with at least 2 items (one item each)", '"transient::basket complex::reflexive::item"'),
    ):
        ranking = protocols.add_parser(name, help=f"{name.replace('-', ' ')} with baselines", description=f"Hold out {default_fraction:.0%} (seeded) of the {held_out}, embed the rest, rank every entity for each held-out one: MRR and HR@10, beside the popularity and co-occurrence baselines.")
        ranking.add_argument("inputs", type=Path, metavar=metavar, help="TSV file (.gz allowed)")
        ranking.add_argument("--columns", "-c", required=True, metavar="SPEC", help=f"column specification, e.g. {spec_help}")
        ranking.add_argument("--test-fraction", type=float, default=default_fraction, help=f"fraction held out (default: {default_fraction})")
        ranking.add_argument("--split-seed", type=int, default=0, help="seed of the hold-out (default: 0)")
        ranking.add_argument("--prior", type=float, default=0.1, help="also score cosine + PRIOR * log(popularity); 0: cosine only (default: 0.1)")
        ranking.add_argument("--stability", action="store_true", help="also embed all rows and a seeded 95%% subsample and compare")
        ranking.add_argument("--train-output", type=Path, help="write the training rows to this file")
        ranking.add_argument("--dim", "-d", type=_positive, default=None, help="embedding dimension (preset; classification: 256)")
        ranking.add_argument("--max-cell-size", type=_cell_size, default=1024, metavar="N", help="clique guard (default: 1024; 0 disables)")
        _propagation_options(ranking)
        ranking.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")
        ranking.add_argument("--backend", choices=available_backends(), default="scipy", help="backend (default: scipy)")
        ranking.add_argument("--device", default=None, help="device of the backend")
    for sub in protocols.choices.values():
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(handler=_cmd_evaluate)
    return parser


def _output_paths(output: Path, fmt: str | None, names: list[str | None], inputs: list[Any]) -> tuple[list[Path], str]:
    """The output files (one per relation name, or ``[output]`` for ``[None]``), checked before any work."""
    from .formats import infer_format

    fmt = fmt or (infer_format(output) if output.suffix else "npz")
    if names == [None]:
        paths = [output]
    else:
        suffix = output.suffix or DEFAULT_EXTENSIONS[fmt]
        stem = output.with_suffix("") if output.suffix else output
        paths = [stem.with_name(f"{stem.name}__{name}{suffix}") for name in names]
    for path in paths:
        check_output(path, inputs)
        if fmt in ("cleora", "word2vec"):
            check_output(path.with_name(path.name + ".json"), inputs)
    return paths, fmt


#: The keywords of :func:`~cleora_tensor.embed` that ``embed`` and the ranking
#: protocols of ``evaluate`` share, each from the option of the same name.
_EMBED_KEYWORDS = (
    "preset", "dim", "iterations", "propagation", "whiten", "whiten_each_step", "whiten_floor", "residual",
    "tol", "seed", "init", "singletons", "scales", "max_cell_size", "threads", "backend", "device",
)


def _embed_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The shared :func:`~cleora_tensor.embed` keywords from the parsed options (see ``_EMBED_KEYWORDS``)."""
    return {name: getattr(args, name) for name in _EMBED_KEYWORDS}


def _cmd_embed(args: argparse.Namespace) -> None:
    from . import embed
    from .columns import parse_columns
    from .formats import infer_format, save_embeddings

    start = time.perf_counter()
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


def _cmd_info(args: argparse.Namespace) -> None:
    from .memory import BASELINE_BYTES, estimate_memory
    from .outofcore_embed import planned_mode
    from .pipeline import read_hypergraph

    hypergraph = read_hypergraph(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        args.columns,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
    )
    vocabulary = hypergraph.vocabulary
    defaults = EmbedConfig(columns=hypergraph.spec.spec)
    singletons = args.singletons or defaults.singletons
    graphs = hypergraph.graphs(args.relations, max_cell_size=args.max_cell_size, singletons=singletons)
    dim = defaults.dim if args.dim is None else args.dim
    estimates = [
        estimate_memory(
            g.num_entities, g.nnz, dim, threads=args.threads, pairs=g.pairs,
            input_ids=hypergraph.n_ids, output_entities=int(g.output.sum()),
        )
        for g in graphs
    ]
    # The mode embed would choose (as plan_slices does, for an .npy output).
    out_of_core, limit, mode = planned_mode(
        graphs[0], dim, estimates[0], memory_limit=args.memory_limit, threads=args.threads, input_ids=hypergraph.n_ids
    )
    report: dict[str, Any] = {
        "columns": hypergraph.spec.spec,
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
        "dim": dim,
        # Of the whole embed run; pairwise mode holds every graph at once (a bound).
        "estimated_peak_memory_bytes": BASELINE_BYTES + sum(e - BASELINE_BYTES for e in estimates),
        "estimated_out_of_core_peak_memory_bytes": out_of_core if len(graphs) == 1 else None,
        "memory_limit_bytes": limit,
        "mode": mode if len(graphs) == 1 else "in memory (pairwise relations do not run out of core)",
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
    from .embedding import Embedding
    from .formats import can_mmap

    mmap = can_mmap(args.embeddings, args.format)
    embedding = Embedding.load(args.embeddings, format=args.format, mmap=mmap)
    for rank, (entity, score) in enumerate(
        embedding.most_similar(args.entity, args.top_k, entity_type=args.entity_type, target_type=args.target_type), 1
    ):
        print(f"{rank}\t{entity}\t{score:.6f}")


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

    _output_paths(args.output, None, [None], [])
    start = time.perf_counter()
    embedding = embed(dataset_path("karate_club"), columns="member member", dim=args.dim)
    embedding.save(args.output)
    elapsed = time.perf_counter() - start
    clubs = dict(line.split("\t") for line in dataset_path("karate_club", labels=True).read_text().splitlines())
    hits = sum(clubs[embedding.most_similar(i, 1)[0][0]] == clubs[i] for i in embedding.entity_ids)
    print(f"embedded {len(embedding)} karate club members (dim {embedding.dim}) in {elapsed:.2f} s -> {args.output}")
    for leader in ("0", "33"):
        neighbours = ", ".join(f"{i} ({clubs[i]})" for i, _ in embedding.most_similar(leader, 3))
        print(f"most similar to {leader} ({clubs[leader]}): {neighbours}")
    print(f"nearest neighbour in the same club: {hits}/{len(embedding)} members")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.
    """
    args = _parser().parse_args(argv)
    status, message = 0, None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            args.handler(args)
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
