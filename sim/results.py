"""What a run returns: tidy tables and a summary, with no file I/O (the CLI writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .schema import Scenario


@dataclass(frozen=True)
class RunResult:
    """``jobs``: one row a job; ``epochs``: one row per epoch and GPU class; ``providers``: one row a node."""

    scenario: Scenario
    jobs: pd.DataFrame
    epochs: pd.DataFrame
    providers: pd.DataFrame
    summary: dict[str, Any]
