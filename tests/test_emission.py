"""Every emission schedule against its closed form and the published constants it encodes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from sim.schema.emission import (
    AkashEmission,
    BurnAndMintEmission,
    ConstantEmission,
    EmissionState,
    ExponentialDecayEmission,
    FilecoinEmission,
    HalvingEmission,
    IoNetEmission,
)

YEAR = 8760.0


def years(*ys: float) -> np.ndarray:
    return np.array(ys) * YEAR


def test_constant() -> None:
    assert ConstantEmission(tokens_per_day=1000).cumulative_tokens(years(0, 1)).tolist() == [0.0, 365_000.0]


def test_exponential_decay_releases_half_per_half_life() -> None:
    e = ExponentialDecayEmission(total_tokens=1e9, half_life_years=4)
    m = e.cumulative_tokens(years(0, 4, 8, 400))
    assert m[0] == 0 and m[1] == pytest.approx(0.5e9, rel=1e-12) and m[2] == pytest.approx(0.75e9, rel=1e-12)
    assert m[3] == pytest.approx(1e9, rel=1e-12)


def test_halving_bitcoin_and_helium_shapes() -> None:
    e = HalvingEmission(initial_tokens_per_day=100, period_years=2)
    first = 100 * 365 * 2
    m = e.cumulative_tokens(years(1, 2, 3, 4, 200))
    assert m[0] == pytest.approx(first / 2) and m[1] == pytest.approx(first)
    assert m[2] == pytest.approx(first * 1.25) and m[3] == pytest.approx(first * 1.5)
    assert m[4] == pytest.approx(2 * first)  # the geometric limit
    helium = HalvingEmission(initial_tokens_per_day=300_000, period_years=2, max_tokens=223e6 - 69e6)
    assert helium.cumulative_tokens(years(100))[0] == pytest.approx(223e6 - 69e6)


def test_ionet_published_constants() -> None:
    e = IoNetEmission()  # 500M at launch, 8%/yr falling 12% a year, 300M cap (docs.io.net)
    first_hour = e.cumulative_tokens(np.array([1.0]))[0]
    assert round(first_hour, 2) == 4566.21
    m = e.cumulative_tokens(years(1, 2, 18, 19, 40))
    assert m[0] == pytest.approx(40e6) and m[1] == pytest.approx(40e6 * 1.88)
    # the 300M cap is reached in the 19th year ("300M emitted hourly over 20 years")
    assert m[2] == pytest.approx(40e6 * (1 - 0.88**18) / 0.12) and m[2] < 300e6
    assert m[3] == m[4] == pytest.approx(300e6)


def test_filecoin_simple_minting_releases_half_in_six_years() -> None:
    e = FilecoinEmission(baseline_tokens=0, baseline_initial_gpus=1000)
    assert e.cumulative_tokens(years(6))[0] == pytest.approx(165e6, rel=1e-12)
    assert e.simple_cumulative(years(12))[0] == pytest.approx(330e6 * 0.75, rel=1e-12)


def _advance(e: FilecoinEmission, capacity: float, total_years: float, epochs: int) -> EmissionState:
    state = EmissionState()
    grid = np.linspace(0, total_years * YEAR, epochs + 1)
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        state = e.advance(state, float(t0), float(t1), capacity)
    return state


def test_filecoin_baseline_on_effective_network_time() -> None:
    e = FilecoinEmission(simple_tokens=0, baseline_initial_gpus=1000)  # b(t) = 1000 * 2**t
    # a network above the baseline all along: effective time equals real time
    ahead = _advance(e, capacity=1e9, total_years=3, epochs=1000)
    assert e.effective_years(ahead) == pytest.approx(3.0, rel=1e-9)
    assert e.cumulative_tokens(years(3), ahead)[0] == pytest.approx(770e6 * (1 - 2 ** (-3 / 6)), rel=1e-9)
    # a network stuck at half the initial baseline: R-bar-sum = 500 t, theta = ln(g 500 t / 1000 + 1) / g
    behind = _advance(e, capacity=500, total_years=3, epochs=37)
    g = math.log(2)
    theta = math.log(g * 500 * 3 / 1000 + 1) / g
    assert e.effective_years(behind) == pytest.approx(theta, rel=1e-12)
    # a network at twice the initial baseline is ahead for one year (b reaches it), then capped by R
    crossing = _advance(e, capacity=2000, total_years=2, epochs=7)
    integral = 1000 / g * (2 - 1) + 2000 * 1.0
    assert crossing.capped_capacity_gpu_years == pytest.approx(integral, rel=1e-12)


def test_burn_and_mint_mints_a_fixed_amount() -> None:
    e = BurnAndMintEmission(tokens_per_day=43_758 / 7)  # Render year 1: ~43,758 per 7-day epoch (RNP-001)
    assert e.cumulative_tokens(np.array([7 * 24.0]))[0] == pytest.approx(43_758)
    with pytest.raises(ValidationError):
        BurnAndMintEmission(tokens_per_day=1, burn_share=1.5)


def test_akash_inflation_compounds_on_supply() -> None:
    e = AkashEmission()  # 53% -> 40% -> 30% -> 15%
    s0 = 100e6
    m = e.cumulative_tokens(years(1, 2, 4, 5), initial_supply_tokens=s0)
    assert m[0] == pytest.approx(s0 * math.expm1(0.53))
    assert m[1] == pytest.approx(s0 * math.expm1(0.93))
    assert m[2] == pytest.approx(s0 * math.expm1(0.53 + 0.40 + 0.30 + 0.15))
    assert m[3] == pytest.approx(s0 * math.expm1(1.38 + 0.15))
    with pytest.raises(ValidationError, match="increase"):
        AkashEmission(inflation_steps=({"from_year": 1, "rate_per_year": 0.1},))


@pytest.mark.parametrize("bad", [
    {"kind": "exponential_decay", "total_tokens": 1e6, "half_life_years": -1},
    {"kind": "halving", "initial_tokens_per_day": 10, "period_years": 0},
    {"kind": "ionet", "yearly_disinflation": 1.0},
    {"kind": "filecoin", "baseline_initial_gpus": 0},
])
def test_impossible_parameters_are_rejected(bad: dict) -> None:
    from sim.schema.tokenomics import Tokenomics

    with pytest.raises(ValidationError):
        Tokenomics.model_validate({"emission": bad})
