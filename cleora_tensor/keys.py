"""64-bit entity keys: the only input of an entity's deterministic initial vector.

A key hashes an entity's type and id, so the same entity gets the same key (and
the same start vector, see :func:`~cleora_tensor.initialize`) on any data set,
machine or backend.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xxhash

__all__ = ["entity_keys"]


def entity_keys(
    entity_ids: Iterable[str], entity_type: str, *, method: str = "hash"
) -> np.ndarray:
    """64-bit keys of entities, the only input of their initial vectors.

    Parameters
    ----------
    entity_ids : iterable of str
        Entity ids, all of type ``entity_type``.
    entity_type : str
        Their entity type.
    method : {"hash", "pycleora"}, default "hash"
        ``"hash"``: ``xxh3_64(id, seed=xxh3_64(type))`` over UTF-8 bytes, so equal
        ids of different types get unrelated keys. ``"pycleora"``:
        ``xxh64(id, seed=0)``, the key of pycleora 3.2.1 (which ignores types).

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_entities,)``: the 64 hash bits read as a signed integer.

    Raises
    ------
    ValueError
        On an unknown ``method``.
    """
    if method == "hash":
        type_seed = xxhash.xxh3_64_intdigest(entity_type.encode("utf-8"))
        digests = (xxhash.xxh3_64_intdigest(i.encode("utf-8"), type_seed) for i in entity_ids)
    elif method == "pycleora":
        digests = (xxhash.xxh64_intdigest(i.encode("utf-8")) for i in entity_ids)
    else:
        raise ValueError(f"method must be 'hash' or 'pycleora', got {method!r}")
    return np.fromiter(digests, dtype=np.uint64).view(np.int64)
