"""The compiled pieces against plain-Python references or hand-computed cases: departure order,
cancellation, the fit heaps' gang scan, the choice of a gang by its cost with its link's slowdown, the
largest-remainder pick and the peak-concurrency check."""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import load_scenario, run
from sim.book import PostedPriceBook
from sim.conservation import peak_gpus_in_use
from sim.engine import fastloop
from sim.engine.departures import DepartureQueue, _remove_flat
from sim.engine.fastloop import StartLog
from sim.engine.gangs import FULL, LINKS, NO_GANG, PLACED, GangArrays, start_gang
from sim.engine.state import AllocationLog, NetworkStarts, RunState
from sim.jobs import JobArrays
from sim.sorting import lex_argsort
from sim.tokens import _largest

from .helpers import SCENARIOS

entries = st.lists(st.tuples(st.sampled_from([0.5, 1.0, 2.25, 7.0]), st.integers(0, 3), st.integers(1, 8),
                             st.integers(0, 50)), min_size=1, max_size=60, unique_by=lambda e: (e[0], e[1], e[3]))


@settings(max_examples=100, deadline=None)
@given(entries, st.data())
def test_departures_leave_in_tuple_order_and_cancel_exactly(items: list[tuple[float, int, int, int]],
                                                            data: st.DataObject) -> None:
    queue = DepartureQueue(np.full(4, len(items)))  # room for every item on any of the 4 nodes
    for e in items:
        queue.push(*e)
    cancelled = data.draw(st.lists(st.sampled_from(items), unique=True, max_size=len(items) // 2))
    by_job: dict[int, list[tuple[int, float]]] = {}
    for end, p, _, j in cancelled:
        by_job.setdefault(j, []).append((p, end))
    for j, allocations in by_job.items():  # a job's allocations at once, as an interruption cancels them
        queue.cancel_all(j, np.array([p for p, _ in allocations]), np.array([e for _, e in allocations]))
    left = [e for e in items if e not in cancelled]
    for p in range(4):  # a node's jobs, read from its slots: those a scan of the heap finds
        assert queue.jobs_on(p) == sorted({j for _, q, _, j in left if q == p})
    assert [queue.pop() for _ in range(len(left))] == sorted(left)  # heapq's order on the same tuples
    assert len(queue) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1.0, 2.0]), st.integers(0, 1), st.integers(1, 2), st.integers(0, 2)),
                min_size=1, max_size=16), st.data())
def test_a_cancellation_leaves_the_heap_as_removing_the_first_match_in_a_scan_would(
        items: list[tuple[float, int, int, int]], data: st.DataObject) -> None:
    """A cancellation cannot tell alike allocations (same job, node and end, GPUs apart) apart: the one it removes
    must be the one a scan of the heap finds first, as the heap's layout decides the order of float sums over
    it (``supply._free_gpu_hours``)."""
    queue = DepartureQueue(np.full(2, len(items)))
    for e in items:
        queue.push(*e)
    end, p, _, j = data.draw(st.sampled_from(items))
    q = queue.arrays
    first = next(i for i in range(int(q.size[0])) if (q.job[i], q.provider[i], q.end[i]) == (j, p, end))
    expected = DepartureQueue(np.full(2, len(items)))
    for mine, theirs in zip(expected.arrays, q, strict=True):
        mine[:] = theirs
    _remove_flat(first, *expected.arrays)
    queue.cancel_all(j, np.array([p]), np.array([end]))
    for field, mine, theirs in zip(q._fields, expected.arrays, q, strict=True):
        assert mine.tolist() == theirs.tolist(), field


def test_departure_queue_refuses_unknown_cancellation_and_overflow() -> None:
    queue = DepartureQueue(np.array([0, 0, 1, 0]))  # node 2 has one GPU
    queue.push(1.0, 2, 8, 5)
    try:
        queue.cancel_all(5, np.array([3]), np.array([1.0]))
    except RuntimeError as exc:
        assert "provider 3" in str(exc) and len(queue) == 1
    else:
        raise AssertionError("a cancellation of nothing passed")
    try:
        queue.push(2.0, 2, 8, 6)
    except OverflowError:
        pass
    else:
        raise AssertionError("the queue overflowed silently")
    assert queue.jobs_on(2) == [5] and queue.jobs_on(3) == []


def test_gang_takes_cheapest_free_gpus_within_the_limit() -> None:
    book = PostedPriceBook([0, 0, 0, 0], [8, 8, 8, 8], sizes=[[8]])
    book.post([300, 100, 200, 400])
    book.take(1, 5)  # 3 left on the cheapest node
    parts, per_hour = book.gang(0, 12, 1000)
    assert parts.providers.tolist() == [1, 2, 0] and parts.gpus.tolist() == [3, 8, 1]
    assert per_hour == 100 * 3 + 200 * 8 + 300 * 1
    assert book.gang(0, 12, 250) is None     # node 0 asks above the limit before 12 are found
    assert book.gang(0, 40, 1000) is None    # not enough GPUs in the class


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=80), st.data())
def test_largest_matches_a_stable_descending_sort(values: list[int], data: st.DataObject) -> None:
    count = data.draw(st.integers(1, len(values)))
    v = np.array(values, dtype=np.int64)
    expected = np.argsort(-v, kind="stable")[:count]
    assert sorted(_largest(v, count).tolist()) == sorted(expected.tolist())
    assert sorted(_largest(v.astype(object), count).tolist()) == sorted(expected.tolist())


def test_peak_concurrency_matches_an_event_sweep() -> None:
    rng = np.random.default_rng(7)
    m, providers = 5_000, 40
    start = rng.integers(0, 200, m).astype(float)  # integer times: many ties between ends and starts
    hours = rng.integers(0, 20, m).astype(float)
    provider, gpus = rng.integers(0, providers, m), rng.integers(1, 9, m)
    starts = NetworkStarts(job=np.arange(m), provider=provider, start=start, end=start + hours, gpus=gpus,
                           hours=hours, ask_micro_usd=np.zeros(m, dtype=np.int64))
    peak = peak_gpus_in_use(starts, providers + 1)
    for q in range(providers):
        mine = provider == q
        events = [(e, 0, -g) for e, g in zip(start[mine] + hours[mine], gpus[mine], strict=True)]
        events += [(s, 1, g) for s, g in zip(start[mine], gpus[mine], strict=True)]
        level, best = 0, 0
        for _, _, change in heapq.nsmallest(len(events), events):  # ends before starts at equal times
            level += change
            best = max(best, level)
        assert peak[q] == best
    assert peak[providers] == 0  # a provider with no allocations


integer_keys = st.integers(1, 40).flatmap(lambda n: st.lists(
    st.one_of(st.lists(st.integers(-3, 3), min_size=n, max_size=n),  # many ties
              st.lists(st.integers(-2**62, 2**62), min_size=n, max_size=n),  # too wide to pack: np.lexsort
              st.lists(st.integers(2**63, 2**63 + 9), min_size=n, max_size=n),  # uint64 beyond int64
              st.lists(st.one_of(st.integers(-5, 5).map(float), st.just(float("nan")), st.floats(-5, 5)),
                       min_size=n, max_size=n)),  # floats (the clearing's asks are integral)
    min_size=1, max_size=3))


@settings(max_examples=200, deadline=None)
@given(integer_keys)
def test_packed_lexsort_is_np_lexsort(keys: list[list[float]]) -> None:
    arrays = tuple(np.array(k) for k in keys)
    assert lex_argsort(arrays).tolist() == np.lexsort(arrays).tolist()
    # a hint (any permutation: last epoch's order) changes the speed, never the answer
    hint = np.random.default_rng(len(keys[0])).permutation(len(keys[0]))
    assert lex_argsort(arrays, hint).tolist() == np.lexsort(arrays).tolist()


def _gang_case(slowdown_b: float, budget: float = 1e9, log_rows: int = 16) -> tuple:
    """One 16-GPU job that fits no 8-GPU node, on two classes: class 0 asks 100 micro-USD per GPU-hour on
    two nodes in two regions (the internet between them, slowdown 2), class 1 asks 150 on two nodes of
    one InfiniBand group in one region (slowdown ``slowdown_b``); 10 hours on either."""
    book = PostedPriceBook([0, 0, 1, 1], [8, 8, 8, 8], sizes=[[8], [8]])
    book.post(np.array([100, 100, 150, 150]))
    jobs = JobArrays(submit=np.zeros(1), stream=np.zeros(1, dtype=np.int64), net_slot=np.array([[0, 1]]),
                     net_gpus=np.array([[16], [16]]), net_hours=np.array([[10.0], [10.0]]),
                     net_limit=np.array([[1.0], [1.0]]), demand_u=np.zeros(1))
    table = np.ones((1, 2, 5, 5))
    table[0, 0, 2, 1 + 0 * 2 + 1] = 2.0  # class 0, two nodes, the internet between regions 0 and 1
    table[0, 1, 2, 0] = slowdown_b       # class 1, two nodes, one fabric
    gangs = GangArrays(region=np.array([0, 1, 0, 0]), group=np.array([0, 1, 2, 2]),
                       fabric=np.array([False, False, True, True]), bandwidth=np.array([[100.0, 10.0], [10.0, 100.0]]),
                       slowdown=table, spot=np.zeros(1, dtype=np.bool_), budget=np.array([budget]),
                       cloud_cost=np.array([1e9]), link=np.zeros(1, dtype=np.int8), factor=np.ones(1),
                       parts=np.zeros((2, 4), dtype=np.int64), best=np.zeros((2, 4), dtype=np.int64),
                       spot_share=np.array([0.6]))
    log = AllocationLog(log_rows)
    queue = DepartureQueue(np.full(4, 8))
    return book, jobs, gangs, log, queue


def _start(book: PostedPriceBook, jobs: JobArrays, gangs: GangArrays, log: AllocationLog,
           queue: DepartureQueue) -> int:
    return start_gang(0, 5.0, jobs, np.array([[0, 1]]), book.arrays, queue.arrays, gangs, log.arrays)


def test_a_gang_costs_its_slowdown_a_dearer_class_on_one_fabric_can_win() -> None:
    # class 0: 16 x 100 x 10 h x 2 = 32,000; class 1: 16 x 150 x 10 h x 1.1 = 26,400 -> class 1
    book, jobs, gangs, log, queue = _gang_case(1.1)
    assert _start(book, jobs, gangs, log, queue) == PLACED
    rows = log.view()
    assert rows.provider.tolist() == [2, 3] and rows.gpus.tolist() == [8, 8]
    assert rows.end.tolist() == [5.0 + 11.0] * 2 and rows.ask_micro_usd.tolist() == [150, 150]
    assert (gangs.link[0], gangs.factor[0]) == (LINKS.index("infiniband"), 1.1)
    assert book.free.tolist() == [8, 8, 0, 0] and len(queue) == 2
    # a slower fabric (x 1.5: 36,000) leaves the cheaper class across the internet the better buy
    book, jobs, gangs, log, queue = _gang_case(1.5)
    assert _start(book, jobs, gangs, log, queue) == PLACED
    assert log.view().provider.tolist() == [0, 1] and log.view().end.tolist() == [25.0, 25.0]
    assert (gangs.link[0], gangs.factor[0]) == (LINKS.index("internet"), 2.0)


def test_a_gang_beyond_the_budget_or_the_log_changes_nothing() -> None:
    # the cheapest gang costs 26,400 micro-USD: a budget of 0.02 USD buys none
    book, jobs, gangs, log, queue = _gang_case(1.1, budget=0.02)
    assert _start(book, jobs, gangs, log, queue) == NO_GANG
    assert log.size == 0 and len(queue) == 0 and book.free.tolist() == [8, 8, 8, 8] and gangs.link[0] == 0
    book, jobs, gangs, log, queue = _gang_case(1.1, log_rows=1)  # two parts, room for one
    assert _start(book, jobs, gangs, log, queue) == FULL
    assert log.size == 0 and len(queue) == 0 and book.free.tolist() == [8, 8, 8, 8] and gangs.link[0] == 0
    log.reserve(2)  # as the engine grows it: then the same call places the job
    assert _start(book, jobs, gangs, log, queue) == PLACED and log.size == 2


@pytest.mark.parametrize(("name", "changes"), [
    ("tiny", []), ("consumer_gpus", ["workload.streams.llm_inference.demand.max_rate_multiplier=10"])])
def test_the_start_log_grows_from_one_row(name: str, changes: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's start log and its list of latent arrivals start at one row and grow when full (the loop
    returns GROW; a start from Python grows them itself, and the loop then takes the new columns): every
    table as with the default capacity. Here they grow by one row at a time, so both paths grow them
    again and again: tiny has waiting jobs and restarts started from Python; consumer_gpus, elastic demand
    that leaves arrivals latent once the rate cap is high."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", ["horizon_days=45", *changes])
    default = run(scenario)
    empty = StartLog.empty
    monkeypatch.setattr(StartLog, "empty", staticmethod(lambda rows=1: empty(1)))
    monkeypatch.setattr(fastloop, "grown_rows", lambda rows: rows + 1)
    python_grew = []
    start_row = RunState.start_row

    def counted(state: RunState) -> int:
        log = state.log
        row = start_row(state)
        python_grew.append(state.log is not log)
        return row

    monkeypatch.setattr(RunState, "start_row", counted)
    grown = run(scenario)
    assert any(python_grew) or name != "tiny"
    assert default.summary["jobs"]["latent"] > 0 or name == "tiny"
    for table in ("jobs", "epochs", "providers"):
        pd.testing.assert_frame_equal(getattr(grown, table), getattr(default, table), check_exact=True)
