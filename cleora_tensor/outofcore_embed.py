"""``embed`` out of core: a built graph -> an ``.npy`` embedding larger than memory.

The pipeline (:func:`~cleora_tensor.embed`) calls :func:`embed_out_of_core` when
the in-memory run would not fit in ``memory_limit``; the propagation itself is
:func:`~cleora_tensor.outofcore.propagate_out_of_core`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .backends import Backend
from .config import EmbedConfig
from .errors import InsufficientMemoryError
from .embedding import Embedding
from .formats import infer_format, npy
from .formats.atomic import AtomicFiles
from .formats.fields import EmbeddingFields
from .hypergraph import Graph
from .markov import transition_matrix
from .memory import (
    BASELINE_BYTES,
    available_memory,
    check_propagation_memory,
    estimate_memory,
    format_size,
    propagation_bytes,
    resident_memory,
)
from .backends.kernels_numpy import NORM_COLUMNS, moment_tasks
from .outofcore import ColumnFile, propagate_out_of_core
from .periodicity import resolve_residual
from .runtime import Runtime

__all__ = ["embed_out_of_core", "entity_fields", "plan_slices", "planned_mode", "slice_dim_for"]


def embed_out_of_core(
    graph: Graph,
    config: EmbedConfig,
    output: str | os.PathLike[str],
    *,
    slice_dim: int,
    threads: int | None = None,
    progress: bool = False,
) -> Embedding:
    """Embed ``graph`` in column slices into the ``npy`` file ``output``.

    Parameters
    ----------
    graph : Graph
    config : EmbedConfig
        Joint mode; ``scales`` without early stopping (``tol`` None): each
        scale's block of ``dim`` columns is its own run of that many steps, so
        ``sum(scales)`` steps in all instead of ``max(scales)``.
    output : path
        An ``.npy`` target (format ``npy``): the vectors, float32
        ``(n_output, dim * len(scales or [1]))`` in Fortran order, and
        ``OUTPUT.entities.npz``. Both replace their targets together at the
        end, or not at all.
    slice_dim : int
        Columns per slice (see :func:`~cleora_tensor.outofcore.propagate_out_of_core`).
    threads : int or None, default None
    progress : bool, default False

    Returns
    -------
    Embedding
        Loaded from ``output`` with memory-mapped vectors (``Embedding.load(output,
        mmap=True)``); no trained state.

    Raises
    ------
    ValueError
        If ``output`` is not an ``.npy`` path, or the configuration needs what
        the out-of-core loop does not offer.
    OSError
        If writing fails (a full disk, say); no output is left behind.
    """
    if infer_format(output) != "npy":
        raise ValueError(
            f"output={os.fspath(output)!r}: an out-of-core embedding is written as .npy "
            "(vectors) + .npy.entities.npz; name the output FILE.npy"
        )
    output = Path(output)
    config = resolve_residual(config, graph)
    n, dim = graph.num_entities, config.dim
    runs = [config] if not config.scales else [dataclasses.replace(config, iterations=s, scales=None) for s in config.scales]
    width = dim * len(runs)
    keep = graph.output
    rows = None if keep.all() else np.flatnonzero(keep)
    matrix = transition_matrix(graph, config.propagation)
    with AtomicFiles() as files:
        target = files.open(output, readable=True)
        # With transient entities, iterate in a scratch file beside the output
        # and copy the output rows; otherwise the output itself is the iterate.
        scratch = None if rows is None else tempfile.TemporaryFile(dir=output.parent, prefix=f".{output.name}.work.")
        try:
            vectors = ColumnFile(target if scratch is None else scratch, n, width)
            keys = graph.keys(config.init)
            for k, run in enumerate(runs):
                propagate_out_of_core(
                    matrix, keys, run, vectors.block(k * dim, (k + 1) * dim),
                    slice_dim=slice_dim, whiten_rows=rows, threads=threads, progress=progress,
                )
            if scratch is not None:
                _copy_rows(vectors, ColumnFile(target, len(rows), width), keep)
        finally:
            if scratch is not None:
                scratch.close()
        npy.write_entities(files.open(npy.entities_path(output)), entity_fields(graph, config))
    return Embedding.load(output, mmap=True)


def entity_fields(graph: Graph, config: EmbedConfig) -> EmbeddingFields:
    """The fields of ``graph``'s output entities, with ``(n_output, 0)`` vectors: an ``npy`` sidecar's content."""
    keep = graph.output
    ids = graph.entity_ids if keep.all() else [i for i, k in zip(graph.entity_ids, keep) if k]
    return EmbeddingFields(
        entity_ids=ids,
        types=graph.types[keep],
        vectors=np.zeros((len(ids), 0), np.float32),
        degrees=graph.degrees[keep],
        occurrences=graph.occurrences[keep],
        config=config,
        relation=graph.name,
    )


def _copy_rows(source: ColumnFile, target: ColumnFile, keep: np.ndarray) -> None:
    """Write the rows of ``source`` where ``keep`` is True, in order, into ``target``."""
    written = 0
    for a, b in moment_tasks(source.n):
        block = source.read(a, b, 0, source.d)[keep[a:b]]
        target.write(written, 0, block)
        written += len(block)


def plan_slices(
    graph: Graph,
    config: EmbedConfig,
    runtime: Runtime,
    backend: Backend,
    *,
    initial: bool,
    output: str | os.PathLike[str] | None,
) -> int | None:
    """Decide between in-memory and out-of-core propagation of ``graph``.

    Parameters
    ----------
    graph : Graph
    config : EmbedConfig
    runtime : Runtime
        Its ``memory_limit`` (None: the memory available) and ``threads``.
    backend : Backend
        The run's backend; only a backend computing in main memory is checked,
        and only ``"scipy"`` runs out of core.
    initial : bool
        Whether the run starts from entity features (not out of core).
    output : path or None
        Where the result goes; out of core needs an ``.npy`` one.

    Returns
    -------
    int or None
        Columns per slice for out-of-core propagation, or None: in memory.

    Raises
    ------
    InsufficientMemoryError
        If the in-memory run does not fit in the memory available and out of
        core is not possible (the message says what it needs), or out of core
        does not fit in ``memory_limit`` either (the message gives the least
        limit that would do).
    ValueError
        If the in-memory run exceeds ``memory_limit`` and the run cannot go
        out of core (the message says why).
    """
    if not backend.on_host:
        return None
    unsupported = ", ".join(
        what
        for what, present in (
            (f"the {backend.name} backend", backend.name != "scipy"),
            ("initial features", initial),
            ("early stopping (tol) with multi-scale snapshots (scales)", bool(config.scales) and config.tol is not None),
            ("pairwise relations", config.relations != "joint"),
        )
        if present
    )
    if unsupported:
        hint = f"out-of-core propagation (memory_limit, --memory-limit) does not support {unsupported}"
    elif output is None or infer_format(output) != "npy":
        hint = "or embed out of core, in column slices on disk: memory_limit=SIZE with output=FILE.npy (--memory-limit SIZE -o FILE.npy)"
    else:
        hint = None
    n, nnz, dim, threads = graph.num_entities, graph.nnz, config.dim, runtime.threads
    scales = len(config.scales or ())
    outputs = int(graph.output.sum())
    limit = runtime.memory_limit
    if limit is None:
        try:
            check_propagation_memory(n, nnz, dim, threads=threads, output_entities=outputs, scales=scales)
            return None
        except InsufficientMemoryError as refusal:
            if hint is not None:
                raise InsufficientMemoryError(f"{refusal}; {hint}") from None
            limit = resident_memory() + available_memory() * 3 // 4
    # The graph is built: what is resident now plus what propagating adds.
    resident = resident_memory() or BASELINE_BYTES

    def peak(width: int | None) -> int:
        in_memory = scales if width is None else 0  # out of core, each scale is a run of its own
        return resident + propagation_bytes(
            n, nnz, dim, threads=threads, output_entities=outputs, slice_dim=width, scales=in_memory
        )

    if runtime.memory_limit is not None and peak(None) <= limit:
        return None
    if hint is not None:
        raise ValueError(f"memory_limit={format_size(limit)} is less than the in-memory run needs ({format_size(peak(None))}); {hint}")
    width = slice_dim_for(limit, peak, dim, columns=NORM_COLUMNS)
    if width is None:
        least = peak(NORM_COLUMNS)
        raise InsufficientMemoryError(
            f"propagating {n:,} entities out of core needs at least {format_size(least)} "
            f"(slices of {NORM_COLUMNS} columns), more than the limit of {format_size(limit)}; "
            f"raise memory_limit (--memory-limit {-(-least // 2**20)}M) or mark more columns transient::"
        )
    return width


def slice_dim_for(budget: int, cost: Callable[[int], int], dim: int, *, columns: int) -> int | None:
    """The widest column slice whose out-of-core ``cost`` fits in ``budget`` bytes.

    Parameters
    ----------
    budget : int
        Bytes allowed.
    cost : callable
        ``cost(width)``: bytes of propagating in slices of ``width`` columns
        (:func:`estimate_memory` or :func:`propagation_bytes` with
        ``slice_dim=width``); non-decreasing in ``width``.
    dim : int
        Embedding dimension.
    columns : int
        Slice widths are multiples of it (the norm chunk width).

    Returns
    -------
    int or None
        A multiple of ``columns`` (or ``dim``), or None if even ``columns`` does
        not fit.
    """
    best = None
    for width in range(columns, dim + columns, columns):
        width = min(width, dim)
        if cost(width) > budget:
            break
        best = width
    return best


def planned_mode(
    graph: Graph, dim: int, in_memory_peak: int, *, memory_limit: int | None, threads: int | None, input_ids: int
) -> tuple[int, int | None, str]:
    """What ``cleora-tensor info`` reports of the mode ``embed`` would choose (an ``.npy`` output).

    Parameters
    ----------
    graph : Graph
    dim : int
    in_memory_peak : int
        The whole run's estimate in memory (:func:`~cleora_tensor.estimate_memory`).
    memory_limit : int or None
        ``--memory-limit`` in bytes; None: the memory available.
    threads : int or None
    input_ids : int
        Ids in the input cells.

    Returns
    -------
    (int, int or None, str)
        The whole run's estimate out of core (at the slice width chosen, or 32
        columns), the limit in bytes (None where the system reports no
        available memory), and the mode in words.
    """
    available, resident = available_memory(), resident_memory()
    unknown = available is None or resident is None
    budget = memory_limit or (None if unknown else available + resident)
    limit = memory_limit or (None if unknown else resident + available * 3 // 4)

    def whole_run(width: int | None) -> int:
        return estimate_memory(
            graph.num_entities, graph.nnz, dim, threads=threads, pairs=graph.pairs,
            input_ids=input_ids, output_entities=int(graph.output.sum()), slice_dim=width,
        )

    if budget is None or in_memory_peak <= budget:
        return whole_run(min(NORM_COLUMNS, dim)), limit, "in memory"
    width = slice_dim_for(limit, whole_run, dim, columns=NORM_COLUMNS)
    if width is None:
        needed = whole_run(min(NORM_COLUMNS, dim))
        return needed, limit, f"refused: needs about {format_size(needed)} even out of core"
    return whole_run(width), limit, f"out of core, {-(-dim // width)} slices of {width} columns (needs -o FILE.npy)"
