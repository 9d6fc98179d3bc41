"""Token side: exact integer splits, base-unit conversion, emission and price models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.schema.emission import ConstantEmission
from sim.schema.price import ConstantTokenPrice, GbmTokenPrice
from sim.schema.rewards import MixedRewards, RewardExpectation, WorkProportionalRewards
from sim.tokens import RewardForecast, allocate, to_base_units


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=10**30),
    weights=st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), min_size=1, max_size=60),
)
def test_allocate_is_exact_and_proportional(total: int, weights: list[float]) -> None:
    split = allocate(total, np.asarray(weights))
    w = np.rint(np.asarray(weights) * 1e3).astype(np.int64)
    if w.sum() == 0:
        assert split is None
        return
    assert split is not None
    idx, shares = split
    assert idx.tolist() == np.flatnonzero(w).tolist()
    w = w[idx]
    values = [int(x) for x in shares]
    assert sum(values) == total
    assert min(values) >= 0
    denominator = int(w.sum())
    for value, wi in zip(values, w.tolist(), strict=True):
        exact_floor = total * wi // denominator
        assert value - exact_floor in (0, 1)  # floor of the exact share, plus at most one remainder unit


def test_allocate_gives_remainder_to_largest_fractions_then_lowest_index() -> None:
    assert allocate(10, np.array([1.0, 1.0, 1.0]))[1].tolist() == [4, 3, 3]
    assert allocate(2, np.array([1.0, 2.0, 2.0]))[1].tolist() == [0, 1, 1]
    idx, shares = allocate(7, np.array([0.0, 2.0, 0.0, 5.0]))
    assert idx.tolist() == [1, 3] and shares.tolist() == [2, 5]
    assert allocate(5, np.zeros(4)) is None


def test_to_base_units_uses_the_decimal_the_user_wrote() -> None:
    assert to_base_units(0.1, 18) == 10**17
    assert to_base_units(50_000, 18) == 50_000 * 10**18
    assert to_base_units(1.5, 0) == 2 and to_base_units(2.5, 0) == 2  # half to even
    assert to_base_units(1e-6, 6) == 1


def test_constant_emission_closed_form() -> None:
    e = ConstantEmission(tokens_per_day=50_000)
    t = np.array([0.0, 24.0, 36.0, 24.0 * 365])
    assert e.cumulative_tokens(t).tolist() == [0.0, 50_000.0, 75_000.0, 50_000.0 * 365]


def test_constant_token_price() -> None:
    assert ConstantTokenPrice(usd=0.4).path(np.arange(5.0), np.random.default_rng(0)).tolist() == [0.4] * 5


def test_gbm_matches_its_log_moments_and_is_seeded() -> None:
    model = GbmTokenPrice(initial_usd=1.0, drift_per_year=0.1, volatility_per_year=0.6)
    grid = np.arange(0, 24 * 365 * 200 + 1, 24.0)  # 200 years of daily steps
    path = model.path(grid, np.random.default_rng(42))
    log_returns = np.diff(np.log(path))
    dt = 1 / 365
    assert path[0] == 1.0
    four_sigma = 4 * 0.6 * np.sqrt(dt) / np.sqrt(len(log_returns))
    assert log_returns.mean() == pytest.approx((0.1 - 0.5 * 0.36) * dt, abs=four_sigma)
    assert log_returns.std() == pytest.approx(0.6 * np.sqrt(dt), rel=0.02)
    again = model.path(grid, np.random.default_rng(42))
    assert np.array_equal(path, again)


def test_reward_forecast_tracks_delivered_work_and_offered_hours() -> None:
    f = RewardForecast(RewardExpectation(smoothing=0.5, initial_utilisation=0.5), capacity_gpus=100,
                       capacity_work=100)
    work_rule = WorkProportionalRewards()
    # 10 tokens/h at $2: $20/h over 50 units of work delivered per hour expected at first
    assert f.rewards_usd(10, work_rule, 2.0) == pytest.approx((20 / 50, 0.0))
    f.observe(delivered_work=90 * 24, offered_gpu_hours=100 * 24, epoch_hours=24)
    assert f.rewards_usd(10, work_rule, 2.0) == pytest.approx((20 / 70, 0.0))
    mixed = MixedRewards(work_share=0.25, capacity_share=0.75)
    assert f.rewards_usd(10, mixed, 2.0) == pytest.approx((5 / 70, 15 / 100))
    assert f.rewards_usd(0, work_rule, 2.0) == (0.0, 0.0)


def test_price_expectation_myopic_and_adaptive() -> None:
    myopic = RewardForecast(RewardExpectation(price="myopic"), 1, 1)
    adaptive = RewardForecast(RewardExpectation(price="adaptive", price_smoothing=0.25), 1, 1)
    for p in (1.0, 2.0):
        m, a = myopic.expected_price(p), adaptive.expected_price(p)
    assert m == 2.0 and a == pytest.approx(1.25)
