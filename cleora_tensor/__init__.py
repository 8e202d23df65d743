"""cleora_tensor: Cleora entity embeddings from relational data.

Cleora builds a hypergraph from table rows, its sparse Markov transition matrix,
and multiplies a deterministic hash-initialized embedding by it again and again,
re-normalizing and whitening after every step; there is no training. The dense
linear algebra is written once against the Python array API; the sparse product
comes from a backend (SciPy, multithreaded, is the reference).

Examples
--------
>>> import cleora_tensor as ct
>>> emb = ct.embed(iter(["a\\tb", "b\\tc", "c\\ta"]), columns="node node", dim=8, iterations=3)
>>> len(emb), emb.dim
(3, 8)
"""

from importlib.metadata import PackageNotFoundError, version

from .backends import Backend, SparseOperator, available_backends, get_backend
from .columns import ColumnSpec, parse_columns
from .compose import combine
from .config import EmbedConfig
from .embedding import Embedding, TrainedState
from .errors import ColumnSpecError, InputFormatError, InsufficientMemoryError, RankFailedError
from .hypergraph import DataWarning, Graph, Hypergraph, Vocabulary
from .inductive import embed_new
from .init import initialize
from .keys import entity_keys
from .io import read_table
from .markov import markov_matrix, transition_matrix
from .normalize import normalize_rows
from .pipeline import embed, embed_graph, read_hypergraph
from .propagation import Propagation, estimate_memory, propagate
from .update import update
from .whitening import Whitening, whiten
from .windows import TimeWindow, embed_windows

try:
    __version__ = version("cleora-tensor")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = [
    "Backend",
    "ColumnSpec",
    "ColumnSpecError",
    "DataWarning",
    "EmbedConfig",
    "Embedding",
    "Graph",
    "Hypergraph",
    "InputFormatError",
    "InsufficientMemoryError",
    "Propagation",
    "RankFailedError",
    "SparseOperator",
    "TimeWindow",
    "TrainedState",
    "Vocabulary",
    "Whitening",
    "available_backends",
    "combine",
    "embed",
    "embed_graph",
    "embed_new",
    "embed_windows",
    "entity_keys",
    "estimate_memory",
    "get_backend",
    "initialize",
    "markov_matrix",
    "normalize_rows",
    "parse_columns",
    "propagate",
    "read_hypergraph",
    "read_table",
    "transition_matrix",
    "update",
    "whiten",
]
