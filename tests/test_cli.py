"""The command line: a run writes its folder atomically, never clobbers, and reports failures clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim.folders
import sim.runner
from sim import ConservationError, load_scenario, scenario_hash
from sim.cli import app
from sim.folders import RunFolder

from .helpers import SCENARIOS

TINY = str(SCENARIOS / "tiny.yaml")
RUN_FILES = {".depinsim.json", "scenario.resolved.yaml", "jobs.parquet", "epochs.parquet", "providers.parquet",
             "summary.json",
             "pricing_curve.png", "pricing_curve.svg"}


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_run_writes_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "tiny"
    result = invoke("run", TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "no temporary folder left"
    summary = json.loads((out / "summary.json").read_text())  # strict JSON: NaN would not parse as null
    jobs = pd.read_parquet(out / "jobs.parquet")
    epochs = pd.read_parquet(out / "epochs.parquet")
    assert len(jobs) == summary["jobs"]["submitted"]
    assert set(epochs.gpu_class.astype(str)) == set(summary["by_class"])
    assert (out / "pricing_curve.png").read_bytes()[:4] == b"\x89PNG"
    # the resolved scenario runs again as is, to the same scenario
    resolved = load_scenario(out / "scenario.resolved.yaml")
    assert scenario_hash(resolved) == summary["scenario_hash"] == scenario_hash(load_scenario(TINY))
    assert "conservation checks passed" in result.output


def test_counterfactual_flag_prints_and_writes_the_incidence_and_the_memo_shows_it(tmp_path: Path) -> None:
    out = tmp_path / "cf"
    result = invoke("run", TINY, "--counterfactual", "--set", "horizon_days=6", "--out", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    incidence = summary["incidence"]
    assert set(incidence) == set(summary["by_class"])
    assert "subsidy incidence" in result.output
    # the flag is the scenario switch: the resolved scenario repeats the paired run
    assert load_scenario(out / "scenario.resolved.yaml").counterfactual
    for c in incidence.values():
        assert sum(c["split_usd"].values()) == pytest.approx(c["reward_usd"])
    memo = invoke("memo", str(out), "--out", str(tmp_path / "memo"))
    assert memo.exit_code == 0, memo.output
    text = (tmp_path / "memo" / "memo.md").read_text()
    h100 = incidence["H100_SXM"]
    assert "Subsidy incidence" in text and f"{h100['pass_through']:.3f}" in text


def test_rerunning_the_resolved_scenario_reproduces_the_tables(tmp_path: Path) -> None:
    first, second = RunFolder(tmp_path / "first"), RunFolder(tmp_path / "second")
    assert invoke("run", TINY, "--out", str(first.path), "-q").exit_code == 0
    assert invoke("run", str(first.scenario_file), "--out", str(second.path), "-q").exit_code == 0
    for a, b in ((first.jobs(), second.jobs()), (first.epochs(), second.epochs()),
                 (first.providers(), second.providers())):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert first.summary() == second.summary()


def test_existing_run_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert invoke("run", TINY, "--out", str(out), "-q").exit_code == 0
    before = (out / "summary.json").read_bytes()
    result = invoke("run", TINY, "--out", str(out), "--set", "seed=8")
    assert result.exit_code == 2 and "--force" in result.output
    assert (out / "summary.json").read_bytes() == before
    result = invoke("run", TINY, "--out", str(out), "--seed", "8", "--force", "-q")
    assert result.exit_code == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 8


def test_failed_write_leaves_the_old_run_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    assert invoke("run", TINY, "--out", str(out), "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken_figure(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr("analysis.curves.pricing_curve", broken_figure)
    result = invoke("run", TINY, "--out", str(out), "--force", "--seed", "9", "-q")
    assert result.exit_code != 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "no partial folder left behind"


def test_conservation_failure_exits_1_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_run(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ConservationError("conservation of money violated: test")

    monkeypatch.setattr(sim.runner, "check_conservation", broken_run)  # once the job table is streamed out
    result = invoke("run", TINY, "--out", str(tmp_path / "run"))
    assert result.exit_code == 1 and "conservation of money" in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir()), "no run folder, and no streamed job table left beside it"


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    result = invoke("run", TINY, "--out", str(target), "--force")
    assert result.exit_code == 2 and "not a folder" in result.output
    assert target.read_text() == "keep me"


def test_validate_ok() -> None:
    result = invoke("validate", TINY, "--set", "horizon_days=10")
    assert result.exit_code == 0 and "valid" in result.output


def test_default_out_is_runs_slash_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert invoke("run", TINY, "-q").exit_code == 0
    assert (tmp_path / "runs" / "tiny" / "summary.json").exists()


def test_json_safe_turns_nan_into_null() -> None:
    assert sim.folders.json_safe({"a": [float("nan"), 1.0, float("inf")]}) == {"a": [None, 1.0, None]}


# --- nothing the user has is lost -------------------------------------------------------------------------


def test_force_never_replaces_a_folder_depinsim_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = invoke("run", TINY, "--out", str(mine), "--force", "-q")
    assert result.exit_code == 2 and "not a run folder depinsim wrote" in result.output
    assert "Traceback" not in result.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"


def test_force_never_replaces_a_run_folder_holding_something_else(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert invoke("run", TINY, "--out", str(out), "-q").exit_code == 0
    (out / "notes.txt").write_text("my notes")
    result = invoke("run", TINY, "--out", str(out), "--force", "--seed", "3", "-q")
    assert result.exit_code == 2 and "notes.txt" in result.output and "did not write" in result.output
    assert (out / "notes.txt").read_text() == "my notes"
    assert json.loads((out / "summary.json").read_text())["seed"] == 7  # the old run is untouched


@pytest.mark.parametrize("where", [".", ".."])
def test_the_working_folder_and_its_parents_are_never_replaced(tmp_path: Path, where: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.csv").write_text("1,2\n")
    monkeypatch.chdir(work)
    result = invoke("run", TINY, "--out", where, "--force", "-q")
    assert result.exit_code == 2 and "folder you are working in" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"], "no .old or .partial folder left"
    assert [p.name for p in work.iterdir()] == ["data.csv"]


def test_schema_out_keeps_an_existing_file_without_force(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    target.write_text("mine")
    result = invoke("schema", "--out", str(target))
    assert result.exit_code == 2 and "--force" in result.output and target.read_text() == "mine"
    assert invoke("schema", "--out", str(target), "--force").exit_code == 0
    assert json.loads(target.read_text())["title"] == "Scenario"


def _sweep_file(tmp_path: Path, counts: str) -> Path:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(f"name: s\nbase: {SCENARIOS / 'tiny.yaml'}\nset: {{horizon_days: 2}}\nseed: 3\n"
                    f"params:\n  providers.h100.count: {counts}\n")
    return spec


def test_sweep_takes_set_and_seed_and_records_them(tmp_path: Path) -> None:
    spec = _sweep_file(tmp_path, "[2, 3]")
    out = tmp_path / "out"
    result = invoke("sweep", str(spec), "--out", str(out), "--set", "horizon_days=1", "--seed", "9", "--quiet")
    assert result.exit_code == 0, result.output
    recorded = (out / "sweep.yaml").read_text()
    assert "horizon_days: 1" in recorded and "seed: 9" in recorded
    runs = pd.read_parquet(out / "runs.parquet")
    from sim.sweep import run_seeds

    assert runs["seed"].tolist() == run_seeds(9, 2, 1).ravel().tolist()
    assert (runs["horizon_days"] == 1).all()  # the command line's set wins over the file's (2 days)
    # the recorded file re-runs the same sweep: everything comes from the cache
    again = invoke("sweep", str(out / "sweep.yaml"), "--out", str(out))
    assert again.exit_code == 0 and "2 from the cache" in again.output


def test_a_failed_sweep_point_exits_1_lists_it_and_the_memo_shows_it(tmp_path: Path) -> None:
    spec = _sweep_file(tmp_path, "[2, 0]")
    out = tmp_path / "out"
    result = invoke("sweep", str(spec), "--out", str(out), "--quiet")
    assert result.exit_code == 1
    assert "point 1" in result.output and "1 of 2 runs failed" in result.output
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["status"].tolist() == ["ok", "error"]
    memo = invoke("memo", str(out), "--out", str(tmp_path / "memo"))
    assert memo.exit_code == 0, memo.output
    text = (tmp_path / "memo" / "memo.md").read_text()
    assert "the 1 failed runs" in text and "greater than 0" in text


def test_validate_takes_sweep_files_and_reports_bad_points(tmp_path: Path) -> None:
    ok = invoke("validate", str(_sweep_file(tmp_path, "[2, 3]")))
    assert ok.exit_code == 0 and "2 points x 1 replications" in ok.output
    bad = invoke("validate", str(_sweep_file(tmp_path, "[2, 0]")))
    assert bad.exit_code == 2 and "1 of its 2 points" in bad.output and "point 1" in bad.output
    named = invoke("validate", TINY, "--set", "providers.nope.count=1")
    assert named.exit_code == 2 and "h100, rigs" in named.output


def test_version() -> None:
    from sim.summary import package_version

    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"depinsim {package_version()}"


@pytest.mark.parametrize("args, says", [(["memo", "x", "-q"], "No such option: -q"),
                                        (["run"], "Missing argument"),
                                        (["sweep", "s.yaml", "--below", "half"], "--below")])
def test_a_command_line_mistake_is_a_usage_message_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    """As the user's shell runs it (not through CliRunner, which catches what main would): typer's own usage
    errors, never a traceback."""
    done = subprocess.run([sys.executable, "-m", "sim", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
