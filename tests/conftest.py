"""Shared fixtures: the tiny scenario and its run, computed once per session."""

from __future__ import annotations

import pytest

from sim import Scenario, load_scenario, run
from sim.results import RunResult

from .helpers import SCENARIOS


@pytest.fixture(scope="session")
def tiny() -> Scenario:
    return load_scenario(SCENARIOS / "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_result(tiny: Scenario) -> RunResult:
    return run(tiny)
