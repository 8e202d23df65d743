"""Transition matrices of a weighted graph (DESIGN section 4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

__all__ = ["markov_matrix"]


def markov_matrix(adjacency: Any, *, kind: str = "left", degrees: Any = None) -> scipy.sparse.csr_array:
    """The random-walk or symmetric transition matrix of a weighted graph.

    Parameters
    ----------
    adjacency : scipy.sparse matrix or array
        Symmetric non-negative weights ``W``, shape ``(n, n)``.
    kind : {"left", "symmetric"}, default "left"
        ``"left"``: ``M = D^-1 W`` (random walk; rows sum to 1), pycleora's
        ``left_markov_propagate``. ``"symmetric"``: ``S = D^-1/2 W D^-1/2``,
        pycleora's ``symmetric_markov_propagate``.
    degrees : numpy.ndarray, optional
        float64, shape ``(n,)``: the true row sums of ``W`` (e.g.
        :attr:`Graph.degrees`, accumulated in float64 while building); computed
        from ``adjacency`` in float64 if omitted.

    Returns
    -------
    scipy.sparse.csr_array
        float32, shape ``(n, n)``, sorted indices, int32 indices when they fit.
        Rows of entities with zero degree stay zero.

    Raises
    ------
    ValueError
        On an unknown ``kind``, a non-square matrix or a ``degrees`` of the
        wrong shape.

    Notes
    -----
    Unlike pycleora 3.2.1, whose matrices for ``complex`` columns without
    ``reflexive`` do not have unit row sums, every row of ``M`` sums to 1 up to
    float32 rounding: values are divided in float64 by the true row sums.

    Examples
    --------
    >>> import scipy.sparse
    >>> w = scipy.sparse.csr_array([[0.0, 2.0], [2.0, 1.0]])
    >>> markov_matrix(w).toarray()
    array([[0.        , 1.        ],
           [0.6666667 , 0.33333334]], dtype=float32)
    """
    if kind not in ("left", "symmetric"):
        raise ValueError(f"kind must be 'left' or 'symmetric', got {kind!r}")
    w = scipy.sparse.csr_array(adjacency)
    n = w.shape[0]
    if w.shape != (n, n):
        raise ValueError(f"adjacency must be square, got shape {w.shape}")
    if not w.has_canonical_format:
        w = w.copy()
        w.sum_duplicates()
    data = w.data.astype(np.float64)
    rows = np.repeat(np.arange(n, dtype=w.indices.dtype), np.diff(w.indptr))
    if degrees is None:
        degrees = np.bincount(rows, weights=data, minlength=n)
    degrees = np.asarray(degrees, dtype=np.float64)
    if degrees.shape != (n,):
        raise ValueError(f"degrees must have shape ({n},), got {degrees.shape}")
    safe = np.where(degrees > 0, degrees, 1.0)
    if kind == "left":
        data /= safe[rows]
    else:
        scale = 1.0 / np.sqrt(safe)
        data *= scale[rows] * scale[w.indices]
    return scipy.sparse.csr_array((data.astype(np.float32), w.indices, w.indptr), shape=(n, n))
