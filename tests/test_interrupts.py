"""Ctrl-C at any point: one line saying what was kept and how to resume, exit code 130, no traceback.

Each command runs in its own process group, and SIGINT goes to the whole group, as a terminal sends it
(a sweep's Dask workers and forkserver get it too).
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.backends import _interrupt_kept
from sim.cli import app

from .helpers import ROOT, SCENARIOS

pytestmark = pytest.mark.slow


def _interrupt(args: list[str], cwd: Path, when: float | Path) -> tuple[int, list[str]]:
    """Run ``python -m sim ARGS``; send SIGINT to its group ``when`` seconds after the start, or once the
    file pattern ``when`` matches; return the exit code and the lines on stderr. Waits until every process
    of the group is gone."""
    proc = subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if isinstance(when, Path):
        deadline = time.monotonic() + 180
        while not list(when.parent.glob(when.name)):
            assert proc.poll() is None and time.monotonic() < deadline, "the command ended before the signal"
            time.sleep(0.02)
    else:
        time.sleep(when)
    assert proc.poll() is None, "the command ended before the signal"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # workers and the forkserver leave with it
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("processes of the interrupted command were left running")
    return proc.returncode, err.decode().splitlines()


@pytest.mark.parametrize("delay", [0.15, 0.6, 2.5])
def test_ctrl_c_during_start_up_or_a_run(tmp_path: Path, delay: float) -> None:
    out = tmp_path / "run"
    code, lines = _interrupt(["run", str(SCENARIOS / "baseline.yaml"), "--set", "horizon_days=730", "--out",
                              str(out), "--quiet"], tmp_path, delay)
    assert code == 130 and len(lines) == 1, lines
    assert lines[0].startswith("depinsim: interrupted") and "written" in lines[0] and "Traceback" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no run folder, partial or not"


def test_ctrl_c_mid_sweep_on_dask_keeps_the_finished_runs_and_resumes(tmp_path: Path) -> None:
    spec = tmp_path / "long.yaml"
    spec.write_text(f"name: long\nbase: {SCENARIOS / 'tiny.yaml'}\nset: {{horizon_days: 20}}\nreplications: 20\n"
                    "params:\n  tokenomics.emission.tokens_per_day: [500, 1000, 1500, 2000, 2500, 3000]\n")
    out = tmp_path / "out"
    code, lines = _interrupt(["sweep", str(spec), "--out", str(out), "--workers", "2", "--quiet"], tmp_path,
                             out / "cache" / "*.parquet")
    assert code == 130 and len(lines) == 1, lines
    assert f"cached in {out / 'cache'}" in lines[0] and "same command to resume" in lines[0]
    kept = len(list((out / "cache").glob("*.parquet")))
    assert 0 < kept < 120
    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert f"120 runs ({kept} from the cache)" in " ".join(result.stdout.split())


@pytest.mark.parametrize("caused_by_ctrl_c", [True, False])
def test_ctrl_c_inside_a_compiled_kernel_is_an_interrupt(tiny, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                                         caused_by_ctrl_c: bool) -> None:
    """numba turns Ctrl-C inside a compiled function (or its cache load) into a SystemError caused by the
    interrupt; the run re-raises it as the KeyboardInterrupt the command line reports in one line. Any
    other SystemError stays the bug it is."""
    from sim import run
    from sim.engine.world import World

    def interrupted(self: World, progress: object = None) -> None:
        error = SystemError("CPUDispatcher(<function _clear_classes>) returned a result with an exception set")
        raise error from (KeyboardInterrupt() if caused_by_ctrl_c else ValueError("not Ctrl-C"))

    monkeypatch.setattr(World, "simulate", interrupted)
    with pytest.raises(KeyboardInterrupt if caused_by_ctrl_c else SystemError):
        run(tiny)


def test_a_ctrl_c_that_lands_in_a_gc_callback_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python drops an exception raised in a garbage-collector callback (distributed's client runs one in the
    main thread): the Dask loop's check raises the interrupt anyway, and Python's "Exception ignored" report
    of it is not printed."""
    fired: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not fired:
            fired.append(1)
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):  # the Python-level handler runs here, inside the callback
                pass

    escaped, reported = False, []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)  # what Python would print to stderr
    gc.callbacks.append(callback)
    try:
        with _interrupt_kept() as interrupted:
            try:
                gc.collect()
            except KeyboardInterrupt:
                escaped = True
            with pytest.raises(KeyboardInterrupt):
                interrupted()
    finally:
        gc.callbacks.remove(callback)
    assert fired and not escaped, "the interrupt must land inside the callback, where Python drops it"
    assert not reported
