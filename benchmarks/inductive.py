"""Inductive embedding vs full re-embedding, and cross-run stability (issue 4).

Protocol, per data set and whitening method (all else default):

* hold-out "rows": a seeded 10 % of the rows is held out; the unseen entities
  are the items that appear only in held-out rows (none in groceries, whose
  169 items are all frequent); hold-out "items": a seeded 10 % of the items is
  unseen and every row mentioning one is held out (harsher: the training rows
  lose those rows' other items too);
* ``model = embed(training rows)``, ``new = embed_new(model, held-out rows)``;
* ``full = embed(all rows)``; compare each unseen item's inductive vector with
  its vector in ``full``: mean cosine, and the overlap of its 10 nearest known
  items (cosine) in the two; and, for known items, the mean cosine between the
  training run and the full run (stability of the coordinates);
* downstream: a logistic regression (scikit-learn defaults, ``max_iter=3000``)
  fitted on the known items' vectors predicts the unseen items' category
  (groceries ``items.tsv`` level1, MovieLens first listed genre): with the
  training model and the inductive vectors, and with the full re-embedding's
  vectors for both (what re-embedding everything would give).

Data: groceries baskets (``transient::basket complex::reflexive::item``) and
movielens_100k ratings (``transient::user item``, one row per rating).

Usage::

    python benchmarks/inductive.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import cleora_tensor as ct

SETS = {
    "groceries": ("groceries/baskets.tsv", "transient::basket complex::reflexive::item", 1),
    "movielens_100k": ("movielens_100k/interactions.tsv", "transient::user item ignore::rating ignore::time", 1),
}
# Whitening and early stop of each row: the three whitening methods, and the
# default without early stopping (all 15 steps).
VARIANTS = [("zca", None), ("pca", None), ("none", None), ("zca", 0)]


def categories(data: Path, name: str) -> dict[str, str]:
    """Item -> category: groceries level1, MovieLens first listed genre."""
    rows = [line.split("\t") for line in (data / name / "items.tsv").read_text().splitlines()[1:]]
    if name == "groceries":
        return {row[0]: row[3] for row in rows}
    return {row[0]: row[3].split("|")[0] for row in rows}


def split(lines: list[str], item_column: int, mode: str, seed: int = 0) -> tuple[list[str], list[str], set[str]]:
    """Training rows, held-out rows, and the unseen items."""
    rng = np.random.default_rng(seed)
    cells = [set(line.split("\t")[item_column].split(" ")) for line in lines]
    if mode == "rows":
        held_out = rng.random(len(lines)) < 0.1
        seen = set().union(*(c for c, h in zip(cells, held_out) if not h))
        unseen = set().union(*(c for c, h in zip(cells, held_out) if h)) - seen
    else:
        items = sorted(set().union(*cells))
        unseen = set(rng.choice(items, size=max(1, len(items) // 10), replace=False).tolist())
        held_out = [bool(c & unseen) for c in cells]
    kept = [line for line, h in zip(lines, held_out) if not h]
    held = [line for line, h in zip(lines, held_out) if h]
    return kept, held, unseen


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def accuracy(train_x: np.ndarray, train_y: list[str], test_x: np.ndarray, test_y: list[str]) -> float:
    return float(LogisticRegression(max_iter=3000).fit(train_x, train_y).score(test_x, test_y))


def measure(
    lines: list[str], spec: str, item_column: int, whiten: str, tol: float | None, mode: str, labels: dict[str, str]
) -> dict[str, float]:
    kept, held, unseen = split(lines, item_column, mode)
    model = ct.embed(iter(kept), columns=spec, whiten=whiten, tol=tol)
    new = ct.embed_new(model, iter(held))
    full = ct.embed(iter(lines), columns=spec, whiten=whiten, tol=tol, keep_state=False)
    present = set(full.entity_ids)
    known = [i for i in model.entity_ids if i in present]
    full_known = unit(full.vectors[[full.index(i) for i in known]])
    model_known = unit(model.vectors[[model.index(i) for i in known]])
    new_ids = [i for i in new.entity_ids if i in unseen]
    inductive = unit(new.vectors[[new.index(i) for i in new_ids]])
    reference = unit(full.vectors[[full.index(i) for i in new_ids]])
    overlap = []
    for a, b in zip(inductive, reference):
        top_a = set(np.argsort(-(model_known @ a))[:10])
        top_b = set(np.argsort(-(full_known @ b))[:10])
        overlap.append(len(top_a & top_b) / 10)
    labelled = [k for k, i in enumerate(known) if i in labels]
    known_y = [labels[known[k]] for k in labelled]
    new_y = [labels[i] for i in new_ids]
    return {
        "accuracy_inductive": accuracy(model_known[labelled], known_y, inductive, new_y),
        "accuracy_full": accuracy(full_known[labelled], known_y, reference, new_y),
        "unseen": len(new_ids),
        "inductive_vs_full_cosine": float((inductive * reference).sum(axis=1).mean()),
        "top10_overlap": float(np.mean(overlap)),
        "known_training_vs_full_cosine": float((model_known * full_known).sum(axis=1).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    print("| data | hold-out | whiten | early stop | unseen items | inductive vs full cosine | top-10 overlap "
          "| known items: training vs full cosine | unseen-item category accuracy: inductive / full |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (relative, spec, column) in SETS.items():
        lines = (args.data / relative).read_text().splitlines()
        labels = categories(args.data, name)
        for mode in ("rows", "items") if name != "groceries" else ("items",):
            for whiten, tol in VARIANTS:
                r = measure(lines, spec, column, whiten, tol, mode, labels)
                stop = "off" if tol == 0 else "default"
                print(f"| {name} | {mode} | {whiten} | {stop} | {r['unseen']} | {r['inductive_vs_full_cosine']:.3f} | "
                      f"{r['top10_overlap']:.2f} | {r['known_training_vs_full_cosine']:.3f} | "
                      f"{r['accuracy_inductive']:.3f} / {r['accuracy_full']:.3f} |", flush=True)

if __name__ == "__main__":
    main()
