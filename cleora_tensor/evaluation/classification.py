"""Node classification of embeddings with scikit-learn (single- and multi-label).

scikit-learn (the ``eval`` extra) is imported only inside these functions, so
``import cleora_tensor`` does not need it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._xp import to_numpy
from ..lookup import EntityIndex
from .inputs import shown
from .scoring import _as_pair
from .splits import _check_fraction

__all__ = ["node_classification", "top_k_labels"]


def node_classification(
    model: Any,
    labels: Mapping[str, str | Sequence[str]],
    *,
    split: Mapping[str, str] | None = None,
    train_ratio: float = 0.8,
    seeds: int | Sequence[int] = 5,
    multilabel: bool | None = None,
    max_iter: int = 1000,
) -> dict[str, Any]:
    """Node classification with logistic regression on the embeddings.

    Single-label: scikit-learn's multinomial ``LogisticRegression``; accuracy
    and macro-F1. Multi-label (DeepWalk, Perozzi et al. 2014; node2vec, Grover
    & Leskovec 2016): one-vs-rest logistic regression, each test node is
    assigned its top-``k`` labels by probability where ``k`` is its true number
    of labels; micro- and macro-F1. The classifier sees the vectors as they
    are, with scikit-learn's default regularization (``C=1``): on cora,
    standardizing the features first lost 2-4 accuracy points for both
    whitened and unwhitened embeddings.

    Parameters
    ----------
    model : Embedding or (ids, vectors) pair
        Vectors of any array-API namespace (copied to the host).
    labels : mapping of str to str or sequence of str
        Label(s) per node (see :func:`read_labels`). Labelled nodes without a
        vector (e.g. isolated nodes, which Cleora does not embed) get a zero
        vector and stay in the evaluation; their count is reported.
    split : mapping of str to {"train", "val", "test"}, optional
        A fixed split (Planetoid's public split, :func:`read_split`): fit on
        ``train``, report on ``test`` (``val`` is reported too). Without it,
        ``seeds`` random splits with ``train_ratio`` of the nodes for training,
        stratified by label in the single-label case (default 80/20, 5 seeds).
    train_ratio : float, default 0.8
        In ``(0, 1)``; random splits only.
    seeds : int or sequence of int, default 5
        Seeds of the random splits (``range(seeds)`` for an int).
    multilabel : bool, optional
        Default: multi-label when some node has several labels.
    max_iter : int, default 1000
        Iterations of the logistic regression solver.

    Returns
    -------
    dict
        Single-label: ``accuracy``, ``macro_f1``; multi-label: ``micro_f1``,
        ``macro_f1``; random splits add ``*_std`` (standard deviation over
        seeds) and ``seeds``; a fixed split adds ``val_*``. Always ``nodes``
        (evaluated), ``train``, ``test`` (per split) and ``missing`` (labelled
        nodes without a vector).

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install cleora-tensor[eval]``).
    ValueError
        If ``labels`` is empty, none of its nodes has a vector,
        ``multilabel=False`` with a node of several labels, the split has no
        train or test node among the labelled nodes, the labelled nodes cannot
        be split at random (a label with one node, fewer test nodes than
        labels), or an option is out of range.

    Warns
    -----
    UserWarning
        If fewer than half of the labelled nodes have a vector (the ids of the
        labels and of the model likely differ).
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
    from sklearn.preprocessing import MultiLabelBinarizer

    if not labels:
        raise ValueError("labels is empty")
    sets = {node: [value] if isinstance(value, str) else list(value) for node, value in labels.items()}
    several = any(len(v) > 1 for v in sets.values())
    if multilabel is None:
        multilabel = several
    elif not multilabel and several:
        raise ValueError("multilabel=False but some nodes have several labels")
    if split is None:
        _check_fraction("train_ratio", train_ratio)
    nodes = list(sets)
    model_ids, _, vectors = _as_pair(model)
    rows = EntityIndex(model_ids).rows(nodes)
    _check_overlap(nodes, model_ids, int((rows >= 0).sum()))
    host = np.asarray(to_numpy(vectors), dtype=np.float64)
    x = np.zeros((len(nodes), host.shape[1]))
    x[rows >= 0] = host[rows[rows >= 0]]
    if multilabel:
        y = MultiLabelBinarizer().fit_transform([sets[node] for node in nodes])
    else:
        # Label codes in sorted label order, as numpy would sort the labels, but
        # without a fixed-width string array (as wide as the longest label).
        classes = sorted({sets[node][0] for node in nodes})
        code = {label: i for i, label in enumerate(classes)}
        y = np.array([code[sets[node][0]] for node in nodes], dtype=np.int64)

    def score(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
        counts = y[test].sum(axis=1) if multilabel else None
        predicted = _fit_predict(x[train], y[train], x[test], counts, max_iter)
        if multilabel:
            return {
                "micro_f1": f1_score(y[test], predicted, average="micro", zero_division=0),
                "macro_f1": f1_score(y[test], predicted, average="macro", zero_division=0),
            }
        return {
            "accuracy": accuracy_score(y[test], predicted),
            "macro_f1": f1_score(y[test], predicted, average="macro", zero_division=0),
        }

    report: dict[str, Any] = {"nodes": len(nodes), "missing": int((rows < 0).sum())}
    if split is not None:
        parts = np.array([split.get(node, "") for node in nodes], dtype=object)
        train, val, test = (np.flatnonzero(parts == p) for p in ("train", "val", "test"))
        if train.size == 0 or test.size == 0:
            raise ValueError("the split has no train or no test node among the labelled nodes")
        report.update(score(train, test), train=int(train.size), test=int(test.size))
        if val.size:
            report.update({f"val_{k}": v for k, v in score(train, val).items()})
        return report
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    if not multilabel and (single := np.flatnonzero(np.bincount(y) < 2)).size:
        raise ValueError(
            f"label {shown(classes[single[0]])} has only one node ({single.size} such labels): "
            "a stratified random split needs at least 2 nodes per label; give a fixed split"
        )
    splitter = ShuffleSplit if multilabel else StratifiedShuffleSplit
    runs = []
    for seed in seed_list:
        try:
            train, test = next(splitter(n_splits=1, train_size=train_ratio, random_state=seed).split(x, y))
        except ValueError as error:  # e.g. fewer test nodes than labels
            raise ValueError(
                f"cannot split the {len(nodes)} labelled nodes at random with "
                f"train_ratio {train_ratio:g}: {error}"
            ) from None
        runs.append(score(train, test))
    for key in runs[0]:
        values = np.array([run[key] for run in runs])
        report[key], report[f"{key}_std"] = float(values.mean()), float(values.std())
    report.update(train=int(train.size), test=int(test.size), seeds=len(seed_list))
    return report


def _check_overlap(nodes: list[str], model_ids: list[str], present: int) -> None:
    """Refuse labels that match no vector; warn when most match none."""
    if present == 0:
        example = shown(model_ids[0]) if model_ids else "none"
        raise ValueError(
            f"none of the {len(nodes)} labelled nodes is in the embedding (labelled ids "
            f"such as {shown(nodes[0])}, embedding ids such as {example}); do the two "
            "use the same ids?"
        )
    if 2 * present < len(nodes):
        warnings.warn(
            f"only {present} of the {len(nodes)} labelled nodes are in the embedding; "
            "the others are classified from zero vectors",
            stacklevel=3,
        )


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 counts: np.ndarray | None, max_iter: int) -> np.ndarray:
    """Labels of the test rows; multi-label (``counts`` given) as an indicator matrix."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    if counts is None:
        return LogisticRegression(max_iter=max_iter).fit(x_train, y_train).predict(x_test)
    classifier = OneVsRestClassifier(LogisticRegression(max_iter=max_iter))
    return top_k_labels(classifier.fit(x_train, y_train).predict_proba(x_test), counts)


def top_k_labels(probability: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each row's ``counts[i]`` most probable labels, as a 0/1 indicator matrix.

    The multi-label decision rule of DeepWalk and node2vec's evaluation: a node
    is given as many labels as it truly has (so F1 measures the ranking of
    labels, not a threshold).

    Parameters
    ----------
    probability : numpy.ndarray, shape (n, L)
        Label scores per row.
    counts : numpy.ndarray, shape (n,), int
        Labels to assign per row, clipped to ``[0, L]``.

    Returns
    -------
    numpy.ndarray, shape (n, L), int64
        1 for the assigned labels; ties by lower label index.

    Examples
    --------
    >>> top_k_labels(np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]), np.array([2, 1]))
    array([[0, 1, 1],
           [1, 0, 0]])
    """
    probability = np.asarray(probability)
    n, width = probability.shape
    order = np.argsort(-probability, axis=1, kind="stable")
    chosen = np.arange(width)[None, :] < np.clip(np.asarray(counts), 0, width)[:, None]
    out = np.zeros((n, width), dtype=np.int64)
    np.put_along_axis(out, order, chosen.astype(np.int64), axis=1)
    return out
