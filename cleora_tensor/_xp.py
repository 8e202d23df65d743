"""Array-namespace helpers shared by the backend-neutral core.

The few places that ask "which namespace is this?" live here, so the numerical
modules contain one generic implementation plus, where measured to matter, a
NumPy fast path selected by :func:`is_numpy`.
"""

from __future__ import annotations

from typing import Any

import array_api_compat

__all__ = ["device_of", "float64_supported", "is_numpy", "namespace", "to_numpy"]


def namespace(*arrays: Any, xp: Any = None) -> Any:
    """The array-API namespace of ``arrays`` (``xp`` if given)."""
    return xp if xp is not None else array_api_compat.array_namespace(*arrays)


def is_numpy(xp: Any) -> bool:
    """Whether ``xp`` is NumPy (plain or array-api-compat wrapped)."""
    return array_api_compat.is_numpy_namespace(xp)


def device_of(x: Any) -> Any:
    """The device of array ``x`` (``"cpu"`` for NumPy)."""
    return array_api_compat.device(x)


def float64_supported(xp: Any, device: Any) -> bool:
    """Whether ``device`` of namespace ``xp`` supports float64.

    Some devices have no float64 (Apple MPS, array-api-strict's ``no_float64``);
    there the core accumulates in float32 instead.
    """
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return True
    try:
        return "float64" in info().dtypes(device=device, kind="real floating")
    except TypeError:  # namespaces whose dtypes() takes no device
        return "float64" in info().dtypes(kind="real floating")


def to_numpy(x: Any) -> Any:
    """An array of any supported namespace as a NumPy array on the host.

    NumPy input is returned as is; other arrays are copied to the host.
    """
    import numpy as np

    if array_api_compat.is_numpy_array(x):
        return x
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    # DLPack is the standard's interchange protocol; it also reads
    # array_api_strict's simulated devices, which np.asarray refuses.
    if hasattr(x, "__dlpack__"):
        return np.from_dlpack(x)
    return np.asarray(x)
