"""The propagation loop and the SciPy backend's sparse operator."""

import numpy as np
import pytest
import scipy.sparse

import cleora_tensor.backends.scipy as scipy_backend
from cleora_tensor import get_backend, initialize, propagate, read_hypergraph, transition_matrix, whiten
from cleora_tensor.backends.scipy import ScipyOperator


def random_markov(n=3000, density=0.002, seed=0):
    rng = np.random.default_rng(seed)
    w = scipy.sparse.random_array((n, n), density=density, rng=rng, format="csr")
    w = w + w.T + scipy.sparse.eye_array(n)
    return scipy.sparse.csr_array(w / w.sum(axis=1)[:, None], dtype=np.float32)


def test_operator_matches_scipy_product_for_any_thread_count():
    p = random_markov()
    x = np.random.default_rng(1).normal(size=(p.shape[0], 24)).astype(np.float32)
    expected = p @ x
    results = [ScipyOperator(p, threads=t).matmul(x) for t in (1, 2, 7)]
    for got in results:
        np.testing.assert_array_equal(got, results[0])
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)


def test_operator_public_fallback_gives_identical_bits(monkeypatch):
    p = random_markov(500)
    x = np.random.default_rng(2).normal(size=(500, 8)).astype(np.float32)
    fast = ScipyOperator(p, threads=2).matmul(x)
    monkeypatch.setattr(scipy_backend, "_csr_matvecs", None)
    np.testing.assert_array_equal(ScipyOperator(p, threads=2).matmul(x), fast)


def test_operator_rejects_bad_out():
    op = ScipyOperator(random_markov(50))
    x = np.ones((50, 4), np.float32)
    with pytest.raises(ValueError, match="share memory"):
        op.matmul(x, out=x)
    with pytest.raises(ValueError, match="shape"):
        op.matmul(np.ones((49, 4), np.float32))


def test_one_step_by_hand():
    # Path a - b - c, left Markov, no whitening: b averages a and c, then L2.
    p = scipy.sparse.csr_array(np.array([[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]], np.float32))
    x = np.array([[1, 0], [0, 1], [0, -1]], np.float32)
    got = propagate(p, x, iterations=1, whiten="none").vectors
    h = np.sqrt(0.5)
    np.testing.assert_allclose(got, [[0, 1], [h, -h], [0, 1]], rtol=1e-6)


def test_residual_mixing_by_hand():
    p = scipy.sparse.csr_array(np.array([[0, 1], [1, 0]], np.float32))
    x = np.array([[1, 0], [0, 1]], np.float32)
    got = propagate(p, x, iterations=1, residual=0.25, whiten="none").vectors
    expected = np.array([[0.25, 0.75], [0.75, 0.25]]) / np.hypot(0.25, 0.75)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_input_is_not_modified_unless_allowed():
    p = random_markov(400)
    x = initialize(np.arange(400, dtype=np.int64), 16)
    before = x.copy()
    first = propagate(p, x, iterations=3).vectors
    np.testing.assert_array_equal(x, before)
    again = propagate(p, x, iterations=3, overwrite_x=True).vectors
    np.testing.assert_array_equal(first, again)


def test_thread_count_does_not_change_bits():
    p = random_markov(20_000, 0.0005)
    x = initialize(np.arange(20_000, dtype=np.int64), 32)
    runs = [propagate(p, x, iterations=4, whiten="pca", whiten_each_step=True, threads=t).vectors
            for t in (1, 2, 3)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])


def test_convergence_stops_early():
    p = random_markov(500, 0.02)
    x = initialize(np.arange(500, dtype=np.int64), 8)
    result = propagate(p, x, iterations=500, whiten="none", tol=1e-4)
    assert result.converged and result.iterations < 500
    assert propagate(p, x, iterations=3, whiten="none").iterations == 3


def test_callback_sees_every_step_and_whitening_is_kept():
    p = random_markov(300)
    steps = []
    result = propagate(p, initialize(np.arange(300, dtype=np.int64), 8), iterations=3,
                       whiten="zca", whiten_each_step=True,
                       callback=lambda i, v: steps.append((i, v.shape)))
    assert steps == [(0, (300, 8)), (1, (300, 8)), (2, (300, 8))]
    assert result.whitening.method == "zca"


def test_zero_iterations_return_the_input():
    x = initialize(np.arange(10, dtype=np.int64), 4)
    result = propagate(random_markov(10, 0.3), x, iterations=0, whiten="none")
    assert result.vectors is x and result.iterations == 0 and result.whitening is None


def test_whitening_once_at_the_end_equals_whitening_the_plain_result():
    p = random_markov(400)
    x = initialize(np.arange(400, dtype=np.int64), 16)
    plain = propagate(p, x, iterations=5, whiten="none").vectors
    end = propagate(p, x, iterations=5, whiten="zca", whiten_floor=0.1)
    np.testing.assert_array_equal(end.vectors, whiten(plain, method="zca", floor=0.1))
    assert end.whitening.method == "zca"


def test_relative_floor_shrinks_instead_of_equalizing():
    p = random_markov(400)
    x = initialize(np.arange(400, dtype=np.int64), 16)
    out = propagate(p, x, iterations=5, whiten="zca", whiten_floor=1.0).vectors
    plain = propagate(p, x, iterations=5, whiten="none").vectors
    # A floor of 1 scales every direction by the same factor: cosines are those of centered data.
    centered = plain - plain.mean(axis=0)
    cos = lambda v: (v / np.linalg.norm(v, axis=1, keepdims=True)) @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    np.testing.assert_allclose(cos(out), cos(centered), atol=1e-4)


def test_defaults_agree_with_embed_config():
    import inspect

    from cleora_tensor import EmbedConfig

    defaults = {k: v.default for k, v in inspect.signature(propagate).parameters.items()}
    config = EmbedConfig(columns="a b")
    # tol is an exception: the building block never stops early by default;
    # residual another: the configuration decides it per graph (None), the
    # building block, without a graph, takes the plain walk.
    for name in ("iterations", "whiten", "whiten_each_step", "whiten_floor", "eps"):
        assert defaults[name] == getattr(config, name), name
    assert defaults["tol"] is None and config.tol == 0.32
    assert defaults["residual"] == 0.0 and config.residual is None


def test_invalid_arguments():
    p = random_markov(10, 0.3)
    x = np.ones((10, 2), np.float32)
    for kwargs, fragment in [({"whiten": "x"}, "whiten"), ({"iterations": -1}, "iterations"),
                             ({"residual": 1.0}, "residual"), ({"tol": 0.0}, "tol"),
                             ({"whiten_floor": 2.0}, "whiten_floor")]:
        with pytest.raises(ValueError, match=fragment):
            propagate(p, x, **kwargs)
    with pytest.raises(ValueError, match="shape"):
        propagate(p, np.ones((9, 2), np.float32))
    with pytest.raises(TypeError, match="SparseOperator"):
        propagate(object(), x)


def test_backend_registry():
    backend = get_backend("scipy")
    assert backend.device == "cpu"
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("nope")
    with pytest.raises(ValueError, match="cpu"):
        get_backend("scipy", device="cuda")


def test_left_and_symmetric_embeddings_on_real_graph(data_file):
    graph = read_hypergraph(data_file("cora/edges.tsv"), "node node").graph()
    x = initialize(graph.keys(), 32)
    for kind in ("left", "symmetric"):
        out = propagate(transition_matrix(graph, kind), x, iterations=5).vectors
        assert out.shape == (2708, 32) and np.isfinite(out).all()


def test_propagate_config_maps_the_loop_fields():
    from cleora_tensor import EmbedConfig
    from cleora_tensor.propagation import propagate_config

    p = random_markov(400, 0.01)
    x = initialize(np.arange(400, dtype=np.int64), 16)
    config = EmbedConfig(columns="n n", dim=16, iterations=5, residual=0.2, whiten="pca", whiten_each_step=True,
                         whiten_floor=0.05, tol=0.01, eps=1e-8, scales=(4, 2))
    rows = np.arange(0, 400, 2)
    got = propagate_config(p, x, config, threads=2, whiten_rows=rows)
    expected = propagate(p, x, iterations=5, residual=0.2, whiten="pca", whiten_each_step=True, whiten_floor=0.05,
                         tol=0.01, eps=1e-8, snapshots=(2, 4), whiten_rows=rows, threads=2)
    np.testing.assert_array_equal(got.vectors, expected.vectors)
    assert (got.iterations, got.converged) == (expected.iterations, expected.converged)
    assert len(got.snapshots) == len(expected.snapshots) == 2
    for a, b in zip(got.snapshots, expected.snapshots):
        np.testing.assert_array_equal(a, b)
    plain = propagate_config(p, x, EmbedConfig(columns="n n", dim=16, iterations=3, tol=0))
    np.testing.assert_array_equal(plain.vectors, propagate(p, x, iterations=3).vectors)
    assert plain.snapshots == () and plain.iterations == 3


@pytest.mark.parametrize("overwrite_x", [False, True])
def test_snapshot_states_are_the_inputs_of_the_snapshot_steps(overwrite_x):
    graph = read_hypergraph(iter(["a\tb", "b\tc", "c\ta", "c\td", "d\te"]), "n n").graph()
    p = transition_matrix(graph, "left")
    x = initialize(graph.keys(), 8)
    original = x.copy()
    inputs = []
    reference = propagate(p, x.copy(), iterations=3, whiten="zca", tol=None,
                          callback=lambda step, y: inputs.append(np.array(y)))
    result = propagate(p, x, iterations=3, whiten="zca", tol=None, snapshots=(1, 3),
                       keep_snapshot_inputs=True, overwrite_x=overwrite_x)
    (first, _), (last, fitted) = result.snapshot_states
    # Step 1 starts from x, step 3 from the normalized (unwhitened) iterate of step 2.
    np.testing.assert_array_equal(first, original)
    np.testing.assert_array_equal(last, inputs[1])
    np.testing.assert_array_equal(last, result.previous)
    # The last snapshot is the result: whitened once, with the returned transform.
    assert result.snapshots[-1] is result.vectors and fitted is result.whitening
    np.testing.assert_array_equal(result.vectors, reference.vectors)
    if not overwrite_x:
        np.testing.assert_array_equal(x, original)
