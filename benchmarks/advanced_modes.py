"""Benefit and cost of the advanced propagation modes against the default, on shared data.

Modes: ``default`` (the classification preset), ``attention:T`` (attention-weighted
propagation, :func:`cleora_tensor.attention.propagate_with_attention`: one plain step,
then attention at temperature ``T``),
``out`` / ``in`` (walks along the arcs, ``transition_matrix(graph, direction=...)``:
an edge row ``src dst`` is the arc ``src -> dst``) and ``both`` (the out and in views
side by side, ``2 * dim`` columns). Each mode is the preset's loop
(:func:`cleora_tensor.propagation.propagate_config`) with only the operator changed.

Tasks: node classification on cora and citeseer (5 stratified random 80/20 splits,
accuracy and macro-F1) and link prediction on ego_facebook (10 % of the edges held
out, seed 0; MRR and HR@10). Costs: wall time of graph building plus propagation
(best of ``--repeat``) and its peak traced memory (tracemalloc, a separate run), both
as ratios to the default.

Run (about 6 minutes on 2 busy cores, mostly the classifiers)::

    python benchmarks/advanced_modes.py --data /work/shared/data --threads 1
    python benchmarks/advanced_modes.py --preset pycleora --modes default attention:1 attention:0.1
    python benchmarks/advanced_modes.py --sets blogcatalog   # cost only, larger graph
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np

from cleora_tensor.attention import propagate_with_attention
from cleora_tensor.backends import get_backend
from cleora_tensor.config import EmbedConfig
from cleora_tensor.evaluation import link_prediction, node_classification, read_labels, split_edges
from cleora_tensor.features import initial_vectors
from cleora_tensor.markov import transition_matrix
from cleora_tensor.pipeline import read_hypergraph
from cleora_tensor.propagation import propagate_config

COLUMNS = "node node"
MODES = ("default", "attention:1", "attention:0.1", "attention:0.03", "out", "in", "both")


def embed_mode(rows: list[str], mode: str, config: EmbedConfig, threads: int) -> tuple[list[str], np.ndarray, int]:
    """Embed ``rows`` (``src<TAB>dst`` lines) in ``mode``; returns (ids, vectors, steps run)."""
    backend = get_backend("scipy")
    graph = read_hypergraph(iter(rows), COLUMNS).graph(
        max_cell_size=config.max_cell_size, singletons=config.singletons, directed=mode in ("out", "in", "both")
    )
    if mode == "both":
        parts = [_propagate(graph, config, threads, backend, direction) for direction in ("out", "in")]
        return graph.entity_ids, np.concatenate([p.vectors for p in parts], axis=1), sum(p.iterations for p in parts)
    result = _propagate(graph, config, threads, backend, mode)
    return graph.entity_ids, result.vectors, result.iterations


def _propagate(graph, config, threads, backend, mode):
    x, _ = initial_vectors(graph, config, None, threads, backend)
    if mode.startswith("attention:"):
        temperature = float(mode.partition(":")[2])
        matrix = transition_matrix(graph, config.propagation)
        return propagate_with_attention(
            matrix, x, config, temperature=temperature, backend=backend, threads=threads, overwrite_x=True
        )
    direction = mode if mode in ("out", "in") else None
    operator = backend.operator(transition_matrix(graph, config.propagation, direction=direction), threads=threads)
    return propagate_config(operator, x, config, threads=threads, overwrite_x=True)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _costs(rows, mode, config, threads, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        embed_mode(rows, mode, config, threads)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    embed_mode(rows, mode, config, threads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES))
    parser.add_argument("--preset", default="classification", help="classification (default) or pycleora")
    parser.add_argument("--sets", nargs="+", default=["cora", "citeseer", "ego_facebook"],
                        help="also: blogcatalog (cost only, 5 steps without early stop)")
    args = parser.parse_args()
    # residual 0: what the preset resolves to on these graphs (none is bipartite).
    config = EmbedConfig.from_preset(args.preset, columns=COLUMNS, residual=0.0)
    print(f"preset {args.preset}: dim={config.dim} iterations={config.iterations} tol={config.tol} "
          f"whiten={config.whiten} each step={config.whiten_each_step}; threads={args.threads}")
    print("| data | task | mode | quality | steps | time s | time ratio | peak MiB | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        folder = args.data / name
        if name == "blogcatalog":
            rows = _lines(folder / "edges.tsv")
            config = EmbedConfig.from_preset(args.preset, columns=COLUMNS, residual=0.0, iterations=5, tol=0)
        elif name == "ego_facebook":
            split = split_edges(folder / "edges.tsv", columns=COLUMNS, test_fraction=0.1, seed=0)
            rows = split.train_rows
        else:
            rows, labels = _lines(folder / "edges.tsv"), read_labels(folder / "labels.tsv")
        base = None
        for mode in args.modes:
            ids, vectors, steps = embed_mode(rows, mode, config, args.threads)
            model = (ids, vectors)
            if name == "blogcatalog":
                quality, task = "-", "cost"
            elif name == "ego_facebook":
                report = link_prediction(model, split)
                quality = f"MRR {report['mrr']:.4f}, HR@10 {report['hr@10']:.4f}"
                task = "links"
            else:
                report = node_classification(model, labels, seeds=5)
                quality = f"acc {report['accuracy']:.4f} ± {report['accuracy_std']:.4f}, F1 {report['macro_f1']:.4f}"
                task = "classes"
            seconds, peak = _costs(rows, mode, config, args.threads, args.repeat)
            base = (seconds, peak) if mode == "default" or base is None else base
            print(
                f"| {name} | {task} | {mode} | {quality} | {steps} | {seconds:.3f} | {seconds / base[0]:.2f} "
                f"| {peak / 2**20:.1f} | {peak / base[1]:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
