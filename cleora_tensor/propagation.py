"""The Cleora iteration: sparse product, residual, L2 normalization, whitening.

The method of Rychalska et al. (2021), "Cleora: A Simple, Strong and Scalable
Graph Embedding Scheme" (ICONIP 2021), with whitening as in pycleora 3.

Written once against the array API; the sparse product comes from the backend's
:class:`~cleora_tensor.backends.SparseOperator` and the dense steps from its
kernel set (:meth:`~cleora_tensor.backends.Backend.kernels`). Every step works
in place on two ``(n, d)`` buffers (plus ``O(d^2)`` and per-block temporaries).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from ._xp import namespace
from .backends import SparseOperator, kernels_for
from .config import EmbedConfig
from .memory import estimate_memory
from .normalize import normalize_rows
from .whitening import Whitening

__all__ = ["Propagation", "estimate_memory", "propagate", "propagate_config"]


@dataclass(frozen=True, eq=False)
class Propagation:
    """Result of :func:`propagate`.

    Attributes
    ----------
    vectors : array
        Shape ``(n, d)``, float32, namespace and device of the input.
    whitening : Whitening or None
        The transform applied in the last step (None without whitening); it maps
        new rows into the same coordinates (inductive embedding).
    iterations : int
        Steps run (fewer than requested when ``tol`` stopped the loop).
    converged : bool
        Whether ``tol`` stopped the loop.
    previous : array or None
        Shape ``(n, d)``: the iterate the last step started from (before that
        step's product), None after zero steps. With :attr:`whitening` it is what
        an inductive step for new entities needs (README, "Views, new entities, features").
    snapshots : tuple of array
        Shape ``(n, d)`` each: the embedding after each requested ``snapshots``
        step (whitened like the final result), in increasing step order; one
        taken at the last step is :attr:`vectors` itself.
    snapshot_states : tuple of (array, Whitening or None)
        With ``keep_snapshot_inputs``, per snapshot: the iterate its step
        started from and the whitening its vectors got (what :attr:`previous`
        and :attr:`whitening` are for the last step).
    """

    vectors: Any
    whitening: Whitening | None
    iterations: int
    converged: bool
    previous: Any = None
    snapshots: tuple = ()
    snapshot_states: tuple = ()


def propagate(
    operator: SparseOperator | Any,
    x: Any,
    *,
    iterations: int = 15,
    residual: float = 0.0,
    whiten: str = "zca",
    whiten_each_step: bool = False,
    whiten_floor: float = 0.1,
    whiten_rows: Any = None,
    eps: float = 1e-10,
    tol: float | None = None,
    threads: int | None = None,
    overwrite_x: bool = False,
    snapshots: Sequence[int] = (),
    keep_snapshot_inputs: bool = False,
    callback: Callable[[int, Any], None] | None = None,
    progress: bool = False,
    kernels: Any = None,
) -> Propagation:
    """Run the Cleora iteration from ``x``.

    For ``t = 1..iterations``::

        Y = P @ E                        # operator.matmul
        Y = (1 - residual) Y + residual E
        Y = Y / max(||Y_row||_2, eps)
        Y = whiten(Y)                    # only if whiten_each_step
        stop if sqrt(mean_i ||Y_i - E_i||^2) < tol

    then, unless ``whiten_each_step``, whiten the result once.

    Parameters
    ----------
    operator : SparseOperator or scipy.sparse matrix
        The transition matrix ``P``, shape ``(n, n)``, e.g. from
        :meth:`Backend.operator`; a SciPy sparse matrix is wrapped in the SciPy
        backend's operator.
    x : array
        Initial embedding, shape ``(n, d)``, float32, in the operator's namespace.
    iterations : int, default 15
        Number of steps (pycleora 3.2.1 uses 40; see the README for the
        evaluation behind 15).
    residual : float, default 0.0
        Weight of the previous iterate, in ``[0, 1)``.
    whiten : {"pca", "zca", "none"}, default "zca"
        Whitening method; pycleora 3.2.1's ``whiten=True`` is PCA.
    whiten_each_step : bool, default False
        Whiten after every step (pycleora 3.2.1) instead of once at the end.
    whiten_floor : float, default 0.1
        Relative eigenvalue floor of the whitening (see
        :meth:`Whitening.fit`); pycleora 3.2.1 uses 0.
    whiten_rows : integer array, optional
        Rows the whitening statistics come from (default: all); the transform
        applies to all rows. :func:`~cleora_tensor.embed` passes the output
        (non-transient) entities.
    eps : float, default 1e-10
        Absolute floor of row norms and of whitening eigenvalues.
    tol : float, optional
        Stop when the root-mean-square over entities of the L2 change of an
        entity's vector in one step falls below ``tol`` (dimension-free;
        pycleora's ``convergence_threshold`` ``c`` is ``c * sqrt(d)`` here).
        None (the default here) never stops early;
        :func:`~cleora_tensor.embed`'s classification preset uses 0.32.
    threads : int or None, default None
        CPU worker threads of the dense kernels and of a SciPy ``operator``
        (all cores if None); the result does not depend on it. Ignored when
        ``kernels`` is given.
    overwrite_x : bool, default False
        Allow reusing ``x``'s memory as a work buffer (saves one ``(n, d)``
        array); ``x`` is garbage afterwards.
    snapshots : sequence of int, default ()
        Steps (1-based, at most ``iterations``) after which to keep a copy of the
        embedding, whitened like the final one: multi-scale embeddings from one
        run (pycleora's ``embed_multiscale``). One ``(n, d)`` copy each, except
        at the last step (the result itself); steps after an early ``tol``
        stop are not taken.
    keep_snapshot_inputs : bool, default False
        Also keep a copy of the iterate each snapshot's step started from
        (:attr:`Propagation.snapshot_states`: what embedding new entities into
        a multi-scale result needs). One more ``(n, d)`` copy per snapshot
        before the last step.
    callback : callable, optional
        ``callback(step, vectors)`` after every step, step counted from 0 (as in
        pycleora's ``embed``); must not keep ``vectors`` (the buffer is reused).
    progress : bool, default False
        Show a progress bar on stderr.
    kernels : kernel set, optional
        The dense kernels, from :meth:`Backend.kernels
        <cleora_tensor.backends.Backend.kernels>`; default: those of ``x``'s
        backend.

    Returns
    -------
    Propagation
        ``vectors`` has shape ``(n, d)``, dtype, namespace and device of ``x``.
        ``whitening`` is the last transform applied.

    Raises
    ------
    ValueError
        On invalid parameters or shapes.

    Notes
    -----
    With ``whiten="pca", whiten_each_step=True, whiten_floor=0`` this is the
    loop of pycleora 3.2.1's ``embed`` (left Markov propagation, L2
    normalization, PCA whitening every step), including residual mixing and the
    convergence test of its ``residual_weight`` / ``convergence_threshold``.
    Whitening every step turns the loop into subspace iteration: all ``d``
    directions are kept at unit variance, so the basis (PCA) or the noise
    directions (ZCA) differ from run to run. Whitening once at the end with a
    relative floor keeps the smooth spectral weighting of plain Cleora and
    measured better on the project's evaluation data sets (README, "Defaults").
    """
    if whiten not in ("pca", "zca", "none"):
        raise ValueError(f"whiten must be 'pca', 'zca' or 'none', got {whiten!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative int, got {iterations!r}")
    if not 0.0 <= residual < 1.0:
        raise ValueError(f"residual must be in [0, 1), got {residual!r}")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be positive or None, got {tol!r}")
    if not 0.0 <= whiten_floor <= 1.0:
        raise ValueError(f"whiten_floor must be in [0, 1], got {whiten_floor!r}")
    wanted = set(snapshots)
    if any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= iterations for s in wanted):
        raise ValueError(f"snapshots must be steps in [1, iterations={iterations}], got {list(snapshots)}")
    kernels = kernels_for(x, threads, kernels)
    operator = _as_operator(operator, kernels.threads)
    xp = namespace(x)
    if x.ndim != 2 or x.shape[0] != operator.shape[1]:
        raise ValueError(f"x must have shape ({operator.shape[1]}, d), got {tuple(x.shape)}")

    whiten_at_end = whiten != "none" and not whiten_each_step

    def finish(vectors: Any, owned: bool) -> tuple[Whitening | None, Any]:
        if not whiten_at_end:
            return None, vectors
        fitted = Whitening.fit(
            vectors, method=whiten, eps=eps, floor=whiten_floor, rows=whiten_rows, kernels=kernels
        )
        return fitted, fitted.transform(vectors, out=vectors if owned else None, kernels=kernels)

    current, owned, spare, previous = x, overwrite_x, None, None
    whitening = None
    taken, states = [], []
    final = None  # (whitening, vectors) of a snapshot taken at the last step: the result itself
    converged = False
    step = 0
    for step in tqdm(range(iterations), desc="propagate", unit="it", disable=not progress, file=sys.stderr):
        start = None
        if keep_snapshot_inputs and step + 1 in wanted:
            # A later step overwrites this input only if the buffer is ours; the
            # last step's input stays intact (it is `previous`).
            start = xp.asarray(current, copy=True) if owned and step + 1 < iterations else current
        # The steps below work in place on y (blockwise, on every namespace).
        y, spare = operator.matmul(current, out=spare), None
        if residual > 0:
            kernels.mix(y, current, residual)
        normalize_rows(y, eps=eps, out=y, kernels=kernels)
        if whiten != "none" and whiten_each_step:
            whitening = Whitening.fit(
                y, method=whiten, eps=eps, floor=whiten_floor, rows=whiten_rows, kernels=kernels
            )
            whitening.transform(y, out=y, kernels=kernels)
        if callback is not None:
            callback(step, y)
        if tol is not None and kernels.rms_change(y, current) < tol:
            converged = True
        # Every SparseOperator writes into out=, so on every backend the next
        # product reuses the buffer this step started from: one (n, d)
        # allocation less per step (~120 ms at 110 k x 256 on torch-CPU, where
        # large buffers are fresh pages each time).
        spare = current if owned else None
        previous, current, owned = current, y, True
        if step + 1 in wanted:
            last = converged or step + 1 == iterations
            fitted, snapshot = finish(current if last else xp.asarray(current, copy=True), True)
            final = (fitted, snapshot) if last else None
            taken.append(snapshot)
            if start is not None:
                states.append((start, fitted if whiten_at_end else whitening))
        if converged:
            break
    ran = step + 1 if iterations else 0
    if whiten_at_end:
        whitening, current = final if final is not None else finish(current, owned)
    return Propagation(
        vectors=current,
        whitening=whitening,
        iterations=ran,
        converged=converged,
        previous=previous,
        snapshots=tuple(taken),
        snapshot_states=tuple(states),
    )


def propagate_config(
    operator: SparseOperator | Any,
    x: Any,
    config: EmbedConfig,
    *,
    threads: int | None = None,
    kernels: Any = None,
    whiten_rows: Any = None,
    overwrite_x: bool = False,
    keep_snapshot_inputs: bool = False,
    progress: bool = False,
) -> Propagation:
    """:func:`propagate` with the loop options of an :class:`~cleora_tensor.EmbedConfig`.

    The one place where the configuration's fields become :func:`propagate`'s
    keywords: ``iterations``, ``residual`` (None, not yet decided for a graph by
    :func:`~cleora_tensor.periodicity.resolve_residual`, is 0), ``whiten``, ``whiten_each_step``,
    ``whiten_floor``, ``eps``, ``tol``, and ``scales`` as ``snapshots``.

    Parameters
    ----------
    operator, x
        As in :func:`propagate`.
    config : EmbedConfig
        Validated when it was built; its other fields do not concern the loop.
    threads, kernels, whiten_rows, overwrite_x, keep_snapshot_inputs, progress
        As in :func:`propagate`.

    Returns
    -------
    Propagation
        As :func:`propagate`; ``snapshots`` holds one array per ``config.scales``
        step reached.

    Raises
    ------
    ValueError
        If ``x`` does not match ``operator`` (see :func:`propagate`).
    """
    return propagate(
        operator,
        x,
        iterations=config.iterations,
        residual=config.residual or 0.0,  # None: not decided for a graph, the plain walk
        whiten=config.whiten,
        whiten_each_step=config.whiten_each_step,
        whiten_floor=config.whiten_floor,
        whiten_rows=whiten_rows,
        eps=config.eps,
        tol=config.tol,
        threads=threads,
        overwrite_x=overwrite_x,
        snapshots=config.scales or (),
        keep_snapshot_inputs=keep_snapshot_inputs,
        progress=progress,
        kernels=kernels,
    )


def _as_operator(operator: Any, threads: int) -> SparseOperator:
    import scipy.sparse

    if scipy.sparse.issparse(operator):
        from .backends.scipy import ScipyOperator

        return ScipyOperator(operator, threads=threads)
    if not isinstance(operator, SparseOperator):
        raise TypeError(
            "operator must be a SparseOperator (see cleora_tensor.backends) or a "
            f"SciPy sparse matrix, got {type(operator).__name__}"
        )
    return operator
