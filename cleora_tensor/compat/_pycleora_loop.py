"""pycleora's propagation loop (``embed`` and its variants) as :func:`cleora_tensor.propagate` runs it."""

from __future__ import annotations

import math
from operator import index as operator_index
from collections.abc import Callable, Sequence
from typing import Any

from .._xp import namespace
from ..backends import Backend, get_backend
from ..propagation import Propagation, propagate

__all__ = ["KINDS", "check_normalization", "run_loop"]

#: pycleora's transition matrices: ``D^-1 W`` and ``D^-1/2 W D^-1/2``.
KINDS = ("left", "symmetric")


def check_normalization(normalization: str) -> None:
    """Refuse pycleora's normalizations other than ``"l2"``, which the core's loop does not have.

    Raises
    ------
    ValueError
        For any other value, naming it.
    """
    if normalization != "l2":
        raise ValueError(
            f"normalization={normalization!r} is not supported: cleora_tensor normalizes rows by their L2 "
            "norm after every step (pycleora's default 'l2'); 'l1', 'spectral' and 'none' have no counterpart"
        )


def run_loop(
    graph: Any,
    x: Any,
    iterations: int,
    propagation: str,
    whiten: bool,
    residual_weight: float,
    convergence_threshold: float,
    threads: int | None,
    *,
    owned: bool = True,
    callback: Callable[[int, Any], None] | None = None,
    snapshots: Sequence[int] = (),
    backend: Backend | None = None,
    operator: Any = None,
) -> Propagation:
    """pycleora's propagation loop as :func:`cleora_tensor.propagate` runs it.

    ``graph`` is a :class:`~cleora_tensor.compat.pycleora.SparseMatrix`, whose
    :meth:`~cleora_tensor.compat.pycleora.SparseMatrix.operator` gives the
    matrix. Each step: product with the ``propagation`` transition matrix, residual mix,
    L2 normalization, PCA whitening (unfloored, ``eps`` 1e-10) when ``whiten``;
    ``convergence_threshold`` ``c`` (an RMS over single coordinates) becomes
    ``tol = c * sqrt(d)``. ``x`` is the start, float32 ``(n, d)`` in
    ``backend``'s namespace (default: ``x``'s); with ``owned`` its memory may be
    reused. ``callback(step, vectors)`` gets a copy of every step's vectors.
    ``operator`` replaces the transition matrix (a directed or attention
    operator of ``backend``; ``propagation`` is then only validated).

    Raises
    ------
    ValueError
        On an unknown ``propagation`` (pycleora's message) and as :func:`propagate`.
    """
    if propagation not in KINDS:
        raise ValueError(f"Unknown propagation type: {propagation!r}. Use 'left' or 'symmetric'.")
    try:
        iterations = operator_index(iterations)  # also NumPy integers
    except TypeError:
        raise ValueError(f"num_iterations must be an int or 'auto', got {iterations!r}") from None
    backend = get_backend(x) if backend is None else backend
    xp = namespace(x)

    def step_copies(step: int, vectors: Any) -> None:
        callback(step, xp.asarray(vectors, copy=True))  # the loop reuses its buffers

    tol = convergence_threshold * math.sqrt(x.shape[1]) if convergence_threshold > 0 else None
    return propagate(
        graph.operator(propagation, backend, threads) if operator is None else operator,
        x,
        iterations=iterations,
        residual=residual_weight,
        whiten="pca" if whiten else "none",
        whiten_each_step=True,
        whiten_floor=0.0,
        eps=1e-10,
        tol=tol,
        threads=threads,
        overwrite_x=owned,
        snapshots=snapshots,
        callback=None if callback is None else step_copies,
    )
