"""Backends: registry, lazy imports, the dense core on every namespace, cross-backend agreement.

The ``xp`` and ``device`` fixtures (from the ``backend`` fixture of
``conftest.py``) run the backend-neutral core over NumPy and torch on the CPU
(each through its production kernel set and through the generic kernels that
GPUs use), array-api-strict (its default device and the simulated ``device1``
and ``no_float64``) and, where present, torch on CUDA and CuPy; absent GPU
cases are reported as skipped with the reason. Every check asserts
namespace, dtype, shape and device besides values.
"""

from __future__ import annotations

import subprocess
import sys

import array_api_compat
import array_api_strict
import numpy as np
import pytest
import scipy.sparse

import cleora_tensor as ct
from cleora_tensor._xp import float64_supported, to_numpy
from cleora_tensor.backends import BackendUnavailableError, get_backend, select_backend
from cleora_tensor.backends import array_api as array_api_backend
from cleora_tensor.backends.array_api import ArrayAPIOperator
from cleora_tensor.datasets import dataset_path
from cleora_tensor.similarity import cosine_top_k

@pytest.fixture
def xp(backend):
    return backend[0]


@pytest.fixture
def device(backend):
    return backend[1]


def assert_array(a, xp, device, dtype, shape):
    """``a`` is an array of namespace ``xp`` on ``device`` with that dtype and shape."""
    assert array_api_compat.array_namespace(a) is xp
    assert a.dtype == dtype
    assert tuple(a.shape) == shape
    assert array_api_compat.device(a) == device


def tolerance(xp, device, float64_atol=1e-5):
    # Devices without float64 accumulate covariances (and the reference
    # operator's sums) in float32.
    return float64_atol if float64_supported(xp, device) else 100 * float64_atol


def sample(n=500, d=16, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(0.2, 3.0, d)
    return (rng.normal(size=(n, d)) @ mixing + 2.0).astype(np.float32)


def karate():
    """The karate club graph shipped with the package: 34 entities, 156 non-zeros."""
    return ct.read_hypergraph(dataset_path("karate_club"), "node node").graph()


# --- registry, lazy imports, errors -------------------------------------------


def test_importing_the_library_imports_no_framework():
    code = (
        "import cleora_tensor, cleora_tensor.cli, sys; "
        "assert 'torch' not in sys.modules and 'cupy' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_names():
    assert ct.available_backends() == ("scipy", "torch", "cupy", "array_api")
    with pytest.raises(ValueError, match="unknown backend 'nope'; choose from scipy, torch"):
        get_backend("nope")


@pytest.mark.parametrize(("name", "extra"), [("torch", "torch"), ("cupy", "cupy")])
def test_missing_package_names_it_and_the_pip_extra(monkeypatch, name, extra):
    monkeypatch.setitem(sys.modules, name, None)  # makes "import name" fail
    with pytest.raises(BackendUnavailableError, match=f"'{name}' package") as error:
        get_backend(name)
    assert f'pip install "cleora-tensor[{extra}]"' in str(error.value)
    assert error.value.name == name
    # A ValueError too, so the command line reports it in one line (exit 2).
    assert isinstance(error.value, ValueError) and isinstance(error.value, ImportError)


def test_cuda_requested_without_cuda_is_a_one_line_value_error():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for device in ("cuda", "cuda:1", torch.device("cuda", 0)):
        with pytest.raises(ValueError, match="requested but") as error:
            get_backend("torch", device=device)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="cpu' or 'cuda"):
        get_backend("torch", device="meta")
    with pytest.raises(ValueError, match="cuda"):
        ct.embed(iter(["a\tb"]), columns="node node", dim=4, backend="torch", device="cuda")


def test_kernel_sets_are_chosen_once_per_backend_and_thread_count(torch):
    assert get_backend("scipy").kernels(2) is get_backend(np.zeros(1)).kernels(2)
    assert get_backend("scipy").kernels(2).threads == 2
    assert type(get_backend("scipy").kernels()).__name__ == "NumpyKernels"
    assert type(get_backend("torch").kernels()).__name__ == "HostViewKernels"
    assert type(get_backend("array_api").kernels()).__name__ == "GenericKernels"
    with pytest.raises(ValueError, match="threads must be a positive int or None, got 0"):
        get_backend("scipy").kernels(0)


def test_backend_inferred_from_arrays():
    assert get_backend(np.zeros((2, 2), np.float32)).name == "scipy"
    x = array_api_strict.asarray([1.0], device=array_api_strict.Device("device1"))
    chosen = get_backend(x)
    assert (chosen.name, chosen.xp, chosen.device) == ("array_api", array_api_strict, x.device)
    with pytest.raises(ValueError, match="results follow the input"):
        get_backend(x, device=array_api_strict.Device("CPU_DEVICE"))
    with pytest.raises(TypeError, match="backend name"):
        get_backend(3.0)


def test_backend_inferred_from_torch_tensors():
    torch = pytest.importorskip("torch")
    chosen = get_backend(torch.zeros(2, 2))
    assert (chosen.name, chosen.device) == ("torch", torch.device("cpu"))
    assert chosen.xp is sys.modules["array_api_compat.torch"]
    assert get_backend("torch", device="cpu").device == torch.device("cpu")


def test_select_backend_follows_the_input_and_rejects_conflicts():
    assert select_backend().name == "scipy"
    assert select_backend("array_api").xp is array_api_strict
    with pytest.raises(ValueError, match="conflicts with the input array"):
        select_backend("torch", like=np.zeros((2, 2), np.float32))


# --- the dense core on every namespace ----------------------------------------


@pytest.mark.parametrize("method", ["hash", "pycleora"])
def test_initialize_is_bit_identical_on_every_namespace(xp, device, method):
    keys = ct.entity_keys([f"e{i}" for i in range(300)], "item", method="pycleora" if method == "pycleora" else "hash")
    expected = ct.initialize(keys, 64, seed=7, method=method)
    got = ct.initialize(xp.asarray(keys, device=device), 64, seed=7, method=method)
    assert_array(got, xp, device, xp.float32, (300, 64))
    np.testing.assert_array_equal(to_numpy(got), expected)
    # Keys on the host, result placed on the device by the caller's choice.
    placed = ct.initialize(keys, 64, seed=7, method=method, xp=xp, device=device)
    assert_array(placed, xp, device, xp.float32, (300, 64))
    np.testing.assert_array_equal(to_numpy(placed), expected)


def test_normalize_rows_on_every_namespace(xp, device):
    y = sample()
    y[3] = 0.0
    got = ct.normalize_rows(xp.asarray(y, device=device))
    assert_array(got, xp, device, xp.float32, y.shape)
    np.testing.assert_allclose(to_numpy(got), ct.normalize_rows(y), rtol=1e-6, atol=1e-7)
    assert not np.any(to_numpy(got)[3])


@pytest.mark.parametrize("method", ["pca", "zca"])
@pytest.mark.parametrize("floor", [0.0, 0.2])
def test_whitening_on_every_namespace(xp, device, method, floor):
    y = sample()
    fitted = ct.Whitening.fit(xp.asarray(y, device=device), method=method, floor=floor)
    expected = ct.Whitening.fit(y, method=method, floor=floor)
    acc = xp.float64 if float64_supported(xp, device) else xp.float32
    assert_array(fitted.mean, xp, device, xp.float32, (16,))
    assert_array(fitted.matrix, xp, device, xp.float32, (16, 16))
    assert_array(fitted.eigenvalues, xp, device, acc, (16,))
    atol = tolerance(xp, device)
    np.testing.assert_allclose(to_numpy(fitted.eigenvalues), expected.eigenvalues, rtol=10 * atol)
    # Canonical eigenvector signs make the PCA basis itself comparable.
    np.testing.assert_allclose(to_numpy(fitted.matrix), expected.matrix, rtol=10 * atol, atol=atol)
    w = fitted.transform(xp.asarray(y, device=device))
    assert_array(w, xp, device, xp.float32, y.shape)
    np.testing.assert_allclose(to_numpy(w), expected.transform(y), atol=10 * atol)
    if floor == 0.0:
        cov = np.cov(to_numpy(w).astype(np.float64).T)
        np.testing.assert_allclose(cov, np.eye(16), atol=100 * atol)


def test_cosine_top_k_on_every_namespace(xp, device):
    y = sample(200, 8)
    exclude = np.arange(5)
    indices, scores = cosine_top_k(xp.asarray(y, device=device), xp.asarray(y[:5], device=device), 7,
                                   exclude=xp.asarray(exclude, device=device))
    expected_indices, expected_scores = cosine_top_k(y, y[:5], 7, exclude=exclude)
    assert_array(indices, xp, device, xp.int64, (5, 7))
    assert_array(scores, xp, device, xp.float32, (5, 7))
    np.testing.assert_array_equal(to_numpy(indices), expected_indices)
    np.testing.assert_allclose(to_numpy(scores), expected_scores, rtol=1e-5)


def test_reference_operator_uses_only_the_standard(xp, device):
    matrix = ct.transition_matrix(karate(), "left")
    x = ct.initialize(karate().keys(), 24)
    operator = ArrayAPIOperator(matrix, xp=xp, device=device)
    assert operator.shape == (34, 34)
    got = operator.matmul(xp.asarray(x, device=device))
    assert_array(got, xp, device, xp.float32, (34, 24))
    exact = matrix.astype(np.float64) @ x.astype(np.float64)
    np.testing.assert_allclose(to_numpy(got), exact, atol=1e-7 if float64_supported(xp, device) else 5e-6)
    out = xp.zeros((34, 24), dtype=xp.float32, device=device)
    assert operator.matmul(xp.asarray(x, device=device), out=out) is out
    np.testing.assert_array_equal(to_numpy(out), to_numpy(got))
    with pytest.raises(ValueError, match="float32"):
        operator.matmul(xp.zeros((33, 24), dtype=xp.float32, device=device))


def test_reference_operator_on_a_graph_with_many_blocks(monkeypatch):
    # 3000 rows and 2**15+ non-zeros: several row blocks and non-zero blocks,
    # an empty row, and a row (3000 non-zeros) longer than a block's 2**11.
    monkeypatch.setattr(array_api_backend, "_BLOCK_NNZ", 2**11)
    rng = np.random.default_rng(1)
    dense = scipy.sparse.random(3000, 3000, density=0.004, random_state=rng, format="lil", dtype=np.float32)
    dense[5, :] = 0.0
    dense[7, :] = rng.random(3000, dtype=np.float32)
    matrix = scipy.sparse.csr_array(dense)
    x = rng.standard_normal((3000, 8), dtype=np.float32)
    for device in ("CPU_DEVICE", "no_float64"):
        operator = ArrayAPIOperator(matrix, xp=array_api_strict, device=array_api_strict.Device(device))
        assert max(columns.shape[0] for _, _, columns, *_ in operator._blocks) >= 3000
        got = operator.matmul(array_api_strict.asarray(x, device=array_api_strict.Device(device)))
        exact = matrix.astype(np.float64) @ x.astype(np.float64)
        np.testing.assert_allclose(to_numpy(got), exact, rtol=1e-5, atol=1e-5)
        assert not np.any(to_numpy(got)[5])


def test_propagate_runs_on_every_namespace(xp, device):
    """The whole loop: backend operator of the input's namespace, residual,
    normalization, whitening with a floor, convergence test, results on the device."""
    graph = karate()
    x0 = ct.initialize(graph.keys(), 16)
    options = dict(iterations=6, residual=0.2, whiten="zca", whiten_floor=0.1, tol=1e-9)
    expected = ct.propagate(ct.transition_matrix(graph, "left"), x0, **options)
    x = xp.asarray(x0, device=device)
    operator = get_backend(x).operator(ct.transition_matrix(graph, "left"), threads=1)
    result = ct.propagate(operator, x, **options)
    assert_array(result.vectors, xp, device, xp.float32, (34, 16))
    assert result.iterations == 6 and not result.converged
    assert_array(result.whitening.matrix, xp, device, xp.float32, (16, 16))
    np.testing.assert_allclose(to_numpy(result.vectors), expected.vectors, atol=tolerance(xp, device, 1e-4))
    np.testing.assert_array_equal(to_numpy(x), x0)  # the input is left alone


def test_embed_results_follow_the_initial_array(xp, device):
    """``initial`` in any namespace selects the backend; vectors come back there."""
    lines = dataset_path("karate_club").read_text().splitlines()
    graph = karate()
    x0 = ct.initialize(graph.keys(), 16)
    options = dict(columns="node node", dim=16, iterations=4)
    expected = ct.embed(iter(lines), initial=x0, **options)
    initial = xp.asarray(x0, device=device)
    emb = ct.embed(iter(lines), initial=initial, **options)
    assert_array(emb.vectors, xp, device, xp.float32, (34, 16))
    assert emb.entity_ids == expected.entity_ids
    np.testing.assert_allclose(to_numpy(emb.vectors), expected.vectors, atol=tolerance(xp, device, 1e-4))
    np.testing.assert_array_equal(to_numpy(initial), x0)
    # Similarity search runs in the namespace of the vectors.
    assert [i for i, _ in emb.most_similar("33", top_k=3)] == [i for i, _ in expected.most_similar("33", top_k=3)]
    host = emb.to_numpy()
    assert isinstance(host.vectors, np.ndarray)
    np.testing.assert_array_equal(host.vectors, to_numpy(emb.vectors))


# --- the torch backend ------------------------------------------------------------


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    yield torch
    torch.set_num_threads(threads)  # the operator's threads= is process-wide


def test_torch_operator_is_csr_float32_and_matches_scipy(torch):
    from cleora_tensor.backends.torch import TorchOperator

    graph = karate()
    matrix = ct.transition_matrix(graph, "left")
    operator = TorchOperator(matrix, device="cpu", threads=1)
    assert operator.matrix.layout == torch.sparse_csr and operator.matrix.dtype == torch.float32
    assert operator.matrix.crow_indices().dtype == torch.int64  # measured faster than int32 on the CPU
    assert torch.get_num_threads() == 1
    x = ct.initialize(graph.keys(), 32)
    got = operator.matmul(torch.from_numpy(x))
    assert got.dtype == torch.float32 and got.shape == (34, 32)
    np.testing.assert_allclose(got.numpy(), matrix @ x, rtol=1e-6, atol=1e-7)
    out = torch.full((34, 32), float("nan"))
    assert operator.matmul(torch.from_numpy(x), out=out) is out  # NaN in out is ignored
    np.testing.assert_array_equal(out.numpy(), got.numpy())
    xt = torch.from_numpy(x)
    with pytest.raises(ValueError, match="share memory"):
        operator.matmul(xt, out=xt)
    with pytest.raises(ValueError, match="float32"):
        operator.matmul(xt.double())
    strided = torch.empty(32, 34).T  # a transposed buffer works too
    np.testing.assert_array_equal(operator.matmul(xt, out=strided).numpy(), got.numpy())
    with pytest.raises(ValueError, match="shape"):
        operator.matmul(xt, out=torch.empty(34, 31))


def test_torch_product_is_bit_identical_for_any_thread_count(torch):
    from cleora_tensor.backends.torch import TorchOperator

    rng = np.random.default_rng(0)
    matrix = scipy.sparse.random(20_000, 20_000, density=5e-4, random_state=rng, format="csr", dtype=np.float32)
    x = torch.from_numpy(rng.standard_normal((20_000, 64), dtype=np.float32))
    products = [TorchOperator(matrix, threads=t).matmul(x) for t in (1, 2, 3)]
    for other in products[1:]:
        assert torch.equal(products[0], other)


def test_torch_loop_is_bit_identical_for_any_thread_count(torch):
    """README, "Backends": on the CPU the sparse product is thread-independent and
    the dense steps run the NumPy kernels (fixed row blocks), so the whole loop,
    PCA whitening every step included, gives the same bits for 1 and 2 threads."""
    graph = karate()
    x0 = ct.initialize(graph.keys(), 16)
    runs = []
    for threads in (1, 2):
        operator = get_backend("torch").operator(ct.transition_matrix(graph, "left"), threads=threads)
        result = ct.propagate(operator, torch.from_numpy(x0), iterations=10, whiten="pca", whiten_each_step=True,
                              threads=threads)
        runs.append(result.vectors.numpy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_small_eigh_keeps_torch_thread_setting(torch):
    torch.set_num_threads(2)
    a = torch.from_numpy(np.cov(sample(200, 8).T))
    chosen = get_backend("torch")
    values, vectors = chosen.kernels().eigh(a, chosen.xp)
    np.testing.assert_allclose(values.numpy(), np.linalg.eigvalsh(a.numpy()), rtol=1e-10)
    assert vectors.dtype == torch.float64 and torch.get_num_threads() == 2


def test_embedding_to_torch(torch):
    emb = ct.embed(iter(["a\tb", "b\tc", "c\ta"]), columns="node node", dim=8, iterations=2)
    moved = emb.to_torch()
    assert isinstance(moved.vectors, torch.Tensor) and moved.vectors.dtype == torch.float32
    assert moved.vectors.device == torch.device("cpu")
    np.testing.assert_array_equal(moved.vectors.numpy(), emb.vectors)
    assert moved.entity_ids == emb.entity_ids
    back = moved.to_numpy()
    assert isinstance(back.vectors, np.ndarray)
    strict = ct.Embedding(emb.entity_ids, emb.types, array_api_strict.asarray(emb.vectors), emb.degrees, emb.occurrences)
    np.testing.assert_array_equal(strict.to_torch(device="cpu").vectors.numpy(), emb.vectors)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            emb.to_torch(device="cuda")


def test_cli_backend_and_device(tmp_path, torch):
    from cleora_tensor.cli import main

    source = dataset_path("karate_club")
    for backend in ("scipy", "torch"):
        assert main(["embed", str(source), "-c", "node node", "-d", "16", "-q", "--backend", backend,
                     "--device", "cpu", "-o", str(tmp_path / f"{backend}.npz")]) == 0
    ours, theirs = (ct.Embedding.load(tmp_path / f"{b}.npz") for b in ("torch", "scipy"))
    np.testing.assert_allclose(ours.vectors, theirs.vectors, atol=1e-4)
    if not torch.cuda.is_available():
        assert main(["embed", str(source), "-c", "node node", "-q", "--backend", "torch", "--device", "cuda",
                     "-o", str(tmp_path / "cuda.npz")]) == 2
        assert not (tmp_path / "cuda.npz").exists()


# --- the CuPy backend (needs a GPU) -------------------------------------------------


def test_cupy_operator_orders(backend_of):
    xp, device = backend_of("cupy")
    import cupy

    from cleora_tensor.backends.cupy import CupyOperator

    graph = karate()
    matrix = ct.transition_matrix(graph, "left")
    operator = CupyOperator(matrix, device=device)
    assert operator.matrix.indices.dtype == cupy.int32
    x = ct.initialize(graph.keys(), 32)
    expected = matrix @ x
    for operand in (cupy.asfortranarray(x), cupy.ascontiguousarray(x), cupy.asarray(np.repeat(x, 2, axis=1))[:, ::2]):
        got = operator.matmul(operand)
        assert got.flags.f_contiguous and got.dtype == cupy.float32
        np.testing.assert_allclose(cupy.asnumpy(got), expected, rtol=1e-5, atol=1e-6)
    # cuSPARSE writes column-major; a C-ordered out is filled by a copy.
    out = cupy.empty((34, 32), dtype=cupy.float32)
    assert operator.matmul(cupy.asarray(x), out=out) is out
    np.testing.assert_allclose(cupy.asnumpy(out), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="share memory"):
        operator.matmul(out, out=out)


# --- agreement with the SciPy backend on real data ----------------------------------

REAL = [("cora/edges.tsv", "node node"), ("groceries/baskets.tsv", "transient::basket complex::reflexive::item")]


def _sample_cosines(vectors, rows):
    v = vectors[rows].astype(np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v @ v.T


@pytest.mark.parametrize(("relative", "columns"), REAL)
def test_initial_matrix_bit_identical_on_real_data(data_file, torch, relative, columns):
    graph = ct.read_hypergraph(data_file(relative), columns).graph()
    keys = graph.keys()
    expected = ct.initialize(keys, 256)
    for chosen in (get_backend("array_api", device=array_api_strict.Device("device1")), get_backend("torch")):
        xp, device = chosen.xp, chosen.device
        got = ct.initialize(keys, 256, xp=xp, device=device)
        assert_array(got, xp, device, xp.float32, expected.shape)
        np.testing.assert_array_equal(to_numpy(got), expected)


@pytest.mark.parametrize(("relative", "columns"), REAL)
@pytest.mark.parametrize(
    "options",
    [dict(preset="pycleora", init="hash"), {}],
    ids=["pycleora-schedule", "defaults"],
)
def test_torch_cpu_agrees_with_scipy_on_real_data(data_file, torch, relative, columns, options):
    path = data_file(relative)
    rows = None
    for iterations in (1, 40 if options else 15):
        scipy_emb = ct.embed(path, columns=columns, iterations=iterations, **options)
        torch_emb = ct.embed(path, columns=columns, iterations=iterations, backend="torch", **options)
        assert isinstance(torch_emb.vectors, torch.Tensor) and torch_emb.vectors.dtype == torch.float32
        assert torch_emb.entity_ids == scipy_emb.entity_ids
        ours, theirs = torch_emb.vectors.numpy(), scipy_emb.vectors
        if rows is None:
            # 500 sampled entities (all of groceries' 169 items).
            rows = np.random.default_rng(0).choice(len(theirs), min(500, len(theirs)), replace=False)
        np.testing.assert_allclose(_sample_cosines(ours, rows), _sample_cosines(theirs, rows), atol=1e-3)
        if iterations == 1:
            # Whitening is fitted on the output rows: with fewer rows than
            # dimensions (groceries: 169 items, dim 256) the covariance has rank
            # n - 1, and unfloored PCA directions past it are rounding noise
            # scaled by eps ** -1/2 on any backend. Compare the defined ones.
            rank = min(ours.shape[1], len(ours) - 1) if options else ours.shape[1]
            ours, theirs = ours[:, :rank], theirs[:, :rank]
            # PCA may flip a basis vector where the canonical sign is a near tie.
            signs = np.sign(np.sum(ours * theirs, axis=0))
            np.testing.assert_allclose(ours * signs, theirs, atol=1e-4)


def test_embed_with_a_torch_initial_returns_torch_vectors(data_file, torch):
    path = data_file("cora/edges.tsv")
    graph = ct.read_hypergraph(path, "node node").graph()
    initial = torch.from_numpy(ct.initialize(graph.keys(), 64))
    emb = ct.embed(path, columns="node node", dim=64, initial=initial)
    assert isinstance(emb.vectors, torch.Tensor) and emb.vectors.device == initial.device
    reference = ct.embed(path, columns="node node", dim=64)
    rows = np.random.default_rng(0).choice(len(emb), 500, replace=False)
    np.testing.assert_allclose(_sample_cosines(emb.vectors.numpy(), rows), _sample_cosines(reference.vectors, rows),
                               atol=1e-3)
    with pytest.raises(ValueError, match="conflicts"):
        ct.embed(path, columns="node node", dim=64, initial=initial, backend="scipy")


def test_use_generic_kernels_chooses_the_generic_set_for_every_backend():
    from cleora_tensor.backends import use_generic_kernels
    from cleora_tensor.backends.kernels_generic import GenericKernels
    from cleora_tensor.backends.kernels_numpy import NumpyKernels

    assert isinstance(get_backend("scipy").kernels(2), NumpyKernels)
    with use_generic_kernels():
        assert isinstance(get_backend("scipy").kernels(2), GenericKernels)
        x = sample(50, 4)
        np.testing.assert_allclose(ct.normalize_rows(x), ct.normalize_rows(x, kernels=get_backend("scipy").kernels()))
    assert isinstance(get_backend("scipy").kernels(2), NumpyKernels)
