"""Storage as a resource of the same engine: TiB of sealed capacity, deals that keep data for days, and
Amazon S3 as the client's alternative (issue P9, first part)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sim import run
from sim.catalog import cloud_catalog, storage_catalog
from sim.cli import app
from sim.errors import InputError
from sim.fleet import build_fleet
from sim.loader import parse_scenario
from sim.schema import core
from sim.schema.jobs import SyntheticJob
from sim.units import HOURS_PER_YEAR

STORAGE = """\
name: storage_small
seed: 3
horizon_days: 120
epoch_hours: 24
providers:
  - resource: storage
    name: sps
    count: 20
    media: hdd_sealed
    tib_per_node: 256
    electricity_usd_per_kwh: 0.10
    pue: 1.5
    other_opex_usd_per_tib_month: 0.73
    ask_policy: {kind: shutdown}
workload:
  streams:
    - name: deals
      arrivals: {kind: poisson, rate_per_hour: 0.5}
      job: {kind: storage_deal, size_tib: {8: 0.5, 32: 0.5}, duration_days: 180, reservation_usd_per_tib_month: 30}
cloud:
  alternatives: [{venue: aws_s3, offers: [s3_standard]}]
market: {kind: uniform_clearing}
tokenomics:
  initial_supply_tokens: 1000000
  emission: {kind: constant, tokens_per_day: 1000}
  token_price: {kind: constant, usd: 1.0}
"""


def _scenario(overrides: list[str] | None = None):
    return parse_scenario(STORAGE, "storage_small.yaml", overrides or [])


def test_s3_prices_convert_to_usd_per_tib_hour_at_1024_gb_and_730_hours() -> None:
    s3 = cloud_catalog().price_sets["s3_2026"]
    assert s3.price("s3_standard", "on_demand") * 730 == pytest.approx(23.552)  # facts.md: ~$23.55/TiB-month
    assert s3.price("s3_glacier_deep_archive", "on_demand") * 730 == pytest.approx(0.00099 * 1024)
    assert np.isnan(s3.price("s3_standard", "spot"))  # no such price kind for storage


def test_storage_power_is_a_fixed_cost_and_sealing_the_marginal_one() -> None:
    """Every sealed TiB draws power whether it holds a client's data or not; a deal costs its sealing."""
    sc = _scenario()
    fleet = build_fleet(sc.providers, sc.seed)
    medium = storage_catalog().media["hdd_sealed"]
    assert fleet.classes == ("hdd_sealed",) and (fleet.gpus == 256).all()
    power = medium.watts_per_tib.value / 1000 * 1.5 * 0.10
    capex = medium.capex_usd_per_tib.value / (5 * HOURS_PER_YEAR)
    np.testing.assert_allclose(fleet.fixed_usd_per_gpu_hour, power + capex + 0.73 / 730, rtol=1e-12)
    np.testing.assert_allclose(fleet.marginal_usd_per_gpu_hour, medium.sealing_usd_per_tib.value / (540 * 24),
                               rtol=1e-12)


def test_a_storage_run_conserves_and_clients_pay_s3_or_the_network() -> None:
    result = run(_scenario())
    jobs, by_class = result.jobs, result.summary["by_class"]["hdd_sealed"]
    assert set(jobs["job_type"].astype(str)) == {"storage_deal"}
    cloud = jobs[jobs["venue"] == "cloud"]
    assert len(cloud) > 0 and (jobs["venue"] == "network").sum() > 0
    s3_tib_hour = 0.023 * 1024 / 730
    np.testing.assert_allclose(cloud["price_usd_per_gpu_hour"], s3_tib_hour, rtol=1e-12)
    ran = np.minimum(cloud["end_hours"], 120 * 24) - cloud["start_hours"]
    np.testing.assert_allclose(cloud["price_paid_usd"], s3_tib_hour * cloud["gpus"] * ran, rtol=1e-9)
    # the network's storage is far below S3 Standard (it sells where its sealing cost is covered)
    assert by_class["alternatives"]["aws_s3_on_demand"]["undercut_ratio"] < 0.5
    assert result.summary["conservation"]["jobs"]["submitted"] == len(jobs)


def test_gpu_and_storage_never_mix() -> None:
    """A training job cannot run on a storage node, nor a deal on GPUs."""
    deal = SyntheticJob.registry["storage_deal"].model_validate(
        {"kind": "storage_deal", "size_tib": 1, "duration_days": 180, "reservation_usd_per_tib_month": 5})
    training = SyntheticJob.registry["training"].model_validate(
        {"kind": "training", "min_gpu_memory_gb": 1, "work_gpu_hours": 1, "reservation_usd_per_gpu_hour": 5})
    assert deal.accepts("hdd_sealed") and not deal.accepts("H100_SXM")
    assert training.accepts("H100_SXM") and not training.accepts("hdd_sealed")


def test_the_registries_carry_the_storage_kinds() -> None:
    kinds = {r.family: r.kinds for r in core.Registry.every}
    assert "storage_deal" in kinds["job kind"]


@pytest.mark.parametrize("override,fragment", [
    # a storage deal on a GPU provider
    ("providers=[{name: h100, count: 2, gpu_model: H100_SXM}]", "Storage deals need a group with resource: storage"),
    ("providers.0.media=tape", "unknown storage medium 'tape'"),
    ("workload.streams.0.job.within_horizon=true", "duration_days reaches 180 days but the run lasts 120"),
    ("cloud.alternatives=[{venue: aws}]", "has no outside option"),
    ("workload.streams.0.job.media=[H100_SXM]", "unknown storage medium H100_SXM"),
    ("tokenomics.reward_rule={kind: quality_adjusted_power, verified_multiplier: 0.5}",
     "tokenomics.reward_rule.verified_multiplier"),
    ("market={kind: reverse_auction}\nproviders.0.ask_policy={kind: shutdown, below_zero: true}", "through escrow"),
])
def test_bad_storage_input_exits_2_with_one_paragraph(tmp_path: Path, override: str, fragment: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(STORAGE)
    sets = [arg for o in override.split("\n") for arg in ("--set", o)]
    result = CliRunner().invoke(app, ["validate", str(scenario), *sets])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert fragment in text and "Traceback" not in result.output, text
    with pytest.raises(InputError):
        _scenario(override.split("\n"))


def test_verified_deals_clear_at_the_sealing_cost_less_the_reward_a_sale_adds_when_asks_may_go_below_zero() -> None:
    """Theory (competitive providers, slack capacity): the uniform price is the shutdown price, the marginal
    cost less the reward the sale adds; under quality-adjusted power a verified TiB-hour adds 9x the power
    reward, so the price is negative: providers pay clients. The rebates leave with the buyers, and the
    money balance still closes."""
    sc = _scenario(["tokenomics.reward_rule={kind: quality_adjusted_power}", "workload.streams.0.job.verified=true",
                    "workload.streams.0.arrivals.rate_per_hour=0.02",
                    "providers.0.ask_policy={kind: shutdown, below_zero: true}"])
    result = run(sc)
    e = result.epochs
    cleared = e[e["clearing_price_usd_per_gpu_hour"].notna() & (e["utilisation"] < 0.5)]
    assert len(cleared) > 100
    marginal = result.providers["marginal_usd_per_gpu_hour"].iloc[0]
    expected = marginal - cleared["expected_work_reward_usd_per_gpu_hour"]
    np.testing.assert_allclose(cleared["clearing_price_usd_per_gpu_hour"], expected, atol=1e-6)
    assert (cleared["clearing_price_usd_per_gpu_hour"] < 0).all()
    usd = result.summary["conservation"]["usd"]
    assert usd["paid_by_buyers_micro_usd"] < 0 < usd["rebates_to_buyers_micro_usd"]
    floor = run(_scenario(["tokenomics.reward_rule={kind: quality_adjusted_power}",
                           "workload.streams.0.job.verified=true", "workload.streams.0.arrivals.rate_per_hour=0.02"]))
    assert (floor.epochs["clearing_price_usd_per_gpu_hour"].dropna() >= 0).all()  # the default stops at zero


def test_a_deal_larger_than_a_node_spans_nodes_without_slowdown() -> None:
    """32 TiB deals on 16 TiB nodes take two nodes each; stored data exchanges nothing between them, so the
    deal runs at full speed (the job kind's behaviours live on JobKind, not on the GPU kinds)."""
    result = run(_scenario(["providers.0.tib_per_node=16"]))
    spread = result.jobs[(result.jobs["gpus"] > 16) & (result.jobs["venue"] == "network")]
    assert len(spread) > 0
    assert (spread["slowdown"] == 1.0).all()
