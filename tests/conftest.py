"""Shared fixtures: the tiny scenario and its run, computed once per session.

numpy picks its SIMD kernels (exp, log, power...) by CPU, and its AVX-512 kernels differ from the AVX2
ones in the last bit, which a run amplifies into other job counts (measured 2026-12-02: on an AVX-512
machine every golden scenario but tiny differs; with AVX-512 disabled they all match). The goldens were
recorded with the AVX2 kernels, so the tests run numpy on those on any machine (a no-op where AVX-512
is absent). This must happen before numpy is imported, and subprocess tests inherit it.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", "X86_V4 AVX512_ICL AVX512_SPR")
assert "numpy" not in sys.modules, "numpy was imported before tests/conftest.py could pin its SIMD kernels"

import pytest  # noqa: E402

from sim import Scenario, load_scenario, run  # noqa: E402
from sim.results import RunResult  # noqa: E402

from .helpers import SCENARIOS  # noqa: E402


@pytest.fixture(scope="session")
def tiny() -> Scenario:
    return load_scenario(SCENARIOS / "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_result(tiny: Scenario) -> RunResult:
    return run(tiny)
