"""pycleora 3.2.1's API over this library's core: change the import, keep the script.

``from cleora_tensor.compat.pycleora import SparseMatrix, embed, find_most_similar``
gives pycleora's names, signatures, defaults (dim 256, 40 steps, left Markov
propagation, L2 normalization and PCA whitening after every step) and return
types. Each function is a thin adapter: the graph is
:func:`cleora_tensor.read_hypergraph`'s, the matrices :func:`cleora_tensor.transition_matrix`'s,
the start :func:`cleora_tensor.initialize` with ``method="pycleora"`` (pycleora's
initial vectors bit for bit), the loop :func:`cleora_tensor.propagate`, the
whitening :func:`cleora_tensor.whiten`, the search
:func:`cleora_tensor.similarity.cosine_top_k`. Arrays follow the input: a torch
tensor in (``initial_embeddings``, the vectors given to a search or to
``whiten_embeddings``, ``x`` of ``left_markov_propagate``) gives a torch tensor
out, on its device.

Measured against the installed pycleora 3.2.1 on cora (``tests/test_compat_pycleora.py``):
the same entity order, degrees, transition matrices and initial vectors (bit for
bit); ``embed`` within 4.3e-5 of pycleora's values after one step (up to the
sign of a column, see below) and its cosine similarities within 1.8e-6 after
40 steps; ``find_most_similar``'s top 10 shared 99.4 % of pycleora's ids over
300 queries. Whitening after every step is subspace iteration, and on small
graphs it amplifies rounding: on groceries (169 items, ``feature_dim=64``)
identical graphs give cosines up to 0.15 apart from pycleora's after 5 steps,
as any two BLAS builds would; compare such runs step by step, or unwhitened.

Differences from pycleora 3.2.1, each where pycleora departs from its own
documentation or is not deterministic:

- **Transition matrices are row-stochastic.** ``left_markov_propagate`` uses
  ``D^-1 W`` for every column specification. pycleora's rows do not sum to 1
  for ``complex`` columns that are not reflexive (``"user complex::item"``: a
  user of three items has three entries of 1.0) nor after hyperedge trimming.
- **entity_degrees** are the row sums of ``W``; pycleora's are the same for
  plain and reflexive columns (cora, the Quick Start) but not for ``complex``
  columns that are not reflexive.
- **Hyperedges are expanded exactly** up to the library's clique guard (1024
  ids per cell, or ``hyperedge_trim_n`` if larger). pycleora's
  ``hyperedge_trim_n`` (default 16) drops the pairs among the ids past the
  ``n``-th of a cell without renormalizing. Both keep every entity (truncating
  cells to 16 ids would lose one of the 169 groceries items); the vectors of
  entities in longer cells differ (groceries: 95 of 9,835 baskets are longer;
  without them, one step agrees with pycleora to 1e-5 in cosine).
- **Determinism.** ``num_workers`` never changes a result (bit-identical for any
  count); pycleora's multi-worker results vary from run to run.
- **PCA signs.** Whitening makes each eigenvector's largest component positive;
  pycleora keeps LAPACK's arbitrary signs, so a column of the vectors can be
  pycleora's negated. Dot products and cosine similarities are unaffected.
- **Columns.** All columns share one id space, as in pycleora. Several relations
  (e.g. ``"a b c"``) are summed instead of refused, ``weight::`` and ``ignore::``
  columns are accepted, ``transient`` is refused; empty ids (double spaces) are
  dropped, where pycleora makes an entity ``''``.
- **embed_weighted** multiplies each row's edges by its weight. pycleora scales
  each node by the largest weight of any edge it is in, so different per-edge
  weights can give the same result.
- **embed_inductive** starts new entities from the deterministic initializer,
  not from Gaussian noise (``randn * 0.01``, different on every call).
- **find_most_similar** with ``exclude_self`` leaves the query out; pycleora
  lists it last with similarity -1.0 when ``top_k`` reaches the entity count.
  Equal similarities are ordered by lower index.
- **Only L2 normalization**: ``normalization`` other than ``"l2"`` raises.
  ``convergence_threshold`` is also tested after the first step.
- **Input types.** float64 vectors are converted to float32 (pycleora raises
  TypeError); ``whiten_embeddings`` keeps its input's dtype.
- ``propagate_gpu`` returns a torch tensor for a torch tensor; a missing CUDA
  device is a ValueError (pycleora: RuntimeError).

- **embed_directed**: an entity without outgoing arcs keeps its vector (a
  self-loop); pycleora gives it a zero vector.
- **embed_with_attention**: the attention weights are float32 (pycleora:
  float64 before the product).
- **supervised_refine** minimizes the triplet margin loss its documentation
  names (SGD on sparse gradients, mini-batches, seed 0; see
  :func:`cleora_tensor.refine.supervised_refine`); pycleora pulls positive and
  pushes negative pairs separately, pair by pair, and needs no torch.

- **update_graph**, **remove_edges**, **embed_streaming** rebuild the graph
  from all lines, as pycleora's do; ``embed_streaming`` starts new entities
  from the deterministic initializer (pycleora: random noise, so two calls
  differ). To update a saved model's vectors without re-embedding, use
  :func:`cleora_tensor.update`.

Not provided: ``embed_edge_features``, ``SparseMatrix.get_entity_column_mask`` and pycleora's
submodules (``stats``, ``preprocess``, ``search``, ...).
"""

from ._pycleora_advanced import embed_directed, embed_with_attention, supervised_refine
from ._pycleora_embed import (
    DEFAULT_FEATURE_DIM,
    DEFAULT_NUM_ITERATIONS,
    embed,
    embed_inductive,
    embed_multiscale,
    embed_using_baseline_cleora,
    embed_weighted,
    embed_with_node_features,
    propagate_gpu,
)
from ._pycleora_estimator import CleoraEmbedder
from ._pycleora_graph import SparseMatrix
from ._pycleora_search import cosine_similarity, find_most_similar, predict_links, whiten_embeddings
from ._pycleora_stream import embed_streaming, remove_edges, update_graph

__all__ = [
    "DEFAULT_FEATURE_DIM",
    "DEFAULT_NUM_ITERATIONS",
    "CleoraEmbedder",
    "SparseMatrix",
    "cosine_similarity",
    "embed",
    "embed_directed",
    "embed_inductive",
    "embed_multiscale",
    "embed_streaming",
    "embed_using_baseline_cleora",
    "embed_weighted",
    "embed_with_attention",
    "embed_with_node_features",
    "find_most_similar",
    "predict_links",
    "propagate_gpu",
    "remove_edges",
    "supervised_refine",
    "update_graph",
    "whiten_embeddings",
]
