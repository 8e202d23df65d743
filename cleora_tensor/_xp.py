"""Array-namespace helpers shared by the backend-neutral core.

Namespace and device queries and conversions between namespaces. Which dense
kernels run on which arrays is decided once, by the backend
(:meth:`cleora_tensor.backends.Backend.kernels`), not here.
"""

from __future__ import annotations

from typing import Any

import array_api_compat

__all__ = [
    "device_of", "float64_supported", "namespace", "to_numpy", "to_torch",
]


def namespace(*arrays: Any, xp: Any = None) -> Any:
    """The array-API namespace of ``arrays`` (``xp`` if given)."""
    return xp if xp is not None else array_api_compat.array_namespace(*arrays)


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

    if isinstance(x, np.ndarray):
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


def to_torch(x: Any, *, device: Any = None) -> Any:
    """An array of any supported namespace as a torch tensor.

    Parameters
    ----------
    x : array
        Any namespace. Torch tensors are returned as they are, CuPy arrays stay
        on their GPU (DLPack, no copy), NumPy arrays share memory; others are
        copied through the host (:func:`to_numpy`).
    device : str or torch.device, optional
        Move the result there (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Returns
    -------
    torch.Tensor

    Raises
    ------
    BackendUnavailableError
        If torch is not installed.
    ValueError
        On a device torch cannot use (e.g. ``"cuda"`` without a GPU).
    """
    from .backends import get_backend

    backend = get_backend("torch", device=device)
    import torch

    if array_api_compat.is_torch_array(x):
        tensor = x
    elif array_api_compat.is_cupy_array(x):
        tensor = torch.from_dlpack(x)
    else:
        tensor = torch.as_tensor(to_numpy(x))
    return tensor if device is None else tensor.to(backend.device)
