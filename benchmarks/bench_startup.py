"""Start-up time of the command line: ``depinsim --help`` and ``depinsim validate`` in fresh processes.

Prints the median and best wall time of each over several runs against its target (--help <= 0.5 s,
validate <= 1.5 s on the 2-core development machine), and which heavy libraries each command imported
(none of numba, pandas or SciPy should be needed to print help or validate a scenario).

    python benchmarks/bench_startup.py             # 7 runs of each
    python benchmarks/bench_startup.py --runs 15
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "pandas", "scipy", "matplotlib", "simpy", "networkx", "pyarrow")
COMMANDS = (("depinsim --help", ["--help"], 0.5),
            ("depinsim validate scenarios/baseline.yaml", ["validate", str(ROOT / "scenarios" / "baseline.yaml")], 1.5))
PROBE = ("import sys, runpy; sys.argv = ['depinsim', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('sim', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print(','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)")


def _seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", *args], check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def _imported(args: list[str]) -> str:
    """The heavy libraries a command imports (run once more, in-process through runpy, to look)."""
    probe = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True,
                           cwd=ROOT)
    return probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per command")
    runs = parser.parse_args().runs
    _seconds(["--help"])  # warm the file cache and the bytecode
    failed = False
    for label, args, target in COMMANDS:
        times = [_seconds(args) for _ in range(runs)]
        median, best = statistics.median(times), min(times)
        verdict = "PASS" if median <= target else "FAIL"
        failed |= median > target
        heavy = _imported(args) or "none"
        print(f"{label:<45} median {median:5.2f} s, best {best:5.2f} s (target <= {target:g} s) {verdict}; "
              f"heavy libraries imported: {heavy}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
