"""Sweeps: designs, seeds, equality across backends, failures, the cache and resuming after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import InputError
from sim.sweep import Range, design, run_seeds, sweep, sweep_epochs

from .helpers import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
TINY = SCENARIOS / "tiny.yaml"
AXES = {"tokenomics.emission.tokens_per_day": [500, 4000], "providers.0.count": [2, 6]}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal in every column but the wall time (which no two runs share)."""
    pd.testing.assert_frame_equal(a.drop(columns="runtime_s"), b.drop(columns="runtime_s"))


def test_grid_is_the_cartesian_product_and_zip_pairs() -> None:
    grid = design({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(grid) == 6 and set(map(tuple, grid.to_numpy().tolist())) == {(i, c) for i in (1, 2, 3) for c in "xy"}
    zipped = design({"a": [1, 2, 3], "b": [4, 5, 6]}, method="zip")
    assert zipped.to_numpy().tolist() == [[1, 4], [2, 5], [3, 6]]
    with pytest.raises(InputError, match="one length"):
        design({"a": [1, 2], "b": [1]}, method="zip")
    with pytest.raises(InputError, match="list of values"):
        design({"a": Range(0.0, 1.0)}, method="grid")


@pytest.mark.parametrize("method,n", [("lhs", 50), ("sobol", 64)])
def test_samples_cover_their_ranges(method: str, n: int) -> None:
    points = design({"x": Range(2.0, 5.0), "k": Range(1, 100, integer=True), "f": Range(1e-3, 10, "log")},
                    method=method, n=n, seed=4)  # type: ignore[arg-type]
    assert len(points) == n
    assert points["x"].between(2.0, 5.0).all() and points["f"].between(1e-3, 10).all()
    assert (points["k"] == points["k"].round()).all() and points["k"].between(1, 100).all()
    # stratified: every tenth of x's range holds about a tenth of the points
    counts = np.histogram(points["x"], bins=10, range=(2, 5))[0]
    assert counts.min() >= n // 10 - 2
    again = design({"x": Range(2.0, 5.0), "k": Range(1, 100, integer=True), "f": Range(1e-3, 10, "log")},
                   method=method, n=n, seed=4)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(points, again)
    if method == "sobol":
        with pytest.raises(InputError, match="power of two"):
            design({"x": Range(0, 1)}, method="sobol", n=50)


def test_seeds_are_by_position_and_common_random_numbers_share_them() -> None:
    seeds = run_seeds(7, points=4, replications=3)
    assert seeds.shape == (4, 3) and len(np.unique(seeds)) == 12
    assert (run_seeds(7, points=6, replications=3)[:4] == seeds).all()  # more points: the first keep theirs
    crn = run_seeds(7, points=4, replications=3, common_random_numbers=True)
    assert (crn == crn[0]).all() and len(np.unique(crn[0])) == 3


def test_serial_processes_and_dask_give_equal_dataframes(tmp_path: Path) -> None:
    kw = {"replications": 2, "seed": 5, "fixed": ["horizon_days=6"], "progress": False}
    serial = sweep(TINY, AXES, backend="serial", cache_dir=tmp_path / "s", **kw)
    processes = sweep(TINY, AXES, backend="processes", workers=2, cache_dir=tmp_path / "p", **kw)
    dask = sweep(TINY, AXES, backend="dask", workers=2, cache_dir=tmp_path / "d", **kw)
    assert len(serial) == 8 and (serial["status"] == "ok").all()
    assert serial["seed"].nunique() == 8
    assert serial["by_class.H100_SXM.network_price_usd_per_gpu_hour"].nunique() > 1  # the runs differ
    _same(serial, processes)
    _same(serial, dask)
    pd.testing.assert_frame_equal(sweep_epochs(serial), sweep_epochs(dask))


def test_a_failing_point_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    runs = sweep(TINY, {"providers.0.count": [3, -1, 2]}, fixed=["horizon_days=4"], cache_dir=tmp_path,
                 progress=False)
    assert runs["status"].tolist() == ["ok", "error", "ok"]
    assert "providers.0.count" in runs.loc[1, "error"] and np.isnan(runs.loc[1, "jobs.submitted"])
    assert runs.loc[[0, 2], "jobs.submitted"].gt(0).all()
    assert len(list(tmp_path.glob("*.parquet"))) == 2  # failures are not cached: a re-run retries them


def test_the_cache_is_reused_and_keyed_by_the_resolved_scenario(tmp_path: Path) -> None:
    first = sweep(TINY, AXES, fixed=["horizon_days=4"], cache_dir=tmp_path, progress=False)
    assert first.attrs["from_cache"] == 0
    again = sweep(TINY, AXES, fixed=["horizon_days=4"], cache_dir=tmp_path, progress=False)
    assert again.attrs["from_cache"] == 4
    pd.testing.assert_frame_equal(first, again)  # runtimes too: they come from the cache
    other = sweep(TINY, AXES, fixed=["horizon_days=5"], cache_dir=tmp_path, progress=False)
    assert other.attrs["from_cache"] == 0


def _spec(tmp_path: Path, name: str = "resume", values: int = 12) -> Path:
    spec = tmp_path / f"{name}.yaml"
    emissions = ", ".join(str(500 * (i + 1)) for i in range(values))
    spec.write_text(f"name: {name}\nbase: {TINY}\nset: {{horizon_days: 12}}\nreplications: 2\nseed: 3\n"
                    f"params:\n  tokenomics.emission.tokens_per_day: [{emissions}]\n  providers.0.count: [2, 5]\n")
    return spec


def test_kill_9_then_resume_recomputes_nothing_finished(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "out"
    cache = out / "cache"
    cmd = [sys.executable, "-m", "sim", "sweep", str(spec), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(cache.glob("*.parquet"))) < 6:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.parquet")}
    assert 6 <= len(before) < 48 and not (out / "runs.parquet").exists()

    result = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert f"48 runs ({len(before)} from the cache)" in " ".join(result.stdout.split())
    after = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.parquet")}
    assert len(after) == 48 and all(after[name] == mtime for name, mtime in before.items())

    fresh = tmp_path / "fresh"
    assert CliRunner().invoke(app, ["sweep", str(spec), "--out", str(fresh), "--quiet"]).exit_code == 0
    _same(pd.read_parquet(out / "runs.parquet"), pd.read_parquet(fresh / "runs.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "epochs.parquet"), pd.read_parquet(fresh / "epochs.parquet"))


def test_bad_sweep_files_exit_2_with_the_field_named(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: bad\nbase: {TINY}\nmethod: lhs\nparams:\n  providers.0.count: [1, 2]\n")
    result = runner.invoke(app, ["sweep", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"Invalid sweep {bad}" in message and "takes a range" in message and "Traceback" not in message
    bad.write_text(f"name: bad\nbase: {TINY}\nparams:\n  providers.0.count: [1]\n  replication: 3\n")
    message = " ".join(runner.invoke(app, ["sweep", str(bad)]).stderr.split())
    assert "params.replication" in message and "line 5" in message
    bad.write_text(f"name: bad\nbase: {TINY}\nparams:\n  providers.0.colour: [1]\n")
    result = runner.invoke(app, ["sweep", str(bad)])
    assert result.exit_code == 2 and "colour" in result.stderr
    assert runner.invoke(app, ["sweep", str(tmp_path / "missing.yaml")]).exit_code == 2


def test_cli_sweep_on_an_existing_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = _spec(tmp_path, "on_cluster", values=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        result = CliRunner().invoke(app, ["sweep", str(spec), "--scheduler", cluster.scheduler_address,
                                          "--out", str(tmp_path / "dask")])
    assert result.exit_code == 0, result.stderr
    assert "8 runs (0 from the cache), 8 ok" in " ".join(result.stdout.split())
    serial = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "serial"), "--quiet"])
    assert serial.exit_code == 0
    _same(pd.read_parquet(tmp_path / "dask" / "runs.parquet"), pd.read_parquet(tmp_path / "serial" / "runs.parquet"))
    bad = CliRunner().invoke(app, ["sweep", str(spec), "--scheduler", "tcp://127.0.0.1:9", "--out",
                                   str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "No Dask scheduler answers at tcp://127.0.0.1:9" in bad.stderr


def test_another_sweep_never_replaces_a_sweep_folder_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, other = _spec(tmp_path, "first", values=1), _spec(tmp_path, "other", values=2)
    assert CliRunner().invoke(app, ["sweep", str(first), "--out", str(out), "--quiet"]).exit_code == 0
    before = (out / "runs.parquet").read_bytes()
    result = CliRunner().invoke(app, ["sweep", str(other), "--out", str(out), "--quiet"])
    assert result.exit_code == 2 and "holds another sweep" in result.stderr and "--force" in result.stderr
    assert (out / "runs.parquet").read_bytes() == before
    (out / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["sweep", str(other), "--out", str(out), "--force", "--quiet"])
    assert result.exit_code == 2 and "notes.txt" in result.stderr
    (out / "notes.txt").unlink()
    result = CliRunner().invoke(app, ["sweep", str(other), "--out", str(out), "--force", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_parquet(out / "runs.parquet")) == 8 and "name: other" in (out / "sweep.yaml").read_text()
    # a folder that is not a sweep's is never written into, forced or not
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "data.csv").write_text("1\n")
    for extra in ([], ["--force"]):
        result = CliRunner().invoke(app, ["sweep", str(first), "--out", str(plain), "--quiet", *extra])
        assert result.exit_code == 2 and [p.name for p in plain.iterdir()] == ["data.csv"]


def test_cache_entries_are_data_not_code(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    runs = sweep(TINY, {"providers.0.count": [3]}, fixed=["horizon_days=3"], cache_dir=tmp_path, progress=False)
    (entry,) = list(tmp_path.iterdir())
    assert entry.suffix == ".parquet" and b"depinsim.row" in pq.read_metadata(entry).metadata
    pd.testing.assert_frame_equal(runs, sweep(TINY, {"providers.0.count": [3]}, fixed=["horizon_days=3"],
                                              cache_dir=tmp_path, progress=False))


def test_the_sweep_folder_copy_reruns_the_same_sweep(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path, "copy", values=2), tmp_path / "nested" / "out"
    assert CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out), "--quiet"]).exit_code == 0
    again = CliRunner().invoke(app, ["sweep", str(out / "sweep.yaml"), "--out", str(out)])
    assert again.exit_code == 0, again.stderr
    assert "8 runs (8 from the cache)" in " ".join(again.stdout.split())


def test_below_reaches_every_run_and_keys_the_cache(tmp_path: Path) -> None:
    """A sweep's ``below`` is each run's ``run --below``: its months_below equal that run's own; the cache keeps
    the two readings apart, and the default still finds what earlier sweeps cached."""
    from sim import load_scenario, run

    fixed = ["horizon_days=12"]
    axes = {"tokenomics.emission.tokens_per_day": [500, 40000]}
    column = "by_class.H100_SXM.months_below_on_demand"
    half = sweep(TINY, axes, fixed=fixed, cache_dir=tmp_path, progress=False)
    strict = sweep(TINY, axes, fixed=fixed, cache_dir=tmp_path, progress=False, below=0.2)
    assert strict.attrs["from_cache"] == 0 and (strict["below_share"] == 0.2).all()
    for _, row in strict.iterrows():
        emission = row["tokenomics.emission.tokens_per_day"]
        own = run(load_scenario(TINY, [*fixed, f"tokenomics.emission.tokens_per_day={emission}",
                                       f"seed={row['seed']}"]), below=0.2)
        assert row[column] == own.summary["by_class"]["H100_SXM"]["months_below_on_demand"]
    assert (strict[column] <= half[column]).all() and (strict[column] < half[column]).any()
    assert sweep(TINY, axes, fixed=fixed, cache_dir=tmp_path, progress=False).attrs["from_cache"] == 2


def test_the_cli_writes_below_into_the_folders_sweep_file(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path, "strict", values=1), tmp_path / "out"
    first = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(out), "--quiet", "--below", "0.2"])
    assert first.exit_code == 0, first.output
    assert "below: 0.2" in (out / "sweep.yaml").read_text()
    assert (pd.read_parquet(out / "runs.parquet")["below_share"] == 0.2).all()
    again = CliRunner().invoke(app, ["sweep", str(out / "sweep.yaml"), "--out", str(out)])
    assert again.exit_code == 0 and "4 runs (4 from the cache)" in " ".join(again.stdout.split())
    bad = CliRunner().invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "bad"), "--below", "0"])
    assert bad.exit_code == 2 and "below" in bad.output
