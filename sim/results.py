"""What a run returns: tidy tables and a summary (the CLI writes them; a job table streamed to a file is
there already)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .schema import Scenario


@dataclass(frozen=True)
class RunResult:
    """``jobs``: one row a job; ``epochs``: one row per epoch and GPU class; ``providers``: one row a node.
    A run whose job table was streamed to a file (``run(..., jobs=path)``) has ``jobs`` None and
    ``jobs_file`` that file; one that kept none (``jobs="none"``), both None."""

    scenario: Scenario
    jobs: pd.DataFrame | None
    epochs: pd.DataFrame
    providers: pd.DataFrame
    summary: dict[str, Any]
    jobs_file: Path | None = None
