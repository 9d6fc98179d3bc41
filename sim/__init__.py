"""depinsim: can a token-subsidised GPU network undercut AWS, and for how long?

Library entry points: ``load_scenario`` (validated, frozen ``Scenario``) and ``run`` (a ``RunResult``
of pandas DataFrames and a summary). Nothing here touches files except ``load_scenario``'s read.
"""

from .engine import run
from .errors import ConservationError, InputError
from .loader import load_scenario, parse_scenario
from .results import RunResult
from .scenario import Scenario, scenario_hash

__all__ = [
    "ConservationError",
    "InputError",
    "RunResult",
    "Scenario",
    "load_scenario",
    "parse_scenario",
    "run",
    "scenario_hash",
]
