"""Reading :class:`~cleora_tensor.Embedding` objects from files.

The formats are described in :mod:`cleora_tensor.formats`, which writes them
and re-exports :func:`load_embedding`. A file is checked before memory is
allocated for it, and whatever cannot be used raises an
:class:`~cleora_tensor.errors.InputFormatError` naming the file (and the
entity, or for text the line and field):

- Only regular files are read: a device, FIFO or socket is refused before it
  is opened (see :func:`~cleora_tensor.load_checks.check_regular`).
- Declared sizes are checked against each other (ids, vectors, degrees,
  occurrences, the trained state) and against the bytes present: each ``.npz``
  member's ``.npy`` header against the member's size
  (:class:`~cleora_tensor.npz_archive.NpzArchive`), a text header ``n d``
  against the file's size (each value takes at least 2 bytes).
- A file may take more memory than
  :data:`~cleora_tensor.load_checks.FREE_BYTES` only up to
  :data:`~cleora_tensor.load_checks.MAX_EXPANSION` times its size on disk: a
  decompression ("zip") bomb is refused, while genuine files load, those of
  :func:`numpy.savez_compressed` included, as real vectors barely compress.
  Only a large embedding of mostly repeated values (zeros, one-hot rows) must
  be saved uncompressed.
- Text embeddings have at most
  :data:`~cleora_tensor.text_loading.TEXT_MAX_DIM` dimensions.
- Vectors, and the trained state's arrays, must be finite (no NaN, no
  infinity); an (id, type) pair that occurs twice is reported, with the file
  and both rows or lines, when the id lookup is first built.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .embedding import Embedding, TrainedState
from .errors import InputFormatError
from .finite import first_nonfinite
from .load_checks import check_memory, check_regular, config_from_json, loaded_embedding, type_array
from .npz_archive import NpzArchive
from .text_loading import read_text
from .whitening import Whitening

__all__ = ["FORMATS", "infer_format", "load_embedding"]

FORMATS = ("npz", "cleora", "word2vec", "parquet")
_EXTENSIONS = {
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".w2v": "word2vec",
    ".word2vec": "word2vec",
    ".vec": "word2vec",
    ".txt": "cleora",
    ".out": "cleora",
    ".emb": "cleora",
    ".cleora": "cleora",
}
_PARQUET_CONFIG_KEY = b"cleora_tensor.config"
_PARQUET_RELATION_KEY = b"cleora_tensor.relation"


def infer_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The format to use for ``path``.

    Parameters
    ----------
    path : str or path-like
        The file; its extension decides when ``format`` is None.
    format : {"npz", "cleora", "word2vec", "parquet"}, optional
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


def load_embedding(path: str | os.PathLike[str], format: str | None = None) -> Embedding:
    """Read an embedding written by :func:`save_embedding` (or by Cleora/gensim).

    Parameters
    ----------
    path : str or path-like
        Input file; a regular file (devices, FIFOs and sockets are refused).
    format : {"npz", "cleora", "word2vec", "parquet"}, optional
        Default: inferred from the extension (see :func:`infer_format`).

    Returns
    -------
    Embedding
        With NumPy ``vectors``. From text formats: ``degrees`` are NaN (not
        stored); ``occurrences`` are 0 for word2vec; types come from the
        sidecar ``PATH.json`` when present (``type::id`` prefixes or the single
        type), else they are ``""``; config and relation likewise.

    Raises
    ------
    InputFormatError
        (a ValueError) If the file is not a regular file, or its content is
        not what the format expects, is inconsistent, would take too much
        memory (see the module notes), holds a NaN or an infinity, or holds an
        (id, type) pair twice (found when the id lookup is first built, by
        :meth:`Embedding.index`); the message names the file, and the entity
        (row and id) or for text files the line.
    OSError
        If the file cannot be read.

    Notes
    -----
    Keys of an ``.npz`` file that this version does not know are ignored, so
    files written by later versions still load; so are archives written by
    :func:`numpy.savez_compressed`. Text files whose lines end with a space
    (as the original word2vec tool writes them) are accepted; ids are read
    verbatim (quotes are ordinary characters).
    """
    path = Path(path)
    fmt = infer_format(path, format)
    check_regular(path)
    if fmt == "npz":
        return _read_npz(path)
    if fmt == "parquet":
        return _read_parquet(path)
    return read_text(path, with_occurrences=fmt == "cleora")


# ----------------------------------------------------------------------- npz


_NPZ_KEYS = (
    "format_version",
    "vectors",
    "entity_ids_utf8",
    "entity_ids_offsets",
    "type_codes",
    "type_names",
    "degrees",
    "occurrences",
    "config",
    "relation",
)
_STATE_KEYS = tuple(f"state_{key}" for key in _NPZ_KEYS if key.startswith(("entity_ids_", "type_")))
_WHITENING_KEYS = tuple(f"state_whitening_{name}" for name in ("mean", "matrix", "eigenvalues"))


def _read_npz(path: Path) -> Embedding:
    with NpzArchive(path) as archive:
        missing = [key for key in _NPZ_KEYS if key not in archive.keys]
        if missing:
            raise InputFormatError(
                str(path), f"not a cleora_tensor .npz file: missing {', '.join(missing)}"
            )
        keys = list(_NPZ_KEYS)
        if "state_previous" in archive.keys:
            keys += ["state_previous", *_STATE_KEYS]
            if "state_whitening_method" in archive.keys:
                keys += ["state_whitening_method", *_WHITENING_KEYS]
            missing = [key for key in keys if key not in archive.keys]
            if missing:
                raise InputFormatError(str(path), f"incomplete trained state: missing {', '.join(missing)}")
        counts = _check_npz_shapes(path, {key: archive.header(key)[0] for key in keys})
        # The types expand to (n,) arrays as wide as the longest type name.
        types = sum(
            n * archive.header(f"{prefix}type_names")[1].itemsize for prefix, n in zip(("", "state_"), counts)
        )
        check_memory(path, archive.nbytes(keys) + types, archive.size)
        arrays = {key: archive.read(key) for key in keys}
    entity_ids, types = _entities_from_arrays(path, arrays, "")
    return loaded_embedding(
        path,
        entity_ids=entity_ids,
        types=types,
        vectors=arrays["vectors"],
        degrees=arrays["degrees"],
        occurrences=arrays["occurrences"],
        config=config_from_json(path, str(arrays["config"])),
        relation=str(arrays["relation"]) or None,
        state=_state_from_arrays(path, arrays),
    )


def _check_npz_shapes(path: Path, shapes: dict[str, tuple[int, ...]]) -> list[int]:
    """Check the shapes the headers announce against each other, before any data is read.

    Returns the number of entities, and of the trained state's entities if
    ``shapes`` has the state's keys.
    """
    if len(shapes["vectors"]) != 2:
        raise InputFormatError(
            str(path), f"vectors must be 2-D (entities, dim), got shape {shapes['vectors']}"
        )
    dim = shapes["vectors"][1]
    expected: dict[str, tuple[int, ...]] = dict.fromkeys(
        ("format_version", "config", "relation", "state_whitening_method"), ()
    )
    expected.update(dict.fromkeys(("state_whitening_mean", "state_whitening_eigenvalues"), (dim,)))
    expected["state_whitening_matrix"] = (dim, dim)
    counts = []
    groups = (("", "vectors", ("degrees", "occurrences")), ("state_", "state_previous", ()))
    for prefix, matrix, per_entity in groups:
        if matrix not in shapes:
            continue
        for key in (f"{prefix}entity_ids_offsets", f"{prefix}entity_ids_utf8", f"{prefix}type_names"):
            if len(shapes[key]) != 1:
                raise InputFormatError(str(path), f"{key} must be 1-D, got shape {shapes[key]}")
        n = max(shapes[f"{prefix}entity_ids_offsets"][0] - 1, 0)
        counts.append(n)
        expected[f"{prefix}entity_ids_offsets"] = (n + 1,)
        expected[matrix] = (n, dim)
        expected.update(dict.fromkeys((f"{prefix}type_codes", *per_entity), (n,)))
    for key, shape in shapes.items():
        if shape != expected.get(key, shape):
            raise InputFormatError(
                str(path), f"{key} must have shape {expected[key]} to match the ids and vectors, got {shape}"
            )
    return counts


def _entities_from_arrays(path: Path, arrays: dict, prefix: str) -> tuple[list[str], np.ndarray]:
    offsets, utf8 = arrays[f"{prefix}entity_ids_offsets"], arrays[f"{prefix}entity_ids_utf8"]
    if (
        offsets.dtype != np.int64
        or utf8.dtype != np.uint8
        or len(offsets) == 0
        or offsets[0] != 0
        or offsets[-1] != len(utf8)
        or np.any(np.diff(offsets) < 0)
    ):
        raise InputFormatError(str(path), f"{prefix}entity_ids_offsets do not index {prefix}entity_ids_utf8")
    ids = pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(utf8)
    )
    try:
        ids.validate(full=True)
    except pa.ArrowInvalid as error:
        raise InputFormatError(str(path), f"entity ids are not valid UTF-8: {error}") from error
    codes, names = arrays[f"{prefix}type_codes"], arrays[f"{prefix}type_names"]
    if codes.size and (
        not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0 or codes.max() >= len(names)
    ):
        raise InputFormatError(str(path), f"{prefix}type_codes do not index {prefix}type_names")
    return ids.to_pylist(), names.astype(np.str_)[codes]


def _state_from_arrays(path: Path, arrays: dict) -> TrainedState | None:
    if "state_previous" not in arrays:
        return None
    entity_ids, types = _entities_from_arrays(path, arrays, "state_")
    previous = arrays["state_previous"]
    bad = first_nonfinite(previous)
    if bad is not None:
        raise InputFormatError(
            str(path),
            f"state_previous: the vector of entity {entity_ids[bad[0]]!r} (row {bad[0]}) holds "
            f"{previous[bad]}; the trained state must be finite",
        )
    whitening = None
    if "state_whitening_method" in arrays:
        for key in _WHITENING_KEYS:
            if not np.isfinite(arrays[key]).all():
                raise InputFormatError(
                    str(path), f"{key} holds NaN or infinity; the trained state must be finite"
                )
        whitening = Whitening(
            mean=arrays["state_whitening_mean"],
            matrix=arrays["state_whitening_matrix"],
            eigenvalues=arrays["state_whitening_eigenvalues"],
            method=str(arrays["state_whitening_method"]),
        )
    return TrainedState(entity_ids, types, previous, whitening)


# ------------------------------------------------------------------- parquet


_PARQUET_COLUMNS = {
    "entity_id": (pa.types.is_string, pa.types.is_large_string),
    "entity_type": (pa.types.is_dictionary, pa.types.is_string, pa.types.is_large_string),
    "occurrences": (pa.types.is_integer,),
    "degree": (pa.types.is_floating,),
    "vector": (pa.types.is_fixed_size_list,),
}


def _read_parquet(path: Path) -> Embedding:
    try:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
        missing = [name for name in _PARQUET_COLUMNS if schema.get_field_index(name) < 0]
        if missing:
            raise InputFormatError(
                str(path), f"not a cleora_tensor Parquet file: no column {', '.join(missing)}"
            )
        for name, checks in _PARQUET_COLUMNS.items():
            if not any(check(schema.field(name).type) for check in checks):
                raise InputFormatError(str(path), f"column {name!r} has type {schema.field(name).type}")
        vector = schema.field("vector").type
        if vector.value_type != pa.float32():
            raise InputFormatError(
                str(path), f"column 'vector' must be fixed_size_list<float32>, got {vector}"
            )
        # Vectors, degrees and occurrences; ids and types are checked after reading.
        size = os.path.getsize(path)
        check_memory(path, metadata.num_rows * (4 * vector.list_size + 16), size)
        table = pq.read_table(path, columns=list(_PARQUET_COLUMNS))
    except (pa.ArrowException, OSError) as error:
        raise InputFormatError(str(path), f"not a cleora_tensor Parquet file ({error})") from error
    for name in _PARQUET_COLUMNS:
        if table.column(name).null_count:
            raise InputFormatError(str(path), f"column {name!r} has missing values")
    column = table.column("vector")
    if any(c.values.null_count for c in column.chunks):
        raise InputFormatError(str(path), "column 'vector' has missing values")
    dim = column.type.list_size
    # One copy, chunk by chunk, into a writable array like np.load returns.
    vectors = np.empty((table.num_rows, dim), dtype=np.float32)
    start = 0
    for chunk in column.chunks:
        vectors[start : start + len(chunk)] = chunk.flatten().to_numpy().reshape(len(chunk), dim)
        start += len(chunk)
    stored = table.schema.metadata or {}
    return loaded_embedding(
        path,
        entity_ids=table.column("entity_id").to_pylist(),
        types=type_array(path, table.column("entity_type"), size),
        vectors=vectors,
        degrees=table.column("degree").to_numpy(),
        occurrences=table.column("occurrences").to_numpy(),
        config=config_from_json(path, stored.get(_PARQUET_CONFIG_KEY, b"").decode()),
        relation=stored.get(_PARQUET_RELATION_KEY, b"").decode() or None,
    )
