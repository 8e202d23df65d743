"""Supervised refinement (``cleora_tensor.refine.supervised_refine``) on cora: benefit or cost.

Two protocols of ``cleora_tensor.evaluation``, each with the supervision taken
from the training side only:

* link prediction: 10 % of the edges held out (``split_edges``, seed 0); embed
  the training rows with ``ct.embed`` defaults; refine with the training edges
  (both directions) as positive pairs and sampled negatives; MRR and HR@10 of
  the held-out edges, by cosine and with the 0.1 x log(popularity) prior;
* node classification, Planetoid split: embed all edges; positive pairs are
  the same-label pairs of the 140 training nodes, negative pairs their
  different-label pairs (the refinement reads no test label; only the
  held-out loss below, a measurement, does); logistic regression
  accuracy and macro-F1 on the 1000 test nodes, fitted on the vectors and on
  the L2-normalized vectors (pycleora's ``supervised_refine`` returns unit
  rows, and on cora normalization alone moves the accuracy).

Every row reports *cos*, the mean cosine between an entity's refined and
unrefined vector (how much of the unsupervised structure is left), the triplet
loss (margin 0.5) on the training pairs and on held-out pairs (the held-out
edges; the same-label pairs of the test nodes against their different-label
pairs) with fixed seeded negatives, and the wall and CPU seconds (all
threads) of the refinement.
``--pycleora`` adds pycleora 3.2.1's own ``supervised_refine`` with its
defaults, applied to the same vectors (a pure Python loop).

Usage::

    python benchmarks/refine.py [--data ../shared/data] [--pycleora]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from pathlib import Path

import numpy as np
import scipy.sparse

import cleora_tensor as ct
from cleora_tensor import evaluation as ev
from cleora_tensor.refine import supervised_refine

MARGIN = 0.5
# name -> supervised_refine options
VARIANTS = {
    "refined, defaults (lr 0.001, 10 epochs)": {},
    "refined, lr 0.01 (pycleora's), 10 epochs": {"learning_rate": 0.01},
    "refined, pycleora's schedule (lr 0.01, 50 epochs)": {"learning_rate": 0.01, "epochs": 50},
    "refined, lr 0.1, 10 epochs": {"learning_rate": 0.1},
    "refined, lr 0.1, 10 epochs, regularization 1": {"learning_rate": 0.1, "regularization": 1.0},
}


def triplet_loss(vectors: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """Mean of max(0, margin - cos(positive pair) + cos(negative pair)); negatives ``(m, k, 2)``."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-10)
    positive = np.sum(unit[positives[:, 0]] * unit[positives[:, 1]], axis=1)
    negative = np.sum(unit[negatives[..., 0]] * unit[negatives[..., 1]], axis=2)
    return float(np.maximum(0.0, MARGIN - positive[:, None] + negative).mean())


def sampled(positives: np.ndarray, n: int, k: int = 5, seed: int = 12345) -> np.ndarray:
    """``k`` negatives per positive, its first entity with a uniform other one (fixed seed)."""
    drawn = np.random.default_rng(seed).integers(n, size=(len(positives), k))
    return np.stack([np.repeat(positives[:, :1], k, axis=1), drawn], axis=2)


def drawn_from(pairs: np.ndarray, m: int, k: int = 5, seed: int = 12345) -> np.ndarray:
    """``k`` pairs of ``pairs`` per positive (fixed seed)."""
    return pairs[np.random.default_rng(seed).integers(len(pairs), size=(m, k))]


def pycleora_refine(embedding: ct.Embedding, positives: np.ndarray, negatives: np.ndarray | None) -> np.ndarray:
    """pycleora 3.2.1's ``supervised_refine`` with its defaults on the same vectors."""
    import pycleora

    # It reads only the graph's entity ids (to resolve pair ids) and their
    # count, so any graph holding exactly these entities will do: a ring.
    graph = pycleora.SparseMatrix.from_iterator(
        iter(f"{a}\t{b}" for a, b in zip(embedding.entity_ids, embedding.entity_ids[1:] + embedding.entity_ids[:1])),
        "node node",
    )
    order = embedding.rows(graph.entity_ids)
    ids = np.array(embedding.entity_ids)
    as_ids = lambda rows: [tuple(pair) for pair in ids[rows].tolist()]  # noqa: E731
    refined = pycleora.supervised_refine(
        graph, np.asarray(embedding.vectors)[order], as_ids(positives),
        None if negatives is None else as_ids(negatives),
    )
    out = np.empty_like(refined)
    out[order] = refined
    return out


def rows_of(embedding: ct.Embedding, pairs: list[tuple[str, str]]) -> np.ndarray:
    return embedding.rows([i for pair in pairs for i in pair]).reshape(-1, 2)


def variants(embedding: ct.Embedding, positives: np.ndarray, negatives: np.ndarray | None, with_pycleora: bool):
    """(name, vectors, (wall, CPU) seconds) of the unrefined and every refined embedding."""
    yield "unrefined: ct.embed defaults", np.asarray(embedding.vectors), (0.0, 0.0)
    for name, options in VARIANTS.items():
        start = time.perf_counter(), time.process_time()
        refined = supervised_refine(embedding, positives, negatives, **options)
        yield name, np.asarray(refined.vectors), (time.perf_counter() - start[0], time.process_time() - start[1])
    if with_pycleora:
        start = time.perf_counter(), time.process_time()
        refined = pycleora_refine(embedding, positives, negatives)
        yield (
            "pycleora 3.2.1 supervised_refine (defaults)", refined,
            (time.perf_counter() - start[0], time.process_time() - start[1]),
        )


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))


def link_prediction(data: Path, with_pycleora: bool) -> list[str]:
    split = ev.split_edges(data / "cora" / "edges.tsv", seed=0)
    embedding = ct.embed(iter(split.train_rows), columns="node node")
    ids = np.array(split.entity_ids)
    train = scipy.sparse.triu(split.incidence, k=1).tocoo()
    edges = list(zip(ids[train.row], ids[train.col]))
    positives = rows_of(embedding, edges + [(b, a) for a, b in edges])
    held = rows_of(embedding, [tuple(pair) for pair in ids[split.test].tolist()])
    n = len(embedding)
    out = []
    for name, vectors, seconds in variants(embedding, positives, None, with_pycleora):
        model = dataclasses.replace(embedding, vectors=vectors.astype(np.float32), config=None, state=None)
        cosine, prior = ev.link_prediction(model, split), ev.link_prediction(model, split, prior=0.1)
        out.append(
            f"| {name} | {cosine['mrr']:.3f} | {cosine['hr@10']:.3f} | {prior['mrr']:.3f} | {prior['hr@10']:.3f} "
            f"| {mean_cosine(vectors, np.asarray(embedding.vectors)):.3f} "
            f"| {triplet_loss(vectors, positives, sampled(positives, n)):.3f} "
            f"| {triplet_loss(vectors, held, sampled(held, n)):.3f} | {seconds[0]:.1f} | {seconds[1]:.1f} |"
        )
        print(out[-1], flush=True)
    return out


def classification(data: Path, with_pycleora: bool) -> list[str]:
    folder = data / "cora"
    embedding = ct.embed(folder / "edges.tsv", columns="node node")
    labels, split = ev.read_labels(folder / "labels.tsv"), ev.read_split(folder / "planetoid_split.tsv")

    def pairs(part: str, same: bool) -> np.ndarray:
        nodes = [u for u, s in split.items() if s == part and u in labels]
        chosen = [(a, b) for a, b in itertools.permutations(nodes, 2) if (labels[a] == labels[b]) == same]
        return rows_of(embedding, chosen)

    positives, negatives = pairs("train", True), pairs("train", False)
    test_positives, test_negatives = pairs("test", True), pairs("test", False)
    out = []
    for name, vectors, seconds in variants(embedding, positives, negatives, with_pycleora):
        model = dataclasses.replace(embedding, vectors=vectors.astype(np.float32), config=None, state=None)
        result = ev.node_classification(model, labels, split=split)
        # pycleora returns unit rows: the classifier is also fitted on those.
        unit = ct.normalize_rows(vectors.astype(np.float32))
        on_unit = ev.node_classification(dataclasses.replace(model, vectors=unit), labels, split=split)
        out.append(
            f"| {name} | {result['accuracy']:.3f} | {result['macro_f1']:.3f} "
            f"| {on_unit['accuracy']:.3f} | {on_unit['macro_f1']:.3f} "
            f"| {mean_cosine(vectors, np.asarray(embedding.vectors)):.3f} "
            f"| {triplet_loss(vectors, positives, drawn_from(negatives, len(positives))):.3f} "
            f"| {triplet_loss(vectors, test_positives, drawn_from(test_negatives, len(test_positives))):.3f} "
            f"| {seconds[0]:.1f} | {seconds[1]:.1f} |"
        )
        print(out[-1], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--pycleora", action="store_true", help="add pycleora 3.2.1's supervised_refine (slow)")
    arguments = parser.parse_args()
    print("## cora link prediction (training edges as positives, sampled negatives)\n")
    print("| method | MRR | HR@10 | MRR +prior | HR@10 +prior | cos | train loss | held-out loss | s | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    link_prediction(arguments.data, arguments.pycleora)
    print("\n## cora node classification, Planetoid split (same-label training pairs as positives)\n")
    print(
        "| method | accuracy | macro-F1 | accuracy, unit rows | macro-F1, unit rows | cos | train loss "
        "| held-out loss | s | CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    classification(arguments.data, arguments.pycleora)


if __name__ == "__main__":
    main()
