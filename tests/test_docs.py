"""The examples in the docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import pytest

import cleora_tensor

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(cleora_tensor.__path__, prefix="cleora_tensor.")
    if not name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name in ("torch", "cupy") or (error.name or "").startswith("cupy"):
            pytest.skip(f"{name} needs the optional package {error.name}")
        raise
    except Exception as error:  # e.g. CuPy installed without the CUDA libraries it loads
        if name == "cleora_tensor.backends.cupy":
            pytest.skip(f"{name}: cupy cannot be imported here ({type(error).__name__}: {error})")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
