"""How an embedding run executes, as opposed to what it computes (:class:`~cleora_tensor.EmbedConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backends import Backend, available_backends, select_backend
from .memory import parse_size
from .parallel import resolve_threads

__all__ = ["Runtime"]


@dataclass(frozen=True)
class Runtime:
    """The options of a run that do not change its vectors, validated once.

    :func:`~cleora_tensor.embed` builds one from its keywords and passes it
    down; unlike :class:`~cleora_tensor.EmbedConfig` it is not saved with the
    result.

    Parameters
    ----------
    threads : int or None, default None
        CPU worker threads (all cores if None); results do not depend on it.
    backend : str or None, default None
        A name from :func:`~cleora_tensor.backends.available_backends`; None:
        the backend of the input array (see :meth:`select`), else ``"scipy"``.
    device : optional
        Device of the backend, e.g. ``"cuda:1"``; None: the input array's
        device, else the backend's default. Checked by :meth:`select`, which
        needs the backend's package.
    progress : bool, default False
        Progress bars on stderr.
    keep_state : bool, default True
        Keep :attr:`Embedding.state <cleora_tensor.Embedding.state>` for
        :func:`~cleora_tensor.embed_new`.
    memory_limit : int, str or None, default None
        Bytes of resident memory the run may use, e.g. ``"8G"`` (see
        :func:`~cleora_tensor.memory.parse_size`); stored as an int. Beyond it,
        propagation runs out of core (:mod:`cleora_tensor.outofcore`). None:
        the memory available.

    Raises
    ------
    ValueError
        If ``threads`` is not a positive int or None, ``backend`` is not a
        registered name or None, or ``memory_limit`` is not a positive size;
        the message names the parameter.

    Examples
    --------
    >>> Runtime(threads=2).select().name
    'scipy'
    """

    threads: int | None = None
    backend: str | None = None
    device: Any = None
    progress: bool = False
    keep_state: bool = True
    memory_limit: int | str | None = None

    def __post_init__(self) -> None:
        if self.memory_limit is not None:
            object.__setattr__(self, "memory_limit", parse_size(self.memory_limit))
        resolve_threads(self.threads)  # None stays None: "all cores", resolved by each kernel set
        if self.backend is not None and self.backend not in available_backends():
            raise ValueError(
                f"backend must be one of {', '.join(available_backends())} or None, got {self.backend!r}"
            )

    def select(self, like: Any = None) -> Backend:
        """The backend of the run: :attr:`backend` on :attr:`device`, or following ``like``.

        Parameters
        ----------
        like : array, optional
            An input of the run (initial vectors); see
            :func:`~cleora_tensor.backends.select_backend`.

        Returns
        -------
        Backend

        Raises
        ------
        BackendUnavailableError
            If the backend's package is not installed.
        ValueError
            If the device is not available, or :attr:`backend` conflicts with
            ``like``.
        """
        return select_backend(self.backend, device=self.device, like=like)
