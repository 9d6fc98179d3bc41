"""Calibration: least_squares over replicated means hits reachable targets, and says so when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.calibrate import calibrate
from sim.cli import app
from sim.errors import InputError
from sim.sweep import sweep

from .helpers import ROOT, SCENARIOS

TINY = SCENARIOS / "tiny.yaml"
EMISSION = "tokenomics.emission.tokens_per_day"
SUBSIDY = "provider_economics.subsidy_share"
FIXED = ["horizon_days=6"]


def test_calibrate_finds_the_emission_that_gives_a_subsidy_share(tmp_path: Path) -> None:
    fit = calibrate(TINY, {EMISSION: (200.0, 8000.0)}, {SUBSIDY: (0.28, 0.32)}, replications=2, seed=3,
                    fixed=FIXED, cache_dir=tmp_path)
    assert fit.reached and 200 < fit.values[EMISSION] < 8000
    row = fit.table.iloc[0]
    assert 0.28 <= row["mean"] <= 0.32 and abs(row["residual"]) <= 1
    assert fit.overrides() == [f"{EMISSION}={fit.values[EMISSION]:.6g}"]
    assert "fitted:" in fit.report() and SUBSIDY in fit.report()


def test_calibrate_refuses_bounds_the_wrong_way_round_and_reports_an_unreachable_target(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="wrong way round"):
        calibrate(TINY, {EMISSION: (8000.0, 200.0)}, {SUBSIDY: (0.28, 0.32)}, fixed=FIXED)
    with pytest.raises(InputError, match="wrong way round"):
        calibrate(TINY, {EMISSION: (200.0, 8000.0)}, {SUBSIDY: (0.32, 0.28)}, fixed=FIXED)
    # a tenth of the rewards cannot be 99% of what providers earn within these bounds
    with pytest.raises(InputError, match="cannot reach") as caught:
        calibrate(TINY, {EMISSION: (200.0, 800.0)}, {SUBSIDY: (0.98, 0.99)}, replications=1, fixed=FIXED,
                  cache_dir=tmp_path, max_evaluations=4)
    assert "ended at a bound" in str(caught.value)
    assert not caught.value.calibration.reached  # type: ignore[attr-defined]


def _spec(tmp_path: Path, bounds: str, target: str) -> Path:
    path = tmp_path / "fit.yaml"
    path.write_text(f"name: t\nbase: {TINY}\nset: {{horizon_days: 6}}\nreplications: 1\nmax_evaluations: 4\n"
                    f"params:\n  {EMISSION}: {bounds}\ntargets:\n  {SUBSIDY}: {target}\n")
    return path


@pytest.mark.parametrize(("bounds", "target", "says"), [
    ("{low: 800, high: 200}", "{low: 0.28, high: 0.32}", "wrong way round"),
    ("{low: 200, high: 800}", "{low: 0.98, high: 0.99}", "cannot reach"),
])
def test_the_calibrate_command_exits_2_with_one_paragraph(tmp_path: Path, bounds: str, target: str, says: str) -> None:
    result = CliRunner().invoke(app, ["calibrate", str(_spec(tmp_path, bounds, target))])
    assert result.exit_code == 2
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().split("\n\n")) == 1


def test_market_2026_prices_fall_in_the_observed_ranges_on_five_seeds(tmp_path: Path) -> None:
    """The ranges of ../shared/reference/facts-2026-12.md, section 1 (the scenario's comment block)."""
    ranges = {"H100_SXM": (1.33, 2.71), "A100_80GB": (0.78, 1.71), "RTX_4090": (0.31, 0.68), "RTX_3090": (0.16, 0.31)}
    runs = sweep(SCENARIOS / "market_2026.yaml", {"seed": [1, 2, 3, 4, 5]}, method="zip", backend="processes",
                 workers=2, progress=False, cache_dir=tmp_path)
    assert (runs["status"] == "ok").all()
    for cls, (low, high) in ranges.items():
        prices = runs[f"by_class.{cls}.network_price_usd_per_gpu_hour"]
        assert prices.between(low, high).all(), (cls, prices.tolist())


def test_the_bundled_calibration_file_is_valid() -> None:
    from analysis.calibrate import load_calibration_spec

    spec = load_calibration_spec(ROOT / "sweeps" / "market_2026_fit.yaml")
    assert spec.base == (ROOT / "sweeps" / "../scenarios/market_2026.yaml")
