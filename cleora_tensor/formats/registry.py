"""The embedding file formats, their extensions, and the choice of one for a path."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_EXTENSIONS", "FORMATS", "SIDECAR_FORMATS", "infer_format"]

FORMATS = ("npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv")
#: The formats whose types, configuration and relation go to a sidecar
#: ``PATH.json`` (:mod:`~cleora_tensor.formats.sidecar`).
SIDECAR_FORMATS = ("cleora", "word2vec", "csv", "tsv")
_EXTENSIONS = {
    ".npz": "npz",
    ".npy": "npy",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".w2v": "word2vec",
    ".word2vec": "word2vec",
    ".vec": "word2vec",
    ".txt": "cleora",
    ".out": "cleora",
    ".emb": "cleora",
    ".cleora": "cleora",
    ".csv": "csv",
    ".tsv": "tsv",
}
#: The extension each format is written with when the output path has none.
DEFAULT_EXTENSIONS = {fmt: ext for ext, fmt in reversed(_EXTENSIONS.items())}


def infer_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format to use for ``path``.

    Parameters
    ----------
    path : str or path-like
        The file; its extension decides when ``format`` is None.
    format : {"npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv"}, optional
        Explicit choice, overriding the extension.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    ValueError
        If ``format`` is not a known format, or it is None and the extension is
        not recognized; the message names the path and lists the choices.
    """
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        known = ", ".join(_EXTENSIONS)
        raise ValueError(
            f"cannot infer the format of {os.fspath(path)!r} from its extension; "
            f"pass format= (one of {', '.join(FORMATS)}) or use one of: {known}"
        )
    return _EXTENSIONS[suffix]
