"""Deterministic initialization (DESIGN section 5)."""

import array_api_compat
import numpy as np
import pytest
import xxhash

from cleora_tensor import entity_keys, initialize
from cleora_tensor._xp import to_numpy


def reference_pycleora(ids, dim, seed):
    """pycleora 3.2.1's initializer, written out with Python integers."""
    out = np.empty((len(ids), dim), np.float32)
    for i, entity in enumerate(ids):
        key = xxhash.xxh64_intdigest(entity.encode())
        for j in range(dim):
            h = (key + j + seed) * 0x517CC1B727220A95 % 2**64
            h = h - 2**64 if h >= 2**63 else h
            r = abs(h) % 2**23 * (1 if h >= 0 else -1)  # truncated remainder
            out[i, j] = r / 2**23
    return out


@pytest.mark.parametrize("seed", [0, 7, 2**62 + 3])
def test_pycleora_mode_matches_written_out_formula(seed):
    ids = ["1", "2", "abc", "-5", "ünï"]
    got = initialize(entity_keys(ids, "ignored", method="pycleora"), 16, seed=seed, method="pycleora")
    np.testing.assert_array_equal(got, reference_pycleora(ids, 16, seed))


def test_pycleora_mode_is_bit_identical_to_pycleora():
    pycleora = pytest.importorskip("pycleora")
    graph = pycleora.SparseMatrix.from_iterator(iter(["1\t2", "2\t3", "x\ty"]), "a b")
    keys = entity_keys(graph.entity_ids, "a", method="pycleora")
    for seed in (0, 3):
        np.testing.assert_array_equal(
            initialize(keys, 32, seed=seed, method="pycleora"),
            graph.initialize_deterministically(32, seed),
        )


def test_hash_values_are_symmetric_grid_inside_open_interval():
    x = initialize(entity_keys([str(i) for i in range(500)], "item"), 64)
    assert x.dtype == np.float32 and x.shape == (500, 64)
    assert np.all(np.abs(x) < 1.0)
    # Values are (2u + 1) / 2**24 - 1 for integers u: odd multiples of 2**-24.
    scaled = x.astype(np.float64) * 2**24
    np.testing.assert_array_equal(np.mod(scaled, 2), 1.0)


def test_keys_depend_on_type_and_id_only():
    a = entity_keys(["x", "y"], "item")
    assert entity_keys(["y"], "item")[0] == a[1]
    assert entity_keys(["x"], "user")[0] != a[0]


def test_vector_depends_only_on_key_dim_index_and_seed():
    keys = entity_keys(["a", "b", "c"], "t")
    full = initialize(keys, 8)
    np.testing.assert_array_equal(initialize(keys[1:2], 8), full[1:2])
    np.testing.assert_array_equal(initialize(keys, 4), full[:, :4])


def test_mean_abs_cosine_is_that_of_iid_uniform_vectors():
    x = initialize(entity_keys([f"e{i}" for i in range(2000)], "item"), 256).astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    upper = np.triu_indices(len(x), 1)
    mean_abs_cos = np.abs((x @ x.T)[upper]).mean()
    # i.i.d. uniform vectors: E|cos| = sqrt(2 / (pi d)) = 0.0499 at d = 256.
    assert mean_abs_cos == pytest.approx(np.sqrt(2 / (np.pi * 256)), rel=0.02)


def test_seeds_are_not_shifted_copies():
    keys = entity_keys([f"e{i}" for i in range(1000)], "item")
    s0, s1 = initialize(keys, 64, seed=0), initialize(keys, 64, seed=1)
    assert abs(np.corrcoef(s0.ravel(), s1.ravel())[0, 1]) < 0.01
    for shift in (1, 2):
        shifted = np.corrcoef(s0[:, shift:].ravel(), s1[:, :-shift].ravel())[0, 1]
        assert abs(shifted) < 0.01


def test_thread_count_does_not_change_bits():
    keys = entity_keys([str(i) for i in range(5000)], "n")
    np.testing.assert_array_equal(initialize(keys, 32, threads=1), initialize(keys, 32, threads=3))


def test_every_backend_gives_identical_values(backend):
    # The shared backend matrix (BACKEND_CASES in conftest.py): array-api-strict
    # on CPU_DEVICE, device1 and no_float64 among the cases.
    xp, dev = backend
    keys = entity_keys([str(i) for i in range(100)], "n")
    got = initialize(xp.asarray(keys, device=dev), 16)
    assert array_api_compat.device(got) == dev and got.dtype == xp.float32
    assert tuple(got.shape) == (100, 16)
    np.testing.assert_array_equal(to_numpy(got), initialize(keys, 16))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"dim": 0}, "dim"), ({"dim": 4, "seed": -1}, "seed"), ({"dim": 4, "method": "x"}, "method")],
)
def test_invalid_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        initialize(np.zeros(2, np.int64), **kwargs)
