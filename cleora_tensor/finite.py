"""Finding NaN and infinity in arrays of any array-API namespace, without temporaries."""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

from ._xp import to_numpy
from .mapped import mapped_blocks
from .parallel import GENERIC_BLOCK, row_blocks

__all__ = ["first_nonfinite", "value_range"]


def value_range(array: Any) -> tuple[float, float]:
    """Smallest and largest entry of an array.

    Parameters
    ----------
    array : array
        Any real dtype, any array-API namespace and device.

    Returns
    -------
    (float, float)
        ``(min, max)`` as Python floats: both NaN if an entry is NaN (NaN
        propagates through both reductions), an infinity shows in one of
        them; ``(0.0, 0.0)`` for an empty array. One pass each, no temporary
        (a device synchronization for GPU arrays).
    """
    if math.prod(array.shape) == 0:
        return 0.0, 0.0
    if isinstance(array, np.memmap):
        # Block by block, so that the file's pages do not stay resident.
        ranges = np.array([(rows.min(), rows.max()) for _, rows in mapped_blocks(array) if rows.size])
        return float(ranges[:, 0].min()), float(ranges[:, 1].max())  # NaN propagates as above
    xp = array_api_compat.array_namespace(array)
    return float(xp.min(array)), float(xp.max(array))


def first_nonfinite(array: Any) -> tuple[int, int] | None:
    """Row and column of the first NaN or infinity in a 2-D array.

    Parameters
    ----------
    array : array, shape (n, d)
        Any real dtype, any array-API namespace and device.

    Returns
    -------
    (int, int) or None
        The first non-finite entry in row-major order; None if every entry is
        finite.

    Notes
    -----
    :func:`value_range` decides; only when it is not finite are the rows
    searched, a block at a time on the host.
    """
    if all(map(math.isfinite, value_range(array))):
        return None
    for start, stop in row_blocks(array.shape[0], GENERIC_BLOCK):
        bad = np.flatnonzero(~np.isfinite(to_numpy(array[start:stop, ...])))
        if bad.size:
            row, column = divmod(int(bad[0]), array.shape[1])
            return start + row, column
    return None
