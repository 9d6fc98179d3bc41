"""Helpers for tests: the bundled scenarios as data, and small scenarios built in code."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sim import Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
def scenario_dict(name: str) -> dict[str, Any]:
    """A bundled scenario as plain data, to modify in a test."""
    return YAML(typ="safe").load((SCENARIOS / f"{name}.yaml").read_text())


def posted_cost_plus(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with posted prices and ``cost_plus`` asks in every provider group. For the tests of
    matching, payments, spot and failures that need prices that are positive and do not move with
    demand: under the bundled scenarios' clearing market a slack class prices at its power cost, near
    0, and a scarce one at the buyers' limits, which would hide what those tests look at."""
    data = copy.deepcopy(data)
    data["market"] = {**data.get("market", {}), "kind": "posted_price"}
    for group in data["providers"]:
        group["ask_policy"] = {"kind": "cost_plus"}
    return data


def with_changes(data: dict[str, Any], **changes: Any) -> Scenario:
    """Validate a copy of ``data`` with dotted-path changes, e.g. ``**{"tokenomics.decimals": 6}``."""
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return Scenario.model_validate(data)
