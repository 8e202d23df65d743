"""Supervised refinement: fine-tune embeddings on known related and unrelated entity pairs.

The torch counterpart of pycleora 3.2.1's ``supervised_refine``: a few epochs
of a triplet margin loss on cosine similarity, minimized by stochastic
gradient descent on sparse gradients (:class:`torch.optim.SGD`) on the input's
device. Importing this module does not import torch; :func:`supervised_refine`
does.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ._xp import device_of, namespace, to_torch
from .backends import import_optional
from .embedding import Embedding

__all__ = ["supervised_refine"]

_EPS = 1e-10  # norms below this are zero vectors, as in normalize_rows


def supervised_refine(
    embedding: Any,
    positive_pairs: Any,
    negative_pairs: Any = None,
    *,
    margin: float = 0.5,
    negatives_per_positive: int = 5,
    learning_rate: float = 0.001,
    epochs: int = 10,
    batch_size: int = 1024,
    regularization: float = 0.0,
    seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
) -> Any:
    r"""Fine-tune embeddings so that positive pairs are closer than negative pairs.

    Every positive pair ``(a, p)`` is matched with ``negatives_per_positive``
    negative pairs ``(a', n)`` and the triplet margin loss with cosine
    similarity,

    .. math:: \max(0,\ \text{margin} - \cos(a, p) + \cos(a', n)),

    is minimized by stochastic gradient descent on mini-batches of positive
    pairs (:class:`torch.optim.SGD`; the gradient is sparse, so only the rows
    of a batch are touched and a step costs ``O(batch_size * dim)``). Plain
    gradient steps are proportional to the gradient: a triplet already
    satisfied moves nothing, which keeps the unsupervised structure where the
    pairs agree with it (Adam, which normalizes its steps, moved every touched
    row by about ``learning_rate`` per coordinate and lost that structure on
    cora). Without ``negative_pairs`` the negatives are sampled: ``a' = a``
    and ``n`` uniform over all entities (corrupting the second entity, as
    pycleora does), so each term is a triplet ``(a, p, n)``. With
    ``negative_pairs`` they are drawn uniformly from the given pairs.

    Parameters
    ----------
    embedding : Embedding or array
        An :class:`~cleora_tensor.Embedding`, or vectors of shape
        ``(n_entities, dim)``, float32 or float64: a NumPy array, a torch tensor
        (CPU or GPU) or another array-API array convertible by DLPack.
    positive_pairs : array-like, shape (n_pairs, 2)
        Related entities: row indices (integers), or with an ``Embedding`` also
        entity ids (a sequence of ``(id, id)`` pairs; ids held under several
        types need row indices, see :meth:`Embedding.index`).
    negative_pairs : array-like, shape (n_negatives, 2), optional
        Unrelated entities, given as ``positive_pairs``; default: sampled.
    margin : float, default 0.5
        Required gap between a positive and a negative cosine, ``>= 0``
        (pycleora's default).
    negatives_per_positive : int, default 5
        Negative pairs per positive pair and epoch, ``>= 1`` (pycleora's default).
    learning_rate : float, default 0.001
        Step size ``> 0`` per pair: the loss of a batch is summed over its
        positive pairs (averaged over their negatives), on unit-length
        directions (the rows are normalized before refinement, so it does not
        depend on the scale of ``embedding``). On cora (``benchmarks/refine.py``)
        this default keeps link prediction and node classification at or
        slightly above the unrefined embedding; pycleora's 0.01 fits the
        training pairs harder and loses 0.02-0.06 node classification
        accuracy.
    epochs : int, default 10
        Passes over the positive pairs, ``>= 1``. pycleora's 50 gave no better
        results on cora at five times the time.
    batch_size : int, default 1024
        Positive pairs per optimizer step, ``>= 1``.
    regularization : float, default 0.0
        Weight ``>= 0`` of a penalty ``1 - cos(x_i, x_i^{(0)})`` on each row
        of a batch, that keeps refined vectors near the original ones (``0``:
        none).
    seed : int, default 0
        Seed of the order of the pairs and of the negatives, from a
        :class:`torch.Generator` of its own on the CPU (the global torch seed
        is neither used nor changed; the draws do not depend on the device).
    callback : callable, optional
        ``callback(epoch, loss)`` after each epoch (0-based), with the mean
        triplet loss of the epoch (over its positive pairs and their
        negatives, each measured before its batch's step), as pycleora's.

    Returns
    -------
    Embedding or array
        An ``Embedding`` gives an ``Embedding`` with the same entities and
        refined vectors, without ``config`` and ``state`` (these vectors are
        no longer what the configuration computes, and
        :func:`~cleora_tensor.embed_new` would place new entities in the
        unrefined space). An array gives an array of the same shape, dtype,
        namespace and device (NumPy in, NumPy out; torch in, torch out). Each
        row keeps its original L2 norm; only its direction changes, and zero
        rows stay zero.

    Raises
    ------
    BackendUnavailableError
        If torch is not installed (``pip install "cleora-tensor[torch]"``).
    TypeError
        If ``embedding`` is not an ``Embedding`` or array, or ``callback`` is not
        callable.
    ValueError
        Naming the parameter: vectors that are not 2-D floating point or not
        finite; pairs not of shape ``(n, 2)``, empty, with a row index out of
        range, or with an id not in the embedding (or ids without an
        ``Embedding``); an option out of range.

    Notes
    -----
    Differences from pycleora 3.2.1's ``supervised_refine``, which takes the
    same options (``num_epochs``, ``num_negatives_per_positive``): pycleora
    pulls every positive pair to cosine 1 and pushes every negative pair below
    ``margin`` separately, one pair at a time; here the loss is the triplet
    (ranking) margin loss its documentation names, on mini-batches. pycleora
    uses only the first ``num_negatives_per_positive`` given negative pairs;
    here all are sampled. pycleora's seed is fixed (42)
    and it stops when an epoch's loss is below ``1e-6``; here ``seed`` is a
    parameter and every epoch runs. pycleora returns unit rows; here the rows
    keep their norms (L2-normalize the result for pycleora's output). The
    defaults take smaller and fewer steps (``learning_rate=0.001, epochs=10``;
    pycleora: 0.01 and 50).

    Only the entities of the pairs (and sampled negatives) move; the others
    come back bit for bit. So refinement does not generalize to entities
    outside the pairs: on cora (``benchmarks/refine.py``) link prediction
    stayed within 0.004 MRR of the unrefined embedding at every setting tried,
    and Planetoid node classification gained 0.006 accuracy at the defaults
    but lost 0.02-0.06 at ``learning_rate >= 0.01`` (the classifier is fitted
    on moved training nodes, the test nodes keep their vectors). On the CPU the result is bit-identical for the same
    input and seed, whatever the thread count. On a GPU it depends on torch's
    CUDA kernels (not verified; :func:`torch.use_deterministic_algorithms`
    enforces it).

    References
    ----------
    Schroff, Kalenichenko & Philbin, "FaceNet: A Unified Embedding for Face
    Recognition and Clustering", CVPR 2015 (the triplet loss).

    Examples
    --------
    >>> import numpy as np
    >>> vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5], [0.0, -2.0]], dtype=np.float32)
    >>> refined = supervised_refine(vectors, [(0, 1)], [(0, 2)], epochs=20, learning_rate=0.1)
    >>> def cosine(x, i, j):
    ...     return float(x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]))
    >>> cosine(refined, 0, 1) > cosine(vectors, 0, 1), cosine(refined, 0, 2) < cosine(vectors, 0, 2)
    (True, True)
    >>> refined[3]  # in no pair: unchanged
    array([ 0., -2.], dtype=float32)
    """
    torch = import_optional(
        "torch", purpose="supervised refinement", install='pip install "cleora-tensor[torch]"'
    )
    vectors = embedding.vectors if isinstance(embedding, Embedding) else embedding
    if isinstance(vectors, np.ndarray) and not vectors.flags.writeable:
        vectors = np.array(vectors)  # torch warns on read-only (memory-mapped) arrays
    _check_options(margin, negatives_per_positive, learning_rate, epochs, batch_size, regularization, seed, callback)
    original = _as_tensor(vectors)
    n = original.shape[0]
    positives = _pair_rows(positive_pairs, "positive_pairs", n, embedding)
    negatives = None if negative_pairs is None else _pair_rows(negative_pairs, "negative_pairs", n, embedding)

    norms = torch.linalg.vector_norm(original, dim=1, keepdim=True)
    live = (norms > _EPS).to(original.dtype)
    # Refine unit directions; a zero row has direction 0 and no gradient.
    start = original * live / norms.clamp(min=_EPS)
    table = torch.nn.Parameter(start.clone())
    # SGD on sparse gradients: only the rows of a batch are updated, so a step
    # costs O(batch * dim) whatever the number of entities.
    optimizer = torch.optim.SGD([table], lr=learning_rate)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    device = original.device
    m = positives.shape[0]
    for epoch in range(epochs):
        order = torch.randperm(m, generator=generator)
        total = 0.0
        for first in range(0, m, batch_size):
            pos = positives[order[first : first + batch_size]]
            neg = _negatives(pos, negatives, negatives_per_positive, n, generator)
            b = pos.shape[0]
            # Each distinct row once: its gradient is then a sum over the batch
            # in a fixed order, and the sparse gradient has no duplicates.
            rows, inverse = torch.unique(torch.cat([pos.reshape(-1), neg.reshape(-1)]).to(device), return_inverse=True)
            picked = torch.nn.functional.embedding(rows, table, sparse=True)
            unit = picked * live[rows] / torch.linalg.vector_norm(picked, dim=1, keepdim=True).clamp(min=_EPS)
            a, p = unit[inverse[: 2 * b].reshape(b, 2)].unbind(dim=1)
            left, right = inverse[2 * b :].reshape(b, negatives_per_positive, 2).unbind(dim=2)
            negative = (unit[left] * unit[right]).sum(dim=2)
            hinge = torch.relu(margin - (a * p).sum(dim=1)[:, None] + negative)
            # Summed over the positives (averaged over their negatives), so
            # that learning_rate is a step per pair whatever batch_size is.
            loss = hinge.sum() / negatives_per_positive
            if regularization > 0:
                loss = loss + regularization * (1.0 - (unit * start[rows]).sum(dim=1)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(hinge.detach().sum())
        if callback is not None:
            callback(epoch, total / (m * negatives_per_positive))
    with torch.no_grad():
        length = torch.linalg.vector_norm(table, dim=1, keepdim=True).clamp(min=_EPS)
        # Rows the optimizer never moved come back bit for bit.
        moved = (table != start).any(dim=1, keepdim=True)
        refined = torch.where(moved, table * (norms / length), original)
    return _follow_input(refined.detach(), embedding, vectors)


def _check_options(
    margin: float, negatives_per_positive: int, learning_rate: float, epochs: int,
    batch_size: int, regularization: float, seed: int, callback: Any,
) -> None:
    for name, value in (("margin", margin), ("regularization", regularization)):
        if not _is_real(value) or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not _is_real(learning_rate) or not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    counts = (("negatives_per_positive", negatives_per_positive), ("epochs", epochs), ("batch_size", batch_size))
    for name, value in counts:
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_tensor(vectors: Any) -> Any:
    """The vectors as a float torch tensor on their device (a copy is made later)."""
    import torch

    try:
        namespace(vectors)
    except TypeError:
        raise TypeError(
            f"embedding must be an Embedding or an array of shape (n_entities, dim), got {type(vectors).__name__}"
        ) from None
    tensor = to_torch(vectors)
    if tensor.ndim != 2:
        raise ValueError(f"embedding vectors must be 2-D (n_entities, dim), got shape {tuple(tensor.shape)}")
    if tensor.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"embedding vectors must be float32 or float64, got {tensor.dtype}")
    if not bool(torch.isfinite(tensor).all()):
        row = int(torch.nonzero(~torch.isfinite(tensor))[0, 0])
        raise ValueError(f"embedding vectors must be finite; row {row} is not")
    return tensor.detach()


def _pair_rows(pairs: Any, name: str, n: int, embedding: Any) -> Any:
    """``(m, 2)`` int64 CPU tensor of the rows of ``pairs`` (row indices, or ids of an Embedding)."""
    import torch

    if hasattr(pairs, "__dlpack__") and not isinstance(pairs, np.ndarray):
        pairs = to_torch(pairs).cpu().numpy()
    array = np.asarray(pairs if len(pairs) else np.zeros((0, 2), np.int64))
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n_pairs, 2), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one pair" + (
            "; pass None to sample the negatives" if name == "negative_pairs" else ""))
    if array.dtype.kind in "iu":
        rows = array.astype(np.int64)
        bad = np.flatnonzero(((rows < 0) | (rows >= n)).any(axis=1))
        if bad.size:
            raise ValueError(
                f"{name}[{bad[0]}] = {array[bad[0]].tolist()} holds a row index outside [0, {n})"
            )
    elif array.dtype.kind in "UO" and isinstance(embedding, Embedding):
        ids = [str(i) for i in array.ravel().tolist()]
        rows = embedding.rows(ids).reshape(-1, 2)
        bad = np.flatnonzero((rows < 0).any(axis=1))
        if bad.size:
            missing = next(i for i, r in zip(array[bad[0]].tolist(), rows[bad[0]]) if r < 0)
            raise ValueError(f"{name}[{bad[0]}]: entity {missing!r} is not in the embedding")
    elif array.dtype.kind in "UO":
        raise ValueError(
            f"{name} holds ids, which need an Embedding; with an array of vectors give row indices"
        )
    else:
        raise ValueError(f"{name} must hold row indices (integers) or entity ids, got dtype {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(rows))


def _negatives(positives: Any, negatives: Any, per_positive: int, n: int, generator: Any) -> Any:
    """``(batch, per_positive, 2)`` CPU rows of the negatives of a batch of positives."""
    import torch

    batch = positives.shape[0]
    if negatives is None:
        anchors = positives[:, :1].expand(batch, per_positive)
        drawn = torch.randint(n, (batch, per_positive), generator=generator)
        return torch.stack([anchors, drawn], dim=2)
    picked = torch.randint(negatives.shape[0], (batch * per_positive,), generator=generator)
    return negatives[picked].reshape(batch, per_positive, 2)


def _follow_input(refined: Any, embedding: Any, vectors: Any) -> Any:
    """``refined`` as the input came: an Embedding, or an array of its namespace, device and dtype."""
    xp = namespace(vectors)
    out = refined if xp is namespace(refined) else xp.asarray(refined.cpu().numpy(), device=device_of(vectors))
    if isinstance(embedding, Embedding):
        return dataclasses.replace(embedding, vectors=out, config=None, state=None)
    return out
