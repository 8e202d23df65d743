"""Compatibility layers for code written against other Cleora implementations.

:mod:`cleora_tensor.compat.pycleora` offers pycleora 3.2.1's names and
signatures (``SparseMatrix``, ``embed``, ``find_most_similar``, ...) as thin
adapters over this library's core, so that a pycleora script runs after
changing its import line::

    from cleora_tensor.compat.pycleora import SparseMatrix, embed, find_most_similar

Importing this package imports nothing else; each layer is its own module.
"""
