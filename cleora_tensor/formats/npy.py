"""The ``npy`` format: vectors in a plain ``.npy`` file, entities in a sidecar.

``PATH`` is a NumPy ``.npy`` file of the ``(n, d)`` float32 vectors, which
:func:`numpy.load` reads (``mmap_mode="r"`` maps it) and out-of-core
propagation writes in place (column-major, see :mod:`cleora_tensor.outofcore`).
``PATH.entities.npz`` holds everything else: an ``npz``-format file (see
:mod:`~cleora_tensor.formats.npz`) whose ``vectors`` member has 0 columns.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputFormatError
from .checks import check_regular
from .fields import EmbeddingFields
from .npz import read_npz, write_npz

__all__ = ["SIDECAR_SUFFIX", "entities_path", "read_npy", "write_entities", "write_npy"]

SIDECAR_SUFFIX = ".entities.npz"


def entities_path(path: str | Path) -> Path:
    """The sidecar of the vectors file ``path``: ``PATH.entities.npz``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_entities(out: BinaryIO, fields: EmbeddingFields) -> None:
    """Write the sidecar: ``fields`` without its vectors (and without a trained state)."""
    write_npz(out, replace(fields, vectors=np.zeros((len(fields.entity_ids), 0), np.float32), state=None))


def write_npy(out: BinaryIO, fields: EmbeddingFields) -> None:
    """Write the vectors file (C order)."""
    np.lib.format.write_array(out, np.ascontiguousarray(fields.vectors, dtype=np.float32), allow_pickle=False)


def read_npy(path: Path, mmap: bool = False) -> EmbeddingFields:
    """The fields of ``path`` and its sidecar, checked.

    With ``mmap`` the vectors are a read-only :class:`numpy.memmap` (either
    memory order); otherwise they are read.

    Raises
    ------
    InputFormatError
        If the sidecar is missing or invalid, or the vectors file is not a
        2-D float32 ``.npy`` array with one row per entity of the sidecar.
    """
    check_regular(path)
    sidecar = entities_path(path)
    if not sidecar.exists():
        raise InputFormatError(str(path), f"its entities file {sidecar.name} is missing (written beside it by save)")
    fields = read_npz(sidecar)
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(file)
    except ValueError as error:
        raise InputFormatError(str(path), f"not a .npy file: {error}") from None
    n = len(fields.entity_ids)
    if dtype != np.float32 or len(shape) != 2 or shape[0] != n:
        raise InputFormatError(
            str(path), f"expected float32 vectors of shape ({n}, d) for the {n} entities of {sidecar.name}, "
            f"found {dtype} of shape {shape}"
        )
    try:
        vectors = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as error:  # fewer bytes than the header announces
        raise InputFormatError(str(path), f"truncated .npy file: {error}") from None
    return replace(fields, vectors=vectors)
