"""The options of the command line (:mod:`cleora_tensor.cli`): one parser per command.

Besides its own command lines, the parser accepts pycleora 3.2.1's (``pycleora``
console script, ``pycleora/cli.py``): ``--input``/``-i`` for input files,
``similar --input FILE --entity ID``, ``--algorithm cleora`` and ``-p`` for
``--propagation``. Options are never abbreviated (``allow_abbrev=False``): an
abbreviation would take ``--input`` as ``--input-format``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._cli_temporal import time_options
from .backends import available_backends
from .config import CHOICES, PRESETS
from .formats import FORMATS
from .io import INPUT_FORMATS

__all__ = ["PROG", "parser"]

PROG = "cleora-tensor"

#: pycleora 3.2.1's ``--algorithm`` choices besides ``cleora``, which this library does not implement.
_PYCLEORA_ALGORITHMS = ("prone", "randne", "hope", "netmf", "grarep", "deepwalk", "node2vec")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, like every other error; exit status 2; no abbreviations."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _cell_size(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value or None


def _input(text: str) -> Path | str:
    """An input file as a Path (never taken for a line of text, whatever its name), or "-" for standard input."""
    return text if text == "-" else Path(text)


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


def _algorithm(text: str) -> str:
    if text == "cleora":
        return text
    if text in _PYCLEORA_ALGORITHMS:
        raise argparse.ArgumentTypeError(f"{text!r} is one of pycleora's other algorithms; only 'cleora' is implemented here")
    raise argparse.ArgumentTypeError(f"only 'cleora' is implemented, got {text!r}")


def _input_options(parser: argparse.ArgumentParser, columns_help: str) -> None:
    parser.add_argument("inputs", nargs="*", type=_input, metavar="INPUT", help="input files (TSV, CSV, Parquet; .gz allowed); - reads standard input")
    parser.add_argument("--input", "-i", dest="input_files", action="append", type=_input, default=[], metavar="FILE", help="an input file, as pycleora's command line takes it (repeatable; read after the INPUT files)")
    parser.add_argument("--columns", "-c", metavar="SPEC", help=columns_help)
    parser.add_argument("--input-format", choices=INPUT_FORMATS, help="input format (default: from the extension, else tsv)")


def _embed_options(parser: argparse.ArgumentParser) -> None:
    _input_options(parser, 'column specification, e.g. "transient::basket complex::reflexive::item" (default: detected from the first rows and printed; see cleora_tensor.detect)')
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
    parser.add_argument("--attention", type=float, default=None, metavar="T", help="attention-weighted propagation at softmax temperature T (pycleora's embed_with_attention: 1.0); in memory only (default: off)")
    parser.add_argument("--directed", choices=("out", "in"), default=None, help="walk along the arcs, left column -> right column (pycleora's embed_directed: out); in memory only (default: undirected)")
    parser.add_argument("--propagation", "-p", choices=CHOICES["propagation"], default="left", help="transition matrix (default: left)")
    parser.add_argument("--whiten", choices=CHOICES["whiten"], default=None, help="whitening method (preset; classification: zca)")
    parser.add_argument("--whiten-each-step", action=argparse.BooleanOptionalAction, default=None, help="whiten after every step, as pycleora does, or once at the end (preset; classification: at the end)")
    parser.add_argument("--whiten-floor", type=float, default=None, help="relative eigenvalue floor of the whitening in [0, 1] (preset; classification: 0.1)")
    parser.add_argument("--residual", type=float, default=None, help="weight of the previous iterate in [0, 1) (default: 0, or 0.5 - the lazy walk - on a bipartite graph such as a plain user-item table when --tol is on)")
    parser.add_argument("--tol", type=float, default=None, help="stop when the RMS per-entity change of a step falls below TOL; 0 disables (preset; classification: 0.32)")
    parser.add_argument("--seed", type=int, default=0, help="initialization seed (default: 0)")
    parser.add_argument("--init", choices=CHOICES["init"], default=None, help="initializer; pycleora reproduces pycleora 3.2.1 (preset; classification: hash)")


def parser() -> argparse.ArgumentParser:
    """The parser of ``cleora-tensor``; ``args.command`` (and ``args.protocol``) name the handler."""
    parser = _Parser(prog=PROG, description="Cleora entity embeddings from relational data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    embed = commands.add_parser("embed", help="embed the entities of input files", description="Embed the entities of input files and write them to --output.")
    _embed_options(embed)
    time_options(embed, step=True)
    _propagation_options(embed)
    embed.add_argument("--algorithm", "-a", type=_algorithm, default="cleora", help="cleora, the only algorithm (accepted for pycleora's command lines)")
    embed.add_argument("--output", "-o", type=Path, default=Path("embeddings.npz"), help="output file; pairwise mode writes PREFIX__typeA__typeB.EXT (default: embeddings.npz)")
    embed.add_argument("--format", choices=FORMATS, help="output format (default: from the --output extension, else npz)")
    embed.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")
    embed.add_argument("--backend", choices=available_backends(), default="scipy", help="backend; torch and cupy need their pip extras (default: scipy)")
    embed.add_argument("--device", default=None, help="device of the backend, e.g. cpu, cuda, cuda:1 (default: the backend's: cpu; the current GPU for cupy)")
    embed.add_argument("--memory-limit", type=_size, default=None, metavar="SIZE", help="memory the run may use, e.g. 8G; beyond it, propagate out of core in column slices of an -o FILE.npy (default: the memory available; out of core automatically with an .npy output)")
    embed.add_argument("--distributed", action="store_true", help="propagate across the ranks of torchrun (gloo; every rank runs this command; -o FILE.npy on a shared file system)")
    embed.add_argument("--distributed-timeout", type=_positive, default=600, metavar="SECONDS", help="how long a rank waits for the others before failing (default: 600)")
    embed.add_argument("--quiet", "-q", action="store_true", help="no progress output")

    embed_new = commands.add_parser("embed-new", help="embed entities of new rows that a model did not know", description="Embed the entities of NEW_INPUT that MODEL (an .npz written by 'embed') did not know: one propagation step from their known neighbours, no re-training.")
    embed_new.add_argument("model", type=Path, metavar="MODEL", help=".npz file written by 'embed'")
    embed_new.add_argument("inputs", nargs="+", type=_input, metavar="NEW_INPUT", help="files with the new rows")
    embed_new.add_argument("--columns", "-c", metavar="SPEC", help="column specification of the new rows (default: the model's)")
    embed_new.add_argument("--input-format", choices=INPUT_FORMATS, help="input format (default: from the extension, else tsv)")
    embed_new.add_argument("--skip-bad-rows", action="store_true", help="skip rows with a wrong number of fields (counted) instead of failing")
    embed_new.add_argument("--output", "-o", type=Path, default=Path("new_embeddings.npz"), help="output file (default: new_embeddings.npz)")
    embed_new.add_argument("--format", choices=FORMATS, help="output format (default: from the extension, else npz)")
    embed_new.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")
    embed_new.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")

    update = commands.add_parser("update", help="add and remove rows of a model, re-propagate warm", description="Apply the rows of --add and --remove to MODEL (an .npz written by 'embed' or 'update') and re-propagate from its last iterate: the same coordinates, one step instead of a full run (cleora_tensor.update).")
    update.add_argument("model", type=Path, metavar="MODEL", help=".npz file written by 'embed' or 'update'")
    update.add_argument("--add", action="append", type=Path, default=[], metavar="FILE", help="file of rows to add (repeatable)")
    update.add_argument("--remove", action="append", type=Path, default=[], metavar="FILE", help="file of rows of the model's input to remove (repeatable)")
    update.add_argument("--steps", type=_positive, default=None, help="propagation steps (default: 1 from the model's last iterate; with --start initial, the model's schedule)")
    update.add_argument("--start", choices=("previous", "initial"), default="previous", help="start from the model's last iterate, or from the initial vectors: a full re-propagation (default: previous)")
    update.add_argument("--whitening", choices=("saved", "refit"), default="saved", help="apply the model's whitening (same coordinates) or fit a new one (default: saved)")
    update.add_argument("--input-format", choices=INPUT_FORMATS, help="format of the row files (default: from the extension, else tsv)")
    update.add_argument("--skip-bad-rows", action="store_true", help="skip rows with a wrong number of fields (counted) instead of failing")
    update.add_argument("--output", "-o", type=Path, default=Path("updated.npz"), help="output file; .npz keeps what a further update needs (default: updated.npz)")
    update.add_argument("--format", choices=FORMATS, help="output format (default: from the extension, else npz)")
    update.add_argument("--threads", type=_positive, default=None, help="CPU threads (default: all cores)")
    update.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")

    info = commands.add_parser("info", help="describe the graph of input files", description="Count rows, entities, relations and non-zeros, and estimate the memory of embedding. Without --columns, show the specification detected from the data.")
    _embed_options(info)
    time_options(info, step=False)
    _singletons_option(info)
    info.add_argument("--preset", choices=tuple(PRESETS), default="classification", help="preset of the planned embed: its dim, scales and singletons (preset; default: classification)")
    info.add_argument("--threads", type=_positive, default=None, help="CPU threads for the memory estimate (default: all cores)")
    info.add_argument("--memory-limit", type=_size, default=None, metavar="SIZE", help="memory limit of the planned embed, e.g. 8G (default: the memory available)")
    info.add_argument("--json", action="store_true", help="print JSON")

    similar = commands.add_parser("similar", help="nearest entities by cosine similarity", description="Print the entities most similar to ID in EMBEDDINGS, a file written by 'embed', or in the embedding of an input table (pycleora's 'similar --input FILE --entity ID'). The vectors of an .npy output, or of an .npz file stored uncompressed (as 'embed' writes it), are memory-mapped, not read: they are searched a block at a time, so that memory stays far below the file's size.")
    similar.add_argument("embeddings", nargs="?", metavar="EMBEDDINGS", help="file written by 'embed' (or pycleora), or an input table to embed first: .tsv and .csv files are tables unless they load as pycleora's CSV/TSV embeddings; a table named like another embedding format (.txt, .parquet) needs --columns or --input-format")
    similar.add_argument("entity", nargs="?", metavar="ID", help="entity id")
    similar.add_argument("--input", "-i", dest="input_file", metavar="FILE", help="same as EMBEDDINGS, as pycleora's command line takes it")
    similar.add_argument("--entity", "-e", dest="entity_option", metavar="ID", help="same as ID, as pycleora's command line takes it")
    similar.add_argument("--top-k", "-k", type=_positive, default=10, help="number of results (default: 10)")
    similar.add_argument("--type", dest="entity_type", help="entity type of ID, if several types share it")
    similar.add_argument("--target-type", help="type of the results; 'all' for every type (default: the type of ID)")
    similar.add_argument("--format", choices=FORMATS, help="format of an embedding file (default: from the extension); given, the file is never read as a table")
    similar.add_argument("--columns", "-c", metavar="SPEC", help="column specification of an input table (default: detected and printed)")
    similar.add_argument("--input-format", choices=INPUT_FORMATS, help="format of an input table (default: from the extension, else tsv)")
    similar.add_argument("--dim", "-d", type=_positive, default=None, help="embedding dimension of an input table (preset; classification: 256)")
    similar.add_argument("--iterations", "-n", type=int, default=None, help="propagation steps of an input table (preset; classification: 15)")
    similar.add_argument("--preset", choices=tuple(PRESETS), default="classification", help="preset of the embedding of an input table (default: classification)")

    demo = commands.add_parser("demo", help="embed the bundled karate club graph and check it", description="Embed Zachary's karate club (shipped with the package), write --output, and report how well nearest neighbours recover the two clubs.")
    demo.add_argument("--output", "-o", type=Path, default=Path("karate_club.npz"), help="output file (default: karate_club.npz)")
    demo.add_argument("--dim", "-d", type=_positive, default=16, help="embedding dimension (default: 16)")

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
    return parser
