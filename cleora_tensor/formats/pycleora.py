"""Reading the ``.npz`` and Parquet embeddings that pycleora 3.2.1 writes.

pycleora's ``pycleora.io_utils.save_embeddings(graph, x, path)`` (format
``"npz"``, its default, and what ``pycleora embed --output FILE.npz`` writes)
calls ``numpy.savez(path, embeddings=x, entity_ids=numpy.array(graph.entity_ids))``,
so its archive holds two arrays and nothing else:

``embeddings``
    ``(n, d)`` vectors, float32 as pycleora's ``embed`` returns them (any
    float dtype is read and converted to float32; float64 values are rounded
    to the nearest float32).
``entity_ids``
    ``(n,)`` fixed-width Unicode strings (``<U``), row ``i`` the id of vector
    ``i``; float64 when ``n`` is 0 (``numpy.array([])``). UTF-8 bytes
    (``S``) are read too.

Its Parquet (format ``"parquet"``) has a string column ``entity_id`` and one
float64 column ``dim_j`` per component (read and rounded to float32).

pycleora's files carry no entity types, degrees or counts, so
every entity loads with type ``""``, degree NaN and 0 occurrences, and the
embedding has no configuration or relation: the same defaults as the text
formats read without a sidecar. pycleora's ``.csv`` and ``.tsv`` outputs are
read by :mod:`~cleora_tensor.formats.delimited`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputFormatError
from .checks import check_memory
from .fields import EmbeddingFields
from .npz_archive import NpzArchive

__all__ = ["PYCLEORA_KEYS", "is_pycleora", "is_pycleora_parquet", "read_pycleora_npz", "read_pycleora_parquet"]

#: The arrays of a pycleora ``.npz`` embedding.
PYCLEORA_KEYS = ("embeddings", "entity_ids")


def is_pycleora(keys: set[str]) -> bool:
    """Whether an ``.npz`` archive of arrays ``keys`` is a pycleora embedding (not this library's).

    Parameters
    ----------
    keys : set of str
        :attr:`NpzArchive.keys <cleora_tensor.formats.npz_archive.NpzArchive.keys>`.
    """
    return set(PYCLEORA_KEYS) <= keys and "vectors" not in keys


def read_pycleora_npz(path: Path, archive: NpzArchive, mmap: bool = False) -> EmbeddingFields:
    """The fields of the pycleora ``.npz`` embedding open in ``archive``, checked.

    Parameters
    ----------
    path : Path
        The file, named in errors.
    archive : NpzArchive
        ``path``, open; :func:`is_pycleora` of its keys is true.
    mmap : bool, default False
        Map ``embeddings`` read-only from the file instead of reading it; it
        must be float32 and stored uncompressed, as pycleora writes it.

    Returns
    -------
    EmbeddingFields
        ``vectors`` ``(n, d)`` float32; types ``""``, degrees NaN,
        occurrences 0 (see the module notes).

    Raises
    ------
    InputFormatError
        If ``embeddings`` is not a 2-D float array, ``entity_ids`` not ``n``
        strings, an id not UTF-8, the arrays would take too much memory (see
        :func:`~cleora_tensor.formats.checks.check_memory`), or with ``mmap``
        the vectors cannot be mapped.
    """
    shape, dtype = archive.header("embeddings")
    id_shape, id_dtype = archive.header("entity_ids")
    if len(shape) != 2 or dtype.kind != "f":
        raise InputFormatError(
            str(path), f"pycleora 'embeddings' must be a 2-D float array (entities, dim), got {shape} {dtype}"
        )
    n = shape[0]
    if id_shape != (n,) or n and id_dtype.kind not in "US":
        raise InputFormatError(
            str(path),
            f"pycleora 'entity_ids' must be {n} strings to match 'embeddings' of shape {shape}, "
            f"got shape {id_shape} of {id_dtype}",
        )
    if mmap and dtype != np.float32:
        raise InputFormatError(str(path), f"pycleora 'embeddings' are {dtype}; only float32 vectors can be mapped")
    # Each id becomes a Python string (about 50 bytes and its characters); a
    # float64 matrix gets a float32 copy.
    need = archive.nbytes(["entity_ids"]) + 64 * n + (0 if mmap else archive.nbytes(["embeddings"]))
    check_memory(path, need + (0 if dtype == np.float32 else 4 * n * shape[1]), archive.size)
    vectors = archive.memmap("embeddings") if mmap else archive.read("embeddings").astype(np.float32, copy=False)
    ids = archive.read("entity_ids").tolist() if n else []
    if id_dtype.kind == "S":
        bad = next((row for row, value in enumerate(ids) if not _is_utf8(value)), None)
        if bad is not None:
            raise InputFormatError(
                str(path), f"pycleora 'entity_ids' row {bad} is not valid UTF-8: {ids[bad][:40]!r}"
            )
        ids = [value.decode("utf-8") for value in ids]
    return _fields(ids, vectors)


def is_pycleora_parquet(schema: pa.Schema) -> bool:
    """Whether a Parquet file of ``schema`` has pycleora's columns ``entity_id, dim_0, ..., dim_{d-1}``."""
    return schema.names == ["entity_id", *(f"dim_{j}" for j in range(len(schema.names) - 1))]


def read_pycleora_parquet(path: Path, metadata: pq.FileMetaData) -> EmbeddingFields:
    """The fields of pycleora's Parquet embedding ``path`` (:func:`is_pycleora_parquet` of its schema), checked.

    Parameters
    ----------
    path : Path
    metadata : pyarrow.parquet.FileMetaData
        ``path``'s.

    Returns
    -------
    EmbeddingFields
        ``vectors`` ``(n, d)`` float32; types ``""``, degrees NaN,
        occurrences 0 (see the module notes).

    Raises
    ------
    InputFormatError
        If ``entity_id`` is not a string column or a ``dim_j`` column not a
        float one, a value is missing, or the columns would take too much
        memory (see :func:`~cleora_tensor.formats.checks.check_memory`).
    """
    schema = metadata.schema.to_arrow_schema()
    for field in schema:
        want = (pa.types.is_string, pa.types.is_large_string) if field.name == "entity_id" else (pa.types.is_floating,)
        if not any(check(field.type) for check in want):
            raise InputFormatError(str(path), f"pycleora column {field.name!r} has type {field.type}")
    n, dim = metadata.num_rows, len(schema) - 1
    # float64 columns, their float32 copy, and about 64 bytes per id.
    check_memory(path, n * (12 * dim + 64), path.stat().st_size)
    table = pq.read_table(path)
    vectors = np.empty((n, dim), dtype=np.float32)
    for j, column in enumerate(table.columns):
        if column.null_count:
            raise InputFormatError(str(path), f"pycleora column {table.column_names[j]!r} has missing values")
        if j:
            vectors[:, j - 1] = column.to_numpy()
    return _fields(table.column("entity_id").to_pylist(), vectors)


def _fields(entity_ids: list[str], vectors: np.ndarray) -> EmbeddingFields:
    """Fields of ids and vectors only, with the defaults of the module notes."""
    n = len(entity_ids)
    return EmbeddingFields(
        entity_ids=entity_ids,
        types=np.full(n, ""),
        vectors=vectors,
        degrees=np.full(n, np.nan),
        occurrences=np.zeros(n, np.int64),
    )


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
