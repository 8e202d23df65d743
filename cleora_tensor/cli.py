"""Command-line interface: ``cleora-tensor embed | info | similar | demo``.

Exit status 0 on success, 2 on bad usage or bad input (one line on stderr, no
traceback), 130 when interrupted. Progress bars and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["main"]

PROG = "cleora-tensor"
_FORMAT_EXTENSIONS = {"npz": ".npz", "cleora": ".txt", "word2vec": ".w2v", "parquet": ".parquet"}


def _embed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files (TSV, CSV, Parquet; .gz allowed)")
    parser.add_argument("--columns", "-c", required=True, metavar="SPEC", help='column specification, e.g. "transient::basket complex::reflexive::item"')
    parser.add_argument("--input-format", choices=("tsv", "csv", "parquet"), help="input format (default: from the extension, else tsv)")
    parser.add_argument("--skip-bad-rows", action="store_true", help="skip rows with a wrong number of fields (counted) instead of failing")
    parser.add_argument("--relations", choices=("joint", "pairwise"), default="joint", help="one graph for all relations, or one per relation (default: joint)")
    parser.add_argument("--max-cell-size", type=_cell_size, default=1024, metavar="N", help="clique guard: ids kept per complex cell in complex x complex relations; 0 disables (default: 1024)")
    parser.add_argument("--dim", "-d", type=int, default=256, help="embedding dimension (default: 256)")


def _cell_size(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value or None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Cleora entity embeddings from relational data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    embed = commands.add_parser("embed", help="embed the entities of input files", description="Embed the entities of input files and write them to --output.")
    _embed_options(embed)
    embed.add_argument("--iterations", "-n", type=int, default=15, help="propagation steps (default: 15; pycleora: 40)")
    embed.add_argument("--propagation", choices=("left", "symmetric"), default="left", help="transition matrix (default: left)")
    embed.add_argument("--whiten", choices=("pca", "zca", "none"), default="zca", help="whitening method (default: zca; pycleora: pca)")
    embed.add_argument("--whiten-each-step", action="store_true", help="whiten after every step, as pycleora does (default: once at the end)")
    embed.add_argument("--whiten-floor", type=float, default=0.1, help="relative eigenvalue floor of the whitening in [0, 1] (default: 0.1; pycleora: 0)")
    embed.add_argument("--residual", type=float, default=0.0, help="weight of the previous iterate in [0, 1) (default: 0)")
    embed.add_argument("--tol", type=float, default=None, help="stop when the RMS change falls below TOL")
    embed.add_argument("--seed", type=int, default=0, help="initialization seed (default: 0)")
    embed.add_argument("--init", choices=("hash", "pycleora"), default="hash", help="initializer; pycleora reproduces pycleora 3.2.1 (default: hash)")
    embed.add_argument("--output", "-o", type=Path, default=Path("embeddings.npz"), help="output file; pairwise mode writes PREFIX__typeA__typeB.EXT (default: embeddings.npz)")
    embed.add_argument("--format", choices=tuple(_FORMAT_EXTENSIONS), help="output format (default: from the --output extension, else npz)")
    embed.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    embed.add_argument("--backend", default="scipy", help="backend (default: scipy)")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    embed.set_defaults(handler=_cmd_embed)

    info = commands.add_parser("info", help="describe the graph of input files", description="Count rows, entities, relations and non-zeros, and estimate the memory of embedding.")
    _embed_options(info)
    info.add_argument("--threads", type=int, default=None, help="CPU threads for the memory estimate (default: all cores)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_cmd_info)

    similar = commands.add_parser("similar", help="nearest entities by cosine similarity", description="Print the entities most similar to ID.")
    similar.add_argument("embeddings", type=Path, metavar="EMBEDDINGS", help="file written by 'embed'")
    similar.add_argument("entity", metavar="ID", help="entity id")
    similar.add_argument("--top-k", "-k", type=int, default=10, help="number of results (default: 10)")
    similar.add_argument("--type", dest="entity_type", help="entity type of ID, if several types share it")
    similar.add_argument("--target-type", help="type of the results; 'all' for every type (default: the type of ID)")
    similar.add_argument("--format", choices=tuple(_FORMAT_EXTENSIONS), help="file format (default: from the extension)")
    similar.set_defaults(handler=_cmd_similar)

    demo = commands.add_parser("demo", help="embed the bundled karate club graph and check it", description="Embed Zachary's karate club (shipped with the package), write --output, and report how well nearest neighbours recover the two clubs.")
    demo.add_argument("--output", "-o", type=Path, default=Path("karate_club.npz"), help="output file (default: karate_club.npz)")
    demo.add_argument("--dim", "-d", type=int, default=16, help="embedding dimension (default: 16)")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _output_paths(output: Path, fmt: str | None, names: list[str | None]) -> tuple[list[Path], str]:
    from .formats import infer_format

    fmt = fmt or (infer_format(output) if output.suffix else "npz")
    if names == [None]:
        return [output], fmt
    suffix = output.suffix or _FORMAT_EXTENSIONS[fmt]
    stem = output.with_suffix("") if output.suffix else output
    return [stem.with_name(f"{stem.name}__{name}{suffix}") for name in names], fmt


def _cmd_embed(args: argparse.Namespace) -> None:
    from . import embed

    start = time.perf_counter()
    result = embed(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        columns=args.columns,
        dim=args.dim,
        iterations=args.iterations,
        relations=args.relations,
        propagation=args.propagation,
        whiten=args.whiten,
        whiten_each_step=args.whiten_each_step,
        whiten_floor=args.whiten_floor,
        residual=args.residual,
        tol=args.tol,
        seed=args.seed,
        init=args.init,
        max_cell_size=args.max_cell_size,
        threads=args.threads,
        backend=args.backend,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
        progress=not args.quiet,
    )
    embeddings = result if isinstance(result, dict) else {None: result}
    paths, fmt = _output_paths(args.output, args.format, list(embeddings))
    for path, embedding in zip(paths, embeddings.values()):
        embedding.save(path, format=fmt)
        if not args.quiet:
            print(f"{PROG}: wrote {len(embedding)} vectors of dim {embedding.dim} to {path}", file=sys.stderr)
    if not args.quiet:
        print(f"{PROG}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _cmd_info(args: argparse.Namespace) -> None:
    from .hypergraph import Hypergraph
    from .propagate import estimate_memory

    hypergraph = Hypergraph.read(
        args.inputs if len(args.inputs) > 1 else args.inputs[0],
        args.columns,
        input_format=args.input_format,
        skip_bad_rows=args.skip_bad_rows,
    )
    vocabulary = hypergraph.vocabulary
    graphs = hypergraph.graphs(args.relations, max_cell_size=args.max_cell_size)
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
                "estimated_peak_memory_bytes": estimate_memory(g.num_entities, g.nnz, args.dim, threads=args.threads),
            }
            for g in graphs
        ],
        "dim": args.dim,
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

    embedding = Embedding.load(args.embeddings, format=args.format)
    for rank, (entity, score) in enumerate(
        embedding.most_similar(args.entity, args.top_k, entity_type=args.entity_type, target_type=args.target_type), 1
    ):
        print(f"{rank}\t{entity}\t{score:.6f}")


def _cmd_demo(args: argparse.Namespace) -> None:
    from . import embed
    from .datasets import dataset_path

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
        except (ValueError, OSError, KeyError) as error:
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
