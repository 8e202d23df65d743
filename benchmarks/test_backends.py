"""Per-backend micro benchmarks: sparse product, hash initialization, one full step,
and the candidate torch sparse-product calls.

Run::

    python -m pytest benchmarks/test_backends.py --benchmark-columns=min,median,rounds

Backends: ``scipy`` and ``torch:cpu`` here; ``torch:cuda`` and ``cupy`` run
unchanged on a machine with a GPU and are skipped with the reason otherwise.
Data: the seeded synthetic power-law user-item graph of ``synthetic.py`` with
``BENCH_EDGES`` interactions (default 1e6: 110 k entities, 1.8 M non-zeros),
dim 256, all CPU cores. GPU timings include a device synchronization.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import cleora_tensor as ct

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_tsv  # noqa: E402

EDGES = int(float(os.environ.get("BENCH_EDGES", "1e6")))
DIM = 256
BACKENDS = ["scipy", "torch:cpu", "torch:cuda", "cupy"]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    source = write_tsv(tmp_path_factory.mktemp("bench") / "interactions.tsv", EDGES, seed=0)
    return ct.read_hypergraph(source, "user item").graph()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    name, _, device = request.param.partition(":")
    try:
        return ct.get_backend(name, device=device or None)
    except ValueError as error:  # also BackendUnavailableError (package missing)
        pytest.skip(f"{request.param}: {error}")


def _synchronize(backend):
    """Wait for queued GPU work, so that timings cover it."""
    if backend.name == "cupy":
        backend.device.synchronize()
    elif backend.name == "torch" and backend.device.type == "cuda":
        import torch

        torch.cuda.synchronize(backend.device)


@pytest.fixture(scope="module")
def vectors(graph, backend):
    return ct.initialize(graph.keys(), DIM, xp=backend.xp, device=backend.device)


def test_initialize(benchmark, graph, backend):
    keys = graph.keys()

    def run():
        ct.initialize(keys, DIM, xp=backend.xp, device=backend.device)
        _synchronize(backend)

    benchmark.pedantic(run, rounds=3)


def test_spmm(benchmark, graph, backend, vectors):
    operator = backend.operator(ct.transition_matrix(graph))
    # A reused output buffer, as the loop does where the backend allows it.
    out = operator.matmul(vectors)

    def run():
        operator.matmul(vectors, out=out)
        _synchronize(backend)

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("each_step", [True, False], ids=["pca-each-step", "defaults"])
def test_one_iteration(benchmark, graph, backend, vectors, each_step):
    """One step of the loop: product, L2 normalization, PCA whitening (pycleora's
    schedule), or the library defaults (ZCA once at the end)."""
    operator = backend.operator(ct.transition_matrix(graph))
    options = {"whiten": "pca", "whiten_each_step": True, "whiten_floor": 0.0} if each_step else {}

    def run():
        ct.propagate(operator, vectors, iterations=1, **options)
        _synchronize(backend)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("call", ["addmm-out", "mm-out", "matmul", "sparse.mm", "coo-sparse.mm"])
def test_torch_cpu_product_variants(benchmark, graph, call, index):
    """The ways to multiply a sparse torch tensor by a dense one on the CPU; the
    backend uses the fastest (``addmm`` into a reused buffer, int64 indices)."""
    torch = pytest.importorskip("torch")
    matrix = ct.transition_matrix(graph)
    dtype = getattr(torch, index)
    if call == "coo-sparse.mm":
        coo = matrix.tocoo()
        indices = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=dtype)
        sparse = torch.sparse_coo_tensor(indices, torch.as_tensor(coo.data), size=matrix.shape).coalesce()
    else:
        sparse = torch.sparse_csr_tensor(
            torch.as_tensor(matrix.indptr, dtype=dtype),
            torch.as_tensor(matrix.indices, dtype=dtype),
            torch.as_tensor(matrix.data),
            size=matrix.shape,
            check_invariants=False,
        )
    x = torch.as_tensor(ct.initialize(graph.keys(), DIM))
    out = torch.empty_like(x)
    run = {
        "addmm-out": lambda: torch.addmm(out, sparse, x, beta=0.0, out=out),
        "mm-out": lambda: torch.mm(sparse, x, out=out),
        "matmul": lambda: sparse @ x,
        "sparse.mm": lambda: torch.sparse.mm(sparse, x),
        "coo-sparse.mm": lambda: torch.sparse.mm(sparse, x),
    }[call]
    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
