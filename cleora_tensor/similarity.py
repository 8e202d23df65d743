"""Cosine nearest neighbours, written once against the Python array API standard.

The same code runs on NumPy, PyTorch (CPU/CUDA), CuPy and ``array_api_strict``:
only standard functions are called (query normalization goes through
:func:`~cleora_tensor.normalize.normalize_rows` and the backend's kernels), and
every array created here is placed on the device of the input.
"""

from __future__ import annotations

import operator
from typing import Any

import array_api_compat
import numpy as np

from .normalize import normalize_rows

__all__ = ["cosine_top_k", "popularity_bias"]

_EPS = 1e-10
# Elements of one (batch, n) block of scores; with the int64 sort order that
# comes with it a block takes about 12 bytes per element (~50 MB).
_BLOCK_ELEMENTS = 1 << 22


def cosine_top_k(
    vectors: Any,
    queries: Any,
    top_k: int,
    *,
    exclude: Any | None = None,
    candidates: Any | None = None,
    bias: Any | None = None,
    xp: Any | None = None,
    kernels: Any | None = None,
) -> tuple[Any, Any]:
    """The ``top_k`` rows of ``vectors`` most cosine-similar to each query.

    Parameters
    ----------
    vectors : array, shape (n, d), real floating dtype
        The rows searched (e.g. an embedding's vectors).
    queries : array, shape (q, d), real floating dtype
        The query vectors, in the namespace of ``vectors``; computed in the
        dtype of ``vectors``.
    top_k : int
        Number of neighbours per query, ``>= 1``. Fewer are returned when fewer
        rows are eligible: ``k = min(top_k, m)`` where ``m`` is the number of
        candidate rows, minus one when ``exclude`` is given.
    exclude : integer array, shape (q,), optional
        For each query, the index of one row to leave out (typically the query
        itself). Anything :func:`xp.asarray` accepts.
    candidates : boolean array, shape (n,), optional
        Restrict the results to rows where the mask is true.
    bias : real array, shape (n,), optional
        Added to every query's cosine with each row before ranking, e.g. a
        popularity prior (:func:`popularity_bias`); the returned scores
        include it.
    xp : array namespace, optional
        Inferred from ``vectors`` and ``queries`` when omitted.
    kernels : kernel set, optional
        Dense kernels for the query normalization, from :meth:`Backend.kernels
        <cleora_tensor.backends.Backend.kernels>`; default: those of the
        input's backend.

    Returns
    -------
    indices : array, shape (q, k), int64
        Row indices of the neighbours, most similar first; equal scores are
        ordered by lower index.
    scores : array, shape (q, k), float32
        The cosine similarities (plus ``bias``), in the same order.

    Both arrays are in the namespace and on the device of the input.

    Raises
    ------
    ValueError
        If ``vectors`` or ``queries`` is not 2-D or not floating point, their
        widths differ, ``top_k < 1``, or ``exclude``/``candidates``/``bias``
        has the wrong shape, dtype or (for ``exclude``) an index outside
        ``[0, n)``.
        The message names the parameter.

    Notes
    -----
    Norms are floored at ``1e-10`` (so an all-zero row scores 0 against
    everything), as in Cleora's propagation. Queries are processed in batches
    so that memory stays ``O(batch * n)`` with about ``2**22`` scores per
    batch; ``vectors`` is never copied. Each batch is fully sorted with a stable
    ``argsort``, which makes the tie order deterministic on every backend.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> vectors = xp.asarray([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], dtype=xp.float32)
    >>> indices, scores = cosine_top_k(vectors, vectors[:1, :], 2, exclude=[0])
    >>> indices
    Array([[2, 1]], dtype=array_api_strict.int64)
    >>> scores
    Array([[0.6, 0. ]], dtype=array_api_strict.float32)
    """
    if xp is None:
        xp = array_api_compat.array_namespace(vectors, queries)
    for name, array in (("vectors", vectors), ("queries", queries)):
        if array.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {tuple(array.shape)}")
        if not xp.isdtype(array.dtype, "real floating"):
            raise ValueError(f"{name} must have a real floating dtype, got {array.dtype}")
    n, d = vectors.shape
    q = queries.shape[0]
    if queries.shape[1] != d:
        raise ValueError(
            f"queries must have {d} columns like vectors, got shape {tuple(queries.shape)}"
        )
    try:
        top_k = operator.index(top_k)
    except TypeError:
        raise ValueError(f"top_k must be an int, got {top_k!r}") from None
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    dev = array_api_compat.device(vectors)

    eligible = n
    if candidates is not None:
        candidates = _vector_arg(xp, "candidates", candidates, "bool", "a boolean", n, dev)
        eligible = int(xp.sum(xp.astype(candidates, xp.int64)))
    if exclude is not None:
        exclude = _vector_arg(xp, "exclude", exclude, "integral", "an integer", q, dev)
        if bool(xp.any((exclude < 0) | (exclude >= n))):
            raise ValueError(f"exclude must hold row indices in [0, {n})")
        eligible -= 1
    if bias is not None:
        bias = _vector_arg(xp, "bias", bias, "real floating", "a real floating", n, dev)
        bias = xp.astype(bias, vectors.dtype)
    k = max(0, min(top_k, eligible))
    if k == 0 or q == 0:
        return (
            xp.zeros((q, k), dtype=xp.int64, device=dev),
            xp.zeros((q, k), dtype=xp.float32, device=dev),
        )

    dtype = vectors.dtype
    queries = normalize_rows(xp.astype(queries, dtype), eps=_EPS, xp=xp, kernels=kernels)
    # Scaling the scores by 1 / ||row|| instead of normalizing a copy of
    # ``vectors`` keeps the extra memory at O(n), not O(n * d).
    inverse_norms = 1 / xp.clip(_row_norms(vectors, xp), min=_EPS)
    neg_inf = xp.asarray(-xp.inf, dtype=dtype, device=dev)
    columns = xp.arange(n, dtype=xp.int64, device=dev)
    batch = max(1, _BLOCK_ELEMENTS // max(n, 1))
    index_blocks, score_blocks = [], []
    for start in range(0, q, batch):
        stop = min(start + batch, q)
        scores = xp.matmul(queries[start:stop, :], xp.matrix_transpose(vectors))
        scores = scores * inverse_norms[None, :]
        if bias is not None:
            scores = scores + bias[None, :]
        # Masked entries get -inf so that the sort moves them behind every
        # eligible row; k never reaches past the eligible ones.
        if candidates is not None:
            scores = xp.where(candidates[None, :], scores, neg_inf)
        if exclude is not None:
            own = columns[None, :] == xp.astype(exclude[start:stop], xp.int64)[:, None]
            scores = xp.where(own, neg_inf, scores)
        order = xp.argsort(-scores, axis=1, stable=True)[:, :k]
        order = xp.astype(order, xp.int64)
        # take_along_axis is recent in the standard; a flat take works everywhere.
        flat = order + xp.arange(stop - start, dtype=xp.int64, device=dev)[:, None] * n
        top = xp.reshape(xp.take(xp.reshape(scores, (-1,)), xp.reshape(flat, (-1,))), (-1, k))
        index_blocks.append(order)
        score_blocks.append(xp.astype(top, xp.float32))
    return xp.concat(index_blocks, axis=0), xp.concat(score_blocks, axis=0)


def popularity_bias(counts: np.ndarray, prior: float, dtype: Any = np.float64) -> np.ndarray:
    """The popularity prior ``prior * log(counts)`` added to cosine scores.

    Scoring ``cosine + prior * log(popularity)`` mixes the embedding's
    association with the candidate's base rate, log-linearly; both
    :meth:`Embedding.complete <cleora_tensor.Embedding.complete>` and the
    evaluation's embedding scorer rank by it.

    Parameters
    ----------
    counts : numpy.ndarray, shape (n,)
        Occurrences of each candidate (contexts or baskets holding it); counts
        below 1 count as 1, so an unseen candidate gets no bias.
    prior : float
        Weight of the prior, ``>= 0``; 0 gives zeros.
    dtype : numpy dtype, default numpy.float64
        Of the logarithms, before they are multiplied by ``prior``.

    Returns
    -------
    numpy.ndarray, shape (n,), ``dtype``
        ``prior * log(max(counts, 1))``.

    Examples
    --------
    >>> popularity_bias(np.array([0, 1, 100]), 0.5)
    array([0.        , 0.        , 2.30258509])
    """
    return prior * np.log(np.maximum(counts, 1)).astype(dtype)


def _vector_arg(xp: Any, name: str, value: Any, kind: str, noun: str, length: int, dev: Any) -> Any:
    """``value`` as a 1-D array of dtype ``kind`` and shape ``(length,)`` on ``dev``, else ValueError."""
    value = xp.asarray(value, device=dev)
    if not xp.isdtype(value.dtype, kind) or tuple(value.shape) != (length,):
        raise ValueError(
            f"{name} must be {noun} array of shape ({length},), got {value.dtype} of shape {tuple(value.shape)}"
        )
    return value


def _row_norms(x: Any, xp: Any) -> Any:
    """L2 norm of every row, shape ``(n,)``, without a temporary the size of ``x``."""
    n, d = x.shape
    rows = max(1, _BLOCK_ELEMENTS // max(d, 1))
    blocks = []
    for start in range(0, n, rows):
        block = x[start : min(start + rows, n), :]
        blocks.append(xp.sqrt(xp.sum(block * block, axis=1)))
    return xp.concat(blocks)
