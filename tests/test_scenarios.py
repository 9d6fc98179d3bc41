"""Golden summaries of the bundled scenarios: a change in any headline number is a visible diff; and each
run's own resolved scenario reproduces it exactly.

Regenerate after an intended model change with ``DEPINSIM_UPDATE_GOLDEN=1 pytest tests/test_scenarios.py``
and review the diff of tests/golden/ like code.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import load_scenario, run, scenario_hash
from sim.cli import app
from sim.folders import RunFolder, json_safe
from sim.results import RunResult

from .helpers import SCENARIOS

GOLDEN = Path(__file__).parent / "golden"
BUNDLED = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
KEYS = ("scenario", "scenario_hash", "seed", "jobs", "gpu_hours", "spend_usd", "tokens", "provider_economics",
        "by_class")


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    return json_safe({k: summary[k] for k in KEYS} | {"usd": summary["conservation"]["usd"]})


def _close(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, float) or isinstance(b, float):
        ok = a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        return [] if ok else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def assert_same_run(a: RunResult, b: RunResult) -> None:
    """Identical tables and summary (the summary's package version and hash included)."""
    for table in ("jobs", "epochs", "providers"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True)
    assert json.dumps(json_safe(a.summary), sort_keys=True) == json.dumps(json_safe(b.summary), sort_keys=True)


@pytest.mark.parametrize("name", BUNDLED)
def test_golden_summary_and_the_resolved_scenario_reproduces_the_run(name: str, tmp_path: Path) -> None:
    result = run(load_scenario(SCENARIOS / f"{name}.yaml"))
    summary = _headline(result.summary)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("DEPINSIM_UPDATE_GOLDEN"):
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    expected = json.loads(path.read_text())
    assert not _close(summary, expected), _close(summary, expected)
    # the run folder's scenario.resolved.yaml, run again, is the same scenario and gives the same run
    folder = RunFolder(tmp_path / name)
    folder.write(result, {})
    again = run(load_scenario(folder.scenario_file))
    assert scenario_hash(again.scenario) == result.summary["scenario_hash"]
    assert_same_run(again, result)


def test_every_bundled_scenario_has_a_golden_file() -> None:
    assert {p.stem for p in GOLDEN.glob("*.json")} == set(BUNDLED)


@pytest.mark.slow
def test_baseline_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(SCENARIOS / "baseline.yaml"), "--out", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 0, result.output
    for name in ("scenario.resolved.yaml", "jobs.parquet", "epochs.parquet", "summary.json", "pricing_curve.png"):
        assert (tmp_path / "x" / name).stat().st_size > 0


def test_baseline_undercuts_on_demand_and_the_subsidy_matters() -> None:
    golden = {n: json.loads((GOLDEN / f"{n}.json").read_text()) for n in ("baseline", "no_subsidy")}
    for cls, sub in golden["baseline"]["by_class"].items():
        plain = golden["no_subsidy"]["by_class"][cls]
        if sub["gpu_hours_sold"] > 0 and plain["gpu_hours_sold"] > 0:
            assert sub["undercut_ratio_on_demand"] < plain["undercut_ratio_on_demand"] < 1, cls
