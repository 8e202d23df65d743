"""Bipartite tables: the lazy walk (default) against the plain walk, retrieval and pycleora presets.

MovieLens-100k ratings embedded as a plain ``user item`` table (and as
``transient::user item``): movie genre accuracy (logistic regression, 5-fold,
first listed genre, genres with >= 20 movies), user -> movie link prediction MRR
(``cleora_tensor.evaluation`` protocol: 10 % of the ratings hidden; cosine, and
cosine + 0.1 log popularity) and stability (mean cosine, all rows vs a seeded
95 % subsample). The table is in the README ("Bipartite tables").

Usage::

    python benchmarks/bipartite.py [--data ../shared/data/movielens_100k]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

import cleora_tensor as ct
from cleora_tensor import evaluation

SETTINGS = {
    "defaults (lazy walk)": {},
    "plain walk (--residual 0)": {"residual": 0},
    "--preset retrieval": {"preset": "retrieval"},
    "--preset pycleora": {"preset": "pycleora"},
}


def genres(data: Path) -> dict[str, str]:
    rows = [line.split("\t") for line in (data / "items.tsv").read_text().splitlines()[1:]]
    first = {row[0]: row[3].split("|")[0] for row in rows}
    common = {g for g, n in Counter(first.values()).items() if n >= 20}
    return {item: g for item, g in first.items() if g in common}


def genre_accuracy(emb: ct.Embedding, labels: dict[str, str]) -> float:
    items = [i for i, t in zip(emb.entity_ids, emb.types) if t == "item" and i in labels]
    x = np.asarray(emb.vectors)[emb.rows(items, types=["item"] * len(items))]
    return float(cross_val_score(LogisticRegression(max_iter=2000), x, [labels[i] for i in items], cv=5).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/movielens_100k")
    args = parser.parse_args()
    ratings, labels = args.data / "interactions.tsv", genres(args.data)
    for spec in ("user item ignore::rating ignore::ts", "transient::user item ignore::rating ignore::ts"):
        print(f"## {spec}\n\n| setting | residual, tol used | genre accuracy | link MRR (+ prior) | stability |\n|---|---|---|---|---|")
        for name, options in SETTINGS.items():
            emb = ct.embed(ratings, columns=spec, keep_state=False, **options)
            cells = [name, f"{emb.config.residual}, {emb.config.tol}", f"{genre_accuracy(emb, labels):.3f}"]
            if not spec.startswith("transient"):
                report = evaluation.link_prediction_report(ratings, columns=spec, with_stability=True, **options)
                mrr = [r["mrr"] for r in report["results"]]
                cells += [f"{mrr[0]:.4f} ({mrr[1]:.4f})", f"{report['stability']['mean_cosine']:.3f}"]
            else:
                cells += ["", ""]
            print("| " + " | ".join(cells) + " |", flush=True)
        print()


if __name__ == "__main__":
    main()
