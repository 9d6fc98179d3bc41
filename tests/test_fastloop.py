"""The compiled pieces against plain-Python references: departure order, cancellation, the fit heaps'
gang scan, the largest-remainder pick and the peak-concurrency check."""

from __future__ import annotations

import heapq

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.book import PostedPriceBook
from sim.conservation import peak_gpus_in_use
from sim.engine.departures import DepartureQueue
from sim.engine.state import NetworkStarts
from sim.sorting import lex_argsort
from sim.tokens import _largest

entries = st.lists(st.tuples(st.sampled_from([0.5, 1.0, 2.25, 7.0]), st.integers(0, 3), st.integers(1, 8),
                             st.integers(0, 50)), min_size=1, max_size=60, unique_by=lambda e: (e[0], e[1], e[3]))


@settings(max_examples=100, deadline=None)
@given(entries, st.data())
def test_departures_leave_in_tuple_order_and_cancel_exactly(items: list[tuple[float, int, int, int]],
                                                            data: st.DataObject) -> None:
    queue = DepartureQueue(len(items))
    for e in items:
        queue.push(*e)
    cancelled = data.draw(st.lists(st.sampled_from(items), unique=True, max_size=len(items) // 2))
    by_job: dict[int, list[tuple[int, float]]] = {}
    for end, p, _, j in cancelled:
        by_job.setdefault(j, []).append((p, end))
    for j, allocations in by_job.items():  # a job's allocations at once, as an interruption cancels them
        queue.cancel_all(j, np.array([p for p, _ in allocations]), np.array([e for _, e in allocations]))
    left = [e for e in items if e not in cancelled]
    assert [queue.pop() for _ in range(len(left))] == sorted(left)  # heapq's order on the same tuples
    assert len(queue) == 0


def test_departure_queue_refuses_unknown_cancellation_and_overflow() -> None:
    queue = DepartureQueue(1)
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
