"""Whole protocols from files, as reports (the ``cleora-tensor evaluate`` commands).

Each ``*_report`` function reads its inputs, runs a protocol and returns a
JSON-ready dict; :func:`format_report` prints one as a table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..pipeline import embed
from ..embedding import Embedding
from .classification import node_classification
from .inputs import Rows, read_labels, read_rows, read_split
from .ranking import basket_completion, link_prediction
from .scoring import BASELINES
from .splits import _MIN_ITEMS, BasketSplit, EdgeSplit, _basket_spec, _edge_spec, _split_baskets, _split_edges
from .stability import stability, subsample

__all__ = ["basket_completion_report", "classification_report", "format_report", "link_prediction_report"]


def link_prediction_report(
    source: str | os.PathLike[str] | Iterable[str],
    *,
    columns: str,
    test_fraction: float = 0.1,
    split_seed: int = 0,
    prior: float = 0.1,
    top_k: int = 10,
    with_stability: bool = False,
    train_output: str | os.PathLike[str] | None = None,
    **embed_options: Any,
) -> dict[str, Any]:
    """Split, embed the training rows, rank the held-out edges; with baselines.

    Parameters
    ----------
    source : path or iterable of str
        The graph's rows.
    columns : str
        Column specification (see :func:`split_edges`).
    test_fraction, split_seed : float, int
        Of :func:`split_edges`.
    prior : float, default 0.1
        When positive, a second embedding row scores ``cosine + prior *
        log(degree)`` (see :func:`link_prediction`).
    top_k : int, default 10
    with_stability : bool, default False
        Also embed all rows and a seeded 95 % subsample (:func:`stability`).
    train_output : path, optional
        Where to write the training rows.
    **embed_options
        Passed to :func:`~cleora_tensor.embed` (``dim``, ``iterations``, ...).

    Returns
    -------
    dict
        ``protocol``, ``columns``, ``split`` (counts), ``results`` (one dict per
        method: ``method``, metrics, ``seconds``), ``stability`` (or None),
        ``embed_options``.

    Raises
    ------
    ValueError, OSError
        From reading, splitting and embedding.
    """
    rows = read_rows(source, _edge_spec(columns, test_fraction))
    split = _split_edges(rows, test_fraction, split_seed)
    return _ranking_report_for(
        "link prediction", link_prediction, split, rows if with_stability else None, prior=prior, top_k=top_k,
        train_output=train_output, embed_options=embed_options,
        counts={"entities": len(split.entity_ids), "train_edges": int(split.incidence.nnz // 2),
                "test_edges": int(len(split.test))},
    )


def basket_completion_report(
    source: str | os.PathLike[str] | Iterable[str],
    *,
    columns: str,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    prior: float = 0.1,
    top_k: int = 10,
    with_stability: bool = False,
    train_output: str | os.PathLike[str] | None = None,
    **embed_options: Any,
) -> dict[str, Any]:
    """Split, embed the training rows, complete the test baskets; with baselines.

    As :func:`link_prediction_report`, with :func:`split_baskets` and
    :func:`basket_completion` in place of :func:`split_edges` and
    :func:`link_prediction`.

    Parameters
    ----------
    source : path or iterable of str
        The baskets, one per row.
    columns : str
        Column specification (see :func:`split_baskets`).
    test_fraction : float, default 0.2
        Of :func:`split_baskets`, as is ``split_seed``.
    prior, top_k, with_stability, train_output, **embed_options
        As :func:`link_prediction_report` (``prior`` weighs
        ``log(popularity)``, see :func:`basket_completion`).

    Returns
    -------
    dict
        As :func:`link_prediction_report`; ``split`` counts ``items``,
        ``baskets`` and ``test_baskets``.

    Raises
    ------
    ValueError, OSError
        From reading, splitting and embedding.
    """
    rows = read_rows(source, _basket_spec(columns, test_fraction, _MIN_ITEMS))
    split = _split_baskets(rows, test_fraction, _MIN_ITEMS, split_seed)
    return _ranking_report_for(
        "basket completion", basket_completion, split, rows if with_stability else None, prior=prior, top_k=top_k,
        train_output=train_output, embed_options=embed_options,
        counts={"items": len(split.entity_ids), "baskets": int(split.incidence.shape[0]),
                "test_baskets": len(split.visible)},
    )


def _ranking_report_for(
    protocol: str, evaluate: Any, split: EdgeSplit | BasketSplit, stability_rows: Rows | None, *, prior: float,
    top_k: int, train_output: str | os.PathLike[str] | None,
    embed_options: dict[str, Any], counts: dict[str, int],
) -> dict[str, Any]:
    if train_output is not None:
        split.write_train(train_output)
    start = time.perf_counter()
    embedding = embed(iter(split.train_rows), columns=split.columns, **embed_options)
    seconds = time.perf_counter() - start
    results = []
    for name, model, weight in [
        ("cleora_tensor cosine", embedding, 0.0),
        *([(f"cleora_tensor cosine + {prior:g} log(popularity)", embedding, prior)] if prior else []),
        *[(baseline, baseline, 0.0) for baseline in BASELINES],
    ]:
        start = time.perf_counter()
        metrics = evaluate(model, split, prior=weight, top_k=top_k)
        spent = time.perf_counter() - start + (seconds if model is embedding else 0.0)
        results.append({"method": name, **metrics, "seconds": spent})
    report_stability = None
    if stability_rows is not None:
        lines = stability_rows.lines()
        full = embed(iter(lines), columns=split.columns, **embed_options)
        part = embed(iter(subsample(lines)), columns=split.columns, **embed_options)
        report_stability = stability(full, part, top_k=top_k)
    return {
        "protocol": protocol,
        "columns": split.columns,
        "split": counts,
        "embed_options": embed_options,
        "results": results,
        "stability": report_stability,
    }


def format_report(report: Mapping[str, Any]) -> str:
    """A report of the ``*_report`` functions as a plain-text table.

    Parameters
    ----------
    report : mapping
        From :func:`link_prediction_report`, :func:`basket_completion_report`
        or :func:`classification_report`.

    Returns
    -------
    str
        A header line, then one aligned row per method (numbers to 4 places),
        then the stability line if measured.
    """
    rows = report["results"]
    keys = [k for k in rows[0] if k != "method"]
    cells = [["method", *keys]] + [
        [row["method"], *(f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k in keys)]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    lines = [f"{report['protocol']} ({', '.join(f'{k} {v}' for k, v in report['split'].items())})"]
    lines += ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
              for line in cells]
    if report.get("stability"):
        s = report["stability"]
        lines.append(
            f"stability (all rows vs a seeded 95 % subsample, {s['entities']} entities): "
            f"mean cosine {s['mean_cosine']:.4f}, top-10 neighbour overlap {s['neighbour_overlap']:.4f}"
        )
    return "\n".join(lines)


def classification_report(
    embeddings: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    *,
    split_file: str | os.PathLike[str] | None = None,
    train_ratio: float = 0.8,
    seeds: int = 5,
    embedding_format: str | None = None,
) -> dict[str, Any]:
    """:func:`node_classification` of a saved embedding against a label file.

    Parameters
    ----------
    embeddings : path
        A file written by ``cleora-tensor embed`` (any format).
    labels : path
        ``node<TAB>label`` lines (:func:`read_labels`).
    split_file : path, optional
        ``node<TAB>train|val|test`` lines (:func:`read_split`); default random
        splits.
    train_ratio, seeds
        Of the random splits.
    embedding_format : str, optional
        Format of ``embeddings`` (default: from the extension).

    Returns
    -------
    dict
        In the shape :func:`format_report` reads; ``results`` holds one row.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    InputFormatError
        From reading ``labels`` or ``split_file`` (located at
        ``file:line[:column]``).
    ValueError, OSError
        From loading ``embeddings``, and from :func:`node_classification`
        (prefixed with the labels file), e.g. when no labelled node is in the
        embedding.
    """
    start = time.perf_counter()
    embedding = Embedding.load(embeddings, format=embedding_format)
    split = read_split(split_file) if split_file is not None else None
    node_labels = read_labels(labels)
    try:
        scores = node_classification(embedding, node_labels, split=split, train_ratio=train_ratio, seeds=seeds)
    except ValueError as error:  # name the files: the labels do not fit the embedding or split
        raise ValueError(f"{labels}: {error}") from None
    counts = {key: scores.pop(key) for key in ("nodes", "missing", "train", "test", "seeds") if key in scores}
    return {
        "protocol": "node classification (" + ("fixed split" if split else f"random {train_ratio:g} splits") + ")",
        "split": counts,
        "results": [{"method": str(embeddings), **scores, "seconds": time.perf_counter() - start}],
        "stability": None,
    }
