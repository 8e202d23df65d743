"""Saving and loading :class:`~cleora_tensor.Embedding` objects.

Seven formats:

============  ===========================================  ==============================
format        extensions                                   holds
============  ===========================================  ==============================
``npz``       ``.npz``                                     everything (no pickle)
``npy``       ``.npy`` (+ ``PATH.entities.npz``)            everything but the trained state
``parquet``   ``.parquet``, ``.pq``                        everything
``cleora``    ``.txt``, ``.out``, ``.emb``, ``.cleora``    ids, occurrences, vectors
``word2vec``  ``.w2v``, ``.word2vec``, ``.vec``            ids, vectors
``csv``       ``.csv``                                     ids, vectors (pycleora's layout)
``tsv``       ``.tsv``                                     ids, vectors (pycleora's layout)
============  ===========================================  ==============================

pycleora 3.2.1's outputs load too: its ``.npz`` (keys ``embeddings``,
``entity_ids``) and ``.parquet`` (:mod:`~cleora_tensor.formats.pycleora`), its
``.csv`` and ``.tsv`` (:mod:`~cleora_tensor.formats.delimited`); pycleora reads
the ``csv`` and ``tsv`` files written here. The text formats and the tables
are written with a JSON sidecar ``PATH.json`` holding the configuration, the
relation and how entity types are encoded in the ids
(:mod:`~cleora_tensor.formats.sidecar`); the
``npy`` format keeps its vectors in a plain ``.npy`` file (what out-of-core
propagation writes) and the rest in ``PATH.entities.npz``.
Every file is written atomically (:mod:`~cleora_tensor.formats.atomic`): to a
temporary file in the target directory, then renamed over the target, so a
failed or interrupted write leaves any previous file untouched and no partial
output.

One module per format (:mod:`~cleora_tensor.formats.npz`,
:mod:`~cleora_tensor.formats.npy`, :mod:`~cleora_tensor.formats.parquet`,
:mod:`~cleora_tensor.formats.text`, :mod:`~cleora_tensor.formats.delimited`;
the names and extensions in :mod:`~cleora_tensor.formats.registry`)
writes and reads the plain fields of an embedding
(:class:`~cleora_tensor.formats.fields.EmbeddingFields`);
:meth:`Embedding.save <cleora_tensor.Embedding.save>` and
:meth:`Embedding.load <cleora_tensor.Embedding.load>` take an embedding apart
and build it, so this package never imports :mod:`cleora_tensor.embedding`
at module level.

A file is checked before memory is allocated for it, and whatever cannot be
used raises an :class:`~cleora_tensor.errors.InputFormatError` naming the
file (and the entity, or for text the line and field):

- Only regular files are read: a device, FIFO or socket is refused before it
  is opened (see :func:`~cleora_tensor.formats.checks.check_regular`).
- Declared sizes are checked against each other (ids, vectors, degrees,
  occurrences, the trained state) and against the bytes present: each ``.npz``
  member's ``.npy`` header against the member's size
  (:class:`~cleora_tensor.formats.npz_archive.NpzArchive`), a text header ``n d``
  against the file's size (each value takes at least 2 bytes).
- A file may take more memory than
  :data:`~cleora_tensor.formats.checks.FREE_BYTES` only up to
  :data:`~cleora_tensor.formats.checks.MAX_EXPANSION` times its size on disk: a
  decompression ("zip") bomb is refused, while genuine files load, those of
  :func:`numpy.savez_compressed` included, as real vectors barely compress.
  Only a large embedding of mostly repeated values (zeros, one-hot rows) must
  be saved uncompressed.
- Text embeddings and tables have at most
  :data:`~cleora_tensor.formats.text.TEXT_MAX_DIM` dimensions.
- Vectors, and the trained state's arrays, must be finite (no NaN, no
  infinity); an (id, type) pair that occurs twice is reported, with the file
  and both rows or lines, when the id lookup is first built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import npy, npz, parquet, text
from ..errors import InputFormatError
from .atomic import AtomicFiles
from .checks import check_regular
from .delimited import DELIMITED_FORMATS, read_delimited, write_delimited
from .fields import EmbeddingFields
from .npz_archive import MMAP_ADVICE, NpzArchive
from .registry import DEFAULT_EXTENSIONS, FORMATS, SIDECAR_FORMATS, infer_format
from .sidecar import sidecar_path, text_ids, write_sidecar

if TYPE_CHECKING:  # for annotations only: never imported at run time
    from ..embedding import Embedding

__all__ = ["DEFAULT_EXTENSIONS", "FORMATS", "SIDECAR_FORMATS", "can_mmap", "infer_format", "load_embedding", "read_fields", "save_embedding", "save_embeddings"]


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
    format : {"npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv"}, optional
        Default: inferred from the extension (see :func:`infer_format`).

    Returns
    -------
    list of Path
        The files written: ``[path]``, and the sidecar: ``PATH.json`` for text
        formats and tables, ``PATH.entities.npz`` for ``npy``.

    Raises
    ------
    ValueError
        If the format cannot be determined, or an entity id is one the format
        cannot hold (text formats: empty or holding whitespace; ``tsv``: empty
        or holding a tab or line break), or (with several types, in a text
        format or table) a type contains ``"::"``; the message names the id.
        Nothing is written then.
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
        ``state_whitening_eigenvalues``, and with the graph (for
        :func:`~cleora_tensor.update`) ``state_adjacency_data`` (float32),
        ``state_adjacency_indices``, ``state_adjacency_indptr`` (``(m + 1,)``):
        the CSR matrix ``W`` of the state's entities; files without them load,
        and cannot be updated. Nothing is pickled.
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
    ``csv``, ``tsv``
        pycleora's tables: a header row ``entity_id,dim_0,...``, then per
        entity its id and components; CSV quotes as RFC 4180, TSV never (see
        :mod:`~cleora_tensor.formats.delimited`).

    In the text formats and tables floats are written as the shortest decimal
    that reads back as the same float32, so vectors round-trip exactly. When the
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
    format : {"npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv"}, optional
        Default: inferred from each path's extension (see :func:`infer_format`).

    Returns
    -------
    list of Path
        The files written, in order, with their sidecars.

    Raises
    ------
    ValueError
        As :func:`save_embedding`, and if an output is a special file (see
        :func:`~cleora_tensor.formats.atomic.check_output`). Nothing is written then.
    OSError
        If writing fails; no output file is left behind.
    """
    planned = []
    for embedding, path in items:
        path = Path(path)
        fmt = infer_format(path, format)
        fields = EmbeddingFields.of(embedding)
        try:  # ids are checked before any file is opened
            as_text = text_ids(fields, fmt) if fmt in SIDECAR_FORMATS else None
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        planned.append((fields, path, fmt, as_text))
    written = []
    with AtomicFiles() as files:
        for fields, path, fmt, as_text in planned:
            out = files.open(path)
            written.append(path)
            if as_text is not None:
                ids, side = as_text
                if fmt in DELIMITED_FORMATS:
                    write_delimited(out, fields, ids, fmt)
                else:
                    text.write_text(out, fields, ids, with_occurrences=fmt == "cleora")
                json_path = sidecar_path(path)
                write_sidecar(files.open(json_path), side)
                written.append(json_path)
            elif fmt == "npz":
                npz.write_npz(out, fields)
            elif fmt == "npy":
                npy.write_npy(out, fields)
                entities = npy.entities_path(path)
                npy.write_entities(files.open(entities), fields)
                written.append(entities)
            else:
                parquet.write_parquet(out, fields)
    return written


def load_embedding(
    path: str | os.PathLike[str], format: str | None = None, *, mmap: bool = False
) -> Embedding:
    """Read an embedding written by :func:`save_embedding` (or by Cleora, gensim or pycleora).

    Parameters
    ----------
    path : str or path-like
        Input file; a regular file (devices, FIFOs and sockets are refused).
    format : {"npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv"}, optional
        Default: inferred from the extension (see :func:`infer_format`).
    mmap : bool, default False
        Map ``vectors`` read-only from the file instead of reading them (a
        :class:`numpy.memmap`, shape ``(n, d)``, float32); everything else is
        read. Only for ``.npy`` files (format ``npy``) and ``.npz`` files whose vectors are stored uncompressed,
        as :func:`save_embedding` and pycleora write them (see :func:`can_mmap`).

    Returns
    -------
    Embedding
        With NumPy ``vectors``. From text formats and tables: ``degrees`` are
        NaN (not stored); ``occurrences`` are 0 but for ``cleora``; types come
        from the sidecar ``PATH.json`` when present (``type::id`` prefixes or
        the single type), else they are ``""``; config and relation likewise.
        From a pycleora ``.npz`` or Parquet file: types ``""``, degrees NaN,
        occurrences 0, no config or relation
        (:mod:`~cleora_tensor.formats.pycleora`).

    Raises
    ------
    InputFormatError
        (a ValueError) If the file is not a regular file, or its content is
        not what the format expects, is inconsistent, would take too much
        memory (see the module notes), holds a NaN or an infinity, or holds an
        (id, type) pair twice (found when the id lookup is first built, by
        :meth:`Embedding.index`); the message names the file, and the entity
        (row and id) or for text files and tables the line and column. For an
        ``.npz`` of neither this library's keys nor pycleora's, the message
        lists the keys found. With ``mmap``, also if the file is not an
        ``.npz`` or its vectors are compressed.
    OSError
        If the file cannot be read.

    Notes
    -----
    Keys of an ``.npz`` file that this version does not know are ignored, so
    files written by later versions still load; so are archives written by
    :func:`numpy.savez_compressed`. Text files whose lines end with a space
    (as the original word2vec tool writes them) are accepted; ids are read
    verbatim (quotes are ordinary characters, but in ``csv``).

    Memory-mapped vectors are checked for NaN and infinity at load, like read
    ones, a block of rows at a time whose pages are released from the process
    (:func:`~cleora_tensor.mapped.mapped_blocks`); :meth:`Embedding.most_similar
    <cleora_tensor.Embedding.most_similar>` and :meth:`Embedding.complete
    <cleora_tensor.Embedding.complete>` then read them a block of rows at a
    time, never holding an ``(n, d)`` copy.
    """
    # Imported when used: the embedding module calls this package (to save and
    # load), never the other way round at import time.
    from ..embedding import Embedding

    return Embedding.load(path, format, mmap=mmap)


def can_mmap(path: str | os.PathLike[str], format: str | None = None) -> bool:
    """Whether :func:`load_embedding` can map the vectors of ``path`` (``mmap=True``).

    True for an ``.npz`` archive whose ``vectors`` member is stored
    uncompressed (as :func:`save_embedding` writes it) or a pycleora one
    whose float32 ``embeddings`` are (as pycleora writes them), and for the ``npy``
    format; False for other formats and for compressed members. Reads only
    the zip directory.

    Parameters
    ----------
    path : str or path-like
        The embedding file.
    format : {"npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv"}, optional
        Default: from the extension (:func:`infer_format`).

    Returns
    -------
    bool

    Raises
    ------
    InputFormatError, OSError
        If ``path`` is not a regular file, or is not a zip archive while its
        format is ``npz``.
    """
    path = Path(path)
    fmt = infer_format(path, format)
    if fmt == "npy":
        return True
    if fmt != "npz":
        return False
    check_regular(path)
    with NpzArchive(path) as archive:
        return npz.can_map(archive)


def read_fields(
    path: str | os.PathLike[str], format: str | None = None, *, mmap: bool = False
) -> EmbeddingFields:
    """The checked fields of the embedding file ``path``; see :func:`load_embedding`.

    Parameters
    ----------
    path : str or path-like
        The embedding file.
    format : {"npz", "npy", "cleora", "word2vec", "parquet", "csv", "tsv"}, optional
        Default: from the extension (:func:`infer_format`).
    mmap : bool, default False
        Map the ``(n, d)`` float32 vectors from the file (uncompressed ``.npz``
        only) instead of reading them.

    Returns
    -------
    EmbeddingFields
        NumPy arrays: ``vectors`` ``(n, d)`` float32 (a read-only
        :class:`numpy.memmap` with ``mmap``), ``degrees`` ``(n,)`` float64,
        ``occurrences`` ``(n,)`` int64, ``types`` ``(n,)`` str.

    Raises
    ------
    InputFormatError, OSError
        As :func:`load_embedding`, except for the checks that
        :class:`~cleora_tensor.Embedding` makes when built from the fields
        (lengths, finite vectors, duplicate ids).
    """
    path = Path(path)
    fmt = infer_format(path, format)
    check_regular(path)
    if fmt == "npz":
        return npz.read_npz(path, mmap)
    if fmt == "npy":
        return npy.read_npy(path, mmap)
    if mmap:
        raise InputFormatError(str(path), f"is {fmt}; {MMAP_ADVICE}")
    if fmt == "parquet":
        return parquet.read_parquet(path)
    if fmt in DELIMITED_FORMATS:
        return read_delimited(path, fmt)
    return text.read_text(path, with_occurrences=fmt == "cleora")
