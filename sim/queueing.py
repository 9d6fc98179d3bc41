"""Request-level queueing for inference deployments: FCFS with c servers, and Erlang C to check it.

A deployment's replicas serve its requests first come, first served; each replica serves one request at
a time (batching is in the throughput figures). The waiting times follow the Kiefer-Wolfowitz recursion:
each request starts on the replica that frees first. That is a loop over requests with a heap of
replica free times, not a SimPy process per request.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy import stats


def fcfs_waits(arrivals: np.ndarray, services: np.ndarray, servers: int) -> np.ndarray:
    """Waiting time of each request (arrivals sorted, same unit as services) in a FCFS c-server queue."""
    if servers < 1:
        raise ValueError("a queue needs at least one server")
    free = [0.0] * servers  # a heap of the times the replicas free up
    waits = np.empty(len(arrivals))
    for i, (t, s) in enumerate(zip(arrivals.tolist(), services.tolist(), strict=True)):
        earliest = free[0]
        start = earliest if earliest > t else t
        waits[i] = start - t
        heapq.heapreplace(free, start + s)
    return waits


def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Probability that a request waits in an M/M/c queue (Erlang C), stable for large c."""
    a = arrival_rate / service_rate
    rho = a / servers
    if rho >= 1:
        return 1.0
    # C = 1 / (1 + (1 - rho) * P(X <= c-1) / P(X = c)), X ~ Poisson(a)
    return float(1.0 / (1.0 + (1.0 - rho) * stats.poisson.cdf(servers - 1, a) / stats.poisson.pmf(servers, a)))


def erlang_c_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean waiting time in an M/M/c queue: C / (c mu - lambda)."""
    if arrival_rate >= servers * service_rate:
        return float("inf")
    return erlang_c(arrival_rate, service_rate, servers) / (servers * service_rate - arrival_rate)
