"""Small real data sets shipped with the package, for examples and smoke tests.

``karate_club``: Zachary's karate club (W. W. Zachary, "An information flow
model for conflict and fission in small groups", Journal of Anthropological
Research 33, 1977): 34 members, 78 friendships, and the club each member joined
after the split ("Mr._Hi" or "Officer"), as distributed with NetworkX.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["DATASETS", "dataset_path"]

#: name -> (edges file, labels file) inside ``cleora_tensor/data``.
DATASETS = {"karate_club": ("karate_club.tsv", "karate_club_labels.tsv")}


def dataset_path(name: str, *, labels: bool = False) -> Path:
    """Path of a shipped data set's TSV file.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    labels : bool, default False
        The ``entity<TAB>label`` file instead of the ``src<TAB>dst`` edges.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        On an unknown name.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return Path(str(files("cleora_tensor") / "data" / DATASETS[name][labels]))
