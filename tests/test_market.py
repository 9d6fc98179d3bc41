"""A market small enough to compute by hand, and the posted-price book on its own."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from sim import Scenario, run
from sim.book import PostedPriceBook
from sim.schema.providers import ASK_LIMIT_USD, AdaptiveAsk, CostPlusAsk, Quote, ShutdownAsk


def _hand_scenario(emission: float = 0.0) -> Scenario:
    # Two 8-GPU H100 nodes whose asks are exactly their opex (no capex, no power, no markup):
    # node 0 asks $1/GPU-h, node 1 asks $2/GPU-h. Each job needs 8 GPUs for 16 reference GPU-hours,
    # i.e. 2 hours on an H100. AWS p5 post-cut on-demand is $6.88/GPU-h.
    node = {"count": 1, "gpu_model": "H100_SXM", "gpus_per_node": 8, "capex_usd_per_gpu": 0,
            "electricity_usd_per_kwh": 0,
            "ask_policy": {"kind": "cost_plus", "markup": 0, "target_utilisation": 1, "subsidy_pass_through": 0}}
    job = {"kind": "training", "gpu_models": ["H100_SXM"], "gpus": 8, "work_gpu_hours": 16,
           "patience_hours": 1.0, "reservation_usd_per_gpu_hour": 100}
    return Scenario.model_validate({
        "name": "hand", "horizon_days": 1, "epoch_hours": 24,
        "providers": [{**node, "name": "cheap", "other_opex_usd_per_gpu_hour": 1.0},
                      {**node, "name": "dear", "other_opex_usd_per_gpu_hour": 2.0}],
        "workload": {"streams": [
            {"name": "buyers", "arrivals": {"kind": "scheduled", "times_hours": [1.0, 2.0, 2.5, 3.2]}, "job": job},
            {"name": "broke", "arrivals": {"kind": "scheduled", "times_hours": [3.5]},
             "job": {**job, "reservation_usd_per_gpu_hour": 0.5}},
        ]},
        "tokenomics": {"emission": {"kind": "constant", "tokens_per_day": emission},
                       "token_price": {"kind": "constant", "usd": 2.0}},
    })


def test_hand_computed_market() -> None:
    r = run(_hand_scenario())
    jobs = r.jobs.set_index("job_id")
    # job 0 at t=1: both nodes free, the cheaper one serves it, 1 $/GPU-h x 8 GPUs x 2 h = $16.
    # job 1 at t=2: node 0 busy until 3, node 1 serves it for $32.
    # job 2 at t=2.5: both busy; the network is cheaper than AWS, so it waits (patience 1 h) and
    #   node 0 takes it when it frees at t=3: runs 3..5 for $16.
    # job 3 at t=3.2: nodes busy until 5 and 4; node 1 frees at 4.0, before its patience runs out
    #   at 4.2: it starts there at 4.0 (wait 0.8 h) for $32.
    # job 4 at t=3.5 can pay $0.50 per reference GPU-hour: $8, less than any venue: abandoned.
    expected = {
        0: ("network", 0, 1.0, 3.0, 16.0),
        1: ("network", 1, 2.0, 4.0, 32.0),
        2: ("network", 0, 3.0, 5.0, 16.0),
        3: ("network", 1, 4.0, 6.0, 32.0),
    }
    for j, (venue, provider, start, end, paid) in expected.items():
        row = jobs.loc[j]
        assert (row.venue, row.provider_id) == (venue, provider), j
        assert row.start_hours == pytest.approx(start) and row.end_hours == pytest.approx(end), j
        assert row.price_paid_usd == pytest.approx(paid), j
    assert jobs.loc[4, "state"] == "abandoned" and jobs.loc[4, "venue"] == "none"
    e = r.epochs.set_index("gpu_class").loc["H100_SXM"]
    assert e.gpu_hours_sold == pytest.approx(64.0)                # 4 jobs x 8 GPUs x 2 h
    assert e.network_price_usd_per_gpu_hour == pytest.approx(1.5)  # (16 + 32 + 16 + 32) / 64
    assert e.utilisation == pytest.approx(64.0 / (16 * 24))
    assert r.summary["conservation"]["usd"]["paid_by_buyers_micro_usd"] == 96_000_000


def test_patience_sends_buyer_to_aws() -> None:
    sc = _hand_scenario()
    # a fifth buyer at t=4.5 finds both nodes busy until 5 and 6 and waits only 0.25 h: AWS serves it
    data = sc.model_dump(mode="json")
    hurried = copy.deepcopy(data["workload"]["streams"][0])
    hurried |= {"name": "hurried", "arrivals": {"kind": "scheduled", "times_hours": [4.5]}}
    hurried["job"]["patience_hours"] = 0.25
    data["workload"]["streams"].append(hurried)
    r = run(Scenario.model_validate(data))
    row = r.jobs.iloc[-1]
    assert row.submit_hours == 4.5 and row.venue == "cloud" and row.start_hours == pytest.approx(4.75)
    assert row.price_paid_usd == pytest.approx(6.88 * 8 * 2)  # AWS p5 post-cut, 8 GPUs, 2 hours
    assert row.gpu_class == "H100_SXM"


def test_rewards_split_by_gpu_hours() -> None:
    r = run(_hand_scenario(emission=480.0))
    # node 0 delivered 32 GPU-hours, node 1 32: 240 tokens each, worth $480 each at $2
    e = r.epochs.set_index("gpu_class").loc["H100_SXM"]
    assert e.reward_tokens == pytest.approx(480.0)
    assert e.reward_usd == pytest.approx(960.0)
    assert e.subsidy_share == pytest.approx(960.0 / (960.0 + 96.0))


def test_book_picks_cheapest_fitting_provider() -> None:
    # class 0: providers 0 (4 GPUs), 1 (8 GPUs), 2 (8 GPUs); class 1: provider 3
    book = PostedPriceBook([0, 0, 0, 1], [4, 8, 8, 2], sizes=[[1, 4, 8], [2]])
    book.post([100, 300, 200, 50])
    assert book.cheapest(0, 4, 1000) == 0       # cheapest ask that fits 4
    assert book.cheapest(0, 8, 1000) == 2       # provider 0 cannot fit 8; 2 is cheaper than 1
    assert book.cheapest(0, 8, 150) == -1       # nobody fitting asks <= 150
    book.take(2, 8)
    assert book.cheapest(0, 8, 1000) == 1
    book.take(0, 1)
    assert book.cheapest(0, 4, 1000) == 2 or book.cheapest(0, 4, 1000) == 1
    assert book.cheapest(0, 1, 1000) == 0       # 3 GPUs left on the cheapest node
    book.give_back(2, 8)
    assert book.cheapest(0, 8, 1000) == 2
    assert book.cheapest(1, 2, 60) == 3 and book.cheapest(1, 2, 40) == -1


def test_book_median_ask() -> None:
    book = PostedPriceBook([0, 0, 0, 0, 1, 1, 1], [8] * 7, sizes=[[8], [8]])
    book.post([400, 100, 300, 200, 5, 9, 7])
    assert book.median_ask(0) == 250.0 and book.median_ask(1) == 7.0


def test_book_waiting_side_orders_by_limit_then_arrival() -> None:
    book = PostedPriceBook([0], [8], sizes=[[4, 8]])
    book.post([100])
    book.take(0, 8)
    book.wait(0, 4, 150.0, job=7, hours=1.0)
    book.wait(0, 4, 300.0, job=9, hours=2.0)
    book.wait(0, 8, 300.0, job=5, hours=3.0)
    book.wait(0, 4, 50.0, job=3, hours=1.0)    # cannot pay 100
    book.give_back(0, 4)
    waiting = {3, 5, 7, 9}
    assert book.waiting_job_for(0, waiting) == (9, 4, 2.0)   # highest limit among those that fit 4 GPUs
    waiting.discard(9)
    book.take(0, 4)
    book.give_back(0, 8)
    assert book.waiting_job_for(0, waiting) == (5, 8, 3.0)   # 8 free now: limit 300 beats 150
    waiting.discard(5)
    book.take(0, 8)
    book.give_back(0, 8)
    assert book.waiting_job_for(0, waiting) == (7, 4, 1.0)
    waiting.discard(7)
    assert book.waiting_job_for(0, waiting) is None           # job 3's limit is below the ask


def test_book_ranks_large_fleets_like_lexsort() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    cls = rng.integers(0, 3, n)
    book = PostedPriceBook(cls.tolist(), [8] * n, sizes=[[8]] * 3)
    asks = rng.integers(0, 50, n)  # many ties: broken by provider id
    book.post(asks.tolist())
    for c in range(3):
        expected = np.lexsort((np.arange(n), asks, cls))
        expected = expected[cls[expected] == c]
        assert book.cheapest(c, 8, 1e9) == expected[0]


def test_book_with_an_empty_class() -> None:
    book = PostedPriceBook([0, 0, 2], [8, 8, 8], sizes=[[8], [8], [8]])  # class 1 has no provider
    book.post([5, 3, 1])
    book.post([6, 4, 2])  # same order: the fast path checks class boundaries
    assert book.cheapest(0, 8, 10) == 1 and book.cheapest(1, 8, 10) == -1 and book.cheapest(2, 8, 10) == 2
    assert book.median_ask(1) != book.median_ask(1)  # NaN


def _restricted(models: list[str], rate: float, budget: float | None = None, posted: bool = False) -> Scenario:
    """tiny with its inference stream restricted to ``models`` (and paying up to ``budget``); ``posted``:
    with posted prices and cost_plus asks (a clearing market needs an AWS offer for every stream)."""
    from .helpers import posted_cost_plus, scenario_dict, with_changes

    data = scenario_dict("tiny")
    if posted:
        data = posted_cost_plus(data)
    job = data["workload"]["streams"][1]["job"]
    job.pop("min_gpu_memory_gb")
    job["gpu_models"] = models
    if budget is not None:
        job["reservation_usd_per_gpu_hour"] = budget
    data["workload"]["streams"][1]["arrivals"] = {"kind": "poisson", "rate_per_hour": rate}
    return with_changes(data, horizon_days=10)


def test_the_cloud_fallback_respects_the_gpus_a_job_accepts() -> None:
    # no A100 on the network: the stream's jobs go to AWS's A100 (p4de, $3.34/GPU-h at 0.45 of an H100's
    # inference speed: $7.43 per H100-hour of work), never to AWS's H100, which is cheaper for the same
    # work ($6.88 at 1.0)
    jobs = run(_restricted(["A100_80GB"], 1.0, budget=20.0)).jobs
    mine = jobs[jobs["stream"] == "inference"]
    assert len(mine) > 100 and (mine["venue"] == "cloud").all()
    assert set(mine["gpu_class"].astype(str)) == {"A100_80GB"}
    assert np.allclose(mine["price_usd_per_gpu_hour"], 26.75 / 8)
    # at budgets below the A100's cost for the work, they are abandoned, and say why
    poor = run(_restricted(["A100_80GB"], 1.0, budget=8.0)).jobs
    poor = poor[poor["stream"] == "inference"]
    assert (poor["venue"] == "none").all() and (poor["abandoned_because"] == "over_budget").all()


def test_a_job_with_no_cloud_alternative_is_abandoned_with_the_reason() -> None:
    # only RTX 4090s will do, and AWS has none: buyers the busy network cannot take are abandoned, and say why
    jobs = run(_restricted(["RTX_4090"], 8.0, posted=True)).jobs
    mine = jobs[jobs["stream"] == "inference"]
    assert (mine["venue"] != "cloud").all()
    assert set(mine.loc[mine["venue"] == "network", "gpu_class"].astype(str)) == {"RTX_4090"}
    gone = mine[mine["state"] == "abandoned"]
    assert len(gone) > 10 and (gone["abandoned_because"] == "no_cloud_offer").all()
    others = jobs[(jobs["state"] == "abandoned") & (jobs["stream"] != "inference")]
    assert (others["abandoned_because"] == "over_budget").all()
    assert (jobs.loc[jobs["state"] != "abandoned", "abandoned_because"] == "no").all()


@pytest.mark.parametrize("reward", [0.5, 3.0, 1e13, np.inf])
def test_cost_plus_ask_with_a_subsidy_beyond_its_cost_is_its_floor(reward: float) -> None:
    """Ask = cost x (1 + markup) less the passed-through reward, never below the floor: a reward larger than
    the ask (even one too large for micro-USD in 64 bits) gives the floor, and no overflow."""
    policy = CostPlusAsk(markup=0.0, subsidy_pass_through=1.0, floor_usd_per_gpu_hour=0.25)
    one = np.ones(1)
    quote = Quote(marginal=one, fixed=one, work_reward=np.full(1, reward), capacity_reward=0.0,
                  self_dealing=0 * one, kept=1.0, ceiling=10 * one, previous_micro_usd=-one, utilisation=np.nan * one)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ask = policy.asks_micro_usd(quote)
    cost = round((1.0 + 1.0 / policy.target_utilisation) * 1e6)
    assert ask.tolist() == [max(cost - round(reward * 1e6), 250_000) if reward < 1e6 else 250_000]


def _quote(reward: float, kept: float, ceiling: float, marginal: float = 1.0) -> Quote:
    one = np.ones(1)
    return Quote(marginal=marginal * one, fixed=one, work_reward=np.full(1, reward), capacity_reward=0.0,
                 self_dealing=0 * one, kept=kept, ceiling=ceiling * one, previous_micro_usd=-one,
                 utilisation=np.nan * one)


def test_shutdown_ask_with_no_price_that_pays_and_no_outside_option_is_no_sale() -> None:
    """All of a payment burned (kept 0) and the reward short of the power: no price pays; with an outside
    option the node asks it, without one no buyer meets its ask (not int64's minimum, a hugely negative ask
    that sold at any price)."""
    policy = ShutdownAsk()
    assert policy.asks_micro_usd(_quote(0.25, kept=0.0, ceiling=3.0)).tolist() == [3_000_000]
    assert policy.asks_micro_usd(_quote(0.25, kept=0.0, ceiling=np.inf)).tolist() == [round(ASK_LIMIT_USD * 1e6)]
    assert policy.asks_micro_usd(_quote(2.0, kept=0.0, ceiling=np.inf)).tolist() == [0]  # the reward pays


@pytest.mark.parametrize("reward", [3.0, 1e13])
def test_shutdown_rebate_is_the_reward_beyond_the_power_within_the_limit(reward: float) -> None:
    """Below zero, the ask is power less the reward: a rebate, down to -ASK_LIMIT_USD (a reward of 1e13 USD
    a GPU-hour overflowed micro-dollars in 64 bits)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ask = ShutdownAsk(below_zero=True).asks_micro_usd(_quote(reward, kept=0.9, ceiling=5.0))
    assert ask.tolist() == [round(max(1.0 - reward, -ASK_LIMIT_USD) * 1e6)]


def test_adaptive_ask_without_an_outside_option_is_the_shutdown_price() -> None:
    """The band runs from the shutdown price to the outside option; a class with none (bought by no stream)
    asks its shutdown price, where the infinite band gave int64's minimum."""
    quote = _quote(0.25, kept=0.9, ceiling=np.inf)
    assert AdaptiveAsk().asks_micro_usd(quote).tolist() == ShutdownAsk().asks_micro_usd(quote).tolist() == [833_333]
    finite = AdaptiveAsk(initial_position=0.5).asks_micro_usd(_quote(0.25, kept=0.9, ceiling=3.0))
    assert finite.tolist() == [round((833_333 + 3_000_000) / 2)]
