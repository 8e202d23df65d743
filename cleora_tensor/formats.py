"""Saving and loading :class:`~cleora_tensor.Embedding` objects.

Reading lives in :mod:`cleora_tensor.loading` (re-exported here as
:func:`load_embedding`), which checks every file before trusting it.

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

from ._xp import to_numpy
from .embedding import Embedding, TrainedState
from .loading import _PARQUET_CONFIG_KEY, _PARQUET_RELATION_KEY, FORMATS, infer_format, load_embedding
from .outputs import AtomicFiles
from .text_loading import _TYPE_SEPARATOR, _sidecar_path

__all__ = ["FORMATS", "infer_format", "load_embedding", "save_embedding", "save_embeddings"]

_TEXT_FORMATS = ("cleora", "word2vec")
_NPZ_VERSION = 1
_SIDECAR_VERSION = 1
_PARQUET_ROW_GROUP = 1 << 16
# Rows per block when formatting text: bounds the memory of the transposed
# block and of Arrow's formatted strings (~45 MB at d = 256).
_TEXT_BLOCK_ROWS = 1 << 14
# Exactly the characters for which str.isspace() is true (checked in the
# tests), plus the empty id: neither survives a space-separated line.
_BAD_TEXT_ID = r"^$|[\t-\r\x1c-\x1f\x85\p{Z}]"


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


# ---------------------------------------------------------------------- text


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
