"""The reference case: Filecoin against Amazon S3 from mainnet launch, on the same engine as the GPU
scenarios (issue P9). The known outcome, in shape and order of magnitude: verified deals nearly free, far
below S3; the block reward per TiB-day near the Aug 2021 figure at ~9 EiB; simple minting on the spec
curve; power overtaking the baseline in the first year."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.storage import baseline_crossing, reward_per_unit_day_at, storage_vs_gpu
from sim import load_scenario, run
from sim.results import RunResult
from sim.schema.emission import EmissionState
from sim.schema.rewards import QualityAdjustedPowerRewards, RewardExpectation
from sim.tokens import RewardForecast
from sim.units import HOURS_PER_MONTH, HOURS_PER_YEAR

from .helpers import SCENARIOS

EIB_IN_TIB = 2.0 ** 20
OBSERVED_FIL_PER_TIB_DAY = 0.0365  # ~2021-08-13 at 9.054 EiB (facts-2026-12 section 5a, Filfox via IPFS100)


@pytest.fixture(scope="module")
def reference() -> RunResult:
    return run(load_scenario(SCENARIOS / "filecoin_storage_reference.yaml"))


def test_verified_deals_are_nearly_free_far_below_s3_standard(reference: RunResult) -> None:
    by_class = reference.summary["by_class"]["hdd_sealed"]
    s3 = by_class["alternatives"]["aws_s3_on_demand"]
    assert s3["reference_offer"] == "s3_standard"
    assert s3["usd_per_gpu_hour_start"] * HOURS_PER_MONTH == pytest.approx(23.552)
    price = by_class["network_price_usd_per_gpu_hour"] * HOURS_PER_MONTH
    assert price <= 0.01 * 23.552  # at or near zero: at most 1% of S3 Standard
    assert s3["undercut_ratio"] <= 0.5  # "50% cheaper than Amazon" at the very least
    epochs = reference.epochs
    sold = epochs[epochs["gpu_hours_sold"] > 0]
    assert (sold["network_price_usd_per_gpu_hour"] * HOURS_PER_MONTH <= 0.01 * 23.552).all()
    jobs = reference.summary["jobs"]
    assert jobs["network"] == jobs["submitted"] > 100  # no client took S3


def test_block_reward_per_tib_day_at_9_eib_is_near_the_aug_2021_figure(reference: RunResult) -> None:
    day, per_tib = reward_per_unit_day_at(reference, 9.054 * EIB_IN_TIB)
    assert math.isfinite(day)
    assert OBSERVED_FIL_PER_TIB_DAY / 2 <= per_tib <= OBSERVED_FIL_PER_TIB_DAY * 2, per_tib


def test_simple_minting_is_on_the_spec_curve_and_the_run_mints_the_closed_form(reference: RunResult) -> None:
    emission = reference.scenario.tokenomics.emission
    lam = math.log(2) / 6
    years = np.array([0.5, 1.0, 6.0, 12.0])
    spec = 330e6 * (1 - np.exp(-lam * years))
    np.testing.assert_allclose(emission.simple_cumulative(years * HOURS_PER_YEAR), spec, rtol=1e-12)
    assert emission.simple_cumulative(np.array([6 * HOURS_PER_YEAR]))[0] == pytest.approx(165e6, rel=1e-12)
    # the run's emission: simple minting at each epoch end plus baseline minting on the effective time
    # that the run's own capacity path gives (recomputed here from the epochs table)
    e = reference.epochs.groupby("epoch", sort=True).agg(t0=("t_start_hours", "first"), t1=("t_end_hours", "first"),
                                                         capacity=("gpus", "sum"), minted=("minted_tokens", "first"))
    state, expected = EmissionState(), []
    for t0, t1, capacity in e[["t0", "t1", "capacity"]].itertuples(index=False):
        state = emission.advance(state, t0, t1, capacity)
        expected.append(emission.cumulative_tokens(np.array([t1]), state)[0])
    np.testing.assert_allclose(np.cumsum(e["minted"]), expected, rtol=1e-9)


def test_power_overtakes_the_baseline_in_the_first_year(reference: RunResult) -> None:
    """The real network crossed on 2021-04-02 (day 169) at ~3.8-3.9 EiB; the closing note compares."""
    crossing = baseline_crossing(reference)
    assert crossing["day"] is not None and 30 <= crossing["day"] <= 365
    assert 2.5 * EIB_IN_TIB <= crossing["capacity"] <= 5 * EIB_IN_TIB


def test_quality_adjusted_power_prices_a_verified_sale_at_the_reward_it_adds() -> None:
    """Constructed case: 100 TiB offered, 10 TiB of it verified data, all of the work sold verified, 1,100
    USD of reward an hour. Power is 100 + 9 x 10 = 190, so a raw TiB-hour earns 1100 / 190 and a verified
    TiB-hour sold adds 9 times that."""
    forecast = RewardForecast(RewardExpectation(smoothing=1.0), capacity_gpus=100.0, capacity_work=10.0,
                              verified_share=1.0)
    forecast.observe(delivered_work=10.0, offered_gpu_hours=100.0, epoch_hours=1.0, verified_work=10.0)
    work, capacity = forecast.rewards_usd(1100.0, QualityAdjustedPowerRewards(verified_multiplier=10), 1.0)
    assert capacity == pytest.approx(1100 / 190, rel=1e-12)
    assert work == pytest.approx(9 * 1100 / 190, rel=1e-12)


def test_the_comparison_reads_both_resources_from_their_runs(reference: RunResult) -> None:
    gpu = run(load_scenario(SCENARIOS / "tiny.yaml"))
    table = storage_vs_gpu({"storage": reference, "gpu": gpu})
    storage = table[table["resource"] == "storage"].iloc[0]
    providers = reference.providers
    marginal, fixed = providers["marginal_usd_per_gpu_hour"].mean(), providers["fixed_usd_per_gpu_hour"].mean()
    assert storage["marginal_share_of_cost"] == pytest.approx(marginal / (marginal + fixed))
    assert storage["unit"] == "USD per TiB-month" and storage["alternative_price"] == pytest.approx(23.552)
    assert storage["price_share_of_alternative"] <= 0.01
    assert set(table["resource"]) == {"storage", "gpu"}


def test_the_memo_compares_storage_and_gpu_runs_with_the_tables_numbers(reference: RunResult, tmp_path) -> None:
    from analysis.memo import write_memo
    from sim.folders import RunFolder

    gpu = run(load_scenario(SCENARIOS / "tiny.yaml"))
    RunFolder(tmp_path / "storage").write(reference, {})
    RunFolder(tmp_path / "gpu").write(gpu, {})
    memo = write_memo([tmp_path / "storage", tmp_path / "gpu"], tmp_path / "memo")
    text = (memo / "memo.md").read_text()
    assert "## Storage against GPU: where the Filecoin analogy holds" in text
    assert (memo / "figures" / "storage_vs_gpu.png").stat().st_size > 10_000
    row = storage_vs_gpu({"filecoin_storage_reference": reference, "tiny": gpu}).iloc[0]
    assert f"buyers use {row['utilisation']:.1%} of the capacity" in text
    assert f"| {row['alternative_price']:.4g} " in text  # the S3 Standard price, per TiB-month
