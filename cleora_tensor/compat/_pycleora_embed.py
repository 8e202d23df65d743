"""pycleora's embedding functions (``embed`` and its variants) over the core's loop.

See :mod:`cleora_tensor.compat.pycleora` for the differences from pycleora 3.2.1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import array_api_compat
import numpy as np

from .._xp import to_numpy, to_torch
from ..backends import get_backend
from ..config import EmbedConfig
from ..features import initial_vectors
from ..lookup import EntityIndex
from ._pycleora_graph import SparseMatrix
from ._pycleora_loop import check_normalization, run_loop

__all__ = [
    "DEFAULT_FEATURE_DIM",
    "DEFAULT_NUM_ITERATIONS",
    "embed",
    "embed_inductive",
    "embed_multiscale",
    "embed_using_baseline_cleora",
    "embed_weighted",
    "embed_with_node_features",
    "propagate_gpu",
]

#: pycleora 3.2.1's defaults.
DEFAULT_FEATURE_DIM = 256
DEFAULT_NUM_ITERATIONS = 40


def embed(
    graph: SparseMatrix,
    feature_dim: int = DEFAULT_FEATURE_DIM,
    num_iterations: int | str = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    seed: int = 0,
    initial_embeddings: Any = None,
    num_workers: int | None = None,
    callback: Callable[[int, Any], None] | None = None,
    residual_weight: float = 0.0,
    convergence_threshold: float = 0.0,
    whiten: bool = True,
) -> Any:
    """Cleora embeddings of a graph's entities (pycleora's ``embed``).

    Parameters
    ----------
    graph : SparseMatrix
    feature_dim : int, default 256
        Columns of the hash initialization (ignored with ``initial_embeddings``).
    num_iterations : int or "auto", default 40
        Propagation steps; ``"auto"`` is 40, as in pycleora.
    propagation : {"left", "symmetric"}, default "left"
    normalization : {"l2"}, default "l2"
    seed : int, default 0
        Seed of pycleora's initializer.
    initial_embeddings : array, optional
        Shape ``(num_entities, d)``, any array-API namespace; the result
        follows its namespace and device (a CUDA tensor runs on the GPU).
    num_workers : int or None, default None
        CPU threads (all cores if None); the result does not depend on it.
    callback : callable, optional
        ``callback(step, vectors)`` after every step (from 0), with a copy.
    residual_weight : float, default 0.0
        ``r`` in ``(1 - r) P E + r E``, in ``[0, 1)``.
    convergence_threshold : float, default 0.0
        Stop when the RMS change of all coordinates in one step falls below it.
    whiten : bool, default True
        PCA whitening after every step.

    Returns
    -------
    array
        Shape ``(num_entities, d)``, float32: NumPy, or the namespace and
        device of ``initial_embeddings``.

    Raises
    ------
    ValueError
        On ``initial_embeddings`` with the wrong number of rows (pycleora's
        message), an unknown ``propagation``, a ``normalization`` other than
        ``"l2"``, a ``num_iterations`` that is neither an int nor ``"auto"``, or
        values out of range (the message names the core's parameter).
    """
    if num_iterations == "auto":
        num_iterations = DEFAULT_NUM_ITERATIONS
    check_normalization(normalization)
    if initial_embeddings is None:
        x, owned = graph.initialize_deterministically(feature_dim, seed), True
    else:
        rows = initial_embeddings.shape[0]
        if rows != graph.num_entities:
            raise ValueError(f"initial_embeddings has {rows} rows but graph has {graph.num_entities} entities")
        # May share the caller's memory (a view, a memmap): never a work buffer.
        x, owned = get_backend(initial_embeddings).asarray(initial_embeddings), False
    return run_loop(
        graph, x, num_iterations, propagation, whiten, residual_weight, convergence_threshold, num_workers,
        owned=owned, callback=callback,
    ).vectors


def embed_using_baseline_cleora(graph: SparseMatrix, feature_dim: int, iter: int) -> np.ndarray:
    """pycleora's reference loop: :func:`embed` with its defaults and ``iter`` steps."""
    return embed(graph, feature_dim, iter)


def embed_multiscale(
    graph: SparseMatrix,
    feature_dim: int = DEFAULT_FEATURE_DIM,
    scales: Sequence[int] | None = None,
    propagation: str = "left",
    normalization: str = "l2",
    seed: int = 0,
    num_workers: int | None = None,
    whiten: bool = True,
) -> np.ndarray:
    """The vectors after each of ``scales`` steps of one run, side by side (pycleora's ``embed_multiscale``).

    Parameters
    ----------
    scales : list of int, optional
        Steps, default ``[10, 20, 30, 40]``; in increasing order in the result
        (a repeated step repeats its block, as in pycleora).
    graph, feature_dim, propagation, normalization, seed, num_workers, whiten
        As in :func:`embed`.

    Returns
    -------
    numpy.ndarray
        Shape ``(num_entities, feature_dim * len(scales))``, float32.

    Raises
    ------
    ValueError
        If ``scales`` is empty or holds a non-positive or non-int step, and as
        :func:`embed`.
    """
    scales = [10, 20, 30, 40] if scales is None else list(scales)
    if not scales or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in scales):
        raise ValueError("scales must be a non-empty list of positive integers")
    check_normalization(normalization)
    x = graph.initialize_deterministically(feature_dim, seed)
    result = run_loop(graph, x, max(scales), propagation, whiten, 0.0, 0.0, num_workers, snapshots=scales)
    taken = dict(zip(sorted(set(scales)), result.snapshots))
    return np.concatenate([taken[s] for s in sorted(scales)], axis=1)


def embed_with_node_features(
    graph: SparseMatrix,
    node_features: Mapping[str, Any],
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    feature_weight: float = 0.5,
    num_workers: int | None = None,
) -> Any:
    """Embed from a mix of features and the hash start (pycleora's ``embed_with_node_features``).

    An entity with a feature ``f`` starts from ``(1 - feature_weight) * init +
    feature_weight * f`` (``init``: :meth:`SparseMatrix.initialize_deterministically`,
    seed 0); the others from ``init``; then :func:`embed` runs.

    Parameters
    ----------
    node_features : mapping of str to array
        Entity id to a vector; all of one length ``d``, the embedding's width.
        Ids that are not entities are ignored. The result follows the namespace
        and device of the vectors.
    feature_weight : float, default 0.5
        In ``[0, 1]``.
    graph, num_iterations, propagation, normalization, num_workers
        As in :func:`embed`.

    Returns
    -------
    array
        Shape ``(num_entities, d)``, float32.

    Raises
    ------
    ValueError
        If ``node_features`` is empty, a vector has another length, holds a NaN
        or an infinity, or no id is an entity; and as :func:`embed`.
    """
    if not node_features:
        raise ValueError("node_features must be a non-empty dict of entity_id -> feature_vector")
    check_normalization(normalization)
    first = next(iter(node_features.values()))
    dim = len(first)
    backend = get_backend(first if array_api_compat.is_array_api_obj(first) else "scipy")
    config = EmbedConfig(columns=graph.columns, dim=dim, init="pycleora", seed=0, feature_weight=feature_weight)
    x, _ = initial_vectors(graph.graph, config, dict(node_features), num_workers, backend)
    return run_loop(graph, x, num_iterations, propagation, True, 0.0, 0.0, num_workers).vectors


def embed_inductive(
    trained_graph: SparseMatrix,
    trained_embeddings: Any,
    existing_edges: Sequence[str],
    new_edges: Sequence[str],
    columns: str,
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    hyperedge_trim_n: int = 16,
    num_workers: int | None = None,
) -> tuple[SparseMatrix, Any]:
    """Re-embed the graph of old and new lines from the trained vectors (pycleora's ``embed_inductive``).

    Known entities start from their trained vectors, new ones from
    pycleora's deterministic initializer; then :func:`embed` runs on the graph
    of ``existing_edges + new_edges``. For one step from the trained state,
    without re-running the loop, see :func:`cleora_tensor.embed_new`.

    Parameters
    ----------
    trained_graph : SparseMatrix
    trained_embeddings : array
        Shape ``(trained_graph.num_entities, d)``; the result follows its
        namespace and device.
    existing_edges, new_edges : sequence of str
        Lines, as in :meth:`SparseMatrix.from_iterator`.
    columns, hyperedge_trim_n
        As in :meth:`SparseMatrix.from_iterator`.
    num_iterations, propagation, normalization, num_workers
        As in :func:`embed`.

    Returns
    -------
    (SparseMatrix, array)
        The updated graph and its vectors ``(num_entities, d)``, float32.

    Raises
    ------
    ValueError
        If ``trained_embeddings`` does not have one row per trained entity; and
        as :meth:`SparseMatrix.from_iterator` and :func:`embed`.
    """
    rows, dim = trained_embeddings.shape
    if rows != trained_graph.num_entities:
        raise ValueError(
            f"trained_embeddings has {rows} rows but graph has {trained_graph.num_entities} entities"
        )
    check_normalization(normalization)
    updated = SparseMatrix.from_iterator([*existing_edges, *new_edges], columns, hyperedge_trim_n, num_workers)
    backend = get_backend(trained_embeddings)
    xp = backend.xp
    known = EntityIndex(trained_graph.entity_ids).rows(updated.entity_ids)
    start = backend.asarray(updated.initialize_deterministically(dim))
    trained = xp.take(backend.asarray(trained_embeddings), xp.asarray(np.maximum(known, 0), device=backend.device), axis=0)
    x = xp.where(xp.asarray(known >= 0, device=backend.device)[:, None], trained, start)
    return updated, run_loop(updated, x, num_iterations, propagation, True, 0.0, 0.0, num_workers).vectors


def embed_weighted(
    edges_with_weights: Sequence[tuple[str, float]],
    columns: str,
    feature_dim: int = DEFAULT_FEATURE_DIM,
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    seed: int = 0,
    hyperedge_trim_n: int = 16,
    num_workers: int | None = None,
    whiten: bool = True,
) -> tuple[SparseMatrix, np.ndarray]:
    """Embed lines with a weight each (pycleora's ``embed_weighted``, weights applied per edge).

    Each line's weight multiplies every edge that line makes (a ``weight::``
    column of the library), so ``W[a, b]`` is the weighted sum over lines
    relating ``a`` and ``b``; then :func:`embed` runs.

    Parameters
    ----------
    edges_with_weights : sequence of (str, float)
        Lines as in :meth:`SparseMatrix.from_iterator`, each with a finite
        non-negative weight.
    columns, hyperedge_trim_n
        As in :meth:`SparseMatrix.from_iterator`.
    feature_dim, num_iterations, propagation, normalization, seed, num_workers, whiten
        As in :func:`embed`.

    Returns
    -------
    (SparseMatrix, numpy.ndarray)
        The weighted graph and its vectors ``(num_entities, feature_dim)``, float32.

    Raises
    ------
    InputFormatError
        On a weight that is not a finite non-negative number (the message
        names its line).
    ValueError
        As :meth:`SparseMatrix.from_iterator` and :func:`embed`.
    """
    lines = (line.rstrip("\r\n") + f"\t{float(weight)!r}" for line, weight in edges_with_weights)
    graph = SparseMatrix.from_iterator(lines, f"{columns} weight::weight", hyperedge_trim_n, num_workers)
    return graph, embed(
        graph, feature_dim, num_iterations, propagation, normalization, seed, num_workers=num_workers, whiten=whiten
    )


def propagate_gpu(
    graph: SparseMatrix,
    embeddings: Any,
    num_iterations: int = DEFAULT_NUM_ITERATIONS,
    propagation: str = "left",
    normalization: str = "l2",
    device: Any = "cuda",
    callback: Callable[[int, Any], None] | None = None,
    whiten: bool = True,
) -> Any:
    """:func:`embed`'s loop from ``embeddings`` on the torch backend (pycleora's ``propagate_gpu``).

    Parameters
    ----------
    embeddings : array
        Start vectors ``(num_entities, d)``: NumPy or a torch tensor.
    device : str or torch.device, default "cuda"
        Where the loop runs (``"cpu"`` works too).
    callback : callable, optional
        ``callback(step, vectors)`` after every step, with a copy of the type
        the result has.
    graph, num_iterations, propagation, normalization, whiten
        As in :func:`embed`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Shape ``(num_entities, d)``, float32: NumPy for NumPy input (as
        pycleora), else a tensor on ``device``.

    Raises
    ------
    BackendUnavailableError
        If torch is not installed (an ImportError naming the pip command).
    ValueError
        If ``device`` is not usable (e.g. ``"cuda"`` without a GPU), and as
        :func:`embed`.
    """
    check_normalization(normalization)
    backend = get_backend("torch", device=device)
    tensor_in = array_api_compat.is_torch_array(embeddings)
    x = backend.asarray(to_torch(embeddings, device=backend.device))  # shares NumPy memory on the CPU

    def on_host(step: int, vectors: Any) -> None:
        callback(step, to_numpy(vectors))

    vectors = run_loop(
        graph, x, num_iterations, propagation, whiten, 0.0, 0.0, None,
        owned=False, callback=callback if callback is None or tensor_in else on_host, backend=backend,
    ).vectors
    return vectors if tensor_in else to_numpy(vectors)
