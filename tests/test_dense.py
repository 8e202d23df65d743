"""Row normalization and whitening, on every array namespace available."""

import numpy as np
import pytest

from cleora_tensor import Whitening, normalize_rows, whiten
from cleora_tensor._xp import float64_supported
from cleora_tensor._xp import to_numpy as host


@pytest.fixture
def convert(backend):
    """NumPy array -> array of the ``backend`` case (conftest.py); ``.atol`` of its whitening."""
    xp, device = backend

    def convert(a):
        return xp.asarray(a, device=device)

    # Without float64 the covariance accumulates in float32.
    convert.atol = 1e-5 if float64_supported(xp, device) else 1e-3
    return convert


def sample(n=600, d=8, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) * np.linspace(0.2, 3.0, d)
    return (rng.normal(size=(n, d)) @ mixing + 5.0).astype(np.float32)


def test_normalize_rows_hand_computed(convert):
    x = convert(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]], np.float32))
    got = normalize_rows(x)
    assert type(got) is type(x) and got.dtype == x.dtype
    np.testing.assert_allclose(host(got), [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], rtol=1e-6)


def test_normalize_rows_in_place_and_thread_independent():
    x = sample(10_000, 16)
    expected = normalize_rows(x, threads=1)
    assert not np.shares_memory(expected, x)
    same = x.copy()
    assert normalize_rows(same, out=same, threads=3) is same
    np.testing.assert_array_equal(same, expected)


@pytest.mark.parametrize("method", ["pca", "zca"])
def test_whitened_rows_have_zero_mean_identity_covariance(convert, method):
    y = convert(sample())
    w = whiten(y, method=method)
    assert type(w) is type(y) and w.dtype == y.dtype and tuple(w.shape) == (600, 8)
    wn = host(w).astype(np.float64)
    np.testing.assert_allclose(wn.mean(axis=0), 0.0, atol=convert.atol)
    np.testing.assert_allclose(np.cov(wn.T), np.eye(8), atol=10 * convert.atol)


def test_pca_and_zca_differ_by_a_rotation_and_keep_cosines():
    y = sample()
    pca, zca = whiten(y, method="pca"), whiten(y, method="zca")
    np.testing.assert_allclose(pca @ pca.T, zca @ zca.T, rtol=1e-3, atol=1e-3)
    # ZCA is the symmetric whitening: its matrix is symmetric.
    m = Whitening.fit(y, method="zca").matrix
    np.testing.assert_allclose(m, m.T, rtol=1e-5, atol=1e-6)


def test_pca_matches_pycleora_whiten_embeddings_up_to_sign():
    pycleora = pytest.importorskip("pycleora")
    y = sample(2000, 16)
    ours, theirs = whiten(y), pycleora.whiten_embeddings(y)
    signs = np.sign((ours * theirs).sum(axis=0))
    np.testing.assert_allclose(ours * signs, theirs, atol=1e-4)


def test_pca_eigenvalues_decrease_and_signs_are_canonical():
    fit = Whitening.fit(sample())
    assert np.all(np.diff(fit.eigenvalues) <= 0)
    vectors = fit.matrix * np.sqrt(fit.eigenvalues)[None, :]
    peaks = vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])]
    assert np.all(peaks > 0)


def test_whitening_is_bit_identical_for_any_thread_count():
    y = sample(50_000, 32)
    np.testing.assert_array_equal(whiten(y, threads=1), whiten(y, threads=2))
    np.testing.assert_array_equal(whiten(y, threads=1), whiten(y, threads=5))


def test_covariance_is_accumulated_in_float64():
    # A large common offset and small spread: float32 accumulation would lose
    # the spread; the whitened data must still have unit variance.
    rng = np.random.default_rng(1)
    y = (1000.0 + rng.normal(scale=1e-2, size=(20_000, 4))).astype(np.float32)
    w = whiten(y).astype(np.float64)
    np.testing.assert_allclose(w.var(axis=0, ddof=1), 1.0, rtol=1e-3)


def test_transform_in_place_and_single_row_identity():
    y = sample()
    fit = Whitening.fit(y, method="zca")
    expected = fit.transform(y)
    fit.transform(y, out=y)
    np.testing.assert_array_equal(y, expected)
    one = Whitening.fit(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(one.transform(np.ones((1, 3), np.float32)), np.ones((1, 3)))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="method"):
        whiten(sample(), method="pcaa")
    with pytest.raises(ValueError, match="2-D"):
        normalize_rows(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="shape"):
        Whitening.fit(sample()).transform(np.ones((2, 3), np.float32))


def test_cpu_torch_tensors_take_the_numpy_kernels_in_place():
    torch = pytest.importorskip("torch")
    y = sample(5_000, 16)
    tensor = torch.from_numpy(y.copy())
    # Same bits as NumPy, written into the tensor's own buffer.
    assert normalize_rows(tensor, out=tensor) is tensor
    np.testing.assert_array_equal(tensor.numpy(), normalize_rows(y))
    fitted = Whitening.fit(tensor, method="zca", rows=torch.arange(0, 5_000, 2))
    reference = Whitening.fit(normalize_rows(y), method="zca", rows=np.arange(0, 5_000, 2))
    np.testing.assert_allclose(fitted.mean.numpy(), reference.mean, rtol=0, atol=0)
    whitened = fitted.transform(tensor)
    assert isinstance(whitened, torch.Tensor) and whitened.dtype == torch.float32
    np.testing.assert_allclose(whitened.numpy(), reference.transform(normalize_rows(y)), atol=1e-5)
    # A tensor in an autograd graph has no NumPy view: the generic path serves it.
    leaf = torch.from_numpy(y.copy()).requires_grad_()
    np.testing.assert_allclose(normalize_rows(leaf).detach().numpy(), normalize_rows(y), rtol=1e-6)
