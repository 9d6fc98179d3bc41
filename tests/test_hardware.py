"""Hardware prices over the run: entrants pay the price of the epoch they decide in, and a node whose GPUs
could be sold leaves when holding them costs more than staying earns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim import run
from sim.dynamics import ProviderDynamics
from sim.fleet import build_fleet
from sim.units import HOURS_PER_YEAR

from .helpers import posted_cost_plus, scenario_dict, with_changes
from .test_entry import _h100_only

LEAD = 5  # epochs of one day


def _entry(path: dict[str, Any], seed: int = 4) -> Any:
    """test_entry's steady demand for twice the initial capacity, with a hardware price path."""
    data = _h100_only(posted_cost_plus(scenario_dict("tiny")), 2.0, {"kind": "lognormal", "median": 16, "sigma": 0.3})
    data["providers"][0].update(count=2, max_count=16, entry={"lead_time_days": LEAD, "max_entries_per_epoch": 1},
                                hardware={"price_path": path})
    return run(with_changes(data, horizon_days=120, seed=seed))


def test_entrants_pay_the_price_of_the_epoch_they_decide_in() -> None:
    result = _entry({"kind": "decline", "rate_per_year": 0.3})
    p = result.providers
    catalog = p.loc[p["joined_epoch"] == 0, "capex_usd_per_gpu"]
    assert (catalog == catalog.iloc[0]).all()  # the initial nodes bought at t = 0's price
    entrants = p[p["joined_epoch"] > 0]
    assert len(entrants) >= 2
    decided_hours = (entrants["joined_epoch"] - LEAD) * 24.0  # after epoch k, working from k + 1 + lead
    expected = catalog.iloc[0] * 0.7 ** (decided_hours / HOURS_PER_YEAR)
    assert np.allclose(entrants["capex_usd_per_gpu"], expected, rtol=1e-12)
    assert (entrants["capex_usd_per_gpu"] < catalog.iloc[0]).all()
    fixed = entrants["capex_usd_per_gpu"] / (entrants["amortisation_years"] * HOURS_PER_YEAR) + entrants[
        "other_opex_usd_per_gpu_hour"]
    assert np.allclose(entrants["fixed_usd_per_gpu_hour"], fixed, rtol=1e-12)


def test_cheaper_hardware_brings_more_entry() -> None:
    """Entry stops where the diluted margin no longer pays for the capex (test_entry): a 70% cheaper GPU
    from month 1 pays for itself at a lower margin, so more nodes enter on the same demand and draws."""
    constant = _entry({"kind": "constant"}).providers
    cheaper = _entry({"kind": "steps", "steps": [{"month": 1, "multiplier": 0.3}]}).providers
    n_constant, n_cheaper = (int((p["joined_epoch"] > 0).sum()) for p in (constant, cheaper))
    assert n_cheaper > n_constant >= 1, (n_constant, n_cheaper)


def _dynamics(resale: float, path: dict[str, Any]) -> ProviderDynamics:
    data = scenario_dict("tiny")
    data["providers"] = [data["providers"][0]]
    data["providers"][0].update(exit_after_negative_epochs=2, capex_usd_per_gpu=20000,
                                entry={"hurdle_rate_per_year": 0.15},
                                hardware={"resale_fraction": resale, "price_path": path})
    return ProviderDynamics(build_fleet(with_changes(data).providers, 1), 24.0, 100)


@pytest.mark.parametrize("path, decline", [({"kind": "constant"}, 0.0),
                                           ({"kind": "decline", "rate_per_year": 0.4}, 0.4)])
def test_a_node_sells_its_gpus_when_holding_them_costs_more_than_staying_earns(path: dict[str, Any],
                                                                                decline: float) -> None:
    """Holding cost of an 8-GPU node per day, by hand: resale R = 0.5 x $20,000 x 8 x (1 - decline)^t,
    forgone return 15%/yr x R x 24 / 8760, plus R's fall over the day. A cash margin of half that for two
    epochs sells; one and a half times it keeps the node; with no resale value, half of it keeps it too."""
    t = 240.0
    resale = 0.5 * 20000 * 8 * (1 - decline) ** (t / HOURS_PER_YEAR)
    later = 0.5 * 20000 * 8 * (1 - decline) ** ((t + 24) / HOURS_PER_YEAR)
    holding = resale * 0.15 * 24 / HOURS_PER_YEAR + (resale - later)
    assert holding > 0
    for resale_fraction, margin, leaves in ((0.5, 0.5, True), (0.5, 1.5, False), (0.0, 0.5, False)):
        dyn = _dynamics(resale_fraction, path)
        cash = np.full(dyn.fleet.size, margin * holding)
        assert dyn.leaving(9, t, cash).size == 0  # one epoch below: not yet
        left = dyn.leaving(10, t, cash)
        assert (left.size == dyn.fleet.size) == leaves, (resale_fraction, margin)
        if leaves:
            assert np.allclose(dyn.table()["resale_usd"], resale, rtol=1e-12)
        else:
            assert (dyn.table()["resale_usd"] == 0).all()


def test_a_csv_series_is_not_a_hardware_path() -> None:
    data = scenario_dict("tiny")
    data["providers"][0]["hardware"] = {"price_path": {"kind": "csv", "file": "x.csv", "offer": "p5.48xlarge"}}
    with pytest.raises(ValueError, match="constant.*steps.*decline"):
        with_changes(data)
