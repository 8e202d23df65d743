"""Ids and the JSON sidecar of the formats that have no room for types or a configuration.

The text formats (``cleora``, ``word2vec``) and the tables (``csv``, ``tsv``)
hold one id per entity and its vector. What else an embedding holds goes to
a sidecar ``PATH.json``: the configuration, the relation, and how entity
types are encoded: with one type, ids are written as they are and the
sidecar names the type (key ``"text_ids": "id"``, ``"entity_type"``); with
several, ids are written as ``type::id`` (``"text_ids": "type::id"``). A file
without a sidecar (written by Cleora, gensim or pycleora) loads with the
type ``""`` for every entity and no configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputFormatError
from .checks import check_regular, config_from_json, string_array, type_array
from .fields import EmbeddingFields

__all__ = ["read_sidecar", "sidecar_path", "split_ids", "text_ids", "write_sidecar"]

_TYPE_SEPARATOR = "::"
_SIDECAR_VERSION = 1
# Exactly the characters for which str.isspace() is true (checked in the
# tests), plus the empty id: neither survives a space-separated line.
_BAD_TEXT_ID = r"^$|[\t-\r\x1c-\x1f\x85\p{Z}]"
# Per format, the ids it cannot hold: a pattern, and the words for the error.
# CSV quotes what it must, so it holds any id.
_BAD_IDS = {
    "cleora": (_BAD_TEXT_ID, "is empty or contains whitespace"),
    "word2vec": (_BAD_TEXT_ID, "is empty or contains whitespace"),
    "tsv": (r"^$|[\t\n\r]", "is empty or contains a tab or line break"),
}


def sidecar_path(path: Path) -> Path:
    """The sidecar ``PATH.json`` of the file ``path``."""
    return path.with_name(path.name + ".json")


def text_ids(fields: EmbeddingFields, fmt: str) -> tuple[pa.Array, dict[str, Any]]:
    """The ids as written to a file of format ``fmt``, and the sidecar describing them.

    Parameters
    ----------
    fields : EmbeddingFields
    fmt : {"cleora", "word2vec", "csv", "tsv"}

    Returns
    -------
    ids : pyarrow.Array
        ``(n,)`` strings: the ids, or ``type::id`` with several entity types.
    sidecar : dict
        The JSON object to write with :func:`write_sidecar`.

    Raises
    ------
    ValueError
        If an id cannot be held by ``fmt`` (``cleora``, ``word2vec``: empty or
        holding whitespace; ``tsv``: empty or holding a tab or line break), or
        (with several types) a type holds ``"::"``.
    """
    ids = pa.array(fields.entity_ids, type=pa.string())
    distinct = sorted(set(fields.types.tolist()))
    sidecar: dict[str, Any] = {
        "cleora_tensor_sidecar": _SIDECAR_VERSION,
        "format": fmt,
        "relation": fields.relation,
        "config": None if fields.config is None else json.loads(fields.config.to_json()),
    }
    if len(distinct) > 1:
        bad_types = [t for t in distinct if _TYPE_SEPARATOR in t]
        if bad_types:
            raise ValueError(
                f"entity type {bad_types[0]!r} contains {_TYPE_SEPARATOR!r}, so ids "
                f"cannot be written as type{_TYPE_SEPARATOR}id; save as npz or parquet"
            )
        ids = pc.binary_join_element_wise(
            string_array(fields.types), ids, _TYPE_SEPARATOR
        )
        sidecar["text_ids"] = f"type{_TYPE_SEPARATOR}id"
    else:
        sidecar["text_ids"] = "id"
        sidecar["entity_type"] = distinct[0] if distinct else ""
    if fmt in _BAD_IDS:
        pattern, what = _BAD_IDS[fmt]
        bad = pc.match_substring_regex(ids, pattern)
        if pc.any(bad).as_py():
            first = ids[pc.index(bad, True).as_py()].as_py()
            raise ValueError(
                f"entity id {first!r} {what}, which the {fmt} text format cannot hold; "
                "save as npz or parquet (or csv, which quotes such ids)"
            )
    return ids, sidecar


def write_sidecar(out: BinaryIO, sidecar: dict[str, Any]) -> None:
    """Write the ``sidecar`` of :func:`text_ids` as JSON to the open binary file ``out``."""
    out.write(json.dumps(sidecar, indent=2, sort_keys=True).encode() + b"\n")


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar of the file ``path``, checked, its ``"config"`` an :class:`~cleora_tensor.EmbedConfig`.

    Returns ``{}`` when there is no sidecar.

    Raises
    ------
    InputFormatError
        If the sidecar is not a regular file, not JSON, not a cleora_tensor
        sidecar, or holds an unknown id encoding or an invalid configuration.
    """
    json_path = sidecar_path(path)
    if not json_path.exists():
        return {}
    check_regular(json_path)
    try:
        sidecar = json.loads(json_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputFormatError(str(json_path), f"invalid JSON: {error}") from error
    if not isinstance(sidecar, dict) or "cleora_tensor_sidecar" not in sidecar:
        raise InputFormatError(str(json_path), "not a cleora_tensor sidecar")
    if sidecar.get("text_ids") not in ("id", f"type{_TYPE_SEPARATOR}id"):
        raise InputFormatError(str(json_path), f"unknown text_ids {sidecar.get('text_ids')!r}")
    config = sidecar.get("config")
    sidecar["config"] = (
        None if config is None else config_from_json(json_path, json.dumps(config))
    )
    return sidecar


def split_ids(
    path: Path,
    ids: pa.Array,
    sidecar: dict[str, Any],
    size: int,
    line_of_row: Callable[[int], int],
) -> tuple[list[str], np.ndarray]:
    """The entity ids and ``(n,)`` str types of the ``ids`` read from ``path``, as ``sidecar`` encodes them.

    ``size`` is the file's size in bytes (see
    :func:`~cleora_tensor.formats.checks.type_array`); ``line_of_row`` maps a
    data row to its 1-based line, for the error.

    Raises
    ------
    InputFormatError
        If the sidecar announces ``type::id`` and an id lacks the prefix.
    """
    if sidecar.get("text_ids") != f"type{_TYPE_SEPARATOR}id":
        return ids.to_pylist(), np.full(len(ids), str(sidecar.get("entity_type", "")))
    parts = pc.split_pattern(ids, _TYPE_SEPARATOR, max_splits=1)
    unprefixed = pc.not_equal(pc.list_value_length(parts), 2)
    if pc.any(unprefixed).as_py():
        row = pc.index(unprefixed, True).as_py()
        raise InputFormatError(
            str(path),
            f"id {ids[row].as_py()!r} lacks the type{_TYPE_SEPARATOR} prefix "
            "that the sidecar announces",
            line=line_of_row(row),
        )
    return pc.list_element(parts, 1).to_pylist(), type_array(path, pc.list_element(parts, 0), size)
