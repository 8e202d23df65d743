"""Saving and loading :class:`~cleora_tensor.Embedding` objects.

Four formats:

============  ===========================================  ==============================
format        extensions                                   holds
============  ===========================================  ==============================
``npz``       ``.npz``                                     everything (no pickle)
``parquet``   ``.parquet``, ``.pq``                        everything
``cleora``    ``.txt``, ``.out``, ``.emb``, ``.cleora``    ids, occurrences, vectors
``word2vec``  ``.w2v``, ``.word2vec``, ``.vec``            ids, vectors
============  ===========================================  ==============================

The two text formats are written with a JSON sidecar ``PATH.json`` holding the
configuration, the relation name and how entity types are encoded in the ids.
Every file is written atomically: to a temporary file in the target directory,
then renamed over the target, so a failed or interrupted write leaves any
previous file untouched and no partial output.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .config import EmbedConfig
from ._xp import to_numpy
from .embedding import Embedding, TrainedState
from .errors import InputFormatError
from .outputs import AtomicFiles
from .whitening import Whitening

__all__ = ["FORMATS", "infer_format", "load_embedding", "save_embedding", "save_embeddings"]

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
_TEXT_FORMATS = ("cleora", "word2vec")
_NPZ_VERSION = 1
_SIDECAR_VERSION = 1
_PARQUET_CONFIG_KEY = b"cleora_tensor.config"
_PARQUET_RELATION_KEY = b"cleora_tensor.relation"
_TYPE_SEPARATOR = "::"
_PARQUET_ROW_GROUP = 1 << 16
# Bytes per parallel parse block when reading text; large blocks mean few
# record batches to copy into the (n, d) matrix.
_TEXT_READ_BLOCK = 1 << 24
# Rows per block when formatting text: bounds the memory of the transposed
# block and of Arrow's formatted strings (~45 MB at d = 256).
_TEXT_BLOCK_ROWS = 1 << 14
# Exactly the characters for which str.isspace() is true (checked in the
# tests), plus the empty id: neither survives a space-separated line.
_BAD_TEXT_ID = r"^$|[\t-\r\x1c-\x1f\x85\p{Z}]"


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


def save_embedding(
    embedding: Embedding, path: str | os.PathLike[str], format: str | None = None
) -> list[Path]:
    """Write an embedding to ``path``, atomically.

    Parameters
    ----------
    embedding : Embedding
        Vectors of any namespace or device are copied to the host first.
    path : str or path-like
        Output file.
    format : {"npz", "cleora", "word2vec", "parquet"}, optional
        Default: inferred from the extension (see :func:`infer_format`).

    Returns
    -------
    list of Path
        The files written: ``[path]``, and for text formats the sidecar
        ``PATH.json``.

    Raises
    ------
    ValueError
        If the format cannot be determined, or for a text format, an entity id
        is empty or contains whitespace, or (with several types) a type
        contains ``"::"``; the message names the id. Nothing is written then.
    OSError
        If writing fails; no output file is left behind.

    Notes
    -----
    ``npz``
        Keys ``vectors`` (float32, ``(n, d)``); ``entity_ids_utf8`` (uint8, all
        ids' UTF-8 bytes) and ``entity_ids_offsets`` (int64, ``(n + 1,)``) --
        id ``i`` is ``utf8[offsets[i]:offsets[i + 1]]``, which unlike a
        fixed-width ``'U'`` array costs no memory for long ids;
        ``type_codes`` (int16, or int32 beyond 32767 types) into
        ``type_names`` (``'U'``); ``degrees`` (float64); ``occurrences``
        (int64); ``config`` (0-d str, :meth:`EmbedConfig.to_json` or ``""``);
        ``relation`` (0-d str, ``""`` for None); ``format_version`` (0-d int64).
        With :attr:`Embedding.state` (for :func:`~cleora_tensor.embed_new`):
        ``state_previous`` (``(m, d)``), the state's entities as
        ``state_entity_ids_utf8``, ``state_entity_ids_offsets``,
        ``state_type_codes``, ``state_type_names`` (encoded as above), and with
        a whitening ``state_whitening_method`` (0-d str),
        ``state_whitening_mean``, ``state_whitening_matrix``,
        ``state_whitening_eigenvalues``. Nothing is pickled.
    ``cleora``
        Cleora 1.x text: a line ``n d``, then per entity
        ``id occurrence v1 ... vd``, separated by single spaces.
    ``word2vec``
        Text readable by gensim's ``KeyedVectors.load_word2vec_format(path,
        binary=False)``: a line ``n d``, then ``id v1 ... vd``.
    ``parquet``
        Columns ``entity_id`` (string), ``entity_type`` (dictionary<string>),
        ``occurrences`` (int64), ``degree`` (float64), ``vector``
        (fixed_size_list<float32>[d]); the configuration JSON and relation in
        the schema metadata under ``cleora_tensor.config`` and
        ``cleora_tensor.relation``.

    In the text formats floats are written as the shortest decimal that reads
    back as the same float32, so vectors round-trip exactly. When the
    embedding holds more than one entity type, ids are written as
    ``type::id`` so that they stay unique; the sidecar ``PATH.json`` records
    this (key ``"text_ids"``), the single type otherwise, the relation and the
    configuration. It is written even without a configuration, so that a
    stale sidecar from an earlier save never describes a new file.

    Text is slow to produce: Arrow's float formatting runs single-threaded at
    roughly 0.2 us per value, so 1e6 x 256 takes about a minute against 2 s
    for ``npz``, and the file is 2.7 times larger. Prefer ``npz`` or Parquet
    for large embeddings.
    """
    return save_embeddings([(embedding, path)], format)


def save_embeddings(
    items: Sequence[tuple[Embedding, str | os.PathLike[str]]], format: str | None = None
) -> list[Path]:
    """Write several embeddings as one set: every file, or none.

    Used for the one-embedding-per-relation outputs of pairwise mode: a failure
    in any of them (an id a text format cannot hold, a full disk, an interrupt)
    leaves no new file and every previous file as it was.

    Parameters
    ----------
    items : sequence of (Embedding, path)
        The embeddings and their output files.
    format : {"npz", "cleora", "word2vec", "parquet"}, optional
        Default: inferred from each path's extension (see :func:`infer_format`).

    Returns
    -------
    list of Path
        The files written, in order, with the sidecars of text formats.

    Raises
    ------
    ValueError
        As :func:`save_embedding`, and if an output is a special file (see
        :func:`~cleora_tensor.outputs.check_output`). Nothing is written then.
    OSError
        If writing fails; no output file is left behind.
    """
    planned = []
    for embedding, path in items:
        path = Path(path)
        fmt = infer_format(path, format)
        embedding = embedding.to_numpy()
        try:  # ids are checked before any file is opened
            text = _text_ids(embedding, fmt) if fmt in _TEXT_FORMATS else None
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        planned.append((embedding, path, fmt, text))
    written = []
    with AtomicFiles() as files:
        for embedding, path, fmt, text in planned:
            out = files.open(path)
            written.append(path)
            if text is not None:
                ids, sidecar = text
                _write_text(out, embedding, ids, with_occurrences=fmt == "cleora")
                sidecar_path = _sidecar_path(path)
                files.open(sidecar_path).write(json.dumps(sidecar, indent=2, sort_keys=True).encode() + b"\n")
                written.append(sidecar_path)
            elif fmt == "npz":
                _write_npz(out, embedding)
            else:
                _write_parquet(out, embedding)
    return written


def load_embedding(path: str | os.PathLike[str], format: str | None = None) -> Embedding:
    """Read an embedding written by :func:`save_embedding` (or by Cleora/gensim).

    Parameters
    ----------
    path : str or path-like
        Input file.
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
        (a ValueError) If the content is not what the format expects; the
        message names the file, and for text files the line.
    OSError
        If the file cannot be read.

    Notes
    -----
    Keys of an ``.npz`` file that this version does not know are ignored, so
    files written by later versions still load. Text files whose lines end
    with a space (as the original word2vec tool writes them) are accepted.
    """
    path = Path(path)
    fmt = infer_format(path, format)
    if fmt == "npz":
        return _read_npz(path)
    if fmt == "parquet":
        return _read_parquet(path)
    return _read_text(path, with_occurrences=fmt == "cleora")


def _embedding(path: Path, **fields: Any) -> Embedding:
    """Build the loaded embedding, blaming ``path`` for inconsistent fields."""
    try:
        return Embedding(**fields)
    except ValueError as error:
        raise InputFormatError(str(path), str(error)) from error


def _config_from_json(path: Path, text: str) -> EmbedConfig | None:
    if not text:
        return None
    try:
        return EmbedConfig.from_json(text)
    except (ValueError, TypeError) as error:
        raise InputFormatError(str(path), f"invalid configuration: {error}") from error


def _type_dictionary(types: np.ndarray) -> pa.DictionaryArray:
    return pa.array(types, type=pa.string()).dictionary_encode()


# ----------------------------------------------------------------------- npz


def _entity_arrays(prefix: str, entity_ids: list[str], types: np.ndarray) -> dict[str, np.ndarray]:
    """Ids as one UTF-8 blob plus int64 offsets, types as codes into names."""
    n = len(entity_ids)
    ids = pa.array(entity_ids, type=pa.large_string())
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64, count=n + 1)
    # An empty array may have no data buffer at all.
    utf8 = np.frombuffer(ids.buffers()[2] or b"", dtype=np.uint8, count=int(offsets[-1]))
    dictionary = _type_dictionary(types)
    code_dtype = np.int16 if len(dictionary.dictionary) <= np.iinfo(np.int16).max else np.int32
    return {
        f"{prefix}entity_ids_utf8": utf8,
        f"{prefix}entity_ids_offsets": offsets,
        f"{prefix}type_codes": dictionary.indices.to_numpy().astype(code_dtype),
        f"{prefix}type_names": np.asarray(dictionary.dictionary.to_pylist(), dtype=np.str_),
    }


def _state_arrays(state: TrainedState | None) -> dict[str, np.ndarray]:
    if state is None:
        return {}
    arrays = _entity_arrays("state_", state.entity_ids, state.types)
    arrays["state_previous"] = np.asarray(to_numpy(state.previous))
    whitening = state.whitening
    if whitening is not None:
        arrays["state_whitening_method"] = np.asarray(whitening.method, dtype=np.str_)
        for name in ("mean", "matrix", "eigenvalues"):
            arrays[f"state_whitening_{name}"] = np.asarray(to_numpy(getattr(whitening, name)))
    return arrays


def _write_npz(out: BinaryIO, embedding: Embedding) -> None:
    config = embedding.config
    np.savez(
        out,
        format_version=np.asarray(_NPZ_VERSION, dtype=np.int64),
        vectors=embedding.vectors,
        **_entity_arrays("", embedding.entity_ids, embedding.types),
        degrees=embedding.degrees,
        occurrences=embedding.occurrences,
        config=np.asarray("" if config is None else config.to_json(), dtype=np.str_),
        relation=np.asarray(embedding.relation or "", dtype=np.str_),
        **_state_arrays(embedding.state),
    )


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


def _read_npz(path: Path) -> Embedding:
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise InputFormatError(str(path), f"not an .npz archive ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputFormatError(str(path), "holds a single array, not an .npz archive")
    with archive:
        missing = [key for key in _NPZ_KEYS if key not in archive.files]
        if missing:
            raise InputFormatError(
                str(path), f"not a cleora_tensor .npz file: missing {', '.join(missing)}"
            )
        try:
            arrays = {key: archive[key] for key in archive.files if key in _NPZ_KEYS or key.startswith("state_")}
        except ValueError as error:  # object arrays would need pickle
            raise InputFormatError(str(path), str(error)) from error
    entity_ids, types = _entities_from_arrays(path, arrays, "")
    return _embedding(
        path,
        entity_ids=entity_ids,
        types=types,
        vectors=arrays["vectors"],
        degrees=arrays["degrees"],
        occurrences=arrays["occurrences"],
        config=_config_from_json(path, str(arrays["config"])),
        relation=str(arrays["relation"]) or None,
        state=_state_from_arrays(path, arrays),
    )


def _entities_from_arrays(path: Path, arrays: dict, prefix: str) -> tuple[list[str], np.ndarray]:
    offsets, utf8 = arrays[f"{prefix}entity_ids_offsets"], arrays[f"{prefix}entity_ids_utf8"]
    if (
        offsets.dtype != np.int64
        or utf8.dtype != np.uint8
        or offsets.ndim != 1
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
    required = [f"state_{key}" for key in _NPZ_KEYS if key.startswith(("entity_ids_", "type_"))]
    if "state_whitening_method" in arrays:
        required += [f"state_whitening_{name}" for name in ("mean", "matrix", "eigenvalues")]
    missing = [key for key in required if key not in arrays]
    if missing:
        raise InputFormatError(str(path), f"incomplete trained state: missing {', '.join(missing)}")
    entity_ids, types = _entities_from_arrays(path, arrays, "state_")
    whitening = None
    if "state_whitening_method" in arrays:
        whitening = Whitening(
            mean=arrays["state_whitening_mean"],
            matrix=arrays["state_whitening_matrix"],
            eigenvalues=arrays["state_whitening_eigenvalues"],
            method=str(arrays["state_whitening_method"]),
        )
    previous = arrays["state_previous"]
    if previous.shape != (len(entity_ids), arrays["vectors"].shape[1]):
        raise InputFormatError(str(path), "state_previous does not match the state's entities")
    return TrainedState(entity_ids, types, previous, whitening)


# ------------------------------------------------------------------- parquet


def _write_parquet(out: BinaryIO, embedding: Embedding) -> None:
    vectors = np.ascontiguousarray(embedding.vectors)
    metadata = {_PARQUET_RELATION_KEY: (embedding.relation or "").encode()}
    if embedding.config is not None:
        metadata[_PARQUET_CONFIG_KEY] = embedding.config.to_json().encode()
    table = pa.table(
        {
            "entity_id": pa.array(embedding.entity_ids, type=pa.string()),
            "entity_type": _type_dictionary(embedding.types),
            "occurrences": pa.array(embedding.occurrences),
            "degree": pa.array(embedding.degrees),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1)), embedding.dim
            ),
        },
        metadata=metadata,
    )
    # Dictionary-encoding floats only wastes time; row groups of 64k rows let
    # the reader decode in parallel (2.3x faster reads than one big group).
    pq.write_table(table, out, use_dictionary=["entity_type"], row_group_size=_PARQUET_ROW_GROUP)


_PARQUET_COLUMNS = {
    "entity_id": (pa.types.is_string, pa.types.is_large_string),
    "entity_type": (pa.types.is_dictionary, pa.types.is_string, pa.types.is_large_string),
    "occurrences": (pa.types.is_integer,),
    "degree": (pa.types.is_floating,),
    "vector": (pa.types.is_fixed_size_list,),
}


def _read_parquet(path: Path) -> Embedding:
    try:
        table = pq.read_table(path, columns=list(_PARQUET_COLUMNS))
    except (pa.ArrowInvalid, KeyError) as error:
        raise InputFormatError(str(path), f"not a cleora_tensor Parquet file ({error})") from error
    for name, checks in _PARQUET_COLUMNS.items():
        column = table.column(name)
        if not any(check(column.type) for check in checks):
            raise InputFormatError(str(path), f"column {name!r} has type {column.type}")
        if column.null_count:
            raise InputFormatError(str(path), f"column {name!r} has missing values")
    column = table.column("vector")
    if column.type.value_type != pa.float32() or any(c.values.null_count for c in column.chunks):
        raise InputFormatError(
            str(path), f"column 'vector' must be fixed_size_list<float32>, got {column.type}"
        )
    dim = column.type.list_size
    # One copy, chunk by chunk, into a writable array like np.load returns.
    vectors = np.empty((table.num_rows, dim), dtype=np.float32)
    start = 0
    for chunk in column.chunks:
        vectors[start : start + len(chunk)] = chunk.flatten().to_numpy().reshape(len(chunk), dim)
        start += len(chunk)
    metadata = table.schema.metadata or {}
    types = table.column("entity_type").cast(pa.string())
    return _embedding(
        path,
        entity_ids=table.column("entity_id").to_pylist(),
        types=types.to_numpy().astype(np.str_),
        vectors=vectors,
        degrees=table.column("degree").to_numpy(),
        occurrences=table.column("occurrences").to_numpy(),
        config=_config_from_json(path, metadata.get(_PARQUET_CONFIG_KEY, b"").decode()),
        relation=metadata.get(_PARQUET_RELATION_KEY, b"").decode() or None,
    )


# ---------------------------------------------------------------------- text


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _text_ids(embedding: Embedding, fmt: str) -> tuple[pa.Array, dict[str, Any]]:
    """The ids as written to a text file, and the sidecar describing them."""
    ids = pa.array(embedding.entity_ids, type=pa.string())
    distinct = sorted(set(embedding.types.tolist()))
    sidecar: dict[str, Any] = {
        "cleora_tensor_sidecar": _SIDECAR_VERSION,
        "format": fmt,
        "relation": embedding.relation,
        "config": None if embedding.config is None else json.loads(embedding.config.to_json()),
    }
    if len(distinct) > 1:
        bad_types = [t for t in distinct if _TYPE_SEPARATOR in t]
        if bad_types:
            raise ValueError(
                f"entity type {bad_types[0]!r} contains {_TYPE_SEPARATOR!r}, so ids "
                f"cannot be written as type{_TYPE_SEPARATOR}id; save as npz or parquet"
            )
        ids = pc.binary_join_element_wise(
            pa.array(embedding.types, type=pa.string()), ids, _TYPE_SEPARATOR
        )
        sidecar["text_ids"] = f"type{_TYPE_SEPARATOR}id"
    else:
        sidecar["text_ids"] = "id"
        sidecar["entity_type"] = distinct[0] if distinct else ""
    bad = pc.match_substring_regex(ids, _BAD_TEXT_ID)
    if pc.any(bad).as_py():
        first = ids[pc.index(bad, True).as_py()].as_py()
        raise ValueError(
            f"entity id {first!r} is empty or contains whitespace, which the {fmt} "
            "text format cannot hold; save as npz or parquet"
        )
    return ids, sidecar


def _write_text(
    out: BinaryIO, embedding: Embedding, ids: pa.Array, *, with_occurrences: bool
) -> None:
    n, dim = embedding.vectors.shape
    out.write(f"{n} {dim}\n".encode())
    ids = ids.cast(pa.large_string())
    for start in range(0, n, _TEXT_BLOCK_ROWS):
        stop = min(start + _TEXT_BLOCK_ROWS, n)
        out.write(_text_block(embedding, ids, start, stop, with_occurrences))


def _text_block(
    embedding: Embedding, ids: pa.Array, start: int, stop: int, with_occurrences: bool
) -> memoryview:
    """Lines ``id [occurrence] v1 ... vd`` of rows ``start:stop``, as UTF-8 bytes.

    Arrow formats the numbers (each float32 as its shortest round-tripping
    decimal); the ids are joined in front of its lines afterwards, because its
    CSV writer refuses ``"`` in unquoted values, which ids may hold.
    """
    # Arrow wants columns, so the block is transposed to make each one contiguous.
    columns = [pa.array(column) for column in np.ascontiguousarray(embedding.vectors[start:stop].T)]
    if with_occurrences:
        columns.insert(0, pa.array(embedding.occurrences[start:stop]))
    ids = ids.slice(start, stop - start)
    if columns:
        sink = pa.BufferOutputStream()
        options = pcsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
        table = pa.Table.from_arrays(columns, names=[str(j) for j in range(len(columns))])
        pcsv.write_csv(table, sink, write_options=options)
        numbers = sink.getvalue()
        # Each line, its "\n" included, as one string: floats hold no newline.
        offsets = np.zeros(stop - start + 1, dtype=np.int64)
        offsets[1:] = np.flatnonzero(np.frombuffer(numbers, dtype=np.uint8) == 10) + 1
        lines = pa.LargeStringArray.from_buffers(stop - start, pa.py_buffer(offsets), numbers)
        joined = pc.binary_join_element_wise(ids, lines, pa.scalar(" ", pa.large_string()))
    else:
        empty, newline = (pa.scalar(text, pa.large_string()) for text in ("", "\n"))
        joined = pc.binary_join_element_wise(ids, empty, newline)
    ends = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=8 * joined.offset)
    return memoryview(joined.buffers()[2])[ends[0] : ends[-1]]


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar_path = _sidecar_path(path)
    if not sidecar_path.exists():
        return {}
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputFormatError(str(sidecar_path), f"invalid JSON: {error}") from error
    if not isinstance(sidecar, dict) or "cleora_tensor_sidecar" not in sidecar:
        raise InputFormatError(str(sidecar_path), "not a cleora_tensor sidecar")
    if sidecar.get("text_ids") not in ("id", f"type{_TYPE_SEPARATOR}id"):
        raise InputFormatError(str(sidecar_path), f"unknown text_ids {sidecar.get('text_ids')!r}")
    config = sidecar.get("config")
    sidecar["config"] = (
        None if config is None else _config_from_json(sidecar_path, json.dumps(config))
    )
    return sidecar


def _read_text(path: Path, *, with_occurrences: bool) -> Embedding:
    with open(path, "rb") as file:
        header = file.readline()
        first_row = file.readline()
    try:
        n, dim = (int(value) for value in header.split())
        if n < 0 or dim < 0:
            raise ValueError
    except ValueError:
        raise InputFormatError(
            str(path), f"first line must be 'n d' (two counts), got {header[:80]!r}", line=1
        ) from None
    sidecar = _read_sidecar(path)
    value_names = [f"v{j}" for j in range(dim)]
    names = ["id", *(["occurrence"] if with_occurrences else []), *value_names]
    # The original word2vec tool ends each line with a space: one empty field.
    trailing_space = first_row.rstrip(b"\r\n").endswith(b" ")
    types = {"id": pa.string(), "occurrence": pa.int64()}
    types.update(dict.fromkeys(value_names, pa.float32()))
    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(
                skip_rows=1,
                column_names=names + ["end"] * trailing_space,
                block_size=_TEXT_READ_BLOCK,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=" ", quote_char=False, escape_char=False, double_quote=False
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=types,
                include_columns=names,
                null_values=[],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise _locate_text_error(path, names, trailing_space, error) from error
    if table.num_rows != n:
        raise InputFormatError(
            str(path), f"header announces {n} entities but {table.num_rows} lines follow", line=1
        )
    vectors = np.empty((n, dim), dtype=np.float32)
    offset = len(names) - dim
    start = 0
    # Batch by batch, so that each strided column write stays in cache.
    for batch in table.to_batches():
        block = vectors[start : start + batch.num_rows]
        for j in range(dim):
            block[:, j] = batch.column(offset + j).to_numpy()
        start += batch.num_rows
    ids = table.column("id").combine_chunks()
    if sidecar.get("text_ids") == f"type{_TYPE_SEPARATOR}id":
        parts = pc.split_pattern(ids, _TYPE_SEPARATOR, max_splits=1)
        unprefixed = pc.not_equal(pc.list_value_length(parts), 2)
        if pc.any(unprefixed).as_py():
            row = pc.index(unprefixed, True).as_py()
            raise InputFormatError(
                str(path),
                f"id {ids[row].as_py()!r} lacks the type{_TYPE_SEPARATOR} prefix "
                "that the sidecar announces",
                line=row + 2,
            )
        entity_types = pc.list_element(parts, 0).to_numpy(zero_copy_only=False).astype(np.str_)
        ids = pc.list_element(parts, 1)
    else:
        entity_types = np.full(n, str(sidecar.get("entity_type", "")))
    occurrences = (
        table.column("occurrence").to_numpy() if with_occurrences else np.zeros(n, np.int64)
    )
    return _embedding(
        path,
        entity_ids=ids.to_pylist(),
        types=entity_types,
        vectors=vectors,
        degrees=np.full(n, np.nan),
        occurrences=occurrences,
        config=sidecar.get("config"),
        relation=sidecar.get("relation"),
    )


def _locate_text_error(
    path: Path, names: list[str], trailing_space: bool, error: pa.ArrowInvalid
) -> InputFormatError:
    """Find the line Arrow rejected (its messages carry no line numbers).

    Runs only after a failed parse, so a line-by-line scan is affordable.
    """
    width = len(names) + trailing_space
    with open(path, "rb") as file:
        next(file)
        for line_number, line in enumerate(file, start=2):
            fields = line.rstrip(b"\r\n").split(b" ")
            if fields == [b""]:
                continue
            if len(fields) != width:
                return InputFormatError(
                    str(path),
                    f"expected {width} space-separated fields, got {len(fields)}",
                    line=line_number,
                )
            for column, (name, value) in enumerate(zip(names[1:], fields[1:]), start=2):
                try:
                    (int if name == "occurrence" else float)(value)
                except ValueError:
                    return InputFormatError(
                        str(path),
                        f"field {name!r} is not a number: {value[:40]!r}",
                        line=line_number,
                        column=column,
                    )
    return InputFormatError(str(path), str(error))
