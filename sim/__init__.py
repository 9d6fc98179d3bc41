"""depinsim: can a token-subsidised GPU network undercut AWS, and for how long?

Library entry points: ``load_scenario`` (validated, frozen ``Scenario``), ``run`` (a ``RunResult`` of
pandas DataFrames and a summary), ``replicate`` (a scenario on N seeds, with P10/P50/P90 bands) and
``sweep`` (one row a run; ``sweep_epochs`` for the epoch series).
``sim.sweep`` is the sweep module, and calling it runs a sweep; import helpers from it with
``from sim.sweep import design``.

Names are imported when first used, so the command line starts without loading the model (numba,
SciPy, pandas) it may not need.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import simd

simd.pin()  # before anything here imports numpy

_EXPORTS = {
    "ConservationError": "sim.errors",
    "InputError": "sim.errors",
    "RunResult": "sim.results",
    "Scenario": "sim.schema",
    "load_scenario": "sim.loader",
    "parse_scenario": "sim.loader",
    "replicate": "sim.replicate",
    "run": "sim.runner",
    "scenario_hash": "sim.schema",
    "sweep_epochs": "sim.sweep",
}

__all__ = sorted([*_EXPORTS, "sweep"])


def __getattr__(name: str) -> Any:
    if name == "sweep":
        return importlib.import_module("sim.sweep")  # the module is callable: sim.sweep(...) runs a sweep
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
