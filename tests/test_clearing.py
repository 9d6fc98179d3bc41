"""Price discovery against theory: the uniform clearing price, pass-through in constructed markets, the
engine's clearing market, and the paired counterfactual's incidence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim import Scenario, run
from sim.clearing import clear_classes, merit_orders, uniform_price


def _price(asks: list[float], caps: list[float], limits: list[float], loads: list[float]) -> float:
    return uniform_price(np.array(asks, float), np.array(caps, float), np.array(limits, float),
                         np.array(loads, float))


def test_slack_supply_prices_at_the_lowest_offer() -> None:
    assert _price([1, 2, 3], [10, 10, 10], [5], [5]) == 1


def test_binding_capacity_prices_at_the_marginal_buyer() -> None:
    # 60 GPU-hours at $1: the buyers above $3 want 50, so the $3 buyers are the marginal ones
    assert _price([1], [60], [3, 5], [50, 50]) == 3
    # 10 GPU-hours: even the $5 buyers want more than there is, so they set the price
    assert _price([1], [10], [3, 5], [50, 50]) == 5


def test_price_clears_the_busiest_interval() -> None:
    # capacity 10 per interval; a $4 buyer needs 15 in the second interval only
    caps = np.array([[10.0, 10.0]])
    loads = np.array([[0.0, 15.0], [5.0, 0.0]])
    assert uniform_price(np.array([1.0]), caps, np.array([4.0, 2.0]), loads) == 4.0


def _random_market(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    m, n = rng.integers(1, 30), rng.integers(0, 60)
    return (rng.uniform(0, 3, m).round(2), rng.uniform(1, 10, m), rng.uniform(0, 6, n).round(2), rng.uniform(0, 5, n))


def test_price_rises_with_demand_and_leaves_no_willing_buyer_unserved() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        asks, caps, limits, loads = _random_market(rng)
        prices = [uniform_price(asks, caps, limits, loads * s) for s in (0.5, 1.0, 2.0, 4.0)]
        assert all(a <= b for a, b in zip(prices, prices[1:], strict=False)), prices
        p = prices[1]
        # everyone bidding strictly above the price fits in the capacity offered at or below it
        assert loads[limits > p].sum() <= caps[asks <= p].sum() + 1e-9
        # and the price is never above the highest bid unless it is the lowest offer (nothing sells)
        assert p <= max(limits.max(initial=-np.inf), asks.min())


def test_fixed_capacity_keeps_the_subsidy_and_flat_supply_passes_it_on() -> None:
    # fixed capacity, demand above it: lowering every offer by the reward leaves the price where it was
    limits, loads = np.linspace(3, 8, 50), np.full(50, 10.0)
    before, after = _price([1.0] * 5, [40] * 5, list(limits), list(loads)), _price([0.6] * 5, [40] * 5,
                                                                                   list(limits), list(loads))
    assert (before - after) / 0.4 == pytest.approx(0.0, abs=1e-9)
    # flat, slack supply: the price is the offer, so it falls by the whole reward
    before, after = _price([2.0] * 5, [400] * 5, [5.0], [100.0]), _price([1.6] * 5, [400] * 5, [5.0], [100.0])
    assert (before - after) / 0.4 == pytest.approx(1.0)


def test_linear_supply_and_demand_split_the_subsidy_as_the_textbook_says() -> None:
    # supply P = a + b q and demand P = alpha - beta q in units of one GPU-hour: buyers' share of a
    # reward r per unit is eps_S / (eps_S + |eps_D|) = beta / (b + beta) at the equilibrium
    a, b, alpha, beta, r = 1.0, 0.002, 5.0, 0.004, 0.3
    q = np.arange(3000) + 0.5
    supply, demand = a + b * q, alpha - beta * q
    ones = np.ones(q.size)
    before = uniform_price(supply, ones, demand, ones)
    after = uniform_price(supply - r, ones, demand, ones)
    q_star = (alpha - a) / (b + beta)
    p_star = a + b * q_star
    eps_s, eps_d = p_star / (b * q_star), p_star / (beta * q_star)
    assert (before - after) / r == pytest.approx(eps_s / (eps_s + eps_d), rel=0.1)


def test_buyers_of_several_classes_go_where_the_work_is_cheapest_and_ties_are_shared() -> None:
    # class 0 is offered at 1, class 1 at 2; each order's job takes 10 GPU-hours on either; class 0 has
    # room for 3 orders, so the rest move to class 1 once class 0's price passes the switch price
    n = 6
    limits, work = np.full((n, 2), 5.0), np.full((n, 2), 10.0)
    loads = np.full((n, 2, 1), 10.0)
    two = [np.array([0]), np.array([1])]
    curves = merit_orders(np.array([1.0, 2.0]), np.array([[30.0], [100.0]]), two)
    prices, choice = clear_classes(curves, limits, loads, work)
    assert prices.tolist() == [2.0, 2.0] and (choice == 1).any() and (choice == 0).any()
    # two identical classes with slack: ties are split, not all sent to class 0
    _, choice = clear_classes(merit_orders(np.array([1.0, 1.0]), np.array([[100.0], [100.0]]), two), limits, loads,
                              work)
    assert (choice == 0).sum() == (choice == 1).sum() == 3


# --- the engine ---------------------------------------------------------------------------------------

def _market(rate: float, *, electricity: float = 0.08, emission: float = 0.0, days: int = 6, count: int = 4,
            max_count: int | None = None, ask: dict[str, Any] | None = None, counterfactual: bool = False,
            low: float = 3.0, high: float = 9.0, market: str = "uniform_clearing") -> Scenario:
    """Four 8-GPU H100 nodes (no capex: only power is marginal), training jobs at ``rate`` per hour of
    8 GPUs x 8 reference GPU-hours, budgets uniform in [low, high] $/GPU-h, a constant emission."""
    group = {"name": "h100", "count": count, "gpu_model": "H100_SXM", "gpus_per_node": 8, "capex_usd_per_gpu": 0,
             "electricity_usd_per_kwh": electricity, "other_opex_usd_per_gpu_hour": 0.0,
             "ask_policy": ask or {"kind": "shutdown"}}
    if max_count:
        group["max_count"] = max_count
    return Scenario.model_validate({
        "name": "clearing", "horizon_days": days, "epoch_hours": 24, "seed": 5, "counterfactual": counterfactual,
        "providers": [group],
        "workload": {"streams": [{"name": "train", "arrivals": {"kind": "poisson", "rate_per_hour": rate}, "job": {
            "kind": "training", "gpu_models": ["H100_SXM"], "gpus": 8, "work_gpu_hours": 64,
            "patience_hours": 2.0, "reservation_usd_per_gpu_hour": {"kind": "uniform", "low": low, "high": high}}}]},
        "market": {"kind": market},
        "tokenomics": {"emission": {"kind": "constant", "tokens_per_day": emission},
                       "token_price": {"kind": "constant", "usd": 1.0},
                       "reward_expectation": {"smoothing": 1.0, "initial_utilisation": 1.0}},
    })


def _h100_price(result: Any) -> float:
    e = result.epochs
    return float(e.buyers_usd.sum() / e.gpu_hours_sold.sum())


def test_clearing_price_rises_with_demand_and_stays_under_every_outside_option() -> None:
    prices = []
    for rate in (0.1, 0.2, 0.4, 0.8):  # demand from a tenth to over 1.5x the 32 GPUs
        r = run(_market(rate))
        prices.append(_h100_price(r))
        served = r.jobs[(r.jobs.venue == "network") & (r.jobs.attempts == 1)]
        assert (served.price_paid_usd <= served.cloud_alternative_usd * (1 + 1e-9) + 1e-6).all()
    assert all(a <= b + 1e-9 for a, b in zip(prices, prices[1:], strict=False)), prices
    assert prices[0] < 0.2 < 3.0 < prices[-1]  # slack: near the power cost; binding: near the buyers' limits


def test_a_clearing_market_needs_an_outside_option() -> None:
    data = _market(1.0).model_dump(mode="json")
    data["workload"]["streams"][0]["job"]["gpu_models"] = ["RTX_4090"]
    data["providers"][0]["gpu_model"] = "RTX_4090"
    data["cloud"] = {"price_set": "aws_2025_post_cut", "buyer_price": "capacity_block"}
    with pytest.raises(ValueError, match="no outside option"):
        Scenario.model_validate(data)


def test_adaptive_asks_climb_when_busy_and_stay_in_their_band() -> None:
    ask = {"kind": "adaptive", "target_utilisation": 0.5, "step": 0.3, "initial_position": 0.0}
    busy = run(_market(4.0, ask=ask, market="posted_price")).epochs.median_ask_usd_per_gpu_hour.to_numpy()
    idle = run(_market(0.05, ask={**ask, "initial_position": 1.0}, market="posted_price"))
    idle = idle.epochs.median_ask_usd_per_gpu_hour.to_numpy()
    # busy nodes climb from their shutdown price to the outside option (AWS p5 post-cut on-demand, $6.88),
    # where buyers leave and the ask comes back down; idle nodes fall from it
    assert (np.diff(busy[:5]) > 0).all() and busy.max() == pytest.approx(6.88) and busy[-1] < busy.max()
    assert (np.diff(idle) <= 0).all() and idle[-1] < idle[0] <= 6.88 + 1e-6
    assert min(busy.min(), idle.min()) >= 0.0


def test_paired_counterfactual_measures_pass_through() -> None:
    # slack, flat supply (40 nodes at 10% load, power $0.91/GPU-h, reward ~$0.27 per GPU-hour sold): the
    # price falls by the reward
    slack = run(_market(0.5, electricity=1.0, emission=230.0, counterfactual=True, count=40, days=10))
    slack = slack.summary["incidence"]["H100_SXM"]
    assert slack["pass_through"] == pytest.approx(1.0, abs=0.15)
    # fixed capacity far below demand: buyers' limits set the price with or without the reward
    tight = run(_market(6.0, emission=5000.0, counterfactual=True, low=8.0, high=9.0)).summary["incidence"]
    assert tight["H100_SXM"]["pass_through"] == pytest.approx(0.0, abs=0.1)
    assert tight["H100_SXM"]["split_share"]["providers"] > 0.9


def test_max_count_does_not_change_the_initial_nodes() -> None:
    from sim.failures import FailureTimes
    from sim.fleet import build_fleet

    a = build_fleet(_market(1.0).providers, 11)
    b = build_fleet(_market(1.0, max_count=40).providers, 11)
    for column in ("gpus", "electricity_usd_per_kwh", "pue", "mtbf_hours"):
        assert np.array_equal(getattr(a, column), getattr(b, column)[:4]), column
    # and the same nodes fail at the same times, beyond the draws taken from the group's stream
    times_a, times_b = FailureTimes(a, 11), FailureTimes(b, 11)
    for p in range(4):
        draws = [(times_a.until_failure(p), times_a.repair(p)) for _ in range(FailureTimes.BLOCK)]
        assert draws == [(times_b.until_failure(p), times_b.repair(p)) for _ in range(FailureTimes.BLOCK)]
