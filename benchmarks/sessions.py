"""Seeded synthetic sessions, and basket completion as single-item sessions grow.

Session logs are the most common Cleora input, and in many of them most
sessions hold one item (a download log: 74 % single-item sessions, mean 1.65
items). :func:`write_sessions` writes such a log with a known structure:

* ``items`` items of power-law popularity (Zipf exponent ``zipf``: the item of
  popularity rank ``r`` is drawn with probability proportional to ``r**-zipf``);
* ``clusters`` latent clusters (each item in one, by a seeded draw) that a
  session draws from: its first item by popularity, each further item from the
  first item's cluster with probability ``coherence`` (by popularity within the
  cluster), otherwise by global popularity;
* a share ``single`` of the sessions holds one item; the others hold
  ``2 + Geometric`` items with mean ``length``.

Rows are ``session<TAB>item item ...`` (``transient::session
complex::reflexive::item``). :func:`main` sweeps the single-item share and
prints, for every method, basket completion MRR (one item hidden in 20 % of the
sessions with at least 2 items, ``cleora_tensor.evaluation.basket_completion``)
with and without the popularity prior, beside pycleora 3.2.1 (fed the item
column alone, as its ``from_iterator`` takes one relation) and the popularity
and co-occurrence baselines.

Usage::

    python benchmarks/sessions.py [--shares 0 0.25 0.5 0.74 0.9] [--sessions 20000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

SPEC = "transient::session complex::reflexive::item"
PRIOR = 0.1


def sessions(
    n: int,
    *,
    items: int = 1000,
    single: float = 0.74,
    length: float = 3.5,
    clusters: int = 40,
    coherence: float = 0.8,
    zipf: float = 1.1,
    seed: int = 0,
) -> list[str]:
    """``n`` synthetic sessions as TSV rows (see the module docstring).

    Parameters
    ----------
    n : int
        Sessions.
    items, clusters : int
        Catalogue size and latent clusters.
    single : float
        Share of single-item sessions, in ``[0, 1]``.
    length : float
        Mean length of the other sessions, > 2.
    coherence : float
        Probability that a further item comes from the first item's cluster.
    zipf : float
        Popularity exponent.
    seed : int

    Returns
    -------
    list of str
        ``"s<k>\\ti<a> i<b> ..."``; an item appears at most once per session.
    """
    rng = np.random.default_rng(seed)
    weight = np.arange(1, items + 1, dtype=np.float64) ** -zipf
    popularity = weight / weight.sum()
    cluster = rng.integers(0, clusters, items)
    members = [np.flatnonzero(cluster == c) for c in range(clusters)]
    within = [popularity[m] / popularity[m].sum() for m in members]
    rows = []
    for k in range(n):
        first = int(rng.choice(items, p=popularity))
        size = 1 if rng.random() < single else 1 + int(rng.geometric(1.0 / (length - 1.0)))
        chosen = [first]
        c = cluster[first]
        for _ in range(8 * size):  # bounded: a small cluster may run out of new items
            if len(chosen) == size:
                break
            pick = int(rng.choice(members[c], p=within[c])) if rng.random() < coherence else int(rng.choice(items, p=popularity))
            if pick not in chosen:
                chosen.append(pick)
        rows.append(f"s{k}\t" + " ".join(f"i{i}" for i in chosen))
    return rows


METHODS = {
    "preset classification": {},
    "preset retrieval": {"preset": "retrieval"},
    "preset pycleora": {"preset": "pycleora"},
}


def _pycleora(rows: list[str]) -> tuple[list[str], np.ndarray]:
    import pycleora

    graph = pycleora.SparseMatrix.from_iterator(iter(r.split("\t")[1] for r in rows), "complex::reflexive::item")
    return list(graph.entity_ids), pycleora.embed(graph)


def sweep(shares: list[float], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Basket completion MRR of every method at every single-item share."""
    import cleora_tensor as ct
    from cleora_tensor import evaluation as ev

    results = []
    for share in shares:
        rows = sessions(n, single=share, seed=seed)
        split = ev.split_baskets(rows, columns=SPEC)
        models: dict[str, Any] = {name: ct.embed(iter(split.train_rows), columns=SPEC, **options)
                                  for name, options in METHODS.items()}
        try:
            models["pycleora 3.2.1"] = _pycleora(split.train_rows)
        except ImportError:
            pass
        for name, model in models.items():
            plain, boosted = ev.basket_completion(model, split), ev.basket_completion(model, split, prior=PRIOR)
            results.append({"share": share, "method": name, "mrr": plain["mrr"], "mrr_prior": boosted["mrr"]})
        for baseline in ev.BASELINES:
            results.append({"share": share, "method": f"baseline: {baseline}",
                            "mrr": ev.basket_completion(baseline, split)["mrr"], "mrr_prior": None})
        print("# done", share, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.74, 0.9])
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, help="only write the sessions of the first share to this file")
    args = parser.parse_args()
    if args.write is not None:
        args.write.write_text("\n".join(sessions(args.sessions, single=args.shares[0], seed=args.seed)) + "\n")
        return
    start = time.perf_counter()
    results = sweep(args.shares, args.sessions, args.seed)
    methods = list(dict.fromkeys(r["method"] for r in results))
    print(f"{args.sessions} sessions, 1000 items, seed {args.seed}; MRR (MRR with prior {PRIOR}); "
          f"{time.perf_counter() - start:.0f} s on {os.cpu_count()} cores")
    print("| method | " + " | ".join(f"single {s:.0%}" for s in args.shares) + " |")
    print("|---|" + "---|" * len(args.shares))
    for method in methods:
        cells = []
        for share in args.shares:
            row = next(r for r in results if r["method"] == method and r["share"] == share)
            cells.append(f"{row['mrr']:.3f}" + ("" if row["mrr_prior"] is None else f" ({row['mrr_prior']:.3f})"))
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
