"""Chain hooks' cost: the baseline year chain-off, on the embedded chain (revm), on py-evm and on anvil.

Prints each run's wall time, its ratio to the chain-off run, the transactions sent, their rate
(transactions over the time spent in chain calls), the gas (receipt gas on py-evm and anvil; revm's own
execution gas on the embedded chain, where storage stays warm between calls) and whether reconciliation
was exact. Targets (issue P11): embedded <= 2x chain-off, anvil <= 3x. Every run is in this process, after
a warm-up, so imports and compiled kernels are not counted.

    python benchmarks/bench_chain.py                      # the baseline year (py-evm alone takes ~4 min)
    python benchmarks/bench_chain.py --days 60            # a quicker look
    python benchmarks/bench_chain.py --skip py-evm        # without the slow cross-check
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
    parser.add_argument("--skip", action="append", default=[], choices=["embedded", "py-evm", "anvil"])
    args = parser.parse_args()
    overrides = [f"horizon_days={args.days}"] if args.days else []
    sc = load_scenario(args.scenario, overrides)
    print(f"scenario {sc.name}: {sc.horizon_days:g} days, {sum(g.count for g in sc.providers):,} provider nodes")

    tiny = load_scenario(ROOT / "scenarios" / "tiny.yaml", ["horizon_days=3"])
    for kind in ("embedded", "py-evm"):  # warm imports and caches outside the timings
        if kind not in args.skip:
            run(tiny, chain=open_chain(kind))
    off, _ = _timed(sc)
    rows = [("chain-off", off, None)]
    for kind, name in (("embedded", "embedded (revm)"), ("py-evm", "py-evm (cross-check)")):
        if kind not in args.skip:
            seconds, summary = _timed(sc, open_chain(kind))
            rows.append((name, seconds, summary["chain"]))
    if "anvil" not in args.skip:
        if find_anvil() is None:
            print("anvil: not installed (npm ci), skipped")
        else:
            with anvil_node() as (url, _):
                chain = open_chain(url)
                seconds, summary = _timed(sc, chain)
                chain.close()
            rows.append(("anvil (batched JSON-RPC)", seconds, summary["chain"]))

    print(f"{'run':<26}{'wall s':>9}{'x off':>8}{'tx':>7}{'tx/s':>9}{'gas M':>8}  reconciliation")
    targets = {"embedded (revm)": 2.0, "anvil (batched JSON-RPC)": 3.0}
    for name, seconds, chain in rows:
        if chain is None:
            print(f"{name:<26}{seconds:>9.2f}{1.0:>8.2f}")
            continue
        ratio = seconds / off
        verdict = "" if name not in targets else (f"   target <= {targets[name]:g}x: "
                                                  f"{'PASS' if ratio <= targets[name] else 'FAIL'}")
        print(f"{name:<26}{seconds:>9.2f}{ratio:>8.2f}{chain['transactions']:>7,}"
              f"{chain['transactions_per_second'] or 0:>9.1f}{chain['gas_used'] / 1e6:>8.0f}  "
              f"{'exact' if chain['exact'] else 'MISMATCH'} ({chain['values_compared']:,} values){verdict}")
    print("gas: receipt gas, but revm's own execution gas on the embedded chain (storage warm between calls)")


if __name__ == "__main__":
    main()
