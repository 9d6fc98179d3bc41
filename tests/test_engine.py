"""The run as a whole: conservation laws, determinism, and the subsidy channel."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.jobs
from sim import ConservationError, Scenario, load_scenario, run, scenario_hash, simd
from sim.conservation import check_job_rows, peak_gpus_in_use
from sim.engine.world import World
from sim.folders import json_safe
from sim.jobfigures import JobFigures
from sim.jobs import _stream_constant
from sim.results import RunResult
from sim.runner import check_conservation, finish

from .helpers import ROOT, scenario_dict, with_changes


def frame_hash(result: RunResult) -> str:
    h = hashlib.sha256()
    for df in (result.jobs, result.epochs, result.providers):
        h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
        h.update(",".join(df.columns).encode())
    return h.hexdigest()


def test_conservation_is_checked_and_reported(tiny_result: RunResult) -> None:
    c = tiny_result.summary["conservation"]
    jobs = tiny_result.summary["jobs"]
    assert c["jobs"]["submitted"] == jobs["submitted"] == len(tiny_result.jobs)
    assert sum(c["jobs"][s] for s in ("queued", "running", "completed", "abandoned")) == jobs["submitted"]
    usd = c["usd"]
    assert usd["paid_by_buyers_micro_usd"] == usd["received_by_providers_micro_usd"] + usd["protocol_fees_micro_usd"]
    assert int(c["tokens"]["emitted_base_units"]) == 2000 * 30 * 10**18
    assert 0 < c["gpu_hours"]["delivered"] <= c["gpu_hours"]["capacity"]
    # the job log adds up to the same money and GPU-hours
    net = tiny_result.jobs[tiny_result.jobs.venue == "network"]
    assert net.price_paid_usd.sum() == pytest.approx(c["usd"]["paid_by_buyers_micro_usd"] / 1e6)
    assert net.delivered_gpu_hours.sum() == pytest.approx(tiny_result.epochs.gpu_hours_sold.sum())


def test_every_job_has_one_consistent_state(tiny_result: RunResult) -> None:
    j = tiny_result.jobs
    assert j.job_id.is_unique and not j.state.isna().any()
    assert set(j.loc[j.venue == "none", "state"]) <= {"queued", "abandoned"}
    assert set(j.loc[j.venue != "none", "state"]) <= {"running", "completed"}
    started = j[j.venue != "none"]
    assert (started.start_hours >= started.submit_hours).all()
    assert (started.end_hours > started.start_hours).all()
    assert (j.loc[j.venue == "network", "provider_id"] >= 0).all()
    assert (j.loc[j.venue != "network", "provider_id"] == -1).all()


def test_same_seed_same_frames(tiny: Scenario, tiny_result: RunResult) -> None:
    assert frame_hash(run(tiny)) == frame_hash(tiny_result)
    assert json.dumps(json_safe(run(tiny).summary)) == json.dumps(json_safe(tiny_result.summary))


def test_other_seed_other_frames(tiny: Scenario, tiny_result: RunResult) -> None:
    other = tiny.model_copy(update={"seed": tiny.seed + 1})
    assert frame_hash(run(other)) != frame_hash(tiny_result)


def test_same_frames_in_a_fresh_process(tiny_result: RunResult) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from sim import load_scenario, run; from tests.test_engine import frame_hash;"
        "print(frame_hash(run(load_scenario(sys.argv[1] + '/scenarios/tiny.yaml'))))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == frame_hash(tiny_result)


def test_sim_pins_numpys_simd_kernels_before_numpy_loads() -> None:
    """``import sim`` first pins numpy to the kernels the goldens were recorded with (so a machine with
    AVX-512 gives the same tables), a user's own setting wins, and once numpy is loaded it is left
    as it is (a worker spawned from that process then matches it)."""
    env = {k: v for k, v in os.environ.items() if k != simd.VARIABLE}
    code = "import os, sys; {}; print(os.environ.get('" + simd.VARIABLE + "', '-'))"
    def probe(imports: str, **extra: str) -> str:
        return subprocess.run([sys.executable, "-c", code.format(imports)], env={**env, **extra},
                              capture_output=True, text=True, check=True).stdout.strip()
    assert probe("import sim") == simd.DISABLED
    assert probe("import sim", **{simd.VARIABLE: "AVX2"}) == "AVX2"
    assert probe("import numpy, sim") == "-"


def test_a_notebook_that_loaded_numpys_avx512_kernels_first_is_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    from numpy._core._multiarray_umath import __cpu_features__

    monkeypatch.setitem(__cpu_features__, "X86_V4", True)
    with pytest.warns(RuntimeWarning, match="AVX-512"):
        simd.pin()
    monkeypatch.setitem(__cpu_features__, "X86_V4", False)
    monkeypatch.setitem(__cpu_features__, "AVX512_ICL", False)
    monkeypatch.setitem(__cpu_features__, "AVX512_SPR", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simd.pin()


def test_a_weight_mapping_means_the_same_however_it_is_written() -> None:
    """Same scenario hash <=> same results: the order a mapping is written in changes neither."""
    data = scenario_dict("tiny")
    written = {"RTX_4090": 0.75, "RTX_3090": 0.25}
    a = with_changes(data, **{"providers.1.gpu_model": written,
                              "providers.1.gpus_per_node": {4: 0.5, 1: 0.25, 2: 0.25}})
    b = with_changes(data, **{"providers.1.gpu_model": dict(reversed(written.items())),
                              "providers.1.gpus_per_node": {1: 0.25, 2: 0.25, 4: 0.5}})
    assert scenario_hash(a) == scenario_hash(b)
    assert frame_hash(run(a)) == frame_hash(run(b))


def test_subsidy_lowers_the_network_price_when_capacity_is_slack() -> None:
    # a tenth of tiny's demand: every class is slack, so the clearing price is the marginal node's
    # shutdown price, power less the reward a sale adds (with capacity binding, see test_clearing)
    data = scenario_dict("tiny")
    for stream in data["workload"]["streams"]:
        arrivals = stream["arrivals"]
        key = "rate_per_hour" if "rate_per_hour" in arrivals else "mean_rate_per_hour"
        arrivals[key] = arrivals[key] / 10
    on = run(with_changes(data, **{"tokenomics.emission.tokens_per_day": 4000}))
    off = run(with_changes(data, **{"tokenomics.emission.tokens_per_day": 0}))
    sold = [c for c, v in off.summary["by_class"].items() if v["gpu_hours_sold"] > 0]
    assert sold
    for cls in sold:
        with_subsidy = on.summary["by_class"][cls]["network_price_usd_per_gpu_hour"]
        without = off.summary["by_class"][cls]["network_price_usd_per_gpu_hour"]
        assert with_subsidy < without, cls
        assert off.summary["by_class"][cls]["subsidy_share"] == 0
    assert off.summary["tokens"]["emitted"] == 0 and on.summary["tokens"]["reward_usd"] > 0
    # with no rewards, providers ask exactly their unsubsidised price
    e = off.epochs.dropna(subset=["network_price_usd_per_gpu_hour"])
    assert np.allclose(e.network_price_usd_per_gpu_hour, e.price_without_subsidy_usd_per_gpu_hour)


def test_expensive_aws_and_cheap_network_keeps_work_on_the_network() -> None:
    data = scenario_dict("tiny")
    pre = run(with_changes(data, **{"cloud.price_set": "aws_2025_pre_cut"}))
    spot = run(with_changes(data, **{"cloud.buyer_price": "spot"}))
    # cheaper AWS (spot) sends more work to AWS than pre-cut on-demand prices do
    assert spot.summary["gpu_hours"]["network_share_of_work"] <= pre.summary["gpu_hours"]["network_share_of_work"]


def _world_after_run(scenario: Scenario) -> tuple[World, RunResult]:
    world = World(scenario)
    world.simulate()
    return world, finish(world)


@pytest.mark.parametrize(("tamper", "law"), [("money", "money"), ("tokens", "tokens"), ("jobs", "jobs"),
                                             ("gpu_hours", "GPU-hours")])
def test_conservation_violations_are_caught(tiny: Scenario, tamper: str, law: str) -> None:
    world, result = _world_after_run(tiny)
    state = world.state
    if tamper == "money":
        state.paid_micro[np.flatnonzero(state.paid_micro)[0]] += 1
    elif tamper == "tokens":
        world.economy.ledger.mint(world.economy.token, "treasury", 1)
    elif tamper == "jobs":
        state.cloud_starts.append(state.cloud_starts[0])
    else:  # an 8-GPU allocation moved onto a provider, at a time it was already running another 8-GPU job
        settled = next(state.settled.parts(0, state.n_jobs))  # a view: the edits below change the record
        big = np.flatnonzero(settled.gpus == 8)
        first = int(big[0])
        second = int(next(i for i in big[1:] if settled.provider[i] != settled.provider[first]))
        settled.provider[second] = settled.provider[first]
        settled.start[second], settled.end[second] = settled.start[first], settled.end[first]
    peak = peak_gpus_in_use(next(state.settled.parts(0, state.n_jobs)), world.fleet.size)
    figures = JobFigures(world.cloud.alternatives)
    figures.add(result.jobs)
    with pytest.raises(ConservationError, match=f"conservation of {law}"):
        check_conservation(world, figures, peak)


def test_a_simulated_world_releases_what_only_the_simulation_reads(tiny: Scenario) -> None:
    """The jobs' per-class needs (0.6 GB at 10M jobs) are dropped once the horizon is run, before the
    tables are built; the latency objective is kept a stream, and a stream drawn with two is refused."""
    world = World(tiny)
    assert world.jobs.net_hours.shape[1] == world.jobs.submit_hours.size
    world.simulate()
    assert world.jobs.net_hours.size == world.jobs.net_gpus.size == world.jobs.net_limit_usd_per_gpu_hour.size == 0
    jobs = finish(world).jobs
    slo = jobs.groupby("stream", observed=True)["latency_slo_ms"].agg(["min", "max"])
    assert ((slo["min"] == slo["max"]) | slo["min"].isna()).all()
    with pytest.raises(ValueError, match="different latency objectives"):
        _stream_constant(np.array([200.0, 300.0]), "chat")
    assert np.isnan(_stream_constant(np.array([np.nan, np.nan]), "training"))


@pytest.mark.parametrize("name", ["baseline", "inference_llm_trace"])
def test_streams_drawn_twice_give_the_same_jobs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big run draws its streams again for the scatter rather than holding the first draws: the same jobs
    (traces and their request rows included)."""
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    held = World(scenario).jobs
    monkeypatch.setattr(sim.jobs, "KEEP_DRAWS", 0)
    drawn_twice = World(scenario).jobs
    for f in dataclasses.fields(held):
        a, b = getattr(held, f.name), getattr(drawn_twice, f.name)
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b, equal_nan=True), f.name
        else:  # tuples of job kinds and request logs (arrays inside): equal if their pickles are
            assert pickle.dumps(a) == pickle.dumps(b), f.name


@pytest.mark.parametrize(("column", "change", "broken"), [
    ("wait_hours", -1.0, "started before it was submitted"),
    ("wait_hours", 1e6, "waited longer than its patience"),
    ("provider_id", -1, "network job without a provider")])
def test_a_job_rows_violation_is_caught(tiny: Scenario, column: str, change: float, broken: str) -> None:
    """The laws each row keeps on its own are checked chunk by chunk as the table is built."""
    world, result = _world_after_run(tiny)
    jobs, delay = result.jobs, world.scenario.market.order_delay_hours
    check_job_rows(jobs, world.jobs.patience_hours, delay)  # the run's own table passes
    row = int(np.flatnonzero(jobs["venue"] == "network")[0])
    jobs.loc[row, column] = change if column == "provider_id" else jobs.loc[row, column] + change
    with pytest.raises(ConservationError, match=broken):
        check_job_rows(jobs, world.jobs.patience_hours, delay)


provider_groups = st.lists(
    st.fixed_dictionaries({
        "count": st.integers(1, 6),
        "gpu_model": st.sampled_from(["H100_SXM", "A100_80GB", "A100_40GB", "L40S", "RTX_4090"]),
        "gpus_per_node": st.sampled_from([1, 2, 4, 8]),
        "other_opex_usd_per_gpu_hour": st.floats(0, 1),
        "mtbf_hours": st.sampled_from([20.0, 200.0, 50000.0]),
        "ask_policy": st.fixed_dictionaries({"kind": st.just("cost_plus"), "markup": st.floats(0, 1),
                                             "subsidy_pass_through": st.floats(0, 1)}),
    }), min_size=1, max_size=3)
streams = st.lists(
    st.fixed_dictionaries({
        "arrivals": st.fixed_dictionaries({"kind": st.just("poisson"), "rate_per_hour": st.floats(0.05, 3)}),
        "job": st.one_of(
            st.fixed_dictionaries({
                "kind": st.just("training"), "min_gpu_memory_gb": st.sampled_from([24, 40, 80]),
                "gpus": st.sampled_from([1, 2, 4, 8, 16]), "work_gpu_hours": st.floats(0.5, 200),
                "patience_hours": st.floats(0, 12), "reservation_usd_per_gpu_hour": st.floats(0.5, 12),
                "interruptible": st.booleans()}),
            st.fixed_dictionaries({
                "kind": st.just("inference"), "min_gpu_memory_gb": st.sampled_from([24, 48, 80]),
                "replicas": st.sampled_from([1, 2]), "duration_hours": st.floats(0.5, 48),
                "patience_hours": st.floats(0, 6), "reservation_usd_per_gpu_hour": st.floats(0.5, 12),
                "interruptible": st.booleans()}),
        ),
        "demand": st.one_of(st.none(), st.fixed_dictionaries({"elasticity": st.floats(0, 2),
                                                             "max_rate_multiplier": st.integers(1, 3)})),
    }), min_size=1, max_size=3)
markets = st.one_of(
    st.fixed_dictionaries({"kind": st.just("posted_price"), "spot_discount": st.floats(0, 0.9)}),
    st.fixed_dictionaries({"kind": st.just("reverse_auction"), "spot_discount": st.floats(0, 0.9),
                           "bid_window_minutes": st.floats(0, 120)}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=provider_groups, jobs=streams, seed=st.integers(0, 2**32 - 1),
       emission=st.floats(0, 1e6), epoch_hours=st.sampled_from([6.0, 24.0, 168.0]),
       fee=st.floats(0, 0.5), price=st.floats(0.001, 100), market=markets,
       buyer_price=st.sampled_from(["on_demand", "spot"]))
def test_random_scenarios_conserve(groups, jobs, seed, emission, epoch_hours, fee, price, market,  # type: ignore[no-untyped-def]
                                   buyer_price) -> None:
    sc = Scenario.model_validate({
        "name": "random", "seed": seed, "horizon_days": 10, "epoch_hours": epoch_hours,
        "providers": [{"name": f"g{i}", **g} for i, g in enumerate(groups)],
        "workload": {"streams": [{"name": f"s{i}", **s} for i, s in enumerate(jobs)]},
        "market": {**market, "protocol_fee_share": fee},
        "cloud": {"buyer_price": buyer_price},
        "tokenomics": {"emission": {"kind": "constant", "tokens_per_day": emission},
                       "token_price": {"kind": "gbm", "initial_usd": price}},
    })
    result = run(sc)  # raises ConservationError on any violation
    assert result.summary["jobs"]["submitted"] + result.summary["jobs"]["latent"] == len(result.jobs)
