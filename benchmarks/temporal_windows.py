"""Time and change on MovieLens-100k: monthly windows and composition of halves, beside pycleora.

Monthly windows (``embed_windows(window="30d")`` over the timestamped ratings,
``transient::user item ignore::rating time::ts``): for each pair of consecutive
windows, over the movies rated in both, the mean cosine of a movie's two
vectors, the top-10 neighbour overlap (neighbours among those movies), and the
genre accuracy of a logistic regression trained on one window's vectors, tested
on held-out movies of the same window and, unchanged, on the next window's
vectors (5 folds over movies; first listed genre, genres with >= 20 movies). The
"no re-alignment" claim holds when the second accuracy is within 0.03 of the
first.

Composition: the users split at random (seeded) into two halves, each half's
rows embedded alone, the movie vectors averaged with ``ct.combine``, compared
with the embedding of all rows: mean cosine, top-10 neighbour overlap, and genre
accuracy (5-fold cross-validation over movies) of each. Target: the average of
the halves within 0.02 of the full embedding's accuracy.

Control: two random halves of the users of the same window, each embedded
alone, compared as consecutive windows are (what the sparsity of one window
costs without any drift).

pycleora 3.2.1 does the same with ``pycleora.embed`` (its defaults: 40
iterations, dim 256, whitening; users prefixed ``u`` since pycleora has one id
space; its ``transient`` modifier does not exist, its user vectors are dropped).

Usage::

    python benchmarks/temporal_windows.py [--data ../shared/data/movielens_100k] [--no-pycleora] [--control-only]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

import cleora_tensor as ct
from cleora_tensor.windows import embed_windows

SPEC = "transient::user item ignore::rating time::ts"
STATIC = "transient::user item ignore::rating ignore::ts"
SETTINGS = {
    "defaults": {},
    "--iterations 4": {"iterations": 4},
    "--preset pycleora": {"preset": "pycleora"},
}
#: Each window started from the previous window's vectors (embed_windows(warm=True)).
WARM = {
    "warm": {"warm": True},
    "warm, --iterations 4": {"warm": True, "iterations": 4},
    "warm, --iterations 2": {"warm": True, "iterations": 2},
}


def genres(data: Path) -> dict[str, str]:
    rows = [line.split("\t") for line in (data / "items.tsv").read_text().splitlines()[1:]]
    first = {row[0]: row[3].split("|")[0] for row in rows}
    common = {g for g, n in Counter(first.values()).items() if n >= 20}
    return {item: g for item, g in first.items() if g in common}


def item_vectors(emb: ct.Embedding) -> dict[str, np.ndarray]:
    vectors = np.asarray(emb.vectors, dtype=np.float64)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return {i: v for i, t, v in zip(emb.entity_ids, emb.types, vectors) if t == "item"}


def pycleora_embedding(lines: list[str]) -> ct.Embedding:
    """pycleora 3.2.1's embedding of ``user item`` rows (users prefixed), its movies as an Embedding."""
    import pycleora

    graph = pycleora.SparseMatrix.from_iterator(iter(f"u{line.split(chr(9))[0]}\t{line.split(chr(9))[1]}" for line in lines), "user item")
    vectors = pycleora.embed(graph)
    keep = [k for k, i in enumerate(graph.entity_ids) if not i.startswith("u")]
    n = len(keep)
    return ct.Embedding(
        entity_ids=[graph.entity_ids[k] for k in keep], types=np.array(["item"] * n), vectors=vectors[keep].astype(np.float32),
        degrees=np.ones(n), occurrences=np.ones(n, np.int64),
    )


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray], k: int = 10) -> tuple[int, float, float]:
    """Shared movies, mean cosine of their vectors in a and b, top-k neighbour overlap among them."""
    shared = sorted(set(a) & set(b))
    x, y = np.array([a[i] for i in shared]), np.array([b[i] for i in shared])
    cosine = float((x * y).sum(1).mean())
    overlap = []
    for m in (x, y):
        sims = m @ m.T
        np.fill_diagonal(sims, -np.inf)
        overlap.append(np.argsort(-sims, axis=1, kind="stable")[:, :k])
    hits = [len(set(p) & set(q)) / k for p, q in zip(*overlap)]
    return len(shared), cosine, float(np.mean(hits))


def transfer(a: dict[str, np.ndarray], b: dict[str, np.ndarray], labels: dict[str, str]) -> tuple[float, float]:
    """Genre accuracy of a classifier trained on a's vectors: on held-out movies in a, and on the same movies in b."""
    shared = sorted(i for i in set(a) & set(b) if i in labels)
    y = np.array([labels[i] for i in shared])
    xa, xb = np.array([a[i] for i in shared]), np.array([b[i] for i in shared])
    within, across = [], []
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    for train, test in folds.split(xa, y):
        model = LogisticRegression(max_iter=2000).fit(xa[train], y[train])
        within.append(model.score(xa[test], y[test]))
        across.append(model.score(xb[test], y[test]))
    return float(np.mean(within)), float(np.mean(across))


def accuracy(vectors: dict[str, np.ndarray], labels: dict[str, str]) -> float:
    items = sorted(i for i in vectors if i in labels)
    x, y = np.array([vectors[i] for i in items]), [labels[i] for i in items]
    return float(cross_val_score(LogisticRegression(max_iter=2000), x, y, cv=5).mean())


def monthly(windows: list[tuple[str, int, dict[str, np.ndarray]]], labels: dict[str, str], name: str) -> None:
    print(f"### {name}\n\n| window -> next | rows | shared movies | mean cosine | top-10 overlap | genre acc. same window | next window | loss |")
    print("|---|---|---|---|---|---|---|---|")
    losses, cosines, overlaps = [], [], []
    for (start, rows, a), (next_start, _, b) in zip(windows, windows[1:]):
        shared, cosine, overlap = compare(a, b)
        within, across = transfer(a, b, labels)
        losses.append(within - across)
        cosines.append(cosine)
        overlaps.append(overlap)
        print(f"| {start} -> {next_start} | {rows} | {shared} | {cosine:.3f} | {overlap:.3f} | {within:.3f} | {across:.3f} | {within - across:+.3f} |")
    print(f"| mean | | | {np.mean(cosines):.3f} | {np.mean(overlaps):.3f} | | | {np.mean(losses):+.3f} |\n", flush=True)


def composition(
    lines: list[str], labels: dict[str, str], embedder: Callable[[list[str]], ct.Embedding], name: str, seed: int = 0
) -> str:
    users = sorted({line.split("\t")[0] for line in lines})
    half = set(np.random.default_rng(seed).permutation(users)[: len(users) // 2])
    parts = [[line for line in lines if (line.split("\t")[0] in half) == side] for side in (True, False)]
    start = time.perf_counter()
    full, a, b = embedder(lines), embedder(parts[0]), embedder(parts[1])
    elapsed = time.perf_counter() - start
    combined = item_vectors(ct.combine([a, b]))
    whole = item_vectors(full)
    shared, cosine, overlap = compare(whole, combined)
    acc_full, acc_combined = accuracy(whole, labels), accuracy(combined, labels)
    acc_half = accuracy(item_vectors(a), labels)
    return (
        f"| {name} | {shared} | {cosine:.3f} | {overlap:.3f} | {acc_full:.3f} | {acc_combined:.3f} | "
        f"{acc_combined - acc_full:+.3f} | {acc_half:.3f} | {elapsed:.1f} |"
    )


def control(lines: list[str], times: np.ndarray, ratings: Path, window: str, labels: dict[str, str], seed: int = 0) -> None:
    """The same window's users split in two halves, each embedded alone (defaults): drift removed, sparsity kept."""
    halves = []
    for w in embed_windows(ratings, columns=SPEC, window=window, dim=8, iterations=1):  # the bounds only
        inside = (times >= w.start.timestamp()) & (times < w.end.timestamp())
        rows = [line for line, keep in zip(lines, inside) if keep]
        users = sorted({line.split("\t")[0] for line in rows})
        half = set(np.random.default_rng(seed).permutation(users)[: len(users) // 2])
        parts = [[line for line in rows if (line.split("\t")[0] in half) == side] for side in (True, False)]
        a, b = (item_vectors(ct.embed(iter(part), columns=STATIC, keep_state=False)) for part in parts)
        halves.append((w.start.date().isoformat(), len(rows), a, b))
    print("### control: two halves of one window's users (defaults)\n")
    print("| window | rows | shared movies | mean cosine | top-10 overlap | genre acc. half A | half B | loss |")
    print("|---|---|---|---|---|---|---|---|")
    losses = []
    for start, rows, a, b in halves:
        shared, cosine, overlap = compare(a, b)
        within, across = transfer(a, b, labels)
        losses.append(within - across)
        print(f"| {start} | {rows} | {shared} | {cosine:.3f} | {overlap:.3f} | {within:.3f} | {across:.3f} | {within - across:+.3f} |", flush=True)
    print(f"| mean | | | | | | | {np.mean(losses):+.3f} |\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/movielens_100k")
    parser.add_argument("--no-pycleora", dest="pycleora", action="store_false", help="skip pycleora (about 35 s per full embedding)")
    parser.add_argument("--window", default="30d", help="window length and step (default: 30d)")
    parser.add_argument("--control-only", action="store_true", help="only the control: two halves of each window's users")
    args = parser.parse_args()
    ratings, labels = args.data / "interactions.tsv", genres(args.data)
    lines = ratings.read_text().splitlines()
    times = np.array([float(line.split("\t")[3]) for line in lines])
    if args.control_only:
        control(lines, times, ratings, args.window, labels)
        return
    print(f"## Monthly windows ({args.window}, tiling)\n")
    for name, options in {**SETTINGS, **WARM}.items():
        windows = embed_windows(ratings, columns=SPEC, window=args.window, keep_state=False, **options)
        monthly([(w.start.date().isoformat(), w.rows, item_vectors(w.embedding)) for w in windows], labels, name)
    print("## Composition: two halves of the users, averaged with ct.combine, against all rows\n")
    print("| embedding | movies | mean cosine | top-10 overlap | genre acc. all rows | averaged halves | difference | one half alone | seconds (3 embeddings) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, options in SETTINGS.items():
        print(composition(lines, labels, lambda rows, o=options: ct.embed(iter(rows), columns=STATIC, keep_state=False, **o), name), flush=True)
    if args.pycleora:
        print(composition(lines, labels, pycleora_embedding, "pycleora 3.2.1"), flush=True)
        print()
        windows = []
        for w in embed_windows(ratings, columns=SPEC, window=args.window, dim=8, iterations=1):  # the bounds only
            inside = (times >= w.start.timestamp()) & (times < w.end.timestamp())
            rows = [line for line, keep in zip(lines, inside) if keep]
            windows.append((w.start.date().isoformat(), len(rows), item_vectors(pycleora_embedding(rows))))
        monthly(windows, labels, "pycleora 3.2.1 (pycleora.embed defaults)")
    control(lines, times, ratings, args.window, labels)


if __name__ == "__main__":
    main()
