"""Shared fixtures: the real data sets in ../shared/data (read, never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def data_file():
    """Path to a file of ../shared/data; skips the test when it is absent."""

    def locate(relative: str) -> Path:
        path = DATA / relative
        if not path.exists():
            pytest.skip(f"real data set {relative} not found under {DATA}")
        return path

    return locate


# --- the backend matrix of the dense tests ----------------------------------------

#: Every array namespace and device the dense core runs on. ``-generic`` cases
#: run the standard-only kernel set (the one GPUs use) on CPU arrays.
BACKEND_CASES = [
    "numpy",
    "numpy-generic",
    "array_api_strict",
    "array_api_strict:device1",
    "array_api_strict:no_float64",
    "torch:cpu",
    "torch:cpu-generic",
    "torch:cuda",
    "cupy",
]


def backend_case(name: str):
    """(namespace, device) of a case of :data:`BACKEND_CASES`; skips with the reason when absent."""
    import array_api_compat.numpy
    import array_api_strict

    from cleora_tensor.backends import get_backend

    name = name.removesuffix("-generic")
    if name == "numpy":
        return array_api_compat.numpy, "cpu"
    if name.startswith("array_api_strict"):
        _, _, device = name.partition(":")
        return array_api_strict, array_api_strict.Device(device or "CPU_DEVICE")
    if name.startswith("torch"):
        torch = pytest.importorskip("torch", reason='torch not installed (pip install "cleora-tensor[torch]")')
        if name == "torch:cuda" and not torch.cuda.is_available():
            pytest.skip(f"torch {torch.__version__} has no usable CUDA device on this machine")
        chosen = get_backend("torch", device=name.partition(":")[2])
        return chosen.xp, chosen.device
    cupy = pytest.importorskip("cupy", reason='CuPy not installed (pip install "cleora-tensor[cupy]", needs a CUDA GPU)')
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("CuPy is installed but sees no CUDA GPU")
    except cupy.cuda.runtime.CUDARuntimeError as error:
        pytest.skip(f"CuPy is installed but cannot use CUDA: {error}")
    chosen = get_backend("cupy")
    return chosen.xp, chosen.device


@pytest.fixture
def backend_of():
    """:func:`backend_case`, for tests of one named case."""
    return backend_case


@pytest.fixture(params=BACKEND_CASES)
def backend(request):
    """``(xp, device)`` of one backend case; ``-generic`` cases run the test inside
    :func:`~cleora_tensor.backends.use_generic_kernels`."""
    from cleora_tensor.backends import use_generic_kernels

    chosen = backend_case(request.param)
    if request.param.endswith("-generic"):
        with use_generic_kernels():
            yield chosen
    else:
        yield chosen
