"""Memory of an embedding run: the estimate of its peak, and the check before big steps.

:func:`estimate_memory` is the single model of the peak resident memory of
``embed`` on the SciPy backend, used by ``cleora-tensor info`` and by the check
that refuses graph building predicted not to fit (:func:`check_graph_memory`).
Its terms follow the arrays each phase holds; the process baseline and the
allocator overheads are constants measured on Linux with CPython 3.11 (the
estimate was within 10 % of the measured peak on graphs of 10^4 to 2 * 10^7 ids
and up to 1.5 * 10^8 non-zeros).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .columns import Relation
from .errors import InsufficientMemoryError
from . import expansion
from .expansion import relation_cells
from .parallel import resolve_threads

__all__ = [
    "BASELINE_BYTES", "available_memory", "check_graph_memory", "check_memory", "check_propagation_memory",
    "estimate_memory", "format_size", "parse_size", "propagation_bytes", "resident_memory",
]

_MIB = 1 << 20

#: Resident memory of the process before any work: the interpreter with NumPy,
#: SciPy, pyarrow and this package imported (measured, CPython 3.11, Linux).
BASELINE_BYTES = 100 * _MIB

# Reading: the parsed text table at its peak, then what stays resident: entity
# codes and row offsets (12 bytes per id of an edge list) and the allocator's
# residue, which grows with the input only up to a bound (measured).
_READ_FIXED, _READ_PER_ID, _READ_RESIDUE_PER_ID, _READ_RESIDUE_MAX = 16 * _MIB, 34, 32, 32 * _MIB
_KEPT_FIXED, _KEPT_PER_ID, _KEPT_RESIDUE_PER_ID, _KEPT_RESIDUE_MAX = 8 * _MIB, 12, 50, 48 * _MIB
# Graph building: bytes per entry of a summed chunk (its COO arrays and their
# CSR), and per distinct non-zero (the float64 running sum and the merge that
# replaces it, then the float32 result beside the float64 sum).
_BUILD_PER_ENTRY, _BUILD_PER_NNZ = 28, 24
# Per entity: vocabulary, graph arrays, ids as Python strings for the output.
_PER_ENTITY = 150
# Whitening (NumPy path): rows per float64 block of a thread, rows per task
# (one float64 dim x dim partial covariance each); per worker thread, its BLAS
# buffers and stack (measured).
_WHITEN_ROWS, _WHITEN_TASK_ROWS, _PER_THREAD = 1024, 16384, 4 * _MIB


def estimate_memory(
    n_entities: int,
    nnz: int,
    dim: int,
    *,
    threads: int | None = None,
    pairs: int | None = None,
    input_ids: int = 0,
    output_entities: int | None = None,
    slice_dim: int | None = None,
    scales: int = 0,
) -> int:
    """Estimated peak resident memory of embedding one graph on the SciPy backend.

    The peak of a whole ``embed`` run (joint mode, ``.npz`` output): the process
    baseline, reading, graph building, the transition matrix, propagation and writing.

    Parameters
    ----------
    n_entities : int
        Entities of the graph (rows of the transition matrix).
    nnz : int
        Stored non-zeros of the graph, or an upper bound of them.
    dim : int
        Embedding dimension; 0 leaves the ``(n, dim)`` arrays out (reading,
        building and the matrices only).
    threads : int or None, default None
        Worker threads (all cores if None); each holds whitening temporaries.
    pairs : int or None, default None
        Entries the expansion generates before duplicates are summed
        (:attr:`~cleora_tensor.Graph.pairs`); None: ``nnz`` (an edge list).
    input_ids : int, default 0
        Entity ids in the input cells (occurrences, not distinct ids;
        :attr:`~cleora_tensor.Hypergraph.n_ids`).
    output_entities : int or None, default None
        Entities that get vectors (not transient); None: all.
    slice_dim : int or None, default None
        Out-of-core propagation in column slices of this width
        (:mod:`~cleora_tensor.outofcore`); None: in memory.
    scales : int, default 0
        Multi-scale snapshots (``len(scales)``): in memory the run ends holding
        ``4 * scales`` ``(n, dim)`` float32 arrays instead of two (the
        snapshots, the step inputs kept for the trained state, and both
        concatenated).

    Returns
    -------
    int
        Bytes of peak resident set size, the process baseline
        (:data:`BASELINE_BYTES`) included.

    Raises
    ------
    ValueError
        If a count is negative.

    Notes
    -----
    ``peak = baseline + max(reading, kept + building, residue + matrices + vectors)``,
    where, in bytes: ``reading`` is about 34 per input id (the parsed text while it is
    dictionary-encoded, type by type) plus a bounded allocator residue;
    ``kept``, what stays resident after reading until the graphs are built,
    12-62 per input id, of which ``residue`` (the allocator's, at most 56 MiB)
    stays while propagating;
    ``building`` 28 per expanded entry up to one chunk (``2**21`` entries) plus
    24 per non-zero (float64 sums merged out of place, float32 result);
    ``matrices`` 12 per non-zero (graph and transition matrix, shared int32
    indices) plus 150 per entity; ``vectors`` ``8 * dim`` per entity (two float32
    buffers) plus per-thread whitening blocks or, at the end, the output rows
    copied out of a graph with transient entities.

    Examples
    --------
    MovieLens 100k baskets (``transient::user complex::reflexive::item``): 20.4 M
    clique pairs summed into 2.2 M non-zeros; building dominates the peak.

    >>> peak = estimate_memory(2625, 2_168_094, 256, threads=2, pairs=20_400_000, input_ids=100_943)
    >>> f"{peak / 1e6:.0f} MB"
    '230 MB'
    """
    if min(n_entities, nnz, dim, input_ids, pairs or 0, output_entities or 0) < 0:
        raise ValueError("estimate_memory: counts must be non-negative")
    pairs = nnz if pairs is None else pairs
    index_bytes = 4 if max(n_entities, nnz) < 2**31 else 8
    reading = _READ_FIXED + _READ_PER_ID * input_ids + min(_READ_RESIDUE_PER_ID * input_ids, _READ_RESIDUE_MAX)
    # The input's entity codes are freed once the graphs are built (embed drops
    # the hypergraph); the allocator's residue stays.
    residue = _KEPT_FIXED + min(_KEPT_RESIDUE_PER_ID * input_ids, _KEPT_RESIDUE_MAX)
    kept = residue + _KEPT_PER_ID * input_ids
    building = _BUILD_PER_ENTRY * min(pairs, expansion.CHUNK_ENTRIES) + _BUILD_PER_NNZ * nnz
    # The float32 graph and its transition matrix (which shares the index arrays).
    matrices = nnz * (8 + index_bytes) + (n_entities + 1) * index_bytes + _PER_ENTITY * n_entities
    vectors = _vectors_bytes(n_entities, dim, threads, output_entities, slice_dim, scales)
    return BASELINE_BYTES + max(reading, kept + building, residue + matrices + vectors)


def propagation_bytes(
    n_entities: int,
    nnz: int,
    dim: int,
    *,
    threads: int | None = None,
    output_entities: int | None = None,
    slice_dim: int | None = None,
    scales: int = 0,
) -> int:
    """Bytes that propagating a built graph adds to what is resident.

    The transition matrix (float32 values; it shares the graph's index
    arrays) and the vectors term of :func:`estimate_memory` (in memory, or out
    of core in slices of ``slice_dim`` columns). Parameters as there.

    Returns
    -------
    int
    """
    return 4 * nnz + _vectors_bytes(n_entities, dim, threads, output_entities, slice_dim, scales)


def _vectors_bytes(
    n_entities: int, dim: int, threads: int | None, output_entities: int | None, slice_dim: int | None, scales: int
) -> int:
    """The ``vectors`` term of :func:`estimate_memory`."""
    if not dim:
        return 0
    if slice_dim is not None:
        return _out_of_core_bytes(n_entities, dim, min(slice_dim, dim))
    outputs = n_entities if output_entities is None else output_entities
    # Two (n, dim) float32 buffers; while propagating, the whitening's float64
    # temporaries; at the end, the output rows copied out when some entities
    # are transient, and the writer's copy of a block of at most 16 MiB.
    tasks = -(-n_entities // _WHITEN_TASK_ROWS) + 4
    whitening = resolve_threads(threads) * (_WHITEN_ROWS * dim * 12 + _PER_THREAD) + tasks * dim * dim * 8
    copied = outputs if outputs < n_entities else 0
    writing = 4 * dim * max(scales, 1) * copied + min(16 * _MIB, 4 * dim * n_entities)
    return 4 * dim * (4 * scales or 2) * n_entities + max(whitening, writing)


def _out_of_core_bytes(n_entities: int, dim: int, slice_dim: int) -> int:
    """Vectors term of out-of-core propagation (see :mod:`cleora_tensor.outofcore`)."""
    # Two (n, w) float32 slices; row sums (float32 |y|^2 and divisors, float64
    # |y|^2, y.x, |x|^2 and their change); a whitening row block, its float64
    # 1024-row buffer and dim x dim float64 moments; the transposition buffer
    # between the file's columns and a block (at most 16 MiB, and its copy).
    slices = 2 * 4 * slice_dim * n_entities
    row_sums = 56 * n_entities
    blocks = (
        min(n_entities, _WHITEN_TASK_ROWS) * dim * 4
        + _WHITEN_ROWS * dim * 8
        + 4 * dim * dim * 8
        + 2 * min(16 * _MIB, 4 * n_entities * dim)
    )
    return slices + row_sums + blocks


def parse_size(size: int | str) -> int:
    """Bytes of a size such as ``8G``, ``512M``, ``1.5GiB`` or ``1000000``.

    Units K, M, G, T (with or without ``B`` / ``iB``) are powers of 1024.

    Parameters
    ----------
    size : int or str
        Bytes, or a number with a unit (``memory_limit`` / ``--memory-limit``).

    Returns
    -------
    int
        Bytes, positive.

    Raises
    ------
    ValueError
        If ``size`` is not a positive size.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        text = str(size).strip().upper().removesuffix("B").removesuffix("I")
        scale = 1
        if text[-1:] in "KMGT" and text:
            scale = 1024 ** ("KMGT".index(text[-1]) + 1)
            text = text[:-1]
        try:
            value = int(float(text) * scale)
        except ValueError:
            raise ValueError(f"memory_limit must be a size such as 8G, 512M or a number of bytes, got {size!r}") from None
    if value <= 0:
        raise ValueError(f"memory_limit must be positive, got {size!r}")
    return value


def available_memory() -> int | None:
    """Bytes this process can still allocate, or None where the system does not say.

    The smaller of ``MemAvailable`` in ``/proc/meminfo`` and, under a cgroup v2
    limit (``memory.max`` not ``max``), the limit less the cgroup's usage.

    Returns
    -------
    int or None
    """
    found = []
    meminfo = _read("/proc/meminfo")
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            found.append(int(line.split()[1]) * 1024)
    relative = (_read("/proc/self/cgroup") or "").partition("0::")[2].split("\n")[0].strip()
    for folder in {Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup") / relative.lstrip("/")}:
        limit, usage = _read(folder / "memory.max"), _read(folder / "memory.current")
        if limit and usage and limit.strip().isdigit() and usage.strip().isdigit():
            found.append(max(int(limit) - int(usage), 0))
    return min(found) if found else None


def resident_memory() -> int | None:
    """Resident set size of this process in bytes, or None where ``/proc`` is missing."""
    statm = _read("/proc/self/statm")
    return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE") if statm else None


def check_memory(needed: int, what: str, advice: Callable[[int], str]) -> None:
    """Refuse a step whose predicted peak does not fit in the memory available.

    Parameters
    ----------
    needed : int
        Predicted peak resident memory of the process in bytes (from
        :func:`estimate_memory`).
    what : str
        The step, for the message (e.g. ``"building the graph"``).
    advice : callable
        ``advice(limit)`` says what would bring the peak under ``limit`` bytes (an
        option and its value); called only on refusal, with a quarter of the
        available memory left as margin for the estimate's error.

    Raises
    ------
    InsufficientMemoryError
        If ``needed`` less the memory resident now exceeds
        :func:`available_memory`. Where the system reports neither, nothing is
        checked.
    """
    available, resident = available_memory(), resident_memory()
    if available is None or resident is None or needed - resident <= available:
        return
    raise InsufficientMemoryError(
        f"{what} needs about {format_size(needed)} of memory ({format_size(needed - resident)} more than now) "
        f"but only {format_size(available)} is available; {advice(resident + available * 3 // 4)}"
    )


def check_graph_memory(
    source: str,
    cells: dict[int, tuple[np.ndarray, np.ndarray]],
    relations: Sequence[Relation],
    n_entities: int,
    input_ids: int,
    pairs: int,
    max_cell_size: int | None,
) -> None:
    """Refuse to build a graph whose expansion is predicted not to fit.

    The distinct non-zeros are bounded by ``min(pairs, n_entities**2)``.

    Parameters
    ----------
    source : str
        The input, for the message.
    cells : dict of int to (codes, offsets)
        The hypergraph's cells per column index (see
        :func:`~cleora_tensor.expansion.relation_cells`).
    relations : sequence of Relation
    n_entities : int
        Entities of the hypergraph.
    input_ids : int
        Ids in all cells (:attr:`Hypergraph.n_ids`).
    pairs : int
        Entries the expansion will generate (:attr:`RelationCells.entries`, summed).
    max_cell_size : int or None
        The clique guard in force.

    Raises
    ------
    InsufficientMemoryError
        If the estimate exceeds the memory available (see :func:`check_memory`);
        the message names the ``max_cell_size`` (``--max-cell-size``) that would
        fit, or says to build fewer relations.
    """

    def needed(entries: int) -> int:
        return estimate_memory(n_entities, min(entries, n_entities**2), 0, pairs=entries, input_ids=input_ids)

    def advice(limit: int) -> str:
        # The largest guard that fits, by bisection (pairs grow with the guard).
        low, high = 0, max(
            (int(np.diff(cells[c.index][1]).max(initial=0)) for r in relations for c in (r.left, r.right)), default=0
        )
        if max_cell_size is not None:
            high = min(high, max_cell_size)
        while high - low > 1:
            middle = (low + high) // 2
            entries = sum(relation_cells(cells, None, r, middle).entries for r in relations)
            low, high = (middle, high) if needed(entries) <= limit else (low, middle)
        if low:
            return f"max_cell_size={low} (--max-cell-size {low}) would fit"
        return "mark more columns transient:: or relate fewer columns (--columns) for a smaller graph"

    check_memory(needed(pairs), f"{source}: building the graph ({pairs:,} expanded pairs)", advice)


def check_propagation_memory(
    n_entities: int, nnz: int, dim: int, *, threads: int | None = None, output_entities: int | None = None,
    scales: int = 0,
) -> None:
    """Refuse to propagate a built graph whose vectors are predicted not to fit.

    Parameters
    ----------
    n_entities, nnz, dim, threads, output_entities, scales
        As in :func:`estimate_memory`; the graph is already built, so reading
        and building count only through the memory resident now.

    Raises
    ------
    InsufficientMemoryError
        If the estimate exceeds the memory available (see :func:`check_memory`);
        the message names the largest ``dim`` (``--dim``) that would fit.
    """

    def needed(d: int) -> int:
        return estimate_memory(n_entities, nnz, d, threads=threads, output_entities=output_entities, scales=scales)

    def advice(limit: int) -> str:
        low, high = 0, dim  # the largest dimension that fits, by bisection
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if needed(middle) <= limit else (low, middle)
        if low:
            return f"dim={low} (--dim {low}) would fit"
        return "the graph alone fills the memory: mark more columns transient:: for a smaller graph"

    check_memory(needed(dim), f"propagating {n_entities:,} entities at dim {dim}", advice)


def format_size(size: int) -> str:
    """``size`` bytes for a message: ``"1.5 GiB"`` from 1 GiB up, else ``"300 MiB"``.

    Parameters
    ----------
    size : int
        Bytes.

    Returns
    -------
    str
    """
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None
