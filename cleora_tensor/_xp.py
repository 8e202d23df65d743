"""Array-namespace helpers shared by the backend-neutral core.

The few places that ask "which namespace is this?" live here, so the numerical
modules contain one generic implementation plus, where measured to matter, a
NumPy fast path taken for every array that :func:`host_views` can see as NumPy
arrays without a copy (NumPy arrays and CPU torch tensors).
"""

from __future__ import annotations

from typing import Any

import array_api_compat

__all__ = [
    "device_of", "eigh", "float64_supported", "host_views", "is_numpy", "namespace", "to_numpy", "to_torch",
]


def namespace(*arrays: Any, xp: Any = None) -> Any:
    """The array-API namespace of ``arrays`` (``xp`` if given)."""
    return xp if xp is not None else array_api_compat.array_namespace(*arrays)


def is_numpy(xp: Any) -> bool:
    """Whether ``xp`` is NumPy (plain or array-api-compat wrapped)."""
    return array_api_compat.is_numpy_namespace(xp)


def host_views(*arrays: Any) -> tuple[Any, ...] | None:
    """NumPy arrays sharing memory with ``arrays``, or None if one has none.

    Parameters
    ----------
    *arrays : array or None
        NumPy arrays are returned as they are; strided float32, float64 or
        int64 torch tensors on the CPU that do not require grad give
        ``x.numpy()`` (same buffer, so writes to the view are writes to ``x``).
        None entries stay None (optional arguments such as ``out``).

    Returns
    -------
    tuple or None
        One view per argument, or None when any array has no view (GPU arrays,
        array-api-strict arrays, tensors in an autograd graph): the caller then
        takes the generic array-API path.

    Notes
    -----
    On the CPU the hand-tuned NumPy kernels (cache-sized row blocks on a thread
    pool, single-threaded BLAS inside each, float64 ``syrk`` covariance) beat
    the generic code on torch tensors, which allocates a temporary per
    operation and computes ``C^T C`` as a full GEMM. At 1e6 edges with PCA
    whitening after each of 40 steps, torch-CPU took 1.43-1.51x the SciPy
    backend's wall time on the generic path and 1.02-1.24x through these views
    (``benchmarks/README.md``, "Backends").
    """
    views = tuple(None if x is None else _host_view(x) for x in arrays)
    if any(view is None and x is not None for view, x in zip(views, arrays)):
        return None
    return views


def _host_view(x: Any) -> Any:
    if array_api_compat.is_numpy_array(x):
        return x
    if array_api_compat.is_torch_array(x):
        import torch

        if (
            x.device.type == "cpu"
            and x.layout == torch.strided
            and x.dtype in (torch.float32, torch.float64, torch.int64)
            and not x.requires_grad
            and not x.is_conj()
            and not x.is_neg()
        ):
            return x.numpy()
    return None


def device_of(x: Any) -> Any:
    """The device of array ``x`` (``"cpu"`` for NumPy)."""
    return array_api_compat.device(x)


def eigh(a: Any, *, xp: Any) -> Any:
    """``xp.linalg.eigh`` of a small symmetric matrix, on one CPU thread.

    Parameters
    ----------
    a : array
        Shape ``(d, d)``, symmetric, with ``d`` in the hundreds (a covariance).
    xp : namespace

    Returns
    -------
    tuple of array
        ``(eigenvalues, eigenvectors)`` as ``xp.linalg.eigh`` returns them.

    Notes
    -----
    A ``d = 256`` eigendecomposition takes milliseconds on one core, so
    multithreaded LAPACK gains nothing, and on a machine busy with other
    processes its thread barriers stall: measured on 2 shared cores (load 5.5),
    2 threads took 1.0 s (NumPy, OpenBLAS) and 1.2 s (torch, MKL) against 16 ms
    and 7 ms on one thread. CPU NumPy and torch are therefore limited to one
    thread here (torch's setting is restored afterwards); GPUs are left alone.
    """
    if is_numpy(xp):
        from .parallel import single_threaded_blas

        with single_threaded_blas():
            return xp.linalg.eigh(a)
    if array_api_compat.is_torch_array(a) and a.device.type == "cpu":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return xp.linalg.eigh(a)
        finally:
            torch.set_num_threads(threads)
    return xp.linalg.eigh(a)


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
