"""Embedding quality: node classification, link prediction, basket completion.

Three protocols, each on held-out data, plus what a recommender engineer checks
first:

* node classification with scikit-learn: single-label (accuracy, macro-F1) and
  multi-label (micro/macro-F1, top-k prediction as in DeepWalk and node2vec), on
  seeded random splits or on a fixed split (Planetoid);
* link prediction: a seeded edge hold-out, then a filtered ranking of each
  held-out edge's endpoints against all entities (MRR, HR@10);
* basket completion: leave one item out of a seeded 20 % of the baskets, rank
  all items against the rest of the basket (MRR, HR@10);
* two non-embedding baselines for both ranking protocols, item popularity and
  item-item co-occurrence cosine;
* stability: how much an entity's vector and its neighbours change when 5 % of
  the input rows are left out.

Every function takes an :class:`~cleora_tensor.Embedding` or an ``(ids,
vectors)`` pair with vectors in any array-API namespace (pycleora's
``entity_ids`` and ``embed`` output, a torch tensor, ...). The similarity
products run in that namespace; scores are ranked on the host.

scikit-learn (the ``eval`` extra) is imported only by the classification
functions, so ``import cleora_tensor`` does not need it.

One module per concern, each importing only those above it: ``inputs``
(reading rows, labels and split files), ``splits`` (hold-outs), ``scoring``
(embeddings and baselines), ``ranking`` (link prediction, basket completion),
``classification``, ``stability``, and ``reports`` (whole protocols from files).
"""

from .classification import node_classification, top_k_labels
from .inputs import Rows, read_labels, read_rows, read_split
from .ranking import basket_completion, link_prediction
from .reports import basket_completion_report, classification_report, format_report, link_prediction_report
from .scoring import BASELINES, Scorer
from .splits import BasketSplit, EdgeSplit, split_baskets, split_edges
from .stability import stability, subsample

__all__ = [
    "BASELINES",
    "BasketSplit",
    "EdgeSplit",
    "Rows",
    "Scorer",
    "basket_completion",
    "basket_completion_report",
    "classification_report",
    "format_report",
    "link_prediction",
    "link_prediction_report",
    "node_classification",
    "read_labels",
    "read_rows",
    "read_split",
    "split_baskets",
    "split_edges",
    "stability",
    "subsample",
    "top_k_labels",
]
