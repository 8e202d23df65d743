"""Seeded synthetic power-law user-item interactions (DESIGN section 12)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def power_law_interactions(n_edges: int, *, seed: int = 0):
    """Draw ``n_edges`` (user, item) index pairs with Zipf-like popularity.

    Users and items are drawn independently from truncated power laws
    ``p(rank) ~ rank ** -exponent`` over ``n_edges // 10`` users (exponent 0.5)
    and ``n_edges // 100`` items (exponent 1.0). At 1e7 edges this gives
    1.10 M distinct entities and 18.6 M non-zeros in the symmetric adjacency
    matrix, the scale of the reference measurement in DESIGN section 12.

    Returns
    -------
    users, items : numpy.ndarray, int64, shape ``(n_edges,)``
    """
    rng = np.random.default_rng(seed)
    n_users = max(n_edges // 10, 2)
    n_items = max(n_edges // 100, 2)

    def draw(n_values: int, size: int, exponent: float) -> np.ndarray:
        ranks = np.arange(1, n_values + 1, dtype=np.float64)
        cdf = np.cumsum(ranks**-exponent)
        cdf /= cdf[-1]
        drawn = np.searchsorted(cdf, rng.random(size), side="right")
        # A seeded permutation decorrelates id strings from popularity.
        return rng.permutation(n_values)[np.minimum(drawn, n_values - 1)]

    return draw(n_users, n_edges, 0.5), draw(n_items, n_edges, 1.0)


def write_tsv(path: Path, n_edges: int, *, seed: int = 0) -> Path:
    """Write ``u<user>\\ti<item>`` lines for :func:`power_law_interactions`."""
    users, items = power_law_interactions(n_edges, seed=seed)
    path = Path(path)
    chunk = 1_000_000
    with open(path, "w", encoding="utf-8") as handle:
        for start in range(0, n_edges, chunk):
            u = users[start : start + chunk].astype(str)
            i = items[start : start + chunk].astype(str)
            lines = np.char.add(np.char.add(np.char.add("u", u), "\ti"), i)
            handle.write("\n".join(lines.tolist()))
            handle.write("\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--edges", type=float, default=1e6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_tsv(args.output, int(args.edges), seed=args.seed)


if __name__ == "__main__":
    main()
