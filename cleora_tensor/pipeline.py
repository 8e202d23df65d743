"""The pipeline: input table -> hypergraph -> graphs, then each graph embedded in memory, out of core or distributed.

The only module that composes the stages; each stage module knows its input
type, never the stage before it. Embedding one graph in memory (transition
matrix -> backend -> propagation -> Embedding) is
:mod:`cleora_tensor.graph_embedding`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from tqdm import tqdm

from .config import EmbedConfig
from .distributed import embed_distributed, join
from .embedding import Embedding
from .columns import ColumnSpec
from .hypergraph import Hypergraph
from .temporal import event_table
from .formats.atomic import check_output
from .outofcore_embed import embed_out_of_core, plan_slices
from .features import array_or_none
from .graph_embedding import embed_chosen, embed_graph
from .runtime import Runtime

__all__ = ["embed", "embed_graph", "read_hypergraph"]


def read_hypergraph(source: Any, columns: str | ColumnSpec, **options: Any) -> Hypergraph:
    """Read a table and build its :class:`~cleora_tensor.Hypergraph`.

    Parameters
    ----------
    source : path, list of paths, iterable or list of lines, or table
        See :func:`~cleora_tensor.read_table` (pycleora's ``SparseMatrix.from_files``
        takes paths, ``from_iterator`` lines; both are sources here). A list or
        tuple is lines when one of its ``str`` elements contains a space, tab or
        line break and the first such one is not an existing path (``bytes``
        elements are always lines), else paths; ``iter(lines)`` is always
        lines, ``pathlib.Path`` elements always paths. Or a ``TokenTable`` read with ``columns``.
    columns : str or ColumnSpec
        Column specification (see :func:`~cleora_tensor.parse_columns`).
    **options
        ``input_format``, ``skip_bad_rows``, ``progress``, ... for
        :func:`~cleora_tensor.read_table`; with a ``time::`` column, ``window``,
        ``session_gap`` (hyperedges of (context, window) pairs or of sessions),
        ``since`` and ``until``: see :func:`~cleora_tensor.temporal.group_events`.

    Returns
    -------
    Hypergraph

    Raises
    ------
    ColumnSpecError, InputFormatError, OSError, ValueError
        From parsing the specification, reading the input and the time options.

    Examples
    --------
    >>> hg = read_hypergraph(iter(["a\\tb", "b\\tc"]), "node node")
    >>> hg.graph().entity_ids
    ['a', 'b', 'c']
    """
    table, owned = event_table(source, columns, **options)
    hypergraph = Hypergraph.from_table(table, release=owned)  # a caller's table is left intact
    # The parsed table is gone: hand the pages pyarrow's pool keeps cached back
    # to the system before the graph is built (about 40 bytes per input id).
    pa.default_memory_pool().release_unused()
    return hypergraph


def embed(
    source: Any,
    *,
    columns: str,
    preset: str = "classification",
    dim: int | None = None,
    iterations: int | None = None,
    relations: str = "joint",
    propagation: str = "left",
    whiten: str | None = None,
    whiten_each_step: bool | None = None,
    whiten_floor: float | None = None,
    residual: float | None = None,
    tol: float | None = None,
    seed: int = 0,
    init: str | None = None,
    singletons: str | None = None,
    initial: Any = None,
    feature_weight: float = 1.0,
    scales: Sequence[int] | None = None,
    attention: float | None = None,
    directed: str | None = None,
    max_cell_size: int | None = 1024,
    eps: float = 1e-10,
    threads: int | None = None,
    backend: str | None = None,
    device: Any = None,
    input_format: str | None = None,
    skip_bad_rows: bool = False,
    keep_state: bool = True,
    progress: bool = False,
    memory_limit: int | str | None = None,
    output: Any = None,
    distributed: bool = False,
    window: Any = None, session_gap: Any = None, since: Any = None, until: Any = None,
) -> Embedding | dict[str, Embedding]:
    """Cleora embeddings of the entities of a table.

    Parameters
    ----------
    source : path, list of paths, iterable or list of lines, or table
        TSV (default), CSV or Parquet files, optionally ``.gz``; text lines (an
        iterator, or a list or tuple whose first element with whitespace is not
        an existing path; ``pathlib.Path`` elements are always paths); a
        pyarrow Table or pandas DataFrame. See
        :func:`~cleora_tensor.io.read_table` for the exact rule.
    columns : str
        Column specification, e.g. ``"transient::basket complex::reflexive::item"``
        (see :func:`~cleora_tensor.parse_columns`).
    preset : {"classification", "retrieval", "pycleora"}, default "classification"
        Starting values of ``dim, iterations, whiten, whiten_each_step,
        whiten_floor, tol, init, singletons, scales, residual`` (see :data:`~cleora_tensor.config.PRESETS`);
        chosen by evaluation on the project's data sets (README, "Defaults").
        ``"pycleora"`` reproduces pycleora 3.2.1's ``embed``.
    dim, iterations, whiten, whiten_each_step, whiten_floor, tol, init, singletons, scales, residual
        None: the preset's value (``residual``: decided per graph). Otherwise
        see :class:`~cleora_tensor.EmbedConfig` (``tol=0`` disables early stopping).
    relations, propagation, seed, max_cell_size, eps
        See :class:`~cleora_tensor.EmbedConfig`.
    initial : array or mapping, optional
        Entity features as initial vectors: an array of shape
        ``(graph.num_entities, dim)`` in the order of the graph's entities
        (:attr:`Hypergraph.graph().entity_ids <Graph.entity_ids>`, joint mode
        only), or a mapping from entity id (or ``(type, id)``) to a vector of
        length ``dim``; entities without a feature keep the hash initialization.
        Any array-API namespace.
    feature_weight : float, default 1.0
        In ``[0, 1]``: an entity with a feature starts from
        ``(1 - feature_weight) * hash_init + feature_weight * feature``
        (pycleora's ``embed_with_node_features`` mixes with 0.5).
    scales : sequence of int, optional
        Multi-scale embedding (pycleora's ``embed_multiscale``): the vectors after
        each of these steps (at most ``iterations``), each whitened as
        configured, concatenated to ``(n_entities, dim * len(scales))``. None:
        the preset's (retrieval: ``(1, 2)``); ``[iterations]`` gives the plain
        last step.
    attention : float, optional
        Attention-weighted propagation at this softmax temperature (pycleora's
        ``embed_with_attention``, whose default is 1.0); in memory, joint or
        pairwise, not with ``scales``. See :class:`~cleora_tensor.EmbedConfig`.
    directed : {"out", "in"}, optional
        Walk along the arcs (pycleora's ``embed_directed`` is ``"out"``); in
        memory only. See :class:`~cleora_tensor.EmbedConfig`.
    threads : int or None, default None
        CPU worker threads (all cores if None); results do not depend on it.
    backend : str or None, default None
        Backend name (``"scipy"``, ``"torch"``, ``"cupy"``, ``"array_api"``; see
        :func:`~cleora_tensor.backends.get_backend`). None: inferred from an
        ``initial`` array (a torch tensor selects ``"torch"`` on its device),
        else ``"scipy"``. A name that conflicts with ``initial`` is an error.
    device : optional
        Device of the backend, e.g. ``"cuda"``, ``"cuda:1"``; default
        ``initial``'s device, else the backend's default (the CPU; the current
        GPU for ``"cupy"``).
    input_format : {"tsv", "csv", "parquet"}, optional
        Default: from the file extension.
    skip_bad_rows : bool, default False
        Skip rows with a wrong number of fields (counted and reported) instead of
        raising.
    keep_state : bool, default True
        Keep :attr:`Embedding.state` (one more ``(n_entities, dim)`` array and
        the graph ``W``, 8 bytes per non-zero, saved in ``.npz`` outputs) for
        :func:`~cleora_tensor.embed_new` and :func:`~cleora_tensor.update`.
    progress : bool, default False
        Progress bars on stderr.
    memory_limit : int, str or None, default None
        Resident memory the run may use (bytes, or ``"8G"``, ``"512M"``). When
        the in-memory propagation is predicted to need more, it runs out of
        core: the embedding is computed in column slices kept in ``output``
        (an ``.npy`` file), bit-identical to the in-memory result on this
        backend (README, "Out of core"). None: the memory available, and out of
        core automatically when an ``.npy`` ``output`` is given. Out of core
        needs the ``"scipy"`` backend, joint mode, no ``initial``, and ``tol=0``
        with ``scales`` (each scale is then its own run); its result has no
        trained state.
    output : path, optional
        Also write the result here (format from the extension; joint mode);
        the returned embedding then maps the file when it was computed out of
        core.
    distributed : bool, default False
        Propagate across the ranks of a ``torch.distributed`` process group
        (initialized from the environment under ``torchrun`` if needed; gloo).
        Every rank calls ``embed`` with the same arguments and gets the same
        result, bit-identical to one process on the SciPy backend; needs an
        ``.npy`` ``output`` on a file system every rank sees, joint mode, no
        ``initial`` and no ``scales`` (README, "Distributed").
    window, session_gap, since, until : optional
        With a ``time::`` column, see :func:`~cleora_tensor.temporal.group_events`
        (a sequence over time: :func:`~cleora_tensor.windows.embed_windows`).

    Returns
    -------
    Embedding or dict of str to Embedding
        One :class:`Embedding` of the non-transient entities (joint mode), or one
        per relation keyed by relation name (pairwise mode). Vectors are float32
        ``(n_entities, dim)`` arrays of the backend's namespace, on its device.

    Raises
    ------
    BackendUnavailableError
        If the backend's package is not installed (the message gives the pip
        command).
    ColumnSpecError
        On an invalid column specification.
    InputFormatError
        On malformed input (the message names file and line).
    OSError
        If an input file cannot be read.
    InsufficientMemoryError
        If building a graph or propagating it is predicted not to fit in the
        memory available (CPU backends) or in ``memory_limit`` even out of
        core; the message names the ``max_cell_size``, ``dim`` or
        ``memory_limit`` that would fit.
    ValueError
        On invalid parameters (the message names the parameter), a device that
        is not available (e.g. ``"cuda"`` without a GPU), or a ``backend`` that
        conflicts with ``initial``.

    Examples
    --------
    >>> emb = embed(iter(["a\\tb", "b\\tc", "c\\ta"]), columns="node node", dim=8, iterations=3)
    >>> emb.vectors.shape
    (3, 8)
    """
    config = EmbedConfig.from_preset(
        preset,
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
        singletons=singletons,
        max_cell_size=max_cell_size,
        eps=eps,
        scales=scales,
        feature_weight=feature_weight,
        attention=attention,
        directed=directed,
    )
    runtime = Runtime(
        threads=threads, backend=backend, device=device, progress=progress, keep_state=keep_state, memory_limit=memory_limit
    )
    if array_or_none(initial) is not None and config.relations != "joint":
        raise ValueError("an initial array needs joint mode (one graph); pass a mapping id -> vector")
    if output is not None:
        if config.relations != "joint":
            raise ValueError("output= needs joint mode; save each relation's embedding instead")
        check_output(output)
    if distributed and (output is None or initial is not None or config.scales or runtime.backend not in (None, "scipy")):
        raise ValueError("distributed=True needs output=FILE.npy and the scipy backend, without initial or scales")
    if distributed and (config.attention is not None or config.directed is not None):
        raise ValueError("attention and directed propagation run in one process (not distributed=True)")
    # An unusable backend or device fails here, before the input is read.
    chosen = runtime.select(like=array_or_none(initial))
    group = join() if distributed else None
    try:  # a rank that cannot read its input stops every rank
        hypergraph = read_hypergraph(
            source, config.columns, input_format=input_format, skip_bad_rows=skip_bad_rows, progress=runtime.progress,
            window=window, session_gap=session_gap, since=since, until=until,
        )
        graphs = hypergraph.graphs(
            config.relations,
            max_cell_size=config.max_cell_size,
            singletons=config.singletons,
            directed=config.directed is not None,
        )
    except Exception as error:
        if group is not None:
            group.check(error)
        raise
    del hypergraph  # the token codes are no longer needed; free them before propagating
    if group is not None:
        group.check(None)
        return embed_distributed(graphs.pop(), config, output, group, threads=runtime.threads, progress=runtime.progress)
    # Before any propagation starts: in memory, out of core, or refused.
    widths = [plan_slices(graph, config, runtime, chosen, initial=initial is not None, output=output) for graph in graphs]
    results = {}
    for graph, width in tqdm(list(zip(graphs, widths)), desc="relations", disable=not runtime.progress or len(graphs) == 1, file=sys.stderr):
        if width is not None:
            if config.attention is not None or config.directed is not None:
                raise ValueError(
                    "attention and directed propagation run in memory only, and this graph needs out-of-core "
                    "propagation (memory_limit); embed without them or with a smaller dim"
                )
            results[graph.name] = embed_out_of_core(
                graph, config, output, slice_dim=width, threads=runtime.threads, progress=runtime.progress
            )
            continue
        results[graph.name] = embed_chosen(graph, config, initial, runtime, chosen)
        if output is not None:
            results[graph.name].save(output)
    return results[None] if config.relations == "joint" else results
