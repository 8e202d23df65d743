"""Propagation across processes on ``torch.distributed`` (gloo on CPU).

Every rank reads the input and builds the same graph (deterministically); the
rows are then split into contiguous ranges of whole 4096-row blocks of about
equal cost (non-zeros plus ``dim`` per row). A rank keeps its rows of the transition matrix and of the
embedding. Each step, the columns of the iterate are gathered
:data:`GATHER_COLUMNS` at a time (so a rank never holds the whole iterate), each
multiplied by the rank's rows of the matrix; normalization and the whitening
transform are row-local. The whitening moments and the early-stop change are
added up in the same blocks and order as in one process (each rank computes the
partial sums of the blocks it starts, with the first rows of the following
ranks gathered for blocks that cross a boundary), so the result is
bit-identical to the single-process SciPy run.

The gather is one ``broadcast`` per rank into the receiving buffer itself:
gloo's ``all_gather`` (and ``all_gather_single``) stage the whole result in a
temporary as large as the buffer (measured, torch 2.13: +138 MB per call at
550 k rows x 32 columns), and the broadcasts ran 3x faster on loopback.

Bytes received per rank and step: ``(K - 1) / K * n * dim * 4`` (the iterate's
other rows) plus, with whitening, the moment partial sums (``dim * dim * 8`` per
16384 output rows) and up to 16384 boundary rows per rank.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from datetime import timedelta
from typing import Any

import numpy as np
import scipy.sparse
from tqdm import tqdm

from .backends import get_backend, import_optional
from .backends.kernels_numpy import MOMENT_ROWS, moment_tasks, task_covariance, task_sums
from .backends.scipy import ScipyOperator
from .config import EmbedConfig
from .embedding import Embedding
from .errors import RankFailedError
from .formats import infer_format, npy
from .formats.atomic import AtomicFiles
from .hypergraph import Graph
from .init import initialize
from .markov import transition_matrix
from .outofcore_embed import entity_fields
from .parallel import ROW_BLOCK, single_threaded_blas
from .periodicity import resolve_residual
from .whitening import Whitening

__all__ = ["GATHER_COLUMNS", "Group", "embed_distributed", "join"]

#: Columns of the iterate gathered at a time: the gather buffer is ``n x 16``
#: floats (at 1e7 edges, 70 MB less per rank than 32 columns, measured).
GATHER_COLUMNS = 16


def join(timeout: float = 600.0) -> Group:
    """The process group of this run, initialized from the environment if needed.

    Under ``torchrun`` (or with ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``,
    ``WORLD_SIZE`` set) this initializes the default group with the gloo
    backend; an already initialized group is used as it is.

    Parameters
    ----------
    timeout : float, default 600
        Seconds any collective may wait before the run fails, so that a rank
        that died does not leave the others hanging.

    Returns
    -------
    Group

    Raises
    ------
    BackendUnavailableError
        If torch is not installed (``pip install "cleora-tensor[torch]"``).
    ValueError
        If the group cannot be initialized (the environment variables are missing).
    """
    import_optional("torch", purpose="distributed propagation", install='pip install "cleora-tensor[torch]"')
    import torch.distributed as dist

    if not dist.is_initialized():
        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE") if v not in os.environ]
        if missing:
            raise ValueError(
                f"distributed: no process group and {', '.join(missing)} not set; "
                "start with torchrun --nproc-per-node K -m cleora_tensor embed ... --distributed"
            )
        dist.init_process_group("gloo", timeout=timedelta(seconds=timeout))
    return Group(dist)


class Group:
    """The collectives this module uses, on NumPy arrays (zero-copy torch views)."""

    def __init__(self, dist: Any) -> None:
        import torch

        self._dist, self._torch = dist, torch
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    def all_gather(self, out: np.ndarray) -> None:
        """Fill every ``out[k]`` with rank ``k``'s ``out[k]``, in place.

        One ``broadcast`` from each rank straight into ``out``: no temporary.

        Parameters
        ----------
        out : numpy.ndarray
            Shape ``(size, ...)``, C-contiguous, the same shape and dtype on
            every rank; ``out[rank]`` filled by this rank.
        """
        for k, part in enumerate(out):
            self._dist.broadcast(self._torch.from_numpy(part), src=k)

    def close(self) -> None:
        """Destroy the default process group (before the process exits: a
        group left to interpreter shutdown can abort the process)."""
        if self._dist.is_initialized():
            self._dist.destroy_process_group()

    def objects(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), a list in rank order (all_gather_object)."""
        gathered: list[Any] = [None] * self.size
        self._dist.all_gather_object(gathered, value)
        return gathered

    def check(self, error: BaseException | None) -> None:
        """Stop every rank if any rank failed; every rank must call it.

        Parameters
        ----------
        error : exception or None
            This rank's failure, if any.

        Raises
        ------
        Exception
            ``error`` itself on the rank that failed; :class:`RankFailedError`
            naming the first failed rank and its message on the others.
        """
        failures = [(rank, message) for rank, message in enumerate(self.objects(None if error is None else str(error))) if message]
        if failures:
            if error is not None:
                raise error
            rank, message = failures[0]
            raise RankFailedError(f"rank {rank} failed: {message}")


def partition(indptr: np.ndarray, parts: int, dim: int) -> np.ndarray:
    """Row boundaries of ``parts`` ranks: whole ``ROW_BLOCK`` blocks of about equal cost.

    A row costs its non-zeros (the product) plus ``dim`` (its vectors'
    memory, and the dense steps: normalization, whitening), so the ranks hold
    about equal shares of the iterate when the degrees are skewed.

    Parameters
    ----------
    indptr : numpy.ndarray
        Shape ``(n + 1,)``: the transition matrix's row pointers.
    parts : int
        Ranks.
    dim : int
        Embedding dimension.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(parts + 1,)``, non-decreasing, from 0 to ``n``; every
        inner boundary a multiple of ``ROW_BLOCK`` (a rank may get no row).
    """
    n = len(indptr) - 1
    cost = indptr + dim * np.arange(n + 1)
    targets = np.linspace(0, cost[-1], parts + 1)
    rows = np.searchsorted(cost, targets, side="left")
    bounds = np.clip(np.round(rows / ROW_BLOCK) * ROW_BLOCK, 0, n).astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.maximum.accumulate(bounds)


def embed_distributed(
    graph: Graph,
    config: EmbedConfig,
    output: str | os.PathLike[str],
    group: Group,
    *,
    threads: int | None = None,
    progress: bool = False,
) -> Embedding:
    """Embed ``graph`` across the ranks of ``group`` into the ``.npy`` file ``output``.

    Every rank calls it with the same graph and configuration.

    Parameters
    ----------
    graph : Graph
        Handed over: the function drops its reference to the adjacency once
        this rank's rows of the transition matrix are taken, so pass a graph
        nothing else holds (as :func:`~cleora_tensor.embed` does) for its
        memory to be freed during propagation.
    config : EmbedConfig
        Joint mode, no ``scales``.
    output : path
        ``.npy`` (format ``npy``), the same path on every rank (a shared file
        system across machines): rank 0 creates it, each rank writes its rows,
        and rank 0 puts it and ``OUTPUT.entities.npz`` in place at the end.
    group : Group
        From :func:`join`.
    threads : int or None, default None
        Worker threads per rank.
    progress : bool, default False
        A progress bar on rank 0.

    Returns
    -------
    Embedding
        On every rank: the whole result, memory-mapped from ``output``.

    Raises
    ------
    ValueError
        If ``output`` is not ``.npy`` or the configuration has ``scales``.
    RankFailedError
        If another rank failed (its message, naming the rank).
    """
    if infer_format(output) != "npy" or config.scales:
        raise ValueError("distributed runs write output=FILE.npy and take no scales")
    config = resolve_residual(config, graph)
    n, dim = graph.num_entities, config.dim
    kernels = get_backend("scipy").kernels(threads)
    matrix = transition_matrix(graph, config.propagation)
    bounds = partition(matrix.indptr, group.size, dim)
    r0, r1 = int(bounds[group.rank]), int(bounds[group.rank + 1])
    height = int(np.diff(bounds).max())
    # This rank's rows, with column j renumbered to its place in the padded
    # gather buffer (rank k's rows start at k * height): order is kept, so
    # every row's sum runs as in one process.
    owner = np.searchsorted(bounds, np.arange(n), side="right") - 1
    place = (owner * height + np.arange(n) - bounds[owner]).astype(np.int64)
    local = matrix[r0:r1]
    index = np.int32 if group.size * height < 2**31 else np.int64
    local = ScipyOperator(
        scipy.sparse.csr_array(
            (local.data, place[local.indices].astype(index), local.indptr), shape=(r1 - r0, group.size * height)
        ),
        threads=kernels.threads,
        rectangular=True,
    )
    del matrix, owner, place
    # Only this rank's rows of the matrix are needed from here on (the caller
    # hands the graph over: see the parameter).
    graph = dataclasses.replace(graph, adjacency=scipy.sparse.csr_array((n, n), dtype=np.float32))
    rows = np.flatnonzero(graph.output)
    fit = None if len(rows) == n else rows
    x = np.empty((r1 - r0, dim), np.float32)
    initialize(graph.keys(config.init)[r0:r1], dim, seed=config.seed, method=config.init, kernels=kernels, out=x)
    y = np.empty_like(x)
    # Reused every step: every rank's part of a column chunk (padded to
    # height rows) and the product (one pair per chunk width: the last may be narrower).
    buffers = {
        w: (np.zeros((group.size, height, w), np.float32), np.empty((r1 - r0, w), np.float32))
        for w in {min(GATHER_COLUMNS, dim - c) for c in range(0, dim, GATHER_COLUMNS)}
    }
    converged = False
    bar = tqdm(range(config.iterations), desc="propagate", unit="it", disable=not progress or group.rank != 0, file=sys.stderr)
    for _ in bar:
        for c0 in range(0, dim, GATHER_COLUMNS):
            c1 = min(c0 + GATHER_COLUMNS, dim)
            gathered, product = buffers[c1 - c0]
            gathered[group.rank, : r1 - r0] = x[:, c0:c1]
            group.all_gather(gathered)
            y[:, c0:c1] = local.matmul(gathered.reshape(-1, c1 - c0), out=product)
        if config.residual:
            kernels.mix(y, x, config.residual)
        kernels.normalize_rows(y, y, config.eps)
        if config.whiten != "none" and config.whiten_each_step:
            _whiten(y, bounds, fit, config, group, kernels)
        if config.tol is not None:
            partials = [p for part in group.objects(kernels.change_partials(y, x)) for p in part]
            converged = (sum(partials) / max(n, 1)) ** 0.5 < config.tol
        x, y = y, x
        if converged:
            break
    del y, local, buffers
    if config.whiten != "none" and not config.whiten_each_step:
        _whiten(x, bounds, fit, config, group, kernels)
    keep = graph.output[r0:r1]
    return _write(graph, config, output, group, x if keep.all() else x[keep], int(graph.output[:r0].sum()))


def _whiten(
    y: np.ndarray, bounds: np.ndarray, rows: np.ndarray | None, config: EmbedConfig, group: Group, kernels: Any
) -> Whitening:
    """Fit the whitening on every rank's output rows (exact task sums) and apply it to ``y`` in place."""
    r0, r1 = int(bounds[group.rank]), int(bounds[group.rank + 1])
    dim = y.shape[1]
    # This rank's output rows; their positions in the output order start at first.
    ours = y if rows is None else y[rows[(rows >= r0) & (rows < r1)] - r0]
    counts = group.objects(len(ours))
    starts = np.cumsum([0, *counts])
    first, m = int(starts[group.rank]), int(starts[-1])
    if m < 2:
        return Whitening.identity(dim, np.float32, method=config.whiten)
    # The first rows of every rank, for the tasks that cross into them.
    heads = np.zeros((group.size, MOMENT_ROWS, dim), np.float32)
    heads[group.rank, : min(MOMENT_ROWS, len(ours))] = ours[:MOMENT_ROWS]
    group.all_gather(heads)
    tasks = [(a, b) for a, b in moment_tasks(m) if starts[group.rank] <= a < starts[group.rank + 1]]

    def part(a: int, b: int) -> np.ndarray:
        own = ours[a - first : b - first]
        extra, k = [], group.rank + 1
        need = (b - a) - len(own)
        while need > 0:
            take = heads[k, : min(need, counts[k], MOMENT_ROWS)]
            extra.append(take)
            need -= len(take)
            k += 1
        return np.concatenate([own, *extra]) if extra else own

    sums = [s for found in group.objects([task_sums(part(a, b)) for a, b in tasks]) for s in found]
    mean = sum(sums) / m
    with single_threaded_blas():
        local = [task_covariance(part(a, b), mean) for a, b in tasks]
    cov = sum(c for found in group.objects(local) for c in found) / (m - 1)
    whitening = Whitening.from_moments(
        mean, cov, method=config.whiten, eps=config.eps, floor=config.whiten_floor, dtype=np.float32, kernels=kernels
    )
    kernels.transform(y, whitening.mean, whitening.matrix, y)
    return whitening


def _write(
    graph: Graph, config: EmbedConfig, output: Any, group: Group, vectors: np.ndarray, offset: int
) -> Embedding:
    """Each rank writes its output rows into one C-order ``.npy``; rank 0 commits it with the sidecar."""
    total, dim = int(graph.output.sum()), config.dim
    stack = contextlib.ExitStack()
    try:
        error, path = None, None
        if group.rank == 0:
            try:
                files = stack.enter_context(AtomicFiles())
                target = files.open(output, readable=True)
                np.lib.format.write_array_header_1_0(target, {"descr": "<f4", "fortran_order": False, "shape": (total, dim)})
                target.flush()
                os.truncate(target.fileno(), target.tell() + 4 * total * dim)
                path = files.temporary(target)
            except Exception as failure:  # reported to every rank
                error = failure
        group.check(error)
        path = group.objects(path)[0]
        try:
            with open(path, "r+b") as file:
                np.lib.format.read_magic(file)
                np.lib.format.read_array_header_1_0(file)
                file.seek(file.tell() + 4 * offset * dim)
                if vectors.size:
                    file.write(memoryview(np.ascontiguousarray(vectors)).cast("B"))
        except Exception as failure:  # reported to every rank
            error = failure
        group.check(error)
        if group.rank == 0:
            try:
                npy.write_entities(files.open(npy.entities_path(output)), entity_fields(graph, config))
                stack.close()  # every file complete: rename them into place
            except Exception as failure:
                error = failure
        group.check(error)
    except BaseException:
        stack.__exit__(*sys.exc_info())  # rank 0: remove the temporary files
        raise
    return Embedding.load(output, mmap=True)
