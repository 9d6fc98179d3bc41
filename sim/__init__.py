"""depinsim: can a token-subsidised GPU network undercut AWS, and for how long?

Library entry points: ``load_scenario`` (validated, frozen ``Scenario``), ``run`` (a ``RunResult`` of
pandas DataFrames and a summary) and ``sweep`` (one row a run; ``sweep_epochs`` for the epoch series).
``sim.sweep`` is the function; import helpers from the module with ``from sim.sweep import design``.
"""

from .engine import run
from .errors import ConservationError, InputError
from .loader import load_scenario, parse_scenario
from .results import RunResult
from .scenario import Scenario, scenario_hash
from .sweep import sweep, sweep_epochs  # noqa: I001 - the function shadows the module name on purpose

__all__ = [
    "ConservationError",
    "InputError",
    "RunResult",
    "Scenario",
    "load_scenario",
    "parse_scenario",
    "run",
    "scenario_hash",
    "sweep",
    "sweep_epochs",
]
