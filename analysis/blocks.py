"""The memo's building blocks: headings, paragraphs, tables and figures, rendered by ``analysis.render``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

TITLE = "Can a token-subsidised GPU network undercut AWS, and for how long?"


@dataclass
class Heading:
    text: str
    level: int = 2
    kind: ClassVar[str] = "heading"  # what the template switches on


@dataclass
class Para:
    text: str
    kind: ClassVar[str] = "para"


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str
    kind: ClassVar[str] = "table"


@dataclass
class Fig:
    name: str
    figure: Figure
    caption: str
    kind: ClassVar[str] = "figure"


Block = Heading | Para | Table | Fig


def num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:,.{digits}f}"
