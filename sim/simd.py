"""One set of numpy SIMD kernels on every machine, so a scenario and seed give the same tables anywhere.

numpy picks its kernels for exp, log, power... by CPU, and its AVX-512 ones differ from the AVX2 ones
in the last bit, which a run amplifies into other job counts (measured 2026-12-02: on an AVX-512
machine every golden scenario but tiny came out different; with AVX-512 disabled all matched). The
AVX2 kernels run everywhere this product is used (x86-64-v3), so ``import sim`` asks numpy for those,
which works only before numpy is imported: true for the ``depinsim`` command, the tests and the Dask or
process-pool workers (they inherit the environment). A notebook that imported numpy first keeps
whatever numpy chose and is warned when that can differ from other machines.

This module must not import numpy.
"""

from __future__ import annotations

import os
import sys
import warnings

VARIABLE = "NPY_DISABLE_CPU_FEATURES"
DISABLED = "X86_V4 AVX512_ICL AVX512_SPR"  # numpy 2's AVX-512 dispatch targets (x86); a no-op elsewhere


def pin() -> None:
    """Disable numpy's AVX-512 kernels if numpy is not loaded yet (a user's own setting wins); if it is
    loaded and runs them, warn that results may differ from other machines' in the last bit."""
    if "numpy" not in sys.modules:
        os.environ.setdefault(VARIABLE, DISABLED)
        return
    from numpy._core._multiarray_umath import __cpu_features__  # numpy's own record of what it dispatches to

    if any(__cpu_features__.get(f, False) for f in DISABLED.split()):
        warnings.warn(f"numpy was imported before sim and uses its AVX-512 kernels, whose results differ in the "
                      f"last bit from other machines', so runs here may not match runs elsewhere. To match them, "
                      f"set {VARIABLE}=\"{DISABLED}\" before starting Python (or import sim before numpy).",
                      RuntimeWarning, stacklevel=3)
