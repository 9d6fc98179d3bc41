"""The request queue against queueing theory: the simulated mean wait matches Erlang C."""

from __future__ import annotations

import numpy as np
import pytest

from sim.queueing import erlang_c, erlang_c_mean_wait, fcfs_waits


@pytest.mark.parametrize("utilisation", [0.5, 0.7, 0.9])
def test_mm_c_mean_wait_matches_erlang_c(utilisation: float) -> None:
    # 2M requests: at 400k the sample mean of these autocorrelated waits still wanders by ~5-10%
    servers, mu, n = 8, 1.0, 2_000_000
    lam = utilisation * servers * mu
    rng = np.random.default_rng(20231116)
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    services = rng.exponential(1 / mu, n)
    waits = fcfs_waits(arrivals, services, servers)[n // 20:]  # drop the warm-up from an empty queue
    expected = erlang_c_mean_wait(lam, mu, servers)
    assert waits.mean() == pytest.approx(expected, rel=0.03)
    # and the share of requests that wait matches Erlang C itself
    assert (waits > 0).mean() == pytest.approx(erlang_c(lam, mu, servers), rel=0.03)


def test_erlang_c_known_values() -> None:
    assert erlang_c(1.0, 1.0, 1) == pytest.approx(1.0)          # M/M/1: C = rho, here rho = 1
    assert erlang_c(0.5, 1.0, 1) == pytest.approx(0.5)
    assert erlang_c(1.0, 1.0, 2) == pytest.approx(1 / 3)        # a = 1, c = 2: 1/3
    assert erlang_c_mean_wait(0.5, 1.0, 1) == pytest.approx(1.0)  # M/M/1: rho / (mu - lambda)
    assert erlang_c_mean_wait(2.0, 1.0, 2) == float("inf")


def test_fcfs_by_hand() -> None:
    waits = fcfs_waits(np.array([0.0, 0.0, 0.0, 1.0]), np.array([2.0, 2.0, 2.0, 1.0]), servers=2)
    assert waits.tolist() == [0.0, 0.0, 2.0, 1.0]
