"""Readable names for what a memo shows: a scenario field by its item's name and the schema's description
("h100_datacentre: number of nodes active at the start", not ``providers.0.count``), a summary column by
what it compares ("H100_SXM price / AWS on-demand", not ``by_class.H100_SXM.undercut_ratio_on_demand``).

The descriptions are the schema's own (``depinsim schema`` prints them), so a label cannot drift from
the field it names.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from sim.schema import Scenario
from sim.units import BELOW_SHARE

PRICES = {"on_demand": "AWS on-demand", "spot": "AWS spot", "reserved": "AWS reserved", "cheapest": "the cheapest "
          "alternative"}
METRICS = {"undercut_ratio": "price / {against}", "p95_ratio": "95th-percentile price / {against}",
           "worst_ratio": "worst-epoch price / {against}", "months_undercut": "months below {against}",
           "months_below": "months below {below:g} x {against}"}


def parameter_label(path: str, scenario: Scenario) -> str:
    """A dotted scenario path as its list items' names and its field's description (first clause,
    lower case); the path itself where the schema does not know it (a mechanism's own field the
    scenario does not use)."""
    value: Any = scenario
    names: list[str] = []
    description = None
    for key in path.split("."):
        if isinstance(value, list | tuple):
            items = [getattr(v, "name", None) for v in value]
            index = int(key) if key.isdigit() else items.index(key) if key in items else None
            if index is None or index >= len(value):
                return path
            value = value[index]
            names.append(str(getattr(value, "name", key)))
            continue
        if not isinstance(value, BaseModel) or key not in type(value).model_fields:
            return path
        description = type(value).model_fields[key].description
        value = getattr(value, key)
    if not description:
        return path
    clause = re.split(r"[.;(]", description, maxsplit=1)[0].strip()
    clause = clause[:1].lower() + clause[1:]
    return f"{' / '.join(names)}: {clause}" if names else clause


def metric_label(column: str, below: float = BELOW_SHARE) -> str:
    """A summary column (a sweep's runs table) as what it measures, for the undercut metrics; the column
    without its ``by_class.`` prefix otherwise. ``below``: the share ``months_below`` counted under."""
    parts = column.split(".")
    if len(parts) >= 3 and parts[0] == "by_class":
        cls, rest = parts[1], parts[2:]
        if rest[0] == "alternatives" and len(rest) == 3 and rest[2] in METRICS:
            return f"{cls} {METRICS[rest[2]].format(against=rest[1].replace('_', ' '), below=below)}"
        if rest[0] == "cheapest_alternative" and len(rest) == 2 and rest[1] in METRICS:
            return f"{cls} {METRICS[rest[1]].format(against=PRICES['cheapest'], below=below)}"
        for metric, text in METRICS.items():
            for kind, price in PRICES.items():
                if rest == [f"{metric}_{kind}"]:
                    return f"{cls} {text.format(against=price, below=below)}"
        return f"{cls} {'.'.join(rest).replace('_', ' ')}"
    return column.replace("_", " ")
