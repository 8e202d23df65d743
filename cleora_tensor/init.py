"""Deterministic hash-based initialization of entity vectors, as in Cleora and pycleora.

An entity's start vector depends only on its key (a 64-bit hash of its type
and id, :func:`~cleora_tensor.entity_keys`), the dimension index and the seed,
never on the other entities or on row order, so the same entity starts from the
same vector on any dataset, machine or backend. This is what makes Cleora embeddings stable and composable.

The integer hashing runs with array-API int64 operations on the target device;
unsigned 64-bit arithmetic is emulated on int64 (multiplication and addition wrap
in two's complement, and logical right shifts are arithmetic shifts with the
sign bits masked off), which every namespace supports (NumPy, PyTorch, CuPy,
array-api-strict).
"""

from __future__ import annotations

from typing import Any

import array_api_compat

from ._xp import device_of
from .backends import kernels_for

__all__ = ["initialize"]

_MASK64 = (1 << 64) - 1
# splitmix64 (Steele, Lea & Flood 2014; Vigna's public-domain reference):
# the Weyl increment (golden ratio) and the two finalizer multipliers.
_GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
# pycleora 3.2.1's multiplier in initialize_deterministically.
_PYCLEORA_MULT = 0x517CC1B727220A95


def _signed(value: int) -> int:
    """The int64 with the same 64 bits as ``value`` (taken modulo 2**64)."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _mix64_int(z: int) -> int:
    """splitmix64 finalizer on a Python int, modulo 2**64."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def _shr(x: Any, shift: int) -> Any:
    """Logical right shift of int64 bits."""
    return (x >> shift) & ((1 << (64 - shift)) - 1)


def _hash_block(keys: Any, columns: Any, seed: int, xp: Any) -> Any:
    # Seeds enter through the per-entity state, not the Weyl sequence, so seed
    # s + 1 is not seed s shifted by one dimension.
    state = keys[:, None] ^ _signed(_mix64_int(seed + _GAMMA))
    z = state + columns[None, :]
    z = (z ^ _shr(z, 30)) * _signed(_MIX1)
    z = (z ^ _shr(z, 27)) * _signed(_MIX2)
    # splitmix64's last step, z ^ (z >> 31), leaves the top 24 bits unchanged.
    top24 = _shr(z, 40)
    # 2u - (2**24 - 1) is an odd integer below 2**24 in magnitude: exact in
    # float32, and the scaled values lie strictly inside (-1, 1), symmetric.
    return xp.astype(2 * top24 - (2**24 - 1), xp.float32) * (2.0**-24)


def _pycleora_block(keys: Any, columns: Any, seed: int, xp: Any) -> Any:
    h = (keys[:, None] + columns[None, :]) * _signed(_PYCLEORA_MULT)
    # Rust's `i64 % 2**23` truncates toward zero; h & (2**23 - 1) is the floored
    # remainder, so shift negative non-zero remainders down by 2**23.
    floored = h & (2**23 - 1)
    truncated = xp.where((h < 0) & (floored != 0), floored - 2**23, floored)
    return xp.astype(truncated, xp.float32) * (2.0**-23)


def initialize(
    keys: Any,
    dim: int,
    *,
    seed: int = 0,
    method: str = "hash",
    first_dim: int = 0,
    threads: int | None = None,
    xp: Any = None,
    device: Any = None,
    kernels: Any = None,
    out: Any = None,
) -> Any:
    """Deterministic initial embedding from entity keys.

    Parameters
    ----------
    keys : array
        int64, shape ``(n_entities,)``, from :func:`~cleora_tensor.entity_keys`; any array-API
        namespace or a NumPy array.
    dim : int
        Embedding dimension ``d``.
    seed : int, default 0
        In ``[0, 2**63)``; different seeds give unrelated vectors.
    method : {"hash", "pycleora"}, default "hash"
        ``"hash"``: ``value[i, j] = to_unit(splitmix64(state_i + (j + 1) * gamma))``
        (splitmix64 finalizer, Steele, Lea & Flood 2014)
        with ``state_i = key_i XOR splitmix64(seed + gamma)``, ``gamma`` the 64-bit
        golden ratio, and ``to_unit`` mapping the top 24 bits ``u`` to
        ``(2u + 1) / 2**24 - 1``, uniform on 2**24 points symmetric in ``(-1, 1)``.
        ``"pycleora"``: pycleora 3.2.1's ``initialize_deterministically``
        bit for bit: ``h = (key + j + seed) * 0x517cc1b727220a95 mod 2**64`` read
        as int64, ``value = (h % 2**23) / 2**23`` with the remainder truncated
        toward zero. Use it to reproduce pycleora embeddings; it is not the
        default because consecutive dimensions of its values are correlated.
    first_dim : int, default 0
        Index of the first dimension produced: the result holds dimensions
        ``first_dim .. first_dim + dim - 1`` of a wider embedding, bit for bit
        (each dimension depends only on its index; out-of-core propagation
        computes the embedding in such column slices).
    threads : int or None, default None
        CPU worker threads of the kernels (all cores if None); results do not
        depend on it. Ignored when ``kernels`` is given.
    xp : namespace, optional
        Namespace of the result; default: that of ``keys``.
    device : optional
        Device of the result; default: that of ``keys`` converted by ``xp``.
    kernels : kernel set, optional
        From :meth:`Backend.kernels <cleora_tensor.backends.Backend.kernels>`;
        default: that of the result's backend.
    out : array, optional
        float32, shape ``(n_entities, dim)``, C-contiguous, in ``xp`` on
        ``device``: written instead of a new array.

    Returns
    -------
    array
        float32, shape ``(n_entities, dim)``, in ``xp`` on ``device`` (``out``
        if given).

    Raises
    ------
    ValueError
        On ``dim < 1``, a seed outside ``[0, 2**63)``, a negative ``first_dim``,
        an unknown ``method`` or an invalid ``threads``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cleora_tensor import entity_keys
    >>> keys = xp.asarray(entity_keys(["a", "b"], "item"))
    >>> x = initialize(keys, 4)
    >>> x.shape, x.dtype == xp.float32
    ((2, 4), True)
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    if isinstance(first_dim, bool) or not isinstance(first_dim, int) or first_dim < 0:
        raise ValueError(f"first_dim must be a non-negative int, got {first_dim!r}")
    dims = range(first_dim, first_dim + dim)
    if method == "hash":
        block_values, offsets = _hash_block, [_signed((j + 1) * _GAMMA) for j in dims]
    elif method == "pycleora":
        block_values, offsets = _pycleora_block, [_signed(j + seed) for j in dims]
    else:
        raise ValueError(f"method must be 'hash' or 'pycleora', got {method!r}")
    if xp is None:
        xp = array_api_compat.array_namespace(keys)
    keys = xp.asarray(keys, dtype=xp.int64, device=device)
    device = device_of(keys) if device is None else device
    columns = xp.asarray(offsets, dtype=xp.int64, device=device)
    if out is None:
        out = xp.empty((keys.shape[0], dim), dtype=xp.float32, device=device)
    elif tuple(out.shape) != (keys.shape[0], dim) or out.dtype != xp.float32:
        raise ValueError(f"out must be a float32 array of shape {(keys.shape[0], dim)}, got {out.dtype} {tuple(out.shape)}")
    kernels_for(out, threads, kernels).fill(out, keys, columns, block_values, seed)
    return out
