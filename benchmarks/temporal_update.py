"""Incremental update vs full re-embedding (issue 14, deliverable 4, first bullet).

Protocol, per data set (defaults: classification preset, all cores):

* the downstream split first: groceries hides one item of 20 % of the baskets
  (:func:`~cleora_tensor.evaluation.split_baskets`), ego_facebook holds out
  10 % of the edges (:func:`~cleora_tensor.evaluation.split_edges`), seed 0;
  everything below uses the training rows only;
* "add p": a seeded random fraction ``p`` of the training rows is held back,
  ``model = embed(rest)`` (with the graph in its state), then
  ``update(model, added=held back)`` against ``embed(all training rows)``;
* "remove 1 %": ``model = embed(all training rows)``, then
  ``update(model, removed=1 %)`` against ``embed(the other 99 %)``;
* wall time: the best of ``--repeats`` runs of each, rows given as in-memory
  lines to both (reading the files costs both alike); the ratio is full / update;
* mean cosine of the known entities' vectors (those of the model) between the
  update and the full run (in brackets: between the model itself, not
  updated, and the full run), and the mean overlap of their 10 nearest neighbours
  (cosine, among the entities of both);
* downstream: basket-completion / link-prediction MRR (prior 0.1, the
  library's default for ``complete``) of each.

``--whitening refit`` and ``--steps`` give the other variants of the table;
``--synthetic N`` measures a seeded power-law user-item table of N rows
(``benchmarks/synthetic.py``) without the downstream score.

Usage::

    python benchmarks/temporal_update.py [--data ../shared/data] [--steps K] [--whitening refit]
    python benchmarks/temporal_update.py --synthetic 1000000
    python benchmarks/temporal_update.py --write-rows DIR   # rows for the command line
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

import cleora_tensor as ct
from cleora_tensor.evaluation import basket_completion, link_prediction, split_baskets, split_edges
from cleora_tensor.update import update

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import power_law_interactions  # noqa: E402

SETS = {
    "groceries": ("groceries/baskets.tsv", "transient::basket complex::reflexive::item"),
    "ego_facebook": ("ego_facebook/edges.tsv", "node node"),
}
CASES = [("add", 0.001), ("add", 0.01), ("add", 0.1), ("remove", 0.01)]


def timed(run, repeats: int):
    """The result of ``run()`` and the best wall time of ``repeats`` runs, in seconds."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return result, best


def compare(a: ct.Embedding, b: ct.Embedding, k: int = 10) -> tuple[float, float]:
    """Mean cosine and mean top-``k`` neighbour overlap of ``a``'s entities that ``b`` also holds."""
    rows_b = b.rows(a.entity_ids, a.types)
    both = np.flatnonzero(rows_b >= 0)
    x = np.asarray(a.vectors, dtype=np.float64)[both]
    y = np.asarray(b.vectors, dtype=np.float64)[rows_b[both]]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    cosine = float((x * y).sum(1).mean())
    overlaps = []
    for lo in range(0, len(x), 2048):
        near = []
        for z in (x, y):
            scores = z[lo : lo + 2048] @ z.T
            scores[np.arange(len(scores)), lo + np.arange(len(scores))] = -np.inf
            near.append(np.argpartition(-scores, k, axis=1)[:, :k])
        overlaps += [len(np.intersect1d(p, q)) / k for p, q in zip(*near)]
    return cosine, float(np.mean(overlaps))


def held_back(lines: list[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(rest, a seeded random ``fraction`` of ``lines``), both in file order."""
    chosen = np.zeros(len(lines), bool)
    chosen[np.random.default_rng(seed).permutation(len(lines))[: max(1, round(fraction * len(lines)))]] = True
    return [x for x, c in zip(lines, chosen) if not c], [x for x, c in zip(lines, chosen) if c]


def measure(lines: list[str], columns: str, score, options: dict, repeats: int) -> None:
    for kind, fraction in CASES:
        rest, part = held_back(lines, fraction)
        if kind == "add":
            model, target, rows = ct.embed(rest, columns=columns), lines, {"added": part}
        else:
            model, target, rows = ct.embed(lines, columns=columns), rest, {"removed": part}
        full, full_time = timed(lambda: ct.embed(target, columns=columns), repeats)
        new, update_time = timed(lambda: update(model, **rows, **options), repeats)
        cosine, overlap = compare(_known(new, model), full)
        stale, _ = compare(model, full)
        scores = "" if score is None else f" | {score(new):.4f} | {score(full):.4f}"
        print(
            f"| {kind} {fraction:.1%} | {len(part)} | {full_time * 1e3:.0f} | {update_time * 1e3:.0f} | "
            f"{full_time / update_time:.1f}x | {cosine:.4f} ({stale:.4f}) | {overlap:.3f}{scores} |",
            flush=True,
        )


def _known(new: ct.Embedding, model: ct.Embedding) -> ct.Embedding:
    """``new`` restricted to the model's (known) entities."""
    rows = new.rows(model.entity_ids, model.types)
    keep = rows[rows >= 0]
    return dataclasses.replace(
        new,
        entity_ids=[new.entity_ids[i] for i in keep],
        types=new.types[keep],
        vectors=np.asarray(new.vectors)[keep],
        degrees=new.degrees[keep],
        occurrences=new.occurrences[keep],
        state=None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--steps", type=int, default=None, help="update steps (default: update's)")
    parser.add_argument("--whitening", choices=("saved", "refit"), default="saved")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--synthetic", type=int, default=0, metavar="N", help="measure a power-law user-item table of N rows instead")
    parser.add_argument("--write-rows", type=Path, metavar="DIR", help="only write each data set's training rows as NAME_rest.tsv and NAME_added.tsv (the add 1 %% case) for the command line")
    args = parser.parse_args()
    if args.write_rows:
        for name, (relative, columns) in SETS.items():
            path = args.data / relative
            split = split_baskets(path, columns=columns, seed=0) if name == "groceries" else split_edges(path, columns=columns, seed=0)
            for suffix, rows in zip(("rest", "added"), held_back(list(split.train_rows), 0.01)):
                (args.write_rows / f"{name}_{suffix}.tsv").write_text("".join(f"{row}\n" for row in rows))
        return
    options = {"steps": args.steps, "whitening": args.whitening}
    print("| case | rows | full ms | update ms | ratio | mean cosine, known (not updated) | top-10 overlap | update MRR | full MRR |")
    print("|---|---|---|---|---|---|---|---|---|")
    if args.synthetic:
        users, items = power_law_interactions(args.synthetic, seed=0)
        lines = [f"u{u}\ti{i}" for u, i in zip(users.tolist(), items.tolist())]
        print(f"| **synthetic {args.synthetic} rows** (`transient::user item`) |||||||||")
        measure(lines, "transient::user item", None, options, args.repeats)
        return
    for name, (relative, columns) in SETS.items():
        path = args.data / relative
        if name == "groceries":
            split = split_baskets(path, columns=columns, seed=0)
            score = lambda m, s=split: basket_completion(m, s, prior=0.1)["mrr"]  # noqa: E731
        else:
            split = split_edges(path, columns=columns, seed=0)
            score = lambda m, s=split: link_prediction(m, s, prior=0.1)["mrr"]  # noqa: E731
        print(f"| **{name}** ({len(split.train_rows)} training rows) |||||||||")
        measure(list(split.train_rows), columns, score, options, args.repeats)


if __name__ == "__main__":
    main()
