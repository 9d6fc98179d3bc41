"""Chain hooks' cost: the baseline year chain-off, on the embedded chain and on anvil, in one process.

Prints each run's wall time, its ratio to the chain-off run, the transactions sent and their rate
(transactions over the time spent in chain calls), and whether reconciliation was exact. Target (issue
P4): embedded chain-on <= 2x chain-off. py-evm executes about 4-6M gas a second here, and a baseline
year's settlement is about 870M gas, so the embedded chain cannot reach it; anvil is the fast path
(one JSON-RPC batch and one ``evm_mine`` an epoch).

    python benchmarks/bench_chain.py                      # the baseline year (the embedded run: ~4 min)
    python benchmarks/bench_chain.py --days 60            # a quicker look
    python benchmarks/bench_chain.py --skip embedded      # anvil only
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--skip", action="append", default=[], choices=["embedded", "anvil"])
    args = parser.parse_args()
    overrides = [f"horizon_days={args.days}"] if args.days else []
    sc = load_scenario(args.scenario, overrides)
    print(f"scenario {sc.name}: {sc.horizon_days:g} days, {sum(g.count for g in sc.providers):,} provider nodes")

    run(load_scenario(ROOT / "scenarios" / "tiny.yaml"))  # warm imports and caches outside the timings
    off, _ = _timed(sc)
    rows = [("chain-off", off, None)]
    if "embedded" not in args.skip:
        seconds, summary = _timed(sc, open_chain("embedded"))
        rows.append(("embedded (py-evm)", seconds, summary["chain"]))
    if "anvil" not in args.skip:
        if find_anvil() is None:
            print("anvil: not installed (npm ci), skipped")
        else:
            with anvil_node() as (url, _):
                seconds, summary = _timed(sc, open_chain(url))
            rows.append(("anvil (batched JSON-RPC)", seconds, summary["chain"]))

    print(f"{'run':<26}{'wall s':>9}{'x off':>8}{'tx':>7}{'tx/s':>8}{'gas M':>8}  reconciliation")
    for name, seconds, chain in rows:
        if chain is None:
            print(f"{name:<26}{seconds:>9.2f}{1.0:>8.2f}")
            continue
        print(f"{name:<26}{seconds:>9.2f}{seconds / off:>8.1f}{chain['transactions']:>7,}"
              f"{chain['transactions_per_second'] or 0:>8.1f}{chain['gas_used'] / 1e6:>8.0f}  "
              f"{'exact' if chain['exact'] else 'MISMATCH'} ({chain['values_compared']:,} values)")
    print("target: embedded <= 2.0x chain-off")


if __name__ == "__main__":
    main()
