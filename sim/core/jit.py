"""Optional compiled kernels: numba when it is installed (``pip install -e .[fast]``), the
same computation in numpy when it is not.

A kernel is a pair: a loop over plain arrays that numba compiles, and a numpy function
that computes the same arrays, bit for bit (the loop does the same float operations in the
same order, and numba compiles without fast-math). The loop pays only on large inputs: below
``MIN_COMPILED`` elements the numpy version runs, so small fleets never import numba or wait
for it to compile. ``PEERSIM_PURE_NUMPY=1`` in the environment (read at import) or
``FORCE_NUMPY = True`` forces numpy everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.util import find_spec

__all__ = ["FORCE_NUMPY", "MIN_COMPILED", "Kernel", "numba_available"]

#: Force the numpy versions of every kernel (tests set it to compare the two).
FORCE_NUMPY = os.environ.get("PEERSIM_PURE_NUMPY", "") not in ("", "0")
#: Inputs smaller than this run in numpy: importing numba and loading the compiled loop
#: take about 0.6 s once (1 s on the first compile), more than the loop saves in a run of
#: 100 steps below about 300,000 elements a step (collaboration: fleets below ~500,000).
MIN_COMPILED = 500_000


def numba_available() -> bool:
    """Whether numba can be imported (the ``fast`` extra is installed)."""
    return find_spec("numba") is not None


class Kernel:
    """A computation with a compiled loop and an identical numpy version.

    Call it with the size of its input first: ``kernel(size, *arrays)`` runs the compiled
    loop for inputs of at least :data:`MIN_COMPILED` elements when numba is available and
    not forced off, else the numpy version.
    """

    def __init__(self, loop: Callable, vectorised: Callable):
        self.loop = loop
        self.vectorised = vectorised
        self._compiled: Callable | None = None

    def compiled(self) -> Callable:
        """The loop compiled by numba (compiled on first use; cached on disk by numba)."""
        if self._compiled is None:
            import numba

            self._compiled = numba.njit(cache=True, nogil=True)(self.loop)
        return self._compiled

    def __call__(self, size: int, *args):
        if size >= MIN_COMPILED and not FORCE_NUMPY and numba_available():
            return self.compiled()(*args)
        return self.vectorised(*args)
