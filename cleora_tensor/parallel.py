"""Row-block parallelism for the NumPy/SciPy CPU path.

The CPU kernels (sparse products, normalization, covariance, whitening, hashing)
split their rows into blocks and run the blocks on a persistent thread pool;
NumPy, SciPy and BLAS release the GIL inside them. Determinism comes from the
blocks, not the threads: block boundaries depend only on the data size, each
block runs single-threaded BLAS, and reductions add block results in block
order, so the output is bit-identical for every thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar

__all__ = ["GENERIC_BLOCK", "ROW_BLOCK", "available_threads", "map_blocks", "resolve_threads", "row_blocks", "single_threaded_blas"]

T = TypeVar("T")

#: Rows per block of the NumPy kernels: large enough for efficient BLAS calls,
#: small enough that a block of 256 float64 columns (8 MiB) stays in cache.
ROW_BLOCK = 4096
#: Rows per block of the generic array-API path (torch, CuPy, ...): bounds its
#: temporaries (32 MiB at 256 float64 columns) while keeping kernels large
#: enough for a GPU or a multithreaded CPU library.
GENERIC_BLOCK = 16384


def available_threads() -> int:
    """Number of CPU cores this process may run on (``sched_getaffinity`` if available)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_threads(threads: int | None) -> int:
    """Validate a ``threads=`` argument; ``None`` means all available cores.

    Raises
    ------
    ValueError
        If ``threads`` is not a positive int.
    """
    if threads is None:
        return available_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    return threads


def row_blocks(n_rows: int, block: int = ROW_BLOCK) -> list[tuple[int, int]]:
    """Split ``range(n_rows)`` into ``[start, stop)`` blocks of ``block`` rows."""
    return [(start, min(start + block, n_rows)) for start in range(0, n_rows, block)]


@lru_cache(maxsize=None)
def _pool(threads: int) -> ThreadPoolExecutor:
    # One persistent pool per thread count: creating threads every iteration
    # would cost more than the small blocks they run.
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cleora")


def map_blocks(
    function: Callable[[int, int], T], blocks: Sequence[tuple[int, int]], threads: int
) -> list[T]:
    """Apply ``function(start, stop)`` to every block, in parallel, results in block order.

    Parameters
    ----------
    function : callable
        Called once per block; must only write rows ``[start, stop)`` of shared
        outputs.
    blocks : sequence of (int, int)
        Row ranges, e.g. from :func:`row_blocks`.
    threads : int
        Worker threads; 1 runs inline in the calling thread.

    Returns
    -------
    list
        ``function``'s results in the order of ``blocks``.
    """
    if threads == 1 or len(blocks) <= 1:
        return [function(start, stop) for start, stop in blocks]
    return list(_pool(threads).map(lambda block: function(*block), blocks))


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread inside the block kernels.

    Our own pool supplies the parallelism; a multithreaded BLAS inside each block
    would oversubscribe the cores and make results depend on its partitioning.
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield
