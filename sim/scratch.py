"""Work arrays reused from one epoch to the next.

The clearing market fills a few arrays of ~2 MB every epoch (free GPU-hours per node and interval, the
orders' loads, the merit orders' cumulative capacity). A fresh array that size is mapped anew by the
allocator, and touching it costs its page faults: about 1 ms each, measured, more than the compiled
arithmetic that fills it. Reusing the memory is what makes the compiled kernels pay off.
"""

from __future__ import annotations

import numpy as np


class Scratch:
    """Named float arrays, each grown when a request is larger and otherwise handed back as a view of
    the first rows. A view is valid until the next request under the same name; its contents are
    whatever was there (callers overwrite every element they read)."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape[1:] != shape[1:]:
            a = self._arrays[name] = np.empty(shape)
        elif a.shape[0] < shape[0]:  # doubling, so a slowly growing request is not re-allocated every time
            a = self._arrays[name] = np.empty((max(shape[0], 2 * a.shape[0]), *shape[1:]))
        return a[:shape[0]]
