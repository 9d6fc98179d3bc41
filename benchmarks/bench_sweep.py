"""Sweep speed: a 200-point sweep of a one-month scenario, serially, on a 2-process pool and on a 2-worker
Dask LocalCluster, in one run; prints the speed-ups and Dask's overhead per point.

Targets (issue P5): >= 1.8x on 2 workers; Dask overhead <= 50 ms a point. The backends run interleaved
``--repeats`` times and each is judged on its best run (the machine's speed drifts by tens of percent
from minute to minute). Each backend gets a fresh cache
folder (a shared one would serve the later backends from the cache), and the three DataFrames are
checked equal (wall times aside). Dask's overhead is shown two ways: its wall time per point beyond the
process pool's (cluster start-up included), and the round trip of a no-op task on a running cluster.

    python benchmarks/bench_sweep.py                  # 200 points of baseline.yaml cut to 30 days
    python benchmarks/bench_sweep.py --points 50      # a quicker look
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from sim.backends import BACKENDS, pool_context
from sim.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]


def _noop(x: int) -> int:
    return x


def _round_trip(workers: int, tasks: int) -> float:
    """Seconds per no-op task through a running LocalCluster (submit, schedule, run, gather)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.gather(client.map(_noop, range(workers), pure=False))  # warm
        started = time.perf_counter()
        client.gather(client.map(_noop, range(tasks), pure=False))
        return (time.perf_counter() - started) / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.yaml"))
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best of each is judged")
    args = parser.parse_args()
    emissions = np.linspace(10_000, 200_000, 20).round().tolist()
    counts = [1 + i for i in range(max(1, args.points // len(emissions)))]
    axes = {"tokenomics.emission.tokens_per_day": emissions, "providers.0.count": counts}
    n = len(emissions) * len(counts)
    common = {"replications": 1, "seed": 1, "fixed": [f"horizon_days={args.days:g}"], "progress": False}
    print(f"{n} points of {Path(args.scenario).name} over {args.days:g} days; {args.workers} workers")

    sweep(args.scenario, {"providers.0.count": [1]}, **common)  # warm imports outside the timings
    started = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=pool_context()) as pool:  # the session's forkserver, as imports
        pool.submit(_noop, 0).result()
    print(f"forkserver start-up (once a session, like the imports): {time.perf_counter() - started:.2f} s")
    runs: dict[str, list[float]] = {b: [] for b in BACKENDS}
    frames: dict[str, pd.DataFrame] = {}
    for _ in range(args.repeats):  # interleaved: the machine's speed drifts from minute to minute
        for backend in BACKENDS:
            with tempfile.TemporaryDirectory() as cache:
                started = time.perf_counter()
                frames[backend] = sweep(args.scenario, axes, backend=backend, workers=args.workers,
                                        cache_dir=cache, **common)
                runs[backend].append(time.perf_counter() - started)
    timings = {b: min(t) for b, t in runs.items()}
    for backend in BACKENDS:
        failed = int((frames[backend]["status"] != "ok").sum())
        print(f"{backend:<10} best {timings[backend]:>6.2f} s ({', '.join(f'{t:.1f}' for t in runs[backend])})  "
              f"{1000 * timings[backend] / n:>6.1f} ms/point  speed-up {timings['serial'] / timings[backend]:>4.2f}x"
              f"  ({failed} failed)")
    for backend in ("processes", "dask"):
        pd.testing.assert_frame_equal(frames["serial"].drop(columns="runtime_s"),
                                      frames[backend].drop(columns="runtime_s"))
    print("DataFrames equal across backends (wall times aside)")
    compute = frames["serial"]["runtime_s"].sum()
    print(f"model time per point (serial runs): {1000 * compute / n:.1f} ms")
    beyond = (timings["dask"] - timings["processes"]) / n
    print(f"Dask overhead per point beyond the process pool: {1000 * beyond:.1f} ms (cluster start-up included)")
    print(f"Dask no-op task round trip on a running cluster: {1000 * _round_trip(args.workers, n):.2f} ms")
    print(f"targets: speed-up >= 1.8x on {args.workers} workers; Dask overhead <= 50 ms a point")


if __name__ == "__main__":
    main()
