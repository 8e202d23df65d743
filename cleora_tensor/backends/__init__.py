"""Backends: an array namespace, a device, and a sparse operator for ``P @ X``.

Sparse matrices have no array-API standard, so each backend supplies the one
operation the propagation loop needs from them, through :class:`SparseOperator`;
everything else is backend-neutral array-API code. Backends are registered by
name and their modules (and heavy frameworks) are imported on first use only:
``import cleora_tensor`` never imports torch or cupy.

=============  ===========================  ========================================
name           arrays                       sparse product
=============  ===========================  ========================================
``scipy``      NumPy, ``"cpu"``             SciPy CSR, row blocks on a thread pool
``torch``      PyTorch, ``"cpu"``/``cuda``  ``torch.sparse_csr_tensor`` (MKL/cuSPARSE)
``cupy``       CuPy, a CUDA device          ``cupyx.scipy.sparse.csr_matrix`` (cuSPARSE)
``array_api``  any array-API namespace      standard calls only (``take``,
               (array-api-strict by name)   ``cumulative_sum``): the reference
=============  ===========================  ========================================

A backend module provides ``namespace(device)``, ``default_device()``,
``check_device(device)`` (returns the device in canonical form or raises
ValueError) and ``operator(matrix, *, device, threads)``.

Dense kernels. The dense steps of the loop come from a kernel set chosen once
with the backend, :meth:`Backend.kernels`, and cached; see
:mod:`cleora_tensor.backends.kernels`.

Threads. ``threads`` means one thing everywhere: CPU worker threads for the
dense and sparse kernels; None means all cores available to the process. It is
validated once, when a kernel set or operator is made (a positive int or None,
else ValueError), and kept as its ``threads`` attribute. What each backend does
with it:

=============  ================================================================
``scipy``      size of the thread pool running the row blocks of the sparse
               product and of the NumPy kernels
``torch`` CPU  pool size of the NumPy kernels (through views); the operator
               also calls ``torch.set_num_threads(threads)`` (process-wide,
               kept afterwards) when it is not None, for torch's own kernels
``torch`` GPU  validated, no effect
``cupy``       validated, no effect
``array_api``  validated, no effect: the reference runs in the calling thread
=============  ================================================================

Results of the ``scipy`` backend are bit-identical for every thread count;
README, "Threads and determinism", lists what holds on the others.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import array_api_compat

from .kernels import backend_kernels, generic_kernels, kernels_for, use_generic_kernels

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "SparseOperator",
    "available_backends",
    "generic_kernels",
    "get_backend",
    "import_optional",
    "kernels_for",
    "use_generic_kernels",
    "select_backend",
]


@runtime_checkable
class SparseOperator(Protocol):
    """A sparse ``(n, n)`` matrix that multiplies dense ``(n, d)`` arrays.

    Attributes
    ----------
    shape : tuple of int
        ``(n, n)``.

    Methods
    -------
    matmul(x, *, out=None)
        ``P @ x`` for ``x`` of shape ``(n, d)`` in the backend's namespace and on
        its device; writes into ``out`` (shape ``(n, d)``, not ``x``) when given
        and returns the result.

    The operators of the built-in backends also have ``set_values(values)``:
    replace the ``(nnz,)`` stored values in place, same sparsity structure
    (what :class:`~cleora_tensor.attention.AttentionOperator` reweights).
    """

    shape: tuple[int, int]

    def matmul(self, x: Any, *, out: Any = None) -> Any: ...


class BackendUnavailableError(ModuleNotFoundError, ValueError):
    """A backend's package is not installed.

    A :class:`ModuleNotFoundError` (``name`` is the missing package) and a
    :class:`ValueError`, so the command line reports it in one line with exit
    status 2. The message names the package and the pip command that installs
    it.
    """


@dataclass(frozen=True)
class Backend:
    """An array namespace and device plus a factory of sparse operators.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"scipy"``.
    xp : namespace
        Array-API namespace of the dense arrays.
    device : Any
        Device of the dense arrays, in the backend's canonical form (e.g.
        ``torch.device("cuda", 0)`` for ``"cuda"``).
    """

    name: str
    xp: Any
    device: Any
    _module: Any

    def operator(self, matrix: Any, *, threads: int | None = None) -> SparseOperator:
        """Wrap a SciPy CSR matrix as this backend's :class:`SparseOperator`.

        Parameters
        ----------
        matrix : scipy.sparse.csr_array
            Shape ``(n, n)``, float32 values.
        threads : int or None, default None
            CPU worker threads (all cores if None); see the backend module for
            how each backend applies it.

        Returns
        -------
        SparseOperator
            The matrix on :attr:`device`, multiplying float32 ``(n, d)``
            arrays of :attr:`xp`.

        Raises
        ------
        ValueError
            If ``matrix`` is not square, and as the backend's operator class
            documents (e.g. an invalid ``threads``; cupy: 2**31 or more
            non-zeros).
        """
        return self._module.operator(matrix, device=self.device, threads=threads)

    @property
    def on_host(self) -> bool:
        """Whether the dense arrays live in main memory, where the memory checks of
        :mod:`cleora_tensor.memory` apply (every backend but CUDA torch and CuPy)."""
        return self.name != "cupy" and getattr(self.device, "type", "cpu") == "cpu"

    def asarray(self, x: Any) -> Any:
        """``x`` as a float32 array of this backend's namespace on its device.

        Parameters
        ----------
        x : array_like
            Any shape; anything ``xp.asarray`` accepts.

        Returns
        -------
        array
            Same shape, float32, on :attr:`device`; ``x`` itself (no copy)
            when it already is one.
        """
        return self.xp.asarray(x, dtype=self.xp.float32, device=self.device)

    def kernels(self, threads: int | None = None) -> Any:
        """The dense kernel set of this backend (cached per kind and thread count).

        Parameters
        ----------
        threads : int or None, default None
            CPU worker threads (all cores if None); see the module notes.

        Returns
        -------
        NumpyKernels, HostViewKernels or GenericKernels
            ``NumpyKernels`` for ``scipy``, ``HostViewKernels`` for torch on the
            CPU, ``GenericKernels`` otherwise; its ``threads`` is the validated
            count.

        Raises
        ------
        ValueError
            If ``threads`` is not a positive int or None.
        """
        return backend_kernels(self.name, self.device, threads)


class _Entry(NamedTuple):
    module: str  # implementing module, imported on first use
    package: str  # import name of the framework it needs
    install: str  # how to get that framework


_REGISTRY = {
    "scipy": _Entry("cleora_tensor.backends.scipy", "scipy", "pip install cleora-tensor"),
    "torch": _Entry("cleora_tensor.backends.torch", "torch", 'pip install "cleora-tensor[torch]"'),
    "cupy": _Entry("cleora_tensor.backends.cupy", "cupy", 'pip install "cleora-tensor[cupy]"'),
    "array_api": _Entry(
        "cleora_tensor.backends.array_api", "array_api_strict", 'pip install "cleora-tensor[dev]"'
    ),
}


def available_backends() -> tuple[str, ...]:
    """Names accepted by :func:`get_backend` (whether or not their package is installed)."""
    return tuple(_REGISTRY)


def import_optional(package: str, *, purpose: str, install: str) -> Any:
    """Import an optional package, or explain how to install it.

    Parameters
    ----------
    package : str
        Import name, e.g. ``"torch"``.
    purpose : str
        What needs it, for the message (``"the torch backend"``).
    install : str
        The command that installs it.

    Returns
    -------
    module

    Raises
    ------
    BackendUnavailableError
        If ``package`` cannot be imported.
    """
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] != package.split(".")[0]:
            raise  # the package is there but broken: show the real error
        raise BackendUnavailableError(
            f"{purpose} needs the '{package}' package, which is not installed; "
            f"install it with: {install}",
            name=package,
        ) from None


def get_backend(name_or_array: Any = "scipy", *, device: Any = None) -> Backend:
    """Look up a backend by name, or the backend of an array ("results follow the input").

    Parameters
    ----------
    name_or_array : str or array, default "scipy"
        A name from :func:`available_backends`, or an array whose namespace
        and device select the backend: a torch tensor gives ``"torch"`` on the
        tensor's device, a CuPy array ``"cupy"`` on its device, a NumPy array
        ``"scipy"``, and an array of any other array-API namespace (e.g.
        array-api-strict) the reference backend ``"array_api"`` in that
        namespace on the array's device.
    device : optional
        Device of the dense arrays: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
        ``torch.device``, a ``cupy.cuda.Device``, an array-api-strict device,
        ... Default: the backend's default (``"cpu"``; the current CUDA device
        for ``"cupy"``; the array's device when an array is given).

    Returns
    -------
    Backend

    Raises
    ------
    BackendUnavailableError
        If the backend's package is not installed (the message gives the pip
        command, e.g. ``pip install "cleora-tensor[torch]"``).
    ValueError
        On an unknown name, a device the backend does not have (e.g.
        ``"cuda"`` without a usable GPU; the message says why), or a
        ``device`` that differs from the given array's device.
    TypeError
        If ``name_or_array`` is neither a str nor an array.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> get_backend("scipy").device
    'cpu'
    >>> get_backend(xp.asarray([1.0], device=xp.Device("device1"))).name
    'array_api'
    """
    array_xp = None
    if isinstance(name_or_array, str):
        name = name_or_array
        if name not in _REGISTRY:
            raise ValueError(f"unknown backend {name!r}; choose from {', '.join(_REGISTRY)}")
    else:
        name, array_xp = _backend_of(name_or_array)
    entry = _REGISTRY[name]
    if array_xp is None:  # (an array's own namespace is importable already)
        import_optional(entry.package, purpose=f"the {name} backend", install=entry.install)
    module = importlib.import_module(entry.module)
    if name == "array_api":
        # The reference backend serves any namespace; by name it is array-api-strict.
        module = module.strict() if array_xp is None else module.ReferenceBackend(array_xp)
    if isinstance(name_or_array, str):
        device = module.default_device() if device is None else module.check_device(device)
    else:
        own = module.check_device(array_api_compat.device(name_or_array))
        if device is not None and module.check_device(device) != own:
            raise ValueError(
                f"the array is on device {own!r} but device={device!r} was requested; "
                "results follow the input, so move the array first"
            )
        device = own
    return Backend(name=name, xp=module.namespace(device), device=device, _module=module)


def select_backend(name: str | None = None, *, device: Any = None, like: Any = None) -> Backend:
    """The backend of a computation: named, or following its input array.

    Parameters
    ----------
    name : str or None, default None
        A name from :func:`available_backends`; None: the backend of ``like``,
        or ``"scipy"`` without it.
    device : optional
        As in :func:`get_backend`.
    like : array, optional
        An input of the computation (e.g. initial vectors); results follow its
        namespace and device.

    Returns
    -------
    Backend

    Raises
    ------
    ValueError
        If ``name`` is not the backend of ``like`` (a NumPy array with
        ``name="torch"``, say), and as :func:`get_backend`.
    BackendUnavailableError
        As :func:`get_backend`.

    Examples
    --------
    >>> import numpy as np
    >>> select_backend(like=np.zeros((2, 2), np.float32)).name
    'scipy'
    """
    if like is None:
        return get_backend("scipy" if name is None else name, device=device)
    chosen = get_backend(like, device=device)
    if name is not None and name != chosen.name:
        raise ValueError(
            f"backend={name!r} conflicts with the input array, which belongs to the "
            f"{chosen.name!r} backend; results follow the input, so pass backend=None "
            "or convert the array"
        )
    return chosen


def _backend_of(array: Any) -> tuple[str, Any]:
    """Registry name of an array's backend, and the namespace for ``"array_api"``."""
    if array_api_compat.is_torch_array(array):
        return "torch", None
    if array_api_compat.is_cupy_array(array):
        return "cupy", None
    if array_api_compat.is_numpy_array(array):
        return "scipy", None
    try:
        xp = array_api_compat.array_namespace(array)
    except TypeError:
        raise TypeError(
            f"expected a backend name ({', '.join(_REGISTRY)}) or an array, "
            f"got {type(array).__name__}"
        ) from None
    return "array_api", xp
