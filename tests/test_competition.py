"""A competing network offering providers twice the yield (the stress battery's ``competing_network``): a node
leaves when its margin here stays below the offer, so supply shrinks and the price rises until those who
stay earn what they were offered."""

from __future__ import annotations

import numpy as np
import pytest

from sim import InputError, load_scenario, run
from sim.dynamics import ProviderDynamics
from sim.fleet import build_fleet
from sim.units import HOURS_PER_MONTH

from .helpers import SCENARIOS, scenario_dict, with_changes

SHOCK = "shocks=[{kind: competing_network, month: 1, yield_multiplier: 2}]"


def _dynamics(shocks: list[dict]) -> ProviderDynamics:
    """Three 8-GPU H100 nodes that leave after 2 epochs below their threshold, GPUs resellable at half price
    (holding them costs $0.17 per GPU-hour: the hurdle rate on the resale value)."""
    data = scenario_dict("tiny")
    data["providers"] = [data["providers"][0]]
    data["providers"][0].update(count=3, exit_after_negative_epochs=2, capex_usd_per_gpu=20000,
                                hardware={"resale_fraction": 0.5})
    scenario = with_changes(data, horizon_days=90, shocks=shocks)
    return ProviderDynamics(build_fleet(scenario.providers, 1), 24.0, 90, scenario.shocks)


def test_a_node_leaves_when_its_margin_stays_below_the_competitors_offer() -> None:
    """By hand: the class's three nodes earned $1 per GPU-hour before the offer (month 1 = 730 h); the
    competitor offers twice that, $2 x 8 GPUs x 24 h = $384 an epoch, to each. Earning $1.5 per GPU-hour
    ($288) for two epochs, node 0 leaves, and keeps its GPUs (no resale); node 1 earns $2.5 and stays, node
    2 exactly the offer and stays. Without the competitor all three stay."""
    per_epoch = 8 * 24.0
    before = np.full(3, 1.0) * per_epoch
    after = np.array([1.5, 2.5, 2.0]) * per_epoch
    for shocks, leaves in (([], []), ([{"kind": "competing_network", "month": 1, "yield_multiplier": 2}], [0])):
        dyn = _dynamics(shocks)
        k = 0
        while k * 24.0 < HOURS_PER_MONTH:  # epochs that start before the offer
            assert dyn.leaving(k, (k + 1) * 24.0, before).size == 0
            k += 1
        left = [dyn.leaving(k + i, (k + i + 1) * 24.0, after).tolist() for i in range(3)]
        assert left == [[], leaves, []], shocks
        assert (dyn.table()["resale_usd"] == 0).all()  # a mover takes its GPUs; nobody sold


def test_the_offer_is_the_class_margin_fixed_when_it_is_made() -> None:
    """The offer is a level set at the shock from the class's margin realised before it (here the mean of
    $0.5, $1 and $1.5 per GPU-hour: $1, so $2 offered): nodes earning $2 afterwards stay however long, and
    a node earning a little less leaves after two epochs whatever it earned before."""
    dyn = _dynamics([{"kind": "competing_network", "month": 1, "yield_multiplier": 2}])
    per_epoch = 8 * 24.0
    left = []
    for k in range(60):
        t0 = k * 24.0
        margin = np.array([0.5, 1.0, 1.5]) if t0 < HOURS_PER_MONTH else np.array([2.0, 2.0, 1.99])
        left += dyn.leaving(k, t0 + 24.0, margin * per_epoch).tolist()
    assert left == [2]


def test_under_competition_the_network_loses_providers_and_its_price_rises() -> None:
    """tiny over 120 days with six H100 nodes whose power costs differ (uniform $0.05-0.60 per kWh) and
    leave after 3 epochs below their threshold: from month 1 a rival offers twice the yield. The run is
    the unshocked run before it; after it more H100 nodes leave, and the price of those that stay (a
    demand bidding for fewer nodes) rises."""
    sets = ["horizon_days=120", "providers.h100.count=6", "providers.h100.exit_after_negative_epochs=3",
            "providers.h100.electricity_usd_per_kwh={kind: uniform, low: 0.05, high: 0.6}"]
    base, shocked = (run(load_scenario(SCENARIOS / "tiny.yaml", extra)) for extra in (sets, [*sets, SHOCK]))
    start = 1 * HOURS_PER_MONTH
    before = base.epochs["t_end_hours"] <= start
    assert base.epochs[before].equals(shocked.epochs[before])
    h100 = [r.providers[r.providers["group"] == "h100"] for r in (base, shocked)]
    assert (h100[1]["left_epoch"] >= 0).sum() > (h100[0]["left_epoch"] >= 0).sum()

    def price(result) -> float:  # type: ignore[no-untyped-def]
        e = result.epochs
        sold = e[(e["gpu_class"] == "H100_SXM") & (e["t_start_hours"] >= start + 10 * 24.0)]
        return float((sold["network_price_usd_per_gpu_hour"] * sold["gpu_hours_sold"]).sum()
                     / sold["gpu_hours_sold"].sum())

    assert price(shocked) > price(base)


def test_a_competitor_needs_providers_that_can_leave() -> None:
    with pytest.raises(InputError, match="no provider group can leave"):
        load_scenario(SCENARIOS / "tiny.yaml", [SHOCK])
    with pytest.raises(InputError, match="yield_multiplier"):
        load_scenario(SCENARIOS / "tiny.yaml", ["providers.h100.exit_after_negative_epochs=3",
                                                "shocks=[{kind: competing_network, month: 1, yield_multiplier: 0.9}]"])
