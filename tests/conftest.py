"""Shared fixtures: the tiny scenario and its run, computed once per session.

``import sim`` comes first: it pins numpy's SIMD kernels (``sim.simd``), which works only before numpy
is loaded, and the goldens were recorded with the pinned kernels. Subprocess tests inherit the pin.
"""

from __future__ import annotations

import os
import sys

import sim.simd  # noqa: I001  (first: before numpy)

assert "numpy" not in sys.modules and os.environ.get(sim.simd.VARIABLE) == sim.simd.DISABLED, \
    "numpy was imported before tests/conftest.py could pin its SIMD kernels"

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
