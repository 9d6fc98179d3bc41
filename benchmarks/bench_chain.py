"""Chain hooks' cost: the baseline year chain-off, on the embedded chain (revm), on py-evm and on anvil.

Prints each run's wall time, its ratio to the chain-off run, the transactions sent, their rate
(transactions over the time the run waited on the chain: a node mines while the engine runs), the gas
(receipt gas on py-evm and anvil; revm's own execution gas on the embedded chain, where storage stays
warm between calls) and whether reconciliation was exact. Targets (issue P11): embedded <= 2x
chain-off, anvil <= 3x. Every run is in this process, after a warm-up, so imports and compiled kernels
are not counted. Chain-off, embedded and anvil (a fresh node each time) run ``--repeats`` times,
interleaved, and are judged on their best runs (as ``timeit`` and ``bench_engine.py`` do: the machine's
speed drifts by 10-20% from minute to minute, anvil's more); py-evm runs once.

    python benchmarks/bench_chain.py                      # the baseline year (py-evm alone takes ~4 min)
    python benchmarks/bench_chain.py --days 60            # a quicker look
    python benchmarks/bench_chain.py --skip py-evm        # without the slow cross-check
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from sim import load_scenario, run
from sim.chain import open_chain
from sim.chain.anvil import anvil_node, find_anvil

ROOT = Path(__file__).resolve().parents[1]


def _timed(scenario: Any, chain: Any = None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = run(scenario, chain=chain)
    return time.perf_counter() - started, result.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.yaml"))
    parser.add_argument("--days", type=float, default=None, help="shorten the horizon (default: the scenario's)")
    parser.add_argument("--skip", action="append", default=[], choices=["embedded", "py-evm", "anvil"])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each (py-evm: one)")
    args = parser.parse_args()
    overrides = [f"horizon_days={args.days}"] if args.days else []
    sc = load_scenario(args.scenario, overrides)
    print(f"scenario {sc.name}: {sc.horizon_days:g} days, {sum(g.count for g in sc.providers):,} provider nodes")

    tiny = load_scenario(ROOT / "scenarios" / "tiny.yaml", ["horizon_days=3"])
    for kind in ("embedded", "py-evm"):  # warm imports and caches outside the timings
        if kind not in args.skip:
            run(tiny, chain=open_chain(kind))
    anvil = "anvil" not in args.skip and find_anvil() is not None
    if "anvil" not in args.skip and not anvil:
        print("anvil: not installed (npm ci), skipped")
    names = ["chain-off", *(["embedded (revm)"] if "embedded" not in args.skip else []),
             *(["py-evm (cross-check)"] if "py-evm" not in args.skip else []),
             *(["anvil (batched JSON-RPC)"] if anvil else [])]
    times: dict[str, list[float]] = {name: [] for name in names}
    chains: dict[str, dict[str, Any]] = {}
    for r in range(max(args.repeats, 1)):  # interleaved: the machine's drift falls on every run alike
        times["chain-off"].append(_timed(sc)[0])
        for name in names[1:]:
            if name.startswith("py-evm") and r > 0:
                continue  # minutes a run: once is enough for a cross-check
            if name.startswith("anvil"):
                with anvil_node() as (url, _):  # a fresh node each run
                    chain = open_chain(url)
                    seconds, summary = _timed(sc, chain)
                    chain.close()
            else:
                seconds, summary = _timed(sc, open_chain("embedded" if name.startswith("embedded") else "py-evm"))
            times[name].append(seconds)
            chains[name] = summary["chain"]

    print(f"{'run':<26}{'best s':>8}{'median':>8}{'x off':>8}{'tx':>7}{'tx/s':>9}{'gas M':>8}  reconciliation")
    targets = {"embedded (revm)": 2.0, "anvil (batched JSON-RPC)": 3.0}
    off = min(times["chain-off"])
    for name in names:
        best, median = min(times[name]), statistics.median(times[name])
        if name == "chain-off":
            print(f"{name:<26}{best:>8.2f}{median:>8.2f}{1.0:>8.2f}")
            continue
        chain, ratio = chains[name], best / off
        verdict = "" if name not in targets else (f"   target <= {targets[name]:g}x: "
                                                  f"{'PASS' if ratio <= targets[name] else 'FAIL'} "
                                                  f"[medians {median / statistics.median(times['chain-off']):.2f}x]")
        print(f"{name:<26}{best:>8.2f}{median:>8.2f}{ratio:>8.2f}{chain['transactions']:>7,}"
              f"{chain['transactions_per_second'] or 0:>9.1f}{chain['gas_used'] / 1e6:>8.0f}  "
              f"{'exact' if chain['exact'] else 'MISMATCH'} ({chain['values_compared']:,} values){verdict}")
    print("x off: best run against chain-off's best (as timeit; the machine's speed drifts 10-20% between "
          "minutes)")
    print("gas: receipt gas, but revm's own execution gas on the embedded chain (storage warm between calls)")


if __name__ == "__main__":
    main()
