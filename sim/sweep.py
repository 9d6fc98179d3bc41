"""Parameter sweeps: one call, one long DataFrame, the same numbers on any backend and any number of workers.

A sweep is a design (the points: a Cartesian grid by default, or zipped lists, or a Latin hypercube or
scrambled Sobol sample from ``scipy.stats.qmc`` over ranges) times replications. Every run's seed is a
child of ``numpy.random.SeedSequence(seed)``, drawn by its position in the sweep, never by the order in
which workers finish; so serial, process-pool and Dask runs give equal DataFrames.

Each finished point is cached (one Parquet file, written atomically) under a key that hashes the
resolved scenario (its seed included) and the package version: an interrupted sweep, re-run, recomputes
only what is missing. Failed points are recorded with their error and are not cached, so a re-run retries
them.

``sim.sweep`` is this module, and calling it runs ``sweep`` (so ``sim.sweep(...)`` and
``from sim.sweep import design`` both work while the package imports nothing until asked).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from ruamel.yaml import YAML
from scipy.stats import qmc

from .atomic import write_file
from .backends import BACKENDS, Backend, execute
from .errors import InputError
from .loader import load_scenario, scenario_factory
from .schema import Scenario, scenario_hash
from .summary import package_version
from .units import BELOW_SHARE

Method = Literal["grid", "lhs", "sobol", "zip"]
METHODS = ("grid", "lhs", "sobol", "zip")
_SKIPPED = {"scenario", "description", "package_version", "schema_version", "conservation", "chain", "cloud",
            "partial"}


@dataclass(frozen=True)
class Range:
    """A continuous axis for ``lhs`` and ``sobol``: sampled uniformly (or log-uniformly) in [low, high];
    ``integer`` rounds the sample (for counts)."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise InputError(f"A sweep range needs high > low, got low={self.low}, high={self.high}.")
        if self.scale == "log" and self.low <= 0:
            raise InputError(f"A log-scale sweep range needs low > 0, got low={self.low}.")

    def at(self, u: np.ndarray) -> list[Any]:
        """The axis values at unit-cube coordinates ``u``."""
        if self.scale == "log":
            x = np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        return [int(round(v)) for v in x] if self.integer else [float(v) for v in x]


Axis = Sequence[Any] | Range | tuple[float, float]


def design(params: Mapping[str, Axis], method: Method = "grid", n: int | None = None,
           seed: int = 0) -> pd.DataFrame:
    """The sweep's points, one row each, one column a parameter (its dotted scenario path).

    ``grid`` is the Cartesian product of the value lists (the default); ``zip`` pairs lists of equal
    length; ``lhs`` and ``sobol`` draw ``n`` points over ranges (``Range`` or a (low, high) pair), seeded
    from ``seed`` (a Sobol ``n`` must be a power of two, which keeps the sample balanced).
    """
    if method not in METHODS:
        raise InputError(f"Sweep method {method!r} is not one of {', '.join(METHODS)}.")
    if not params:
        raise InputError("A sweep needs at least one parameter axis.")
    names = list(params)
    if method in ("grid", "zip"):
        axes: list[list[Any]] = []
        for name, axis in params.items():
            if isinstance(axis, Range) or isinstance(axis, str) or not isinstance(axis, Sequence) or not axis:
                raise InputError(f"Sweep parameter {name}: method {method!r} takes a non-empty list of values, "
                                 f"not {axis!r} (ranges are for lhs and sobol).")
            axes.append(list(axis))
        if method == "grid":
            rows = list(itertools.product(*axes))
        else:
            lengths = {len(a) for a in axes}
            if len(lengths) > 1:
                raise InputError(f"Sweep method 'zip' needs value lists of one length; got lengths "
                                 f"{dict(zip(names, map(len, axes), strict=True))}.")
            rows = list(zip(*axes, strict=True))
        return pd.DataFrame(rows, columns=names)
    if n is None or n < 1:
        raise InputError(f"Sweep method {method!r} needs n, the number of points (n >= 1).")
    ranges = [_as_range(name, axis) for name, axis in params.items()]
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    if method == "lhs":
        unit = qmc.LatinHypercube(d=len(ranges), rng=rng).random(n)
    else:
        if n & (n - 1):
            raise InputError(f"Sweep method 'sobol' needs n to be a power of two (balanced sample), got {n}.")
        unit = qmc.Sobol(d=len(ranges), scramble=True, rng=rng).random_base2(int(math.log2(n)))
    return pd.DataFrame({name: r.at(unit[:, i]) for i, (name, r) in enumerate(zip(names, ranges, strict=True))})


def _as_range(name: str, axis: Axis) -> Range:
    if isinstance(axis, Range):
        return axis
    if isinstance(axis, Mapping):
        return Range(**axis)
    if isinstance(axis, Sequence) and len(axis) == 2 and all(isinstance(v, int | float) for v in axis):
        return Range(float(axis[0]), float(axis[1]))
    raise InputError(f"Sweep parameter {name}: lhs and sobol take a range (low, high), not {axis!r}.")


def run_seeds(seed: int, points: int, replications: int, common_random_numbers: bool = False) -> np.ndarray:
    """Seeds, shape (points, replications): children of SeedSequence(seed), by position in the sweep.

    With ``common_random_numbers`` every point shares replication r's seed, so differences between points
    are the parameters' and not the noise's (what a root finder over a parameter needs)."""
    children = np.random.SeedSequence(seed).spawn(2)[1]
    count = replications if common_random_numbers else points * replications
    states = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children.spawn(count)]
    grid = np.array(states, dtype=np.int64).reshape(-1, replications)
    return np.repeat(grid, points, axis=0) if common_random_numbers else grid


@dataclass(frozen=True)
class _Task:
    run_id: int
    point: int
    replication: int
    seed: int
    values: dict[str, Any]
    scenario: Scenario | None
    error: str | None
    key: str
    below: float


def _tasks(base: Scenario | str | Path, points: pd.DataFrame, seeds: np.ndarray,
           fixed: Sequence[str] = (), below: float = BELOW_SHARE) -> Iterator[_Task]:
    """Resolve every run's scenario, lazily (workers start on the first while the rest are resolved);
    a validation error becomes that run's error, not the sweep's."""
    make = scenario_factory(*_base_text(base))
    run_id = 0
    for i, row in enumerate(points.to_dict("records")):
        for r in range(seeds.shape[1]):
            seed = int(seeds[i, r])
            overrides = [*fixed, *(f"{k}={_yaml_value(v)}" for k, v in row.items()), f"seed={seed}"]
            scenario, error, key = None, None, ""
            try:
                scenario = make(overrides)
                key = cache_key(scenario, below)
            except InputError as exc:
                error = str(exc)
            yield _Task(run_id, i, r, seed, row, scenario, error, key, below)
            run_id += 1


def invalid_points(base: Scenario | str | Path, points: pd.DataFrame,
                   fixed: Sequence[str] = ()) -> list[tuple[int, str]]:
    """The points whose scenario does not validate, with the error: what ``depinsim validate`` says of a
    sweep file before anything runs (the sweep itself records them as failed runs and goes on)."""
    seeds = np.zeros((len(points), 1), dtype=np.int64)
    return [(t.point, t.error) for t in _tasks(base, points, seeds, fixed) if t.error is not None]


def _base_text(base: Scenario | str | Path) -> tuple[str, str, str]:
    if isinstance(base, Scenario):
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        from io import StringIO

        buf = StringIO()
        yaml.dump(base.model_dump(mode="json"), buf)
        return buf.getvalue(), f"<scenario {base.name}>", "."
    path = Path(base)
    load_scenario(path)  # the base itself must be valid: one clear error, not one per point
    return path.read_text(encoding="utf-8"), str(path), str(path.parent)


def _yaml_value(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cache_key(scenario: Scenario, below: float = BELOW_SHARE) -> str:
    """What a cached run depends on: the resolved scenario (seed included), the code's version and, when it
    is not the default (so older caches still serve), the share ``months_below`` counts under."""
    reading = "" if below == BELOW_SHARE else f"|below={below!r}"
    return hashlib.sha256(f"{scenario_hash(scenario)}|{package_version()}{reading}".encode()).hexdigest()[:32]


def summary_metrics(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run's summary as flat columns (``by_class.H100_SXM.undercut_ratio_on_demand``): its numbers, flags
    and the scenario hash; descriptive text and the conservation totals are left out."""
    out: dict[str, Any] = {"scenario_hash": summary.get("scenario_hash")}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if not prefix and key in _SKIPPED:
                continue
            if isinstance(value, Mapping):
                walk(value, f"{name}.")
            elif value is None or isinstance(value, bool | int | float):
                out[name] = np.nan if value is None else value
    walk(summary, "")
    return out


def _row(task: _Task, outcome: Mapping[str, Any]) -> dict[str, Any]:
    """A run's row: who it is (from the sweep) and what it gave (from the run or the cache)."""
    return {"run_id": task.run_id, "point": task.point, "replication": task.replication, "seed": task.seed,
            **task.values, **outcome}


def _run_task(task: _Task) -> tuple[int, dict[str, Any], pd.DataFrame | None]:
    """One run (in whatever process the backend chose): its outcome (status, error, runtime, the summary's
    numbers) and its epoch series."""
    from .runner import run

    row: dict[str, Any] = {"status": "ok", "error": None, "runtime_s": 0.0}
    started = time.perf_counter()
    epochs = None
    if task.scenario is None:
        row.update(status="error", error=task.error)
    else:
        try:
            result = run(task.scenario, below=task.below, jobs="none")  # a point keeps its summary and epochs
            row.update(summary_metrics(result.summary))
            epochs = result.epochs
        except Exception as exc:  # a failing point is recorded and the others go on
            last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f" ({Path(last.filename).name}:{last.lineno})" if last else ""
            row.update(status="error", error=f"{type(exc).__name__}: {exc}{where}")
    row["runtime_s"] = time.perf_counter() - started
    return task.run_id, row, epochs


class _Cache:
    """One Parquet file per finished run, named by its key: the run's epoch table, with its summary row as
    JSON in the file's metadata. A data format, so opening someone else's cache folder runs none of their
    code; written to a temporary file and renamed, so an entry is whole or absent, whatever kills the
    process."""

    ROW = b"depinsim.row"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def get(self, key: str) -> tuple[dict[str, Any], pd.DataFrame] | None:
        import pyarrow.parquet as pq

        path = self.path(key)
        if not key or not path.is_file():
            return None
        table = pq.read_table(path)
        row = json.loads((table.schema.metadata or {})[self.ROW])
        return row, table.to_pandas()

    def put(self, key: str, row: dict[str, Any], epochs: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(epochs, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), self.ROW: json.dumps(row).encode()})

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                pq.write_table(table, fh)
                fh.flush()
                os.fsync(fh.fileno())

        write_file(self.path(key), write)


def sweep(base: Scenario | str | Path, params: Mapping[str, Axis], method: Method = "grid", n: int | None = None,
          replications: int = 1, seed: int = 0, backend: Backend = "serial", address: str | None = None,
          cache_dir: str | Path | None = None, progress: bool = True, workers: int | None = None,
          fixed: Sequence[str] = (), common_random_numbers: bool = False, below: float = BELOW_SHARE) -> pd.DataFrame:
    """Run ``base`` at every point of a design and return one row a run (long format).

    ``params`` maps dotted scenario paths (as in ``--set``: ``tokenomics.emission.tokens_per_day``,
    ``providers.0.count``) to value lists (``grid``, the Cartesian product, is the default; ``zip``) or
    ranges (``lhs``, ``sobol``; ``n`` points). Columns: ``run_id, point, replication, seed``, the
    parameters, ``status`` (ok or error), ``error``, ``runtime_s``, then the summary's numbers, flattened
    (``summary_metrics``). ``backend``: ``serial``, ``processes`` (a local process pool of ``workers``) or
    ``dask`` (a LocalCluster of ``workers``, or the scheduler at ``address``). ``cache_dir`` makes the
    sweep resumable; without one a temporary folder holds the runs. ``sweep_epochs`` loads every run's
    epoch series. ``fixed`` are overrides applied to every run (``["horizon_days=30"]``); ``below``: the
    share of each alternative's price under which ``months_below`` counts months (as ``run --below``).
    """
    if replications < 1:
        raise InputError(f"A sweep needs replications >= 1, got {replications}.")
    points = design(params, method, n, seed)
    seeds = run_seeds(seed, len(points), replications, common_random_numbers)
    if not below > 0:
        raise InputError(f"below {below:g}: the share of the alternative's price must be above 0 (0.5: half).")
    return run_points(base, points, seeds, backend, address, cache_dir, progress, workers, fixed, below)


def run_points(base: Scenario | str | Path, points: pd.DataFrame, seeds: np.ndarray, backend: Backend = "serial",
               address: str | None = None, cache_dir: str | Path | None = None, progress: bool = True,
               workers: int | None = None, fixed: Sequence[str] = (), below: float = BELOW_SHARE) -> pd.DataFrame:
    """Run ``base`` at every row of ``points`` (columns: dotted scenario paths; a frame of one row and no
    columns is the base itself) with the seeds of ``seeds`` (points x replications), as ``sweep`` does."""
    if backend not in BACKENDS:
        raise InputError(f"Sweep backend {backend!r} is not one of {', '.join(BACKENDS)}.")
    replications = seeds.shape[1]
    folder = Path(cache_dir) if cache_dir is not None else Path(tempfile.mkdtemp(prefix="depinsim-sweep-"))
    cache = _Cache(folder)
    total = len(points) * replications
    tasks: dict[int, _Task] = {}
    rows: dict[int, dict[str, Any]] = {}
    from_cache = 0

    with _progress(progress, total) as advance:
        def uncached() -> Iterator[_Task]:
            nonlocal from_cache
            for task in _tasks(base, points, seeds, fixed, below):
                tasks[task.run_id] = task
                hit = cache.get(task.key)
                if hit is None:
                    yield task
                else:
                    rows[task.run_id] = _row(task, hit[0])
                    from_cache += 1
                    advance()

        for run_id, outcome, epochs in execute(uncached(), _run_task, backend, address, workers):
            task = tasks[run_id]
            if outcome["status"] == "ok" and epochs is not None:
                cache.put(task.key, outcome, epochs)
            rows[run_id] = _row(task, outcome)
            advance()
    frame = pd.DataFrame([rows[i] for i in range(total)])
    frame.attrs["cache_dir"] = str(folder)
    frame.attrs["keys"] = [tasks[i].key for i in range(total)]
    frame.attrs["params"] = list(points.columns)
    frame.attrs["from_cache"] = from_cache
    return frame


def sweep_epochs(runs: pd.DataFrame, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Every successful run's epoch series, stacked, with its ``run_id`` (and parameters) in front."""
    folder = Path(cache_dir or runs.attrs.get("cache_dir", ""))
    keys = runs.attrs.get("keys")
    if not folder.is_dir() or keys is None:
        raise InputError("sweep_epochs needs the DataFrame returned by sweep() (it carries its cache folder).")
    cache = _Cache(folder)
    frames = []
    for run_id, key in zip(runs["run_id"], keys, strict=True):
        entry = cache.get(key)
        if entry is not None:
            frames.append(entry[1].assign(run_id=run_id))
    if not frames:
        return pd.DataFrame()
    params = [c for c in runs.attrs.get("params", []) if c in runs.columns]
    ids = runs[["run_id", "point", "replication", "seed", *params]]
    return ids.merge(pd.concat(frames, ignore_index=True), on="run_id", how="inner")


class _progress:
    """A rich progress bar on a terminal or in a notebook; silent otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True)
        self.bar = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=console, transient=True,
                            disable=not enabled or not (console.is_terminal or console.is_jupyter))
        self.total = total

    def __enter__(self) -> Callable[[], None]:
        self.bar.__enter__()
        task = self.bar.add_task("sweep", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)


def replicated_means(runs: pd.DataFrame, metric: str, params: Iterable[str]) -> pd.DataFrame:
    """Mean, standard error and count of ``metric`` over replications, per point (failed runs left out)."""
    ok = runs[runs["status"] == "ok"]
    cols = list(params)
    grouped = ok.groupby(cols, sort=True)[metric]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    out["sem"] = out["std"] / np.sqrt(out["count"])
    return out


class _CallableModule(types.ModuleType):
    """This module, callable as ``sweep``: ``import sim.sweep`` binds ``sim.sweep`` to the module (the
    import system does that after the module runs), and the package's documented API is ``sim.sweep(...)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
