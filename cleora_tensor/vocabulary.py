"""The vocabulary of an input table: entity ids dictionary-encoded type by type,
numbered by first occurrence in row-major input order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .keys import entity_keys

if TYPE_CHECKING:  # the input is io's; io is not needed to encode it
    from .io import TokenTable

__all__ = ["Vocabulary", "encode"]

@dataclass(frozen=True, eq=False)
class Vocabulary:
    """All entities of the input, numbered type by type.

    Within a type, entities are numbered by first occurrence in row-major input
    order (row by row, columns left to right, ids left to right in a cell), as
    pycleora does; the numbering does not depend on the thread count.

    Attributes
    ----------
    ids : pyarrow.ChunkedArray
        Shape ``(n_entities,)``, large_string ids.
    type_names : tuple of str
        Entity types, in the order of the column specification.
    type_codes : numpy.ndarray
        Shape ``(n_entities,)``, int16: index into ``type_names``.
    occurrences : numpy.ndarray
        Shape ``(n_entities,)``, int64: how often the entity appears in the input
        cells.
    """

    ids: pa.ChunkedArray
    type_names: tuple[str, ...]
    type_codes: np.ndarray
    occurrences: np.ndarray
    _keys: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.type_codes)

    def keys(self, method: str = "hash") -> np.ndarray:
        """Entity keys for :func:`~cleora_tensor.initialize`, computed once per method.

        Returns
        -------
        numpy.ndarray
            int64, shape ``(n_entities,)``; see :func:`~cleora_tensor.entity_keys`.
        """
        if method not in self._keys:
            parts = []
            for code, name in enumerate(self.type_names):
                members = np.flatnonzero(self.type_codes == code)
                ids = self.ids.take(pa.array(members)).to_pylist()
                parts.append(entity_keys(ids, name, method=method))
            self._keys[method] = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return self._keys[method]


def encode(
    table: TokenTable, *, release: bool = False
) -> tuple[Vocabulary, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Dictionary-encode ids type by type.

    Parameters
    ----------
    table : TokenTable
        The parsed input.
    release : bool, default False
        Remove each type's columns from ``table.entities`` as it is encoded,
        so that their text is freed as encoding goes (the table cannot be
        encoded again).

    Returns
    -------
    vocabulary : Vocabulary
        Entities numbered type by type, by first occurrence in row-major order.
    cells : dict of int to (numpy.ndarray, numpy.ndarray)
        Per entity column index: ``codes``, shape ``(n_ids,)``, int32 (int64 from
        ``2**31`` entities), the vocabulary index of each id of the column; and
        ``offsets``, shape ``(n_rows + 1,)``, int64, the ids of row ``r`` being
        ``codes[offsets[r]:offsets[r + 1]]``.
    """
    spec = table.spec
    ids, type_codes, occurrences, cells = [], [], [], {}
    start = 0
    for code, type_name in enumerate(spec.entity_types):
        columns = [c for c in spec.columns if c.is_entity and c.type == type_name]
        ragged = [table.entities.pop(c.index) if release else table.entities[c.index] for c in columns]
        offsets = [r.offsets for r in ragged]
        # One encoding over all chunks of the type's columns: pyarrow shares one
        # memo table across the chunks of a ChunkedArray, so the indices are
        # consistent and the last chunk holds the whole dictionary, without a
        # combined copy of the text (nor unify_dictionaries(), O(chunks x
        # dictionary): 18 s at 1e7 rows).
        values = pa.chunked_array(
            [chunk.cast(pa.large_string()) for r in ragged for chunk in r.values.chunks],
            type=pa.large_string(),
        )
        del ragged  # with release, the table no longer holds the text
        encoded = pc.dictionary_encode(values)
        del values
        dictionary = encoded.chunks[-1].dictionary if encoded.num_chunks else pa.array([], pa.large_string())
        codes = np.concatenate(
            [chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks] or [np.zeros(0, np.int32)]
        )
        del encoded
        if len(columns) > 1:
            codes, dictionary = _row_major_order(codes, dictionary, offsets)
        count = len(dictionary)
        dtype = np.int32 if start + count < 2**31 else np.int64
        occurrences.append(np.bincount(codes, minlength=count))
        ids.append(dictionary)
        type_codes.append(np.full(count, code, dtype=np.int16))
        position = 0
        for column, column_offsets in zip(columns, offsets):
            size = int(column_offsets[-1])
            cells[column.index] = (np.add(codes[position : position + size], start, dtype=dtype), column_offsets)
            position += size
        del codes
        start += count
    index_dtype = np.int32 if start < 2**31 else np.int64
    cells = {k: (c.astype(index_dtype, copy=False), o) for k, (c, o) in cells.items()}
    vocabulary = Vocabulary(
        ids=pa.chunked_array(ids, type=pa.large_string()),
        type_names=spec.entity_types,
        type_codes=np.concatenate(type_codes),
        occurrences=np.concatenate(occurrences).astype(np.int64),
    )
    return vocabulary, cells


def _row_major_order(codes: np.ndarray, dictionary: pa.Array, offsets: list[np.ndarray]) -> tuple[np.ndarray, pa.Array]:
    """Renumber a type's entities by first occurrence in row-major order.

    ``dictionary_encode`` numbers ids by first occurrence in the concatenation
    of the type's columns (column-major); re-rank them by ``row * n_columns +
    column``, ties (ids of one cell) keeping their order in the cell.
    """
    n_columns = len(offsets)
    positions = np.concatenate(
        [
            np.repeat(np.arange(len(o) - 1, dtype=np.int64), np.diff(o)) * n_columns + k
            for k, o in enumerate(offsets)
        ]
    )
    first = np.full(len(dictionary), np.iinfo(np.int64).max)
    np.minimum.at(first, codes, positions)
    order = np.argsort(first, kind="stable")
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[codes], dictionary.take(pa.array(order))
