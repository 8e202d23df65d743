"""PCA and ZCA whitening with float64 covariance accumulation.

The two whitening transforms of Kessy, Lewin & Strimmer (2018), "Optimal
whitening and decorrelation" (The American Statistician 72(4)).

For rows ``y_i`` with mean ``mu`` and covariance ``C = V diag(lam) V^T``,
PCA whitening maps ``y -> (y - mu) V diag(lam)^-1/2`` (pycleora 3.2.1's
``whiten_embeddings``) and ZCA whitening ``y -> (y - mu) V diag(lam)^-1/2 V^T``.
Both give the same inner products between rows, hence the same cosine
similarities; they differ by a rotation. PCA re-orders the basis by eigenvalue
(with data-dependent signs and rotations among close eigenvalues), ZCA stays as
close as possible to the input coordinates, which keeps separately computed
embeddings comparable dimension by dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._xp import device_of, float64_supported, namespace
from .backends import kernels_for

__all__ = ["Whitening", "whiten"]

_METHODS = ("pca", "zca")


@dataclass(frozen=True)
class Whitening:
    """A fitted whitening transform ``y -> (y - mean) @ matrix``.

    Build it with :meth:`fit`; apply it with :meth:`transform`. Keeping the
    fitted transform lets new rows (inductive embedding) be mapped into the same
    coordinates.

    Attributes
    ----------
    mean : array
        Shape ``(d,)``, the dtype of the fitted data.
    matrix : array
        Shape ``(d, d)``, the dtype of the fitted data.
    eigenvalues : array
        Shape ``(d,)``, covariance eigenvalues in decreasing order, before the
        ``eps`` floor; float64 where the device supports it.
    method : {"pca", "zca"}
    """

    mean: Any
    matrix: Any
    eigenvalues: Any
    method: str

    @classmethod
    def fit(
        cls,
        y: Any,
        *,
        method: str = "pca",
        eps: float = 1e-10,
        floor: float = 0.0,
        rows: Any = None,
        threads: int | None = None,
        xp: Any = None,
        kernels: Any = None,
    ) -> Whitening:
        """Fit the whitening transform of the rows of ``y``.

        Parameters
        ----------
        y : array
            Shape ``(n, d)``, floating point, any array-API namespace.
        method : {"pca", "zca"}, default "pca"
        eps : float, default 1e-10
            Eigenvalues are floored at ``eps`` before ``lam ** -1/2``
            (pycleora 3.2.1's floor).
        floor : float, default 0.0
            Relative floor in ``[0, 1]``: eigenvalues below ``floor`` times the
            largest one are raised to it (regularized whitening), so directions
            with little variance are rescaled by a common factor instead of being
            blown up to unit variance. 0 is plain whitening.
        rows : integer array, optional
            Shape ``(m,)``: fit on these rows of ``y`` only (default: all), e.g.
            the output entities of a graph with transient ones, whose side of a
            bipartite graph would otherwise dominate the first direction.
        threads : int or None, default None
            CPU worker threads of the kernels (all cores if None); the result
            does not depend on it. Ignored when ``kernels`` is given.
        xp : namespace, optional
            Inferred from ``y`` if omitted.
        kernels : kernel set, optional
            From :meth:`Backend.kernels <cleora_tensor.backends.Backend.kernels>`;
            default: that of ``y``'s backend.

        Returns
        -------
        Whitening

        Raises
        ------
        ValueError
            On an unknown ``method``, ``eps <= 0``, ``floor`` outside ``[0, 1]``,
            a ``y`` that is not 2-D or an invalid ``threads``.

        Notes
        -----
        ``C = (Y - mu)^T (Y - mu) / (n - 1)`` is accumulated in float64 (float32
        on devices without float64) over blocks of rows, as pycleora does. Each
        eigenvector's largest-magnitude component is made positive, so the PCA
        basis has no arbitrary sign flips. With fewer than two rows the
        transform is the identity.
        """
        xp = namespace(y, xp=xp)
        if method not in _METHODS:
            raise ValueError(f"method must be 'pca' or 'zca', got {method!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must be in [0, 1], got {floor!r}")
        if y.ndim != 2:
            raise ValueError(f"y must be 2-D (n, d), got shape {tuple(y.shape)}")
        n, d = (y.shape[0] if rows is None else rows.shape[0]), y.shape[1]
        if n < 2:
            return cls.identity(d, y.dtype, method=method, xp=xp, device=device_of(y))
        kernels = kernels_for(y, threads, kernels)
        mean, cov = kernels.moments(y, rows, xp)
        return cls.from_moments(mean, cov, method=method, eps=eps, floor=floor, dtype=y.dtype, kernels=kernels, xp=xp)

    @classmethod
    def identity(cls, d: int, dtype: Any, *, method: str = "pca", xp: Any = None, device: Any = None) -> Whitening:
        """The identity transform of ``d`` columns (what :meth:`fit` gives for fewer than two rows).

        Parameters
        ----------
        d : int
        dtype : dtype
            Of ``mean`` and ``matrix``; ``eigenvalues`` are ones in float64 where
            the device supports it.
        method : {"pca", "zca"}, default "pca"
        xp : namespace, optional
            Default: NumPy (array-api-compat's).
        device : optional
            Default: the namespace's default device.

        Returns
        -------
        Whitening
        """
        if xp is None:
            import array_api_compat.numpy as xp
        acc = xp.float64 if float64_supported(xp, device) else xp.float32
        eye = xp.eye(d, dtype=dtype, device=device)
        zeros = xp.zeros((d,), dtype=dtype, device=device)
        return cls(zeros, eye, xp.ones((d,), dtype=acc, device=device), method)

    @classmethod
    def block_diagonal(cls, parts: list[Whitening]) -> Whitening:
        """One transform applying ``parts[k]`` to the ``k``-th block of columns.

        What a multi-scale embedding (the scales' vectors side by side) needs to
        map new rows: ``mean`` and ``eigenvalues`` concatenated, ``matrix``
        block-diagonal.

        Parameters
        ----------
        parts : list of Whitening
            Of the same method, namespace and dtype; shapes ``(d_k, d_k)``.

        Returns
        -------
        Whitening
            Shape ``(sum d_k, sum d_k)``.

        Raises
        ------
        ValueError
            If ``parts`` is empty.
        """
        if not parts:
            raise ValueError("block_diagonal needs at least one Whitening")
        xp = namespace(parts[0].matrix)
        size = sum(p.matrix.shape[0] for p in parts)
        matrix = xp.zeros((size, size), dtype=parts[0].matrix.dtype, device=device_of(parts[0].matrix))
        at = 0
        for part in parts:
            d = part.matrix.shape[0]
            matrix[at : at + d, at : at + d] = part.matrix
            at += d
        return cls(
            xp.concat([p.mean for p in parts]), matrix, xp.concat([p.eigenvalues for p in parts]), parts[0].method
        )

    @classmethod
    def from_moments(
        cls,
        mean: Any,
        cov: Any,
        *,
        method: str = "pca",
        eps: float = 1e-10,
        floor: float = 0.0,
        dtype: Any = None,
        kernels: Any = None,
        xp: Any = None,
    ) -> Whitening:
        """The whitening transform of data with the given mean and covariance.

        What :meth:`fit` does after accumulating the moments; out-of-core
        propagation accumulates them itself over row blocks of a file.

        Parameters
        ----------
        mean : array
            Shape ``(d,)``, float64 where the device supports it.
        cov : array
            Shape ``(d, d)``, symmetric, same dtype as ``mean``.
        method, eps, floor
            As in :meth:`fit` (validated there; here they are trusted).
        dtype : dtype, optional
            Of the returned ``mean`` and ``matrix`` (those of the data); default
            that of ``mean``.
        kernels : kernel set, optional
            For the eigendecomposition; default: that of ``cov``'s backend.
        xp : namespace, optional
            Inferred from ``cov`` if omitted.

        Returns
        -------
        Whitening
        """
        xp = namespace(cov, xp=xp)
        kernels = kernels_for(cov, None, kernels)
        dtype = mean.dtype if dtype is None else dtype
        eigenvalues, vectors = kernels.eigh(cov, xp)
        eigenvalues = xp.flip(eigenvalues)
        vectors = _canonical_signs(xp.flip(vectors, axis=1), xp)
        # Array bounds, not float(eigenvalues[0]): reading a value back to the
        # host would synchronize a GPU in every step of the loop.
        floored = xp.clip(eigenvalues, min=eps)
        if floor:
            floored = xp.maximum(floored, floor * eigenvalues[:1])
        scaled = vectors * (1.0 / xp.sqrt(floored))[None, :]
        matrix = scaled if method == "pca" else xp.matmul(scaled, vectors.T)
        return cls(xp.astype(mean, dtype), xp.astype(matrix, dtype), eigenvalues, method)

    def transform(self, y: Any, *, threads: int | None = None, out: Any = None, kernels: Any = None) -> Any:
        """Apply the transform to the rows of ``y``.

        Parameters
        ----------
        y : array
            Shape ``(m, d)``, same namespace, device and dtype as the fitted data.
        threads : int or None, default None
            CPU worker threads of the kernels (all cores if None); the result
            does not depend on it. Ignored when ``kernels`` is given.
        out : array, optional
            Shape ``(m, d)``; may be ``y`` itself (in place, blockwise).
        kernels : kernel set, optional
            As in :meth:`fit`.

        Returns
        -------
        array
            Shape ``(m, d)``.

        Raises
        ------
        ValueError
            If ``y`` has the wrong number of columns, or on an invalid
            ``threads``.
        """
        xp = namespace(y)
        if y.ndim != 2 or y.shape[1] != self.matrix.shape[0]:
            raise ValueError(
                f"y must have shape (m, {self.matrix.shape[0]}), got {tuple(y.shape)}"
            )
        kernels = kernels_for(y, threads, kernels)
        out = xp.empty_like(y) if out is None else out
        kernels.transform(y, self.mean, self.matrix, out)
        return out


def whiten(
    y: Any,
    *,
    method: str = "pca",
    eps: float = 1e-10,
    floor: float = 0.0,
    threads: int | None = None,
    xp: Any = None,
    kernels: Any = None,
) -> Any:
    """Whiten the rows of ``y``: zero mean, identity covariance.

    Parameters
    ----------
    y : array
        Shape ``(n, d)``, floating point, any array-API namespace.
    method : {"pca", "zca"}, default "pca"
        PCA mirrors pycleora 3.2.1's ``whiten_embeddings``; ZCA keeps the
        input's coordinate axes (see the module notes).
    eps : float, default 1e-10
        Absolute floor of the covariance eigenvalues.
    floor : float, default 0.0
        Relative floor of the eigenvalues (see :meth:`Whitening.fit`).
    threads : int or None, default None
        CPU worker threads of the kernels (all cores if None).
    xp : namespace, optional
        Inferred from ``y`` if omitted.
    kernels : kernel set, optional
        As in :meth:`Whitening.fit`.

    Returns
    -------
    array
        Shape ``(n, d)``, dtype, namespace and device of ``y``.

    Raises
    ------
    ValueError
        See :meth:`Whitening.fit`.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> y = xp.asarray([[1.0, 0.0], [0.0, 2.0], [1.0, 2.0], [0.0, 0.0]])
    >>> w = whiten(y, method="zca")
    >>> bool(xp.all(xp.abs(xp.mean(w, axis=0)) < 1e-12))
    True
    """
    kernels = kernels_for(y, threads, kernels)
    fitted = Whitening.fit(y, method=method, eps=eps, floor=floor, xp=xp, kernels=kernels)
    return fitted.transform(y, kernels=kernels)


def _canonical_signs(vectors: Any, xp: Any) -> Any:
    d = vectors.shape[1]
    rows = xp.argmax(xp.abs(vectors), axis=0)
    flat = xp.reshape(vectors, (-1,))
    peaks = xp.take(flat, rows * d + xp.arange(d, device=device_of(vectors)))
    return vectors * (1.0 - 2.0 * xp.astype(peaks < 0, vectors.dtype))[None, :]
