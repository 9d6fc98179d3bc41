"""The folders depinsim writes, named once: a run folder, a sweep folder and a memo folder.

Each type knows its files, writes them (atomically) and reads them back, so the CLI, the sweep runner and
the memo share one definition. Every folder carries a marker file (``.depinsim.json``: which kind of
folder, which files it wrote), and that marker is what makes a folder replaceable: without ``--force``
an existing target is refused; with it, only a folder of the same kind holding nothing but what
depinsim wrote is replaced, never the working directory or one of its parents. Figures are objects
with a matplotlib-style ``savefig(path)``: the caller draws them (``sim`` draws nothing).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pandas as pd
from ruamel.yaml import YAML

from .atomic import sibling, staged_folder, write_file
from .errors import InputError
from .results import RunResult
from .schema import Scenario, scenario_hash

if TYPE_CHECKING:
    from .replicate import Replicated
    from .stress import StressResult

MARKER = ".depinsim.json"


class Figure(Protocol):
    def savefig(self, fname: Any, **kwargs: Any) -> None: ...


def json_safe(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _marker(kind: str, files: list[str], **extra: Any) -> str:
    from .summary import package_version

    return json.dumps({"depinsim": kind, "version": package_version(), "files": sorted(files), **extra},
                      indent=2) + "\n"


class OutputFolder:
    """A folder of one kind that depinsim writes; ``kind`` names it in the marker and in messages."""

    kind: ClassVar[str]
    what: ClassVar[str]
    """How messages name the folder ("run folder")."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def marker(self) -> dict[str, Any] | None:
        """The marker, if this is a folder of this kind."""
        try:
            data = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("depinsim") == self.kind else None

    def exists(self) -> bool:
        return self.marker() is not None

    def check_target(self, force: bool, option: str = "--out") -> None:
        """Refuse a target that writing here could lose anything in (see the module's docstring)."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise InputError(f"Output path {out} exists and is not a folder. Give {option} a folder path.")
        resolved, here = out.resolve(), Path.cwd().resolve()
        if resolved == here or resolved in here.parents:
            raise InputError(f"Output folder {out} is the folder you are working in (or holds it), which depinsim "
                             f"never replaces. Give {option} a new folder, e.g. {option} runs/NAME.")
        if not out.exists():
            return
        if not force:
            raise InputError(f"Output folder {out} already exists. Pass --force to replace it (only a {self.what} "
                             f"depinsim wrote can be replaced), or choose another folder with {option}.")
        self._check_replaceable()

    def _check_replaceable(self) -> None:
        marker = self.marker()
        if marker is None:
            raise InputError(f"Output folder {self.path} is not a {self.what} depinsim wrote (it has no {MARKER} "
                             f"marker of a {self.kind}), so --force will not replace it. Choose another folder, "
                             "or move what it holds yourself.")
        owned = {MARKER, *marker.get("files", [])}
        foreign = sorted(name for name in os.listdir(self.path) if name not in owned)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise InputError(f"Output folder {self.path} holds files depinsim did not write ({shown}), so --force "
                             "will not replace it. Move them out, or choose another folder.")


class RunFolder(OutputFolder):
    """What ``depinsim run`` writes: the resolved scenario, the three tables, the summary and figures."""

    kind, what = "run", "run folder"
    SCENARIO = "scenario.resolved.yaml"
    JOBS, EPOCHS, PROVIDERS, SUMMARY = "jobs.parquet", "epochs.parquet", "providers.parquet", "summary.json"
    TABLES = (SCENARIO, JOBS, EPOCHS, PROVIDERS, SUMMARY)

    def write(self, result: RunResult, figures: Mapping[str, Figure], force: bool = False) -> list[str]:
        """Write the run (each figure as NAME.png and NAME.svg), atomically; returns the files written."""
        self.check_target(force)
        files = [*self.TABLES, *(f"{name}.{ext}" for name in figures for ext in ("png", "svg"))]
        with staged_folder(self.path) as tmp:
            _write_resolved(tmp / self.SCENARIO, result.scenario)
            if result.jobs is not None:
                result.jobs.to_parquet(tmp / self.JOBS, index=False)
            elif result.jobs_file is not None:
                os.replace(result.jobs_file, tmp / self.JOBS)  # streamed there by the run (``jobs_stage``)
            else:
                raise ValueError("a run that kept no job table (jobs='none') cannot be written as a run folder")
            result.epochs.to_parquet(tmp / self.EPOCHS, index=False)
            result.providers.to_parquet(tmp / self.PROVIDERS, index=False)
            _write_json(tmp / self.SUMMARY, result.summary)
            _finish(tmp, self.kind, files, figures)
        return files

    def jobs_stage(self) -> Path:
        """A file beside the folder for a run to stream its job table into (``run(..., jobs=path)``), so the
        run never holds the whole table; ``write`` moves it into the folder. The caller removes it if the
        run fails before that."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return sibling(self.path, "jobs.partial")

    def is_run(self) -> bool:
        """A run folder (marked, or written before markers existed: it has a summary.json)."""
        return self.exists() or (self.path / self.SUMMARY).is_file()

    def summary(self) -> dict[str, Any]:
        return json.loads((self.path / self.SUMMARY).read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def epochs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.EPOCHS)

    def jobs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.JOBS)

    def providers(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.PROVIDERS)

    @property
    def scenario_file(self) -> Path:
        return self.path / self.SCENARIO


def _write_json(path: Path, data: Any) -> None:
    """Strict JSON (NaN as null), as summary.json is."""
    path.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _finish(tmp: Path, kind: str, files: list[str], figures: Mapping[str, Figure]) -> None:
    """A staged folder's figures (each as NAME.png and NAME.svg) and, last, its marker."""
    for name, figure in figures.items():
        figure.savefig(tmp / f"{name}.png", dpi=150)
        figure.savefig(tmp / f"{name}.svg")
    (tmp / MARKER).write_text(_marker(kind, files), encoding="utf-8")


def _write_resolved(path: Path, scenario: Scenario, note: str = "") -> None:
    """The scenario with every default filled in, which ``depinsim run`` accepts as is."""
    from .summary import package_version

    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"# Resolved scenario (every default filled in), as run by depinsim {package_version()}.\n"
                 f"# sha256 {scenario_hash(scenario)}; re-run with: depinsim run {path.name}{note}\n")
        yaml.dump(scenario.model_dump(mode="json"), fh)


class ReplicatedRunFolder(OutputFolder):
    """What ``depinsim run --replications N`` writes: the resolved scenario (its seed is the root seed), one
    summary row a seed, every seed's epoch table, their P10/P50/P90 bands, the summary with intervals, and
    the figures. Jobs tables are not kept (a million rows a seed): a seed's run folder is one
    ``depinsim run --seed SEED`` away (``summary.json`` lists the seeds)."""

    kind, what = "replicated run", "replicated run folder"
    SCENARIO, SUMMARY = "scenario.resolved.yaml", "summary.json"
    RUNS, EPOCHS, BANDS = "replications.parquet", "epochs.parquet", "bands.parquet"
    TABLES = (SCENARIO, RUNS, EPOCHS, BANDS, SUMMARY)

    def write(self, replicated: Replicated, figures: Mapping[str, Figure], force: bool = False) -> list[str]:
        """Write the replications (each figure as NAME.png and NAME.svg), atomically; the files written."""
        self.check_target(force)
        files = [*self.TABLES, *(f"{name}.{ext}" for name in figures for ext in ("png", "svg"))]
        n = len(replicated.runs)
        with staged_folder(self.path) as tmp:
            _write_resolved(tmp / self.SCENARIO, replicated.scenario, f" --replications {n}")
            replicated.runs.to_parquet(tmp / self.RUNS, index=False)
            replicated.epochs.to_parquet(tmp / self.EPOCHS, index=False)
            replicated.bands().to_parquet(tmp / self.BANDS, index=False)
            _write_json(tmp / self.SUMMARY, replicated.summary())
            _finish(tmp, self.kind, files, figures)
        return files

    def summary(self) -> dict[str, Any]:
        return json.loads((self.path / self.SUMMARY).read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def bands(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.BANDS)


class SweepFolder(OutputFolder):
    """What ``depinsim sweep`` writes: a copy of the sweep file, the run table, the epoch table, and the
    cache of finished runs it resumes from."""

    kind, what = "sweep", "sweep folder"
    SPEC, RUNS, EPOCHS, CACHE = "sweep.yaml", "runs.parquet", "epochs.parquet", "cache"
    FILES = (SPEC, RUNS, EPOCHS, CACHE)

    @property
    def cache_dir(self) -> Path:
        return self.path / self.CACHE

    def open(self, spec_text: str, force: bool = False) -> bool:
        """Make the folder ready for the sweep whose file (as it reads from the folder) is ``spec_text``:
        a new folder, or this very sweep's folder to resume (True), or, with ``force``, another sweep's
        folder, whose results this sweep will replace (its cache is kept: entries are keyed by their
        scenario's content, so they are this sweep's too where they match)."""
        if self.path.exists() and self.path.is_dir() and self.exists():
            if self.spec_text() == spec_text:
                return True
            if not force:
                raise InputError(f"Output folder {self.path} holds another sweep (its {self.SPEC} differs). Pass "
                                 "--force to replace its results, or choose another folder with --out.")
            self._check_replaceable()
        else:
            self.check_target(force)  # a folder that is not a sweep's is never written into
        self.path.mkdir(parents=True, exist_ok=True)
        write_file(self.path / self.SPEC, lambda p: p.write_text(spec_text, encoding="utf-8"))
        write_file(self.path / MARKER, lambda p: p.write_text(_marker(self.kind, list(self.FILES)), encoding="utf-8"))
        return False

    def write_results(self, runs: pd.DataFrame, epochs: pd.DataFrame) -> None:
        write_file(self.path / self.RUNS, lambda p: runs.to_parquet(p, index=False))
        write_file(self.path / self.EPOCHS, lambda p: epochs.to_parquet(p, index=False))

    def is_sweep(self) -> bool:
        """A sweep folder (marked, or written before markers existed)."""
        return self.exists() or ((self.path / self.RUNS).is_file() and (self.path / self.SPEC).is_file())

    def spec_text(self) -> str | None:
        try:
            return (self.path / self.SPEC).read_text(encoding="utf-8")
        except OSError:
            return None

    def spec(self) -> dict[str, Any]:
        return YAML(typ="safe").load(self.spec_text() or "")  # type: ignore[no-any-return]

    def runs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.RUNS)

    def epochs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.EPOCHS)


class StressFolder(OutputFolder):
    """What ``depinsim stress`` writes: the scorecard (CSV and JSON), every run's epochs with its shock, the
    overlays (stress.yaml: each shock as the --set that reproduces its run) and the figure."""

    kind, what = "stress", "stress folder"
    SCORECARD, SUMMARY, EPOCHS, OVERLAYS = "scorecard.csv", "scorecard.json", "epochs.parquet", "stress.yaml"
    TABLES = (SCORECARD, SUMMARY, EPOCHS, OVERLAYS)

    def write(self, result: StressResult, figures: Mapping[str, Figure], force: bool = False) -> list[str]:
        self.check_target(force)
        files = [*self.TABLES, *(f"{name}.{ext}" for name in figures for ext in ("png", "svg"))]
        meta = {"scenario": result.scenario.name, "scenario_hash": scenario_hash(result.scenario),
                "seed": result.scenario.seed, "month": result.month, "gpu_class": result.gpu_class,
                "scorecard": result.scorecard.to_dict("records")}
        overlays = {"scenario": result.scenario.name, "month": result.month,
                    "shocks": result.overlays()}
        with staged_folder(self.path) as tmp:
            result.scorecard.to_csv(tmp / self.SCORECARD, index=False)
            _write_json(tmp / self.SUMMARY, meta)
            result.epochs.to_parquet(tmp / self.EPOCHS, index=False)
            yaml = YAML(typ="safe")
            yaml.default_flow_style = False
            with (tmp / self.OVERLAYS).open("w", encoding="utf-8") as fh:
                yaml.dump(overlays, fh)
            _finish(tmp, self.kind, files, figures)
        return files

    def summary(self) -> dict[str, Any]:
        return json.loads((self.path / self.SUMMARY).read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def epochs(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / self.EPOCHS)


class MemoFolder(OutputFolder):
    """What ``depinsim memo`` writes: memo.md, a self-contained memo.html, memo.pdf, and the figures as PNG
    and SVG."""

    kind, what = "memo", "memo folder"
    MARKDOWN, HTML, PDF, FIGURES = "memo.md", "memo.html", "memo.pdf", "figures"

    def write(self, markdown: str, page: str, pdf: bytes, figures: Mapping[str, tuple[bytes, Figure]],
              force: bool = False) -> None:
        """``figures``: name -> (the PNG as embedded in the page, the figure, saved as SVG too)."""
        self.check_target(force)
        with staged_folder(self.path) as tmp:
            (tmp / self.FIGURES).mkdir()
            for name, (png, figure) in figures.items():
                (tmp / self.FIGURES / f"{name}.png").write_bytes(png)
                figure.savefig(tmp / self.FIGURES / f"{name}.svg")
            (tmp / self.MARKDOWN).write_text(markdown, encoding="utf-8")
            (tmp / self.HTML).write_text(page, encoding="utf-8")
            (tmp / self.PDF).write_bytes(pdf)
            files = [self.MARKDOWN, self.HTML, self.PDF, self.FIGURES]
            (tmp / MARKER).write_text(_marker(self.kind, files), encoding="utf-8")
