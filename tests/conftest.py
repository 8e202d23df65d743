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
