"""The measurements behind cleora_tensor's defaults (README, "Defaults").

For several whitening schedules, iteration counts and relative eigenvalue floors,
on ``../shared/data``:

* node classification: scikit-learn ``LogisticRegression`` (defaults,
  ``max_iter=3000``) on cora and citeseer, stratified 80/20 splits, seeds 0-4,
  mean accuracy;
* stability: groceries and movielens_100k baskets embedded from all rows and
  from a seeded 95 % subsample of the rows; mean cosine between an item's two
  vectors.

All runs: dim 256, left Markov propagation, hash initialization, seed 0.

Usage::

    python benchmarks/defaults_study.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import cleora_tensor as ct

# (label, iterations, whiten, each_step, floor, tol): pycleora's schedule, then variants.
SCHEDULES = [
    ("pycleora: PCA every step", 40, "pca", True, 0.0, None),
    ("ZCA every step", 40, "zca", True, 0.0, None),
    ("no whitening", 40, "none", False, 0.0, None),
    ("PCA once at the end", 40, "pca", False, 0.0, None),
    ("ZCA once at the end", 40, "zca", False, 0.0, None),
    *[
        (f"ZCA at the end, floor {floor:g}", iterations, "zca", False, floor, None)
        for iterations in (10, 15, 20, 30)
        for floor in (1e-3, 1e-2, 1e-1)
    ],
    ("default: ZCA at the end, floor 0.1, tol 0.32", 15, "zca", False, 0.1, 0.32),
]
BASKETS = {
    "groceries": "transient::basket complex::reflexive::item",
    "movielens_100k": "transient::user complex::reflexive::item",
}


def _embed(
    graph: ct.Graph, iterations: int, whiten: str, each_step: bool, floor: float, tol: float | None
) -> np.ndarray:
    x = ct.initialize(graph.keys(), 256)
    # As embed does: whitening statistics from the output (non-transient) entities.
    rows = None if graph.output.all() else np.flatnonzero(graph.output)
    return ct.propagate(
        ct.transition_matrix(graph, "left"),
        x,
        iterations=iterations,
        whiten=whiten,
        whiten_each_step=each_step,
        whiten_floor=floor,
        tol=tol,
        whiten_rows=rows,
        overwrite_x=True,
    ).vectors


def _classification(data: Path, name: str, schedule: tuple) -> float:
    labels = dict(line.split("\t") for line in (data / name / "labels.tsv").read_text().splitlines())
    graph = ct.read_hypergraph(data / name / "edges.tsv", "node node").graph()
    keep = np.array([i in labels for i in graph.entity_ids])
    y = np.array([labels[i] for i in np.asarray(graph.entity_ids)[keep]])
    x = _embed(graph, *schedule[1:])[keep]
    scores = []
    for seed in range(5):
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
        scores.append(LogisticRegression(max_iter=3000).fit(x_tr, y_tr).score(x_te, y_te))
    return float(np.mean(scores))


def _stability(data: Path, name: str, schedule: tuple) -> float:
    lines = (data / name / "baskets.tsv").read_text().splitlines()
    rng = np.random.default_rng(0)
    subsample = [line for line in lines if rng.random() < 0.95]
    full = ct.read_hypergraph(iter(lines), BASKETS[name]).graph()
    part = ct.read_hypergraph(iter(subsample), BASKETS[name]).graph()
    where = {entity: k for k, entity in enumerate(full.entity_ids)}
    pairs = [(where[e], k) for k, e in enumerate(part.entity_ids) if part.output[k] and e in where]
    a, b = (np.array(side) for side in zip(*pairs))
    u = ct.normalize_rows(_embed(full, *schedule[1:])[a])
    v = ct.normalize_rows(_embed(part, *schedule[1:])[b])
    return float((u * v).sum(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    print("| schedule | iterations | cora acc | citeseer acc | groceries stability | movielens stability | s |")
    print("|---|---|---|---|---|---|---|")
    for schedule in SCHEDULES:
        start = time.perf_counter()
        cells = [_classification(args.data, n, schedule) for n in ("cora", "citeseer")]
        cells += [_stability(args.data, n, schedule) for n in BASKETS]
        print(f"| {schedule[0]} | {schedule[1]} | " + " | ".join(f"{c:.3f}" for c in cells)
              + f" | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
