"""Incremental updates: add and remove input rows of a trained model, re-propagate warm.

The trained state of a model (:class:`~cleora_tensor.TrainedState`) keeps the
graph's weights ``W``. Every row adds its pairs' weights to ``W`` (DESIGN.md,
"Edge weights"), so adding rows adds the weights of their own graph and
removing rows subtracts them: ``W' = W + W(added) - W(removed)``. The new
graph is then propagated from the iterate the model's last step started from
(warm), one step by default, and whitened with the model's saved transform, so the
vectors stay in the model's coordinates.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import scipy.sparse

from ._update_graph import updated_graph
from ._xp import device_of, namespace, to_numpy
from .columns import parse_columns
from .embedding import Embedding
from .hypergraph import DataWarning
from .inductive import known_neighbour_average
from .init import initialize
from .keys import entity_keys
from .markov import markov_matrix
from .normalize import normalize_rows
from .propagation import propagate_config
from .state import TrainedState

__all__ = ["update"]


def update(
    model: Embedding,
    added: Any = None,
    removed: Any = None,
    *,
    steps: int | None = None,
    start: str = "previous",
    whitening: str = "saved",
    input_format: str | None = None,
    skip_bad_rows: bool = False,
    threads: int | None = None,
) -> Embedding:
    """The model with rows added and removed, re-propagated from its last iterate.

    Parameters
    ----------
    model : Embedding
        A result of :func:`~cleora_tensor.embed` (single scale) whose
        :attr:`Embedding.state` holds the graph (``adjacency``), or of an
        earlier ``update``; loaded from ``.npz`` or in memory.
    added, removed : path, list of paths, iterable of lines, or table, optional
        Rows to add and rows to remove, read like :func:`~cleora_tensor.embed`'s
        input with the model's column specification; None or an empty list:
        none. A removed row must be a row of the model's input (same ids,
        same weight).
    steps : int, optional
        Propagation steps on the new graph. None: one step from the warm start
        (the model's last step, redone on the new graph: each further step
        smooths one step deeper than the model's schedule, mean cosine to a
        full run 0.9995, 0.966, 0.81 after 1, 2, 3 steps on groceries;
        benchmarks/TEMPORAL.md); with ``start="initial"``, the model's
        ``iterations`` and ``tol``, as in a full run.
    start : {"previous", "initial"}, default "previous"
        ``"previous"``: the warm start, from the iterate the model's last step
        started from (:attr:`TrainedState.previous`); an unseen entity starts
        from the Markov average of its known neighbours' iterates, as in
        :func:`~cleora_tensor.embed_new`. ``"initial"``: from the deterministic
        initial vectors, i.e. a full re-propagation of the new graph (equal to
        :func:`~cleora_tensor.embed` of the updated rows, without reading them;
        hash initialization: features given to ``embed(initial=...)`` are not
        reapplied).
    whitening : {"saved", "refit"}, default "saved"
        ``"saved"``: apply the model's whitening transform (same coordinates as
        the model; what :func:`~cleora_tensor.embed_new` does). ``"refit"``: fit
        a new one on the new vectors, as a full run would.
    input_format, skip_bad_rows, threads
        As in :func:`~cleora_tensor.embed`.

    Returns
    -------
    Embedding
        The model's entities still in the graph, in the model's order, then the
        unseen entities of the output types, numbered as ``embed`` numbers the
        added rows' entities: ``vectors`` ``(n', dim)`` float32 in the model's namespace
        and on its device (computed on the CPU); ``degrees`` the new graph's
        weighted degrees, ``occurrences`` updated by the rows; ``config`` the
        model's; ``state`` the new graph and iterate, so it can be updated again.

    Warns
    -----
    DataWarning
        When entities lost their last edge and left the output (the message
        counts them and names the first); they are the model's ids missing
        from the result.

    Raises
    ------
    ValueError
        If the model has no trained state, its state has no graph
        (``adjacency``: saved before updates were supported; re-embed), it is
        multi-scale, used ``attention`` or ``directed``, or whitens every step with ``whitening="saved"``; on an
        unknown ``start``/``whitening`` or a bad ``steps``; if a removed row
        names an entity the model does not hold or removes more weight than the
        graph has (not a row of the model's input); if nothing is left.
    ColumnSpecError, InputFormatError, OSError
        From reading the rows.

    Notes
    -----
    With ``singletons="drop"`` (the default), the rules of
    :meth:`Hypergraph.graph` are applied to the summed graph: a transient id
    (session, basket) left with one neighbour loses its edge, an entity seen
    only alone keeps a self-loop of weight 1. The model's graph no longer holds
    the edges its own one-neighbour sessions lost, so a session of one row in
    the model gets only its new edges (none for one new row). With a reflexive
    column, the single-id cells of the changed rows are left out by building
    their graph on its own; a transient id that the model holds and that has a
    single neighbour among the added rows then loses that edge (counted in a
    warning) - exact when each basket is added or removed whole, as in a basket
    file. Deterministic: the same model and rows give bit-identical vectors
    whatever ``threads``.

    pycleora 3.2.1's ``update_graph`` and ``remove_edges`` re-embed everything
    from random vectors (two calls differ); here the warm start keeps the
    model's coordinates. Measured against full re-embedding in
    benchmarks/TEMPORAL.md: one step from the warm start has mean cosine
    >= 0.999 to ``embed`` of the updated rows for 1 % added rows, at a fraction
    of its time.
    """
    state, config = _checked(model, steps, start, whitening)
    spec = parse_columns(config.columns)
    output_types = spec.output_types
    options = {"input_format": input_format, "skip_bad_rows": skip_bad_rows}
    # Without a reflexive column, the rows' graphs keep their one-neighbour
    # connectors: whether a session is a leaf is decided on the summed graph.
    singletons = "keep" if not any(r.reflexive for r in spec.relations) else config.singletons
    graph = updated_graph(model, added, removed, output_types, singletons, options)
    ids, types, occurrences, degrees = graph.ids, graph.types, graph.occurrences, graph.degrees
    output = np.isin(types, output_types)
    keep = degrees > 0
    gone = np.flatnonzero(~keep[: len(state.entity_ids)] & output[: len(state.entity_ids)])
    if len(gone):
        warnings.warn(
            f"{len(gone)} entities lost their last row and left the embedding, e.g. "
            f"{ids[gone[0]]!r} (type {str(types[gone[0]])!r})",
            DataWarning,
            stacklevel=2,
        )
    kept = np.flatnonzero(keep)
    if not output[kept].any():
        raise ValueError("removed: no entity of an output type is left in the graph")
    weights = graph.weights
    if len(kept) < len(ids):
        # By symmetry a kept entity's neighbours are kept: renumber the kept rows' columns.
        renumber = np.cumsum(keep, dtype=weights.indices.dtype) - 1
        rows = weights[kept]
        weights = scipy.sparse.csr_array((rows.data, renumber[rows.indices], rows.indptr), shape=(len(kept), len(kept)))
    weights = weights.astype(np.float32)
    kept_ids = [ids[i] for i in kept]
    x = _start(state, config, weights, kept, graph.keys, start, kept_ids, types[kept], threads)
    # Only a full re-propagation stops early on the model's tol, as its run did.
    tol = (config.tol or None) if start == "initial" and steps is None else None
    if steps is None:
        steps = config.iterations if start == "initial" else 1
    fit_rows = np.flatnonzero(output[kept])
    loop = dataclasses.replace(
        config, iterations=steps, tol=tol, whiten="none" if whitening == "saved" else config.whiten
    )
    result = propagate_config(
        markov_matrix(weights, kind=config.propagation, degrees=degrees[kept]),
        x,
        loop,
        threads=threads,
        whiten_rows=None if len(fit_rows) == len(kept) else fit_rows,
        overwrite_x=True,
    )
    xp, device = namespace(state.previous), device_of(state.previous)

    def on_model(array: np.ndarray) -> Any:
        return xp.asarray(np.ascontiguousarray(array, dtype=np.float32), device=device)

    # The result lives where the model does (embed_new's rule): a saved
    # transform applies there, a refitted one is moved there.
    vectors = on_model(result.vectors[fit_rows])
    if whitening == "saved":
        transform = state.whitening
        if transform is not None:
            vectors = transform.transform(vectors, threads=threads)
    else:
        transform = result.whitening
        if transform is not None:
            transform = dataclasses.replace(
                transform, **{f: xp.asarray(np.ascontiguousarray(getattr(transform, f)), device=device) for f in ("mean", "matrix", "eigenvalues")}
            )

    return Embedding(
        entity_ids=[kept_ids[i] for i in fit_rows],
        types=types[kept][fit_rows],
        vectors=vectors,
        degrees=degrees[kept][fit_rows],
        occurrences=occurrences[kept][fit_rows],
        config=config,
        relation=model.relation,
        state=TrainedState(kept_ids, types[kept], on_model(result.previous), transform, adjacency=weights),
    )


def _checked(model: Embedding, steps: int | None, start: str, whitening: str) -> tuple[TrainedState, Any]:
    """The model's state and configuration, after checking that ``update`` can use them."""
    state, config = model.state, model.config
    if state is None or config is None:
        raise ValueError(
            "the model has no trained state: embed with keep_state=True (the default) and save as .npz"
        )
    if config.attention is not None or config.directed is not None:
        raise ValueError("update re-propagates the undirected plain walk: the model used attention or directed arcs")
    if state.adjacency is None:
        raise ValueError(
            "the model's trained state has no graph (adjacency; state_adjacency_* in .npz files): "
            "it was saved before updates were supported; embed the rows again to update it"
        )
    if config.scales:
        raise ValueError(f"update needs a single-scale model, got scales={list(config.scales)}")
    if config.whiten_each_step and whitening == "saved" and config.whiten != "none":
        raise ValueError("the model whitens every step (whiten_each_step): update it with whitening='refit'")
    if start not in ("previous", "initial"):
        raise ValueError(f"start must be 'previous' or 'initial', got {start!r}")
    if whitening not in ("saved", "refit"):
        raise ValueError(f"whitening must be 'saved' or 'refit', got {whitening!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int or None, got {steps!r}")
    return state, config


def _start(
    state: TrainedState,
    config: Any,
    weights: scipy.sparse.csr_array,
    kept: np.ndarray,
    keys: np.ndarray,
    start: str,
    ids: list[str],
    types: np.ndarray,
    threads: int | None,
) -> np.ndarray:
    """The iterate the propagation starts from, ``(len(kept), dim)`` float32 on the host.

    ``kept``: the entities of the new graph (increasing indices into the
    model's state entities, then the new ones); ``keys``: the new ones'
    initialization keys; ``ids``, ``types``: those of ``kept``.
    """
    if start == "initial":
        codes = np.empty(len(ids), np.int64)
        for name in np.unique(types):
            at = np.flatnonzero(types == name)
            codes[at] = entity_keys([ids[i] for i in at], str(name), method=config.init)
        return initialize(codes, config.dim, seed=config.seed, method=config.init, threads=threads)
    # New entities are numbered after the model's, so the known ones are a prefix of kept.
    k = int(np.searchsorted(kept, len(state.entity_ids)))
    x = np.empty((len(kept), config.dim), np.float32)
    previous = to_numpy(state.previous)
    x[:k] = previous[kept[:k]]
    if k < len(kept):
        start = initialize(
            keys[kept[k:] - len(state.entity_ids)], config.dim, seed=config.seed, method=config.init, threads=threads
        )
        averaged, _ = known_neighbour_average(scipy.sparse.csr_array(weights[k:, :k]), x[:k], start)
        x[k:] = normalize_rows(averaged.astype(np.float32), eps=config.eps, threads=threads)
    return x
