"""The ``npz`` format: a NumPy ``.npz`` archive of plain arrays, nothing pickled.

The keys are listed in :func:`~cleora_tensor.formats.save_embedding`. Reading
goes through :class:`~cleora_tensor.formats.npz_archive.NpzArchive`, which
checks every member's header against its size, and checks the shapes against
each other and the memory they need against the file's size before reading.
An archive of pycleora's keys (``embeddings``, ``entity_ids``) is read as
pycleora's embedding (:mod:`~cleora_tensor.formats.pycleora`).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import scipy.sparse

from .._xp import to_numpy
from ..errors import InputFormatError
from ..finite import first_nonfinite
from ..whitening import Whitening
from .checks import check_memory, config_from_json, type_dictionary
from ..state import TrainedState
from .fields import EmbeddingFields
from .npz_archive import NpzArchive
from .pycleora import PYCLEORA_KEYS, is_pycleora, read_pycleora_npz

__all__ = ["can_map", "read_npz", "write_npz"]

_NPZ_VERSION = 1


def write_npz(out: BinaryIO, fields: EmbeddingFields) -> None:
    """Write ``fields`` to the open binary file ``out``."""
    config = fields.config
    np.savez(
        out,
        format_version=np.asarray(_NPZ_VERSION, dtype=np.int64),
        vectors=fields.vectors,
        **_entity_arrays("", fields.entity_ids, fields.types),
        degrees=fields.degrees,
        occurrences=fields.occurrences,
        config=np.asarray("" if config is None else config.to_json(), dtype=np.str_),
        relation=np.asarray(fields.relation or "", dtype=np.str_),
        **_state_arrays(fields.state),
    )


def _entity_arrays(prefix: str, entity_ids: list[str], types: np.ndarray) -> dict[str, np.ndarray]:
    """Ids as one UTF-8 blob plus int64 offsets, types as codes into names."""
    n = len(entity_ids)
    ids = pa.array(entity_ids, type=pa.large_string())
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64, count=n + 1)
    # An empty array may have no data buffer at all.
    utf8 = np.frombuffer(ids.buffers()[2] or b"", dtype=np.uint8, count=int(offsets[-1]))
    dictionary = type_dictionary(types)
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
    if state.adjacency is not None:  # the graph, for update()
        for name in ("data", "indices", "indptr"):
            arrays[f"state_adjacency_{name}"] = getattr(state.adjacency, name)
    return arrays


# ------------------------------------------------------------------- reading


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
_ADJACENCY_KEYS = tuple(f"state_adjacency_{name}" for name in ("data", "indices", "indptr"))


def read_npz(path: Path, mmap: bool = False) -> EmbeddingFields:
    """The fields stored in the ``.npz`` file ``path``, checked (see :mod:`cleora_tensor.formats`).

    With ``mmap``, ``vectors`` is a read-only :class:`numpy.memmap` of the
    file (see :meth:`NpzArchive.memmap`) and every other field is read.
    """
    with NpzArchive(path) as archive:
        if is_pycleora(archive.keys):
            return read_pycleora_npz(path, archive, mmap)
        missing = [key for key in _NPZ_KEYS if key not in archive.keys]
        if missing and "vectors" not in archive.keys:
            found = ", ".join(sorted(archive.keys)[:20]) + (", ..." if len(archive.keys) > 20 else "")
            raise InputFormatError(
                str(path),
                f"neither a cleora_tensor .npz file (keys {', '.join(_NPZ_KEYS)}) nor a pycleora "
                f"one (keys {', '.join(PYCLEORA_KEYS)}); its keys: {found or 'none'}",
            )
        if missing:
            raise InputFormatError(
                str(path), f"not a cleora_tensor .npz file: missing {', '.join(missing)}"
            )
        keys = list(_NPZ_KEYS)
        if "state_previous" in archive.keys:
            keys += ["state_previous", *_STATE_KEYS]
            if "state_whitening_method" in archive.keys:
                keys += ["state_whitening_method", *_WHITENING_KEYS]
            if any(key in archive.keys for key in _ADJACENCY_KEYS):  # absent from older files
                keys += list(_ADJACENCY_KEYS)
            missing = [key for key in keys if key not in archive.keys]
            if missing:
                raise InputFormatError(str(path), f"incomplete trained state: missing {', '.join(missing)}")
        counts = _check_npz_shapes(path, {key: archive.header(key)[0] for key in keys})
        # The types expand to (n,) arrays as wide as the longest type name.
        types = sum(
            n * archive.header(f"{prefix}type_names")[1].itemsize for prefix, n in zip(("", "state_"), counts)
        )
        read = [key for key in keys if not (mmap and key == "vectors")]
        check_memory(path, archive.nbytes(read) + types, archive.size)
        arrays = {key: archive.read(key) for key in read}
        if mmap:
            arrays["vectors"] = archive.memmap("vectors")
    entity_ids, types = _entities_from_arrays(path, arrays, "")
    return EmbeddingFields(
        entity_ids=entity_ids,
        types=types,
        vectors=arrays["vectors"],
        degrees=arrays["degrees"],
        occurrences=arrays["occurrences"],
        config=config_from_json(path, str(arrays["config"])),
        relation=str(arrays["relation"]) or None,
        state=_state_from_arrays(path, arrays),
    )


def can_map(archive: NpzArchive) -> bool:
    """Whether the vectors of the embedding in ``archive`` can be mapped (``read_npz(..., mmap=True)``).

    True when they are stored uncompressed (as :func:`numpy.savez` writes
    them), and for a pycleora archive, are float32. Reads only the zip
    directory and, for pycleora, the member's header.
    """
    if is_pycleora(archive.keys):
        return archive.stored("embeddings") and archive.header("embeddings")[1] == np.float32
    return "vectors" in archive.keys and archive.stored("vectors")


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
        if prefix and "state_adjacency_data" in shapes:
            if len(shapes["state_adjacency_data"]) != 1:
                raise InputFormatError(str(path), f"state_adjacency_data must be 1-D, got shape {shapes['state_adjacency_data']}")
            expected["state_adjacency_indptr"] = (n + 1,)
            expected["state_adjacency_indices"] = shapes["state_adjacency_data"]
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
    return TrainedState(entity_ids, types, previous, whitening, _adjacency_from_arrays(path, arrays, len(entity_ids)))


def _adjacency_from_arrays(path: Path, arrays: dict, n: int) -> scipy.sparse.csr_array | None:
    """The trained state's graph ``W`` (CSR, ``(n, n)``), checked; None in files without it."""
    if "state_adjacency_data" not in arrays:
        return None
    data, indices, indptr = (arrays[key] for key in _ADJACENCY_KEYS)
    if (
        data.dtype != np.float32
        or not np.issubdtype(indices.dtype, np.integer)
        or not np.issubdtype(indptr.dtype, np.integer)
        or indptr[0] != 0
        or indptr[-1] != len(data)
        or np.any(np.diff(indptr) < 0)
        or (len(indices) and (indices.min() < 0 or indices.max() >= n))
    ):
        raise InputFormatError(
            str(path), f"state_adjacency_* is not a float32 CSR matrix of the state's {n} entities"
        )
    if not (np.isfinite(data).all() and (data >= 0).all()):
        raise InputFormatError(str(path), "state_adjacency_data holds a negative, NaN or infinite weight")
    return scipy.sparse.csr_array((data, indices, indptr), shape=(n, n))
