"""``embed``: input table -> hypergraph -> transition matrix -> propagation -> Embedding."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from ._xp import namespace
from .backends import get_backend
from .config import EmbedConfig
from .embedding import Embedding
from .hypergraph import Graph, Hypergraph
from .init import initialize
from .propagate import propagate

__all__ = ["embed", "embed_graph"]


def embed(
    source: Any,
    *,
    columns: str,
    dim: int = 256,
    iterations: int = 15,
    relations: str = "joint",
    propagation: str = "left",
    whiten: str = "zca",
    whiten_each_step: bool = False,
    whiten_floor: float = 0.1,
    residual: float = 0.0,
    tol: float | None = None,
    seed: int = 0,
    init: str = "hash",
    initial: Any = None,
    max_cell_size: int | None = 1024,
    eps: float = 1e-10,
    threads: int | None = None,
    backend: str = "scipy",
    device: Any = None,
    input_format: str | None = None,
    skip_bad_rows: bool = False,
    progress: bool = False,
) -> Embedding | dict[str, Embedding]:
    """Cleora embeddings of the entities of a table.

    Parameters
    ----------
    source : path, list of paths, iterable of lines, or table
        TSV (default), CSV or Parquet files, optionally ``.gz``; an iterator of
        text lines; a pyarrow Table or pandas DataFrame. See
        :func:`~cleora_tensor.io.read_table`.
    columns : str
        Column specification, e.g. ``"transient::basket complex::reflexive::item"``
        (see :func:`~cleora_tensor.parse_columns`).
    dim, iterations, relations, propagation, whiten, whiten_each_step, whiten_floor, residual, tol, seed, init, max_cell_size, eps
        See :class:`~cleora_tensor.EmbedConfig`. pycleora 3.2.1's ``embed`` is
        ``iterations=40, whiten="pca", whiten_each_step=True, whiten_floor=0``
        (and ``init="pycleora"`` for its initial vectors); the defaults here
        were chosen by evaluation on ``../shared/data`` (README, "Defaults").
    initial : array, optional
        Initial vectors instead of the hash initialization, shape
        ``(graph.num_entities, dim)`` in the order of the graph's entities
        (:attr:`Hypergraph.graph().entity_ids <Graph.entity_ids>`), joint mode
        only.
    threads : int or None, default None
        CPU worker threads (all cores if None); results do not depend on it.
    backend : str, default "scipy"
        Backend name (see :func:`~cleora_tensor.backends.get_backend`).
    device : optional
        Device of the backend.
    input_format : {"tsv", "csv", "parquet"}, optional
        Default: from the file extension.
    skip_bad_rows : bool, default False
        Skip rows with a wrong number of fields (counted and reported) instead of
        raising.
    progress : bool, default False
        Progress bars on stderr.

    Returns
    -------
    Embedding or dict of str to Embedding
        One :class:`Embedding` of the non-transient entities (joint mode), or one
        per relation keyed by relation name (pairwise mode). Vectors are float32
        ``(n_entities, dim)`` arrays of the backend's namespace.

    Raises
    ------
    ColumnSpecError
        On an invalid column specification.
    InputFormatError
        On malformed input (the message names file and line).
    OSError
        If an input file cannot be read.
    ValueError
        On invalid parameters (the message names the parameter).

    Examples
    --------
    >>> emb = embed(iter(["a\\tb", "b\\tc", "c\\ta"]), columns="node node", dim=8, iterations=3)
    >>> emb.vectors.shape
    (3, 8)
    """
    config = EmbedConfig(
        columns=columns,
        dim=dim,
        iterations=iterations,
        relations=relations,
        propagation=propagation,
        whiten=whiten,
        whiten_each_step=whiten_each_step,
        whiten_floor=whiten_floor,
        residual=residual,
        tol=tol,
        seed=seed,
        init=init,
        max_cell_size=max_cell_size,
        eps=eps,
    )
    if initial is not None and relations != "joint":
        raise ValueError("initial= is supported in joint mode only (one graph)")
    hypergraph = Hypergraph.read(
        source, config.columns, input_format=input_format, skip_bad_rows=skip_bad_rows, progress=progress
    )
    graphs = hypergraph.graphs(relations, max_cell_size=max_cell_size)
    del hypergraph  # the token codes are no longer needed; free them before propagating
    results = {
        graph.name: embed_graph(
            graph, config, initial=initial, threads=threads, backend=backend, device=device, progress=progress
        )
        for graph in tqdm(graphs, desc="relations", disable=not progress or len(graphs) == 1, file=sys.stderr)
    }
    return results[None] if relations == "joint" else results


def embed_graph(
    graph: Graph,
    config: EmbedConfig,
    *,
    initial: Any = None,
    threads: int | None = None,
    backend: str = "scipy",
    device: Any = None,
    progress: bool = False,
) -> Embedding:
    """Embed one :class:`~cleora_tensor.hypergraph.Graph` as configured.

    Parameters
    ----------
    graph : Graph
        From :meth:`Hypergraph.graph`.
    config : EmbedConfig
    initial : array, optional
        Shape ``(graph.num_entities, config.dim)``; replaces the hash
        initialization.
    threads, backend, device, progress
        As in :func:`embed`.

    Returns
    -------
    Embedding
        The graph's output (non-transient) entities.

    Raises
    ------
    ValueError
        If ``initial`` has the wrong shape.
    """
    chosen = get_backend(backend, device=device)
    operator = chosen.operator(graph.markov(config.propagation), threads=threads)
    if initial is None:
        x = initialize(
            graph.keys(config.init),
            config.dim,
            seed=config.seed,
            method=config.init,
            threads=threads,
            xp=chosen.xp,
            device=chosen.device,
        )
    else:
        expected = (graph.num_entities, config.dim)
        if tuple(initial.shape) != expected:
            raise ValueError(f"initial must have shape {expected}, got {tuple(initial.shape)}")
        x = chosen.asarray(initial)
    result = propagate(
        operator,
        x,
        iterations=config.iterations,
        residual=config.residual,
        whiten=config.whiten,
        whiten_each_step=config.whiten_each_step,
        whiten_floor=config.whiten_floor,
        eps=config.eps,
        tol=config.tol,
        threads=threads,
        overwrite_x=x is not initial,
        progress=progress,
    )
    output = graph.output
    vectors = result.vectors
    if not output.all():
        xp = namespace(vectors)
        rows = xp.asarray(output.nonzero()[0], device=chosen.device)
        vectors = xp.take(vectors, rows, axis=0)
    ids = graph.entity_ids
    return Embedding(
        entity_ids=[i for i, keep in zip(ids, output) if keep] if not output.all() else ids,
        types=graph.types[output],
        vectors=vectors,
        degrees=graph.degrees[output],
        occurrences=graph.occurrences[output],
        config=config,
        relation=graph.name,
    )
