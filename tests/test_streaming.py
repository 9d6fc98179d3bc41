"""A run's job table streamed to a file chunk by chunk gives the same results as one kept in memory."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import sim.engine.settled
import sim.runner
import sim.tables
from sim import ConservationError, Scenario, load_scenario, run
from sim.jobsink import JobSink

from .helpers import SCENARIOS


def _same_summary(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.mark.parametrize(("name", "rows"), [("tiny", 300), ("baseline", 20_000)])
def test_streamed_and_in_memory_runs_are_identical(name: str, rows: int, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Several chunks (a small chunk size stands in for a ten-million-job run's 256Ki rows; in memory the
    table is built in one piece, then read a chunk at a time): the summary, epochs and providers exactly
    equal, and the streamed file holds exactly the in-memory table."""
    monkeypatch.setattr(sim.tables, "CHUNK_ROWS", rows)
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    memory = run(scenario)
    streamed = run(scenario, jobs=tmp_path / "jobs.parquet")
    assert len(memory.jobs) > 2 * rows, "the scenario must span several chunks"
    assert streamed.jobs is None and streamed.jobs_file == tmp_path / "jobs.parquet"
    assert pq.ParquetFile(streamed.jobs_file).num_row_groups == -(-len(memory.jobs) // rows)
    pd.testing.assert_frame_equal(pd.read_parquet(streamed.jobs_file), memory.jobs, check_exact=True)
    assert _same_summary(streamed.summary, memory.summary)
    pd.testing.assert_frame_equal(streamed.epochs, memory.epochs, check_exact=True)
    pd.testing.assert_frame_equal(streamed.providers, memory.providers, check_exact=True)
    nothing = run(scenario, jobs="none")
    assert nothing.jobs is None and nothing.jobs_file is None and _same_summary(nothing.summary, memory.summary)


def test_the_job_table_does_not_depend_on_the_chunking(tiny: Scenario, tiny_result: sim.RunResult, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row is its job's alone: built in chunks of 97 jobs and streamed, the table is the one built in one
    piece. The summary's sums add chunk by chunk, so only their last bits may move; its counts may not. The
    settled allocations filed in buckets of 41 jobs (files beside the table) change nothing either."""
    monkeypatch.setattr(sim.tables, "CHUNK_ROWS", 97)
    monkeypatch.setattr(sim.engine.settled, "BUCKET_JOBS", 41)
    chunked = run(tiny, jobs=tmp_path / "jobs.parquet")
    assert pq.ParquetFile(chunked.jobs_file).num_row_groups == -(-len(tiny_result.jobs) // 97)
    pd.testing.assert_frame_equal(pd.read_parquet(chunked.jobs_file), tiny_result.jobs, check_exact=True)
    assert chunked.summary["jobs"] == tiny_result.summary["jobs"]
    assert chunked.summary["latency"] == tiny_result.summary["latency"]
    for group in ("gpu_hours", "spend_usd"):
        assert chunked.summary[group] == pytest.approx(tiny_result.summary[group], rel=1e-12)


def test_a_failed_run_leaves_no_streamed_file(tiny: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise ConservationError("conservation of money violated: test")

    monkeypatch.setattr(sim.tables, "CHUNK_ROWS", 300)
    monkeypatch.setattr(sim.runner, "check_conservation", broken)  # after every chunk was written
    with pytest.raises(ConservationError):
        run(tiny, jobs=tmp_path / "jobs.parquet")
    assert not list(tmp_path.iterdir())


def test_a_sink_never_removes_a_file_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "jobs.parquet"
    mine.write_text("the user's")
    with pytest.raises(RuntimeError), JobSink(mine):
        raise RuntimeError("failed before the first chunk")
    assert mine.read_text() == "the user's"
