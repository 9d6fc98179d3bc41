"""Replications: a scenario on N seeds, with bands that are the seeds' own quantiles, equal on any backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import load_scenario
from sim.cli import app
from sim.replicate import BANDED, CLASS_HEADLINES, replicate
from sim.sweep import run_seeds

from .helpers import SCENARIOS

TINY = SCENARIOS / "tiny.yaml"
SHORT = ["horizon_days=5"]


@pytest.fixture(scope="module")
def serial():  # type: ignore[no-untyped-def]
    return replicate(TINY, 3, overrides=SHORT, progress=False)


def test_replications_are_the_seed_sequence_children_of_the_scenarios_seed(serial) -> None:  # type: ignore[no-untyped-def]
    root = load_scenario(TINY, SHORT).seed
    assert serial.seeds == run_seeds(root, 1, 3).ravel().tolist()
    assert sorted(serial.epochs["seed"].unique().tolist()) == sorted(serial.seeds)
    assert len(set(serial.runs["scenario_hash"])) == 3  # three different seeds, three different scenarios


def test_bands_are_the_quantiles_of_the_per_seed_values(serial) -> None:  # type: ignore[no-untyped-def]
    bands = serial.bands()
    e = serial.epochs
    for column in BANDED:
        for (epoch, cls), group in e.groupby(["epoch", "gpu_class"], observed=True):
            row = bands[(bands["epoch"] == epoch) & (bands["gpu_class"] == cls)].iloc[0]
            values = group[column].to_numpy(dtype=float)
            if np.isnan(values).all():
                assert np.isnan(row[f"{column}_p50"])
                continue
            expected = np.nanquantile(values, [0.1, 0.5, 0.9])
            assert [row[f"{column}_p10"], row[f"{column}_p50"], row[f"{column}_p90"]] == pytest.approx(expected)
            known = values[np.isfinite(values)]
            assert known.min() <= row[f"{column}_p10"] <= row[f"{column}_p50"] <= row[f"{column}_p90"] <= known.max()
    summary = serial.summary()
    for cls, entries in summary["by_class"].items():
        assert set(entries) <= set(CLASS_HEADLINES)
        for name, entry in entries.items():
            per_seed = serial.runs[f"by_class.{cls}.{name}"].to_numpy(dtype=float)
            assert entry["values"] == [None if np.isnan(v) else pytest.approx(v) for v in per_seed]  # JSON: null
            known = per_seed[np.isfinite(per_seed)]
            if known.size:
                assert [entry["p10"], entry["p50"], entry["p90"]] == pytest.approx(np.quantile(known, [0.1, 0.5, 0.9]))


def test_replications_are_identical_on_serial_processes_and_dask(serial, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    processes = replicate(TINY, 3, backend="processes", workers=2, overrides=SHORT, progress=False,
                          cache_dir=tmp_path / "p")
    dask = replicate(TINY, 3, backend="dask", workers=2, overrides=SHORT, progress=False, cache_dir=tmp_path / "d")
    for other in (processes, dask):
        pd.testing.assert_frame_equal(serial.runs.drop(columns="runtime_s"), other.runs.drop(columns="runtime_s"))
        pd.testing.assert_frame_equal(serial.epochs, other.epochs)
        pd.testing.assert_frame_equal(serial.bands(), other.bands())
        assert json.dumps(serial.summary()) == json.dumps(other.summary())


def test_cli_writes_a_replicated_run_folder(serial, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["run", str(TINY), "--replications", "3", "--out", str(out),
                                      *[a for o in SHORT for a in ("--set", o)]])
    assert result.exit_code == 0, result.output
    assert "median [P10-P90]" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 3 and summary["seeds"] == serial.seeds
    assert summary == json.loads(json.dumps(serial.summary()))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "bands.parquet"), serial.bands())
    assert (out / "pricing_curve.png").stat().st_size > 10_000
    # the resolved scenario re-runs the same replications
    again = CliRunner().invoke(app, ["run", str(out / "scenario.resolved.yaml"), "--replications", "3", "--out",
                                     str(tmp_path / "again"), "--quiet"])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["by_class"] == summary["by_class"]
    bad = CliRunner().invoke(app, ["run", str(TINY), "--replications", "2", "--chain", "embedded",
                                   "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--chain applies to a single run" in bad.output


def test_below_reaches_the_replications(serial, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``run --replications N --below X``: every seed's months_below counts months under X of AWS, and the
    summary says which X."""
    strict = replicate(TINY, 3, overrides=SHORT, progress=False, below=0.2)
    column = "by_class.H100_SXM.months_below_on_demand"
    assert strict.summary()["below_share"] == 0.2 and serial.summary()["below_share"] == 0.5
    assert (strict.runs[column] <= serial.runs[column]).all()
    out = tmp_path / "strict"
    result = CliRunner().invoke(app, ["run", str(TINY), "--replications", "3", "--below", "0.2", "--out", str(out),
                                      "--quiet", *[a for o in SHORT for a in ("--set", o)]])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(strict.summary()))
