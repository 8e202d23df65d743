"""PyTorch modules for combining Cleora views (README, "Views, new entities, features").

Importing this module imports torch; ``import cleora_tensor`` does not.

A *view* is an embedding of the same entities from one relation, dataset or
propagation depth. Views computed with the deterministic initialization and
without PCA whitening share coordinates dimension by dimension (PCA re-orders
the basis per view), so a convolution along the embedding dimension, with the
views as input channels, combines them with a handful of parameters shared by
all dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._xp import device_of, namespace, to_numpy
from .embedding import Embedding
from .refine import supervised_refine  # the supervised fine-tuning routine, with the torch modules

__all__ = ["MultiViewConv1d", "stack_views", "supervised_refine"]


class MultiViewConv1d(nn.Module):
    r"""Combine ``n_views`` embeddings of the same entities with a 1-D convolution.

    A :class:`torch.nn.Conv1d` takes the views as input channels and slides along
    the embedding dimension with "same" padding, so output position ``j`` mixes
    dimension ``j`` (and, for ``kernel_size > 1``, its neighbours) of every view
    with weights shared by all dimensions: ``n_views * out_channels *
    kernel_size (+ out_channels)`` parameters whatever ``dim`` is.

    Parameters
    ----------
    n_views : int
        Number of views (input channels).
    out_channels : int, default 1
        Output channels; the output is flattened to ``out_channels * dim``.
    kernel_size : int, default 1
        Odd width of the window along the embedding dimension.
    bias : bool, default True
        Learn an additive bias per output channel.

    Shapes:
        - **input** ``x``: ``(batch, n_views, dim)`` -- one row per entity, its
          vector in every view.
        - **input** ``mask`` (optional): ``(batch, n_views)``, bool -- False
          where the entity is missing from a view (its vector is then ignored
          and the present views are rescaled by ``n_views / n_present``, as in
          inverted dropout, so the output scale does not depend on how many views
          an entity has).
        - **output**: ``(batch, out_channels * dim)``; channel-major, i.e.
          ``output.view(batch, out_channels, dim)`` recovers the channels.

    Raises
    ------
    ValueError
        On a non-positive ``n_views``/``out_channels`` or an even or
        non-positive ``kernel_size``.

    Notes
    -----
    An ordinary module: autograd, ``.to(device)``, ``state_dict``,
    :func:`torch.compile` (one graph, no breaks) and :func:`torch.export.export`
    work. With
    ``kernel_size=1`` and ``out_channels=1`` it is a learned weighted sum of the
    views (plus bias), the combination Cleora's authors suggest for multi-view
    embeddings.

    Examples
    --------
    >>> import torch
    >>> combiner = MultiViewConv1d(n_views=3, out_channels=2, kernel_size=3)
    >>> combiner(torch.randn(8, 3, 64)).shape
    torch.Size([8, 128])
    """

    def __init__(self, n_views: int, out_channels: int = 1, kernel_size: int = 1, bias: bool = True) -> None:
        super().__init__()
        if n_views < 1 or out_channels < 1:
            raise ValueError(f"n_views and out_channels must be positive, got {n_views} and {out_channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
        self.n_views = n_views
        self.out_channels = out_channels
        self.conv = nn.Conv1d(n_views, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Combine the views; see the class docstring for shapes."""
        if x.dim() != 3 or x.shape[1] != self.n_views:
            raise ValueError(f"x must have shape (batch, {self.n_views}, dim), got {list(x.shape)}")
        if mask is not None:
            weights = mask.to(x.dtype)
            present = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
            x = x * (weights * (self.n_views / present)).unsqueeze(-1)
        return self.conv(x).flatten(1)

    def extra_repr(self) -> str:
        return f"n_views={self.n_views}, out_channels={self.out_channels}"


def stack_views(
    views: Sequence[Embedding],
    entity_ids: Sequence[str],
    *,
    entity_type: str | None = None,
    device: Any = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Stack several views' vectors of the given entities into one tensor.

    Parameters
    ----------
    views : sequence of Embedding
        The views, all of the same dimension (e.g. the per-relation embeddings of
        ``embed(..., relations="pairwise")``, or embeddings of several datasets).
    entity_ids : sequence of str
        The entities, in batch order.
    entity_type : str, optional
        Their type, needed only when an id exists under several types in a view.
    device : torch device, optional
        Device of the result (default: CPU).
    dtype : torch.dtype, default torch.float32

    Returns
    -------
    x : torch.Tensor
        Shape ``(batch, n_views, dim)``; zeros where an entity is missing from a
        view.
    mask : torch.Tensor
        Shape ``(batch, n_views)``, bool: True where the entity is in the view.

    Raises
    ------
    ValueError
        If ``views`` is empty, the views differ in dimension, or
        ``entity_type`` is None and an id exists under several types in a view
        (or a view holds a (type, id) pair twice).

    Examples
    --------
    >>> import numpy as np
    >>> from cleora_tensor import Embedding
    >>> a = Embedding(["x", "y"], np.array(["t", "t"]), np.eye(2, dtype=np.float32),
    ...               np.ones(2), np.ones(2, dtype=np.int64))
    >>> b = Embedding(["y"], np.array(["t"]), np.ones((1, 2), np.float32), np.ones(1), np.ones(1, dtype=np.int64))
    >>> x, mask = stack_views([a, b], ["x", "y"])
    >>> x.shape, mask.tolist()
    (torch.Size([2, 2, 2]), [[True, False], [True, True]])
    """
    if not views:
        raise ValueError("views must not be empty")
    dims = {view.dim for view in views}
    if len(dims) != 1:
        raise ValueError(f"all views must have the same dimension, got {sorted(dims)}")
    batch, dim = len(entity_ids), dims.pop()
    types = None if entity_type is None else np.full(batch, entity_type)
    stacked = np.zeros((batch, len(views), dim), dtype=np.float32)
    mask = np.zeros((batch, len(views)), dtype=bool)
    for v, view in enumerate(views):
        rows = view.rows(entity_ids, types)
        found = rows >= 0
        # Gather in the view's own namespace/device, then move only those rows.
        xp = namespace(view.vectors)
        picked = xp.asarray(rows[found], device=device_of(view.vectors))
        stacked[found, v] = to_numpy(xp.take(view.vectors, picked, axis=0))
        mask[:, v] = found
    return (
        torch.as_tensor(stacked, dtype=dtype, device=device),
        torch.as_tensor(mask, device=device),
    )
