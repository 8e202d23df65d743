"""Micro benchmarks of the propagation kernels (pytest-benchmark).

Run::

    python -m pytest benchmarks/test_kernels.py --benchmark-columns=min,median,rounds

Data: the seeded synthetic power-law user-item graph of ``synthetic.py`` with
``BENCH_EDGES`` interactions (default 1e6: 110 k entities, 1.8 M non-zeros),
dim 256. Thread counts 1 and all cores show the parallel speed-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import cleora_tensor as ct
from cleora_tensor.backends.scipy import ScipyOperator
from cleora_tensor.parallel import available_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_tsv  # noqa: E402

EDGES = int(float(os.environ.get("BENCH_EDGES", "1e6")))
DIM = 256
THREADS = sorted({1, available_threads()})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_tsv(tmp_path_factory.mktemp("bench") / "interactions.tsv", EDGES, seed=0)


@pytest.fixture(scope="module")
def graph(source):
    return ct.read_hypergraph(source, "user item").graph()


@pytest.fixture(scope="module")
def vectors(graph):
    return ct.initialize(graph.keys(), DIM)


def test_build_graph(benchmark, source):
    benchmark.pedantic(lambda: ct.read_hypergraph(source, "user item").graph(), rounds=3)


@pytest.mark.parametrize("threads", THREADS)
def test_initialize(benchmark, graph, threads):
    keys = graph.keys()
    benchmark.pedantic(ct.initialize, (keys, DIM), {"threads": threads}, rounds=3)


@pytest.mark.parametrize("threads", THREADS)
def test_spmm(benchmark, graph, vectors, threads):
    operator = ScipyOperator(ct.transition_matrix(graph), threads=threads)
    out = np.empty_like(vectors)
    benchmark.pedantic(operator.matmul, (vectors,), {"out": out}, rounds=5)


@pytest.mark.parametrize("threads", THREADS)
def test_normalize_rows(benchmark, vectors, threads):
    out = np.empty_like(vectors)
    benchmark.pedantic(ct.normalize_rows, (vectors,), {"out": out, "threads": threads}, rounds=5)


@pytest.mark.parametrize("threads", THREADS)
def test_whitening_fit(benchmark, vectors, threads):
    benchmark.pedantic(ct.Whitening.fit, (vectors,), {"method": "pca", "threads": threads}, rounds=5)


@pytest.mark.parametrize("threads", THREADS)
def test_whitening_transform(benchmark, vectors, threads):
    fitted = ct.Whitening.fit(vectors)
    out = np.empty_like(vectors)
    benchmark.pedantic(fitted.transform, (vectors,), {"out": out, "threads": threads}, rounds=5)


@pytest.mark.parametrize("each_step", [False, True], ids=["whiten-at-end", "whiten-each-step"])
def test_propagate_ten_steps(benchmark, graph, vectors, each_step):
    operator = ScipyOperator(ct.transition_matrix(graph))
    benchmark.pedantic(
        ct.propagate,
        (operator, vectors),
        {"iterations": 10, "whiten": "pca", "whiten_each_step": each_step, "whiten_floor": 0.0},
        rounds=2,
    )
