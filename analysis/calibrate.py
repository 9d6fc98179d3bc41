"""Calibration: the parameter values at which the model's replicated means hit observed targets.

``calibrate`` fits chosen scenario fields (e.g. the arrival rates nobody publishes) to targets (e.g. the
2026 price ranges of a network's GPU classes) with ``scipy.optimize.least_squares`` inside bounds. Like
the breakeven, every evaluation is a ``sim.sweep`` point with common random numbers, so the objective
changes with the parameters and not with the noise; finite differences take large steps (``diff_step``
of each parameter's range) because a simulation's response is piecewise flat at small scales.

A range target's residual is (mean - midpoint) / half-width, so every range weighs the same and a
residual within +-1 is inside it: where the ranges pull against each other (one price per unit of work
links the GPU classes), the fit settles as deep inside all of them as it can. A point target's is
relative, (mean - target) / target, reached within ``tolerance``. A fit that leaves a target unreached
is reported, with the best values found, as bad input: this model cannot meet it within those bounds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, ValidationInfo, field_validator, model_validator
from scipy import optimize

from sim.backends import Backend
from sim.errors import InputError
from sim.loader import load_input, load_scenario
from sim.schema import Scenario
from sim.schema.core import StrictModel
from sim.sweep import sweep
from sim.sweep_spec import resolve_base


@dataclass(frozen=True)
class Target:
    """An observed value of a summary metric: a range [low, high] (a point when they are equal)."""

    low: float
    high: float

    @property
    def value(self) -> float:
        return (self.low + self.high) / 2

    def reached(self, mean: float, tolerance: float) -> bool:
        if self.low == self.high:
            return abs(mean - self.value) <= tolerance * max(abs(self.value), 1e-12)
        return bool(self.low <= mean <= self.high)


@dataclass
class Calibration:
    """The fitted values, how close each target came, and every point the optimiser evaluated."""

    values: dict[str, float]
    table: pd.DataFrame
    """One row a target: metric, low, high, target (the midpoint), mean, sem, residual, reached."""
    success: bool
    message: str
    replications: int
    evaluations: list[dict[str, float]] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return bool(self.table["reached"].all())

    def overrides(self) -> list[str]:
        """The fit as ``--set`` overrides."""
        return [f"{name}={value:.6g}" for name, value in self.values.items()]

    def report(self) -> str:
        """A plain-text fit report, for a scenario's comment block or a notebook."""
        lines = [f"least_squares: {self.message} ({len(self.evaluations)} points, {self.replications} "
                 "replications each, common random numbers)", "fitted:"]
        lines += [f"  {name} = {value:.6g}" for name, value in self.values.items()]
        lines.append("targets (mean of replications; residual: from the midpoint, in half-widths of the range):")
        for row in self.table.itertuples(index=False):
            lines.append(f"  {row.metric}: {row.mean:.4g} (sem {row.sem:.2g}) for [{row.low:g}, {row.high:g}], "
                         f"residual {row.residual:+.3f}{'' if row.reached else '  NOT REACHED'}")
        return "\n".join(lines)


def _target(metric: str, spec: float | tuple[float, float] | Target) -> Target:
    if isinstance(spec, Target):
        return spec
    low, high = (float(spec), float(spec)) if np.isscalar(spec) else (float(spec[0]), float(spec[1]))  # type: ignore[index]
    if low > high:
        raise InputError(f"calibrate: target {metric} is ({low:g}, {high:g}): the range is the wrong way round; "
                         "give (low, high) with low <= high.")
    return Target(low, high)


def calibrate(base: Scenario | str | Path, params: Mapping[str, tuple[float, float]],
              targets: Mapping[str, float | tuple[float, float] | Target], start: Mapping[str, float] | None = None,
              replications: int = 2, seed: int = 0, fixed: Sequence[str] = (), backend: Backend = "serial",
              workers: int | None = None, cache_dir: str | Path | None = None, diff_step: float = 0.05,
              max_evaluations: int = 60, tolerance: float = 0.05) -> Calibration:
    """Fit ``params`` (dotted scenario path -> (low, high) bounds) so the replicated means of the
    summary metrics in ``targets`` (column of ``sim.sweep``'s table -> a value or a (low, high) range)
    come as close as they can, by ``scipy.optimize.least_squares`` from ``start`` (default: the middle
    of each range). Raises ``InputError`` for bounds or ranges the wrong way round, a start outside its
    bounds, an unknown metric, or targets the fit cannot reach (the error carries the best fit as
    ``.calibration``)."""
    names = list(params)
    if not names or not targets:
        raise InputError("calibrate: give at least one parameter to fit and one target.")
    low = np.array([float(params[n][0]) for n in names])
    high = np.array([float(params[n][1]) for n in names])
    for name, a, b in zip(names, low, high, strict=True):
        if not a < b:
            raise InputError(f"calibrate: the bounds of {name} are ({a:g}, {b:g}): they are the wrong way round "
                             "or empty; give (low, high) with low < high.")
    goals = {metric: _target(metric, spec) for metric, spec in targets.items()}
    x0 = np.array([float((start or {}).get(n, (a + b) / 2)) for n, a, b in zip(names, low, high, strict=True)])
    for name, v, a, b in zip(names, x0, low, high, strict=True):
        if not a <= v <= b:
            raise InputError(f"calibrate: the start of {name}, {v:g}, is outside its bounds ({a:g}, {b:g}).")
    cache_dir = cache_dir or tempfile.mkdtemp(prefix="depinsim-calibrate-")
    seen: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}
    evaluations: list[dict[str, float]] = []

    def means(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = low + np.clip(u, 0.0, 1.0) * (high - low)
        key = tuple(np.round(x, 12))
        if key not in seen:
            runs = sweep(base, {n: [float(v)] for n, v in zip(names, x, strict=True)}, method="zip",
                         replications=replications, seed=seed, backend=backend, workers=workers,
                         cache_dir=cache_dir, progress=False, fixed=fixed, common_random_numbers=True)
            failed = runs[runs["status"] != "ok"]
            if len(failed):
                raise InputError(f"calibrate: the run at {dict(zip(names, x, strict=True))} failed: "
                                 f"{failed['error'].iloc[0]}")
            missing = [m for m in goals if m not in runs.columns]
            if missing:
                raise InputError(f"calibrate: the runs have no metric {missing[0]!r}; price columns include "
                                 f"{', '.join(c for c in runs.columns if 'network_price' in c)[:300]}")
            values = runs[list(goals)].to_numpy(dtype=float)
            if np.isnan(values).any():
                bad = [m for m, col in zip(goals, values.T, strict=True) if np.isnan(col).any()]
                raise InputError(f"calibrate: {bad[0]} is undefined at {dict(zip(names, x, strict=True))} "
                                 "(no network sales of that class); narrow the bounds.")
            sem = values.std(axis=0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.full(len(goals), np.nan)
            seen[key] = (values.mean(axis=0), sem)
            evaluations.append({**dict(zip(names, map(float, x), strict=True)),
                                **dict(zip(goals, map(float, seen[key][0]), strict=True))})
        return seen[key]

    scale = np.array([(g.high - g.low) / 2 if g.high > g.low else abs(g.value) or 1.0 for g in goals.values()])
    centre = np.array([g.value for g in goals.values()])

    def residuals(u: np.ndarray) -> np.ndarray:
        return (means(u)[0] - centre) / scale

    fit = optimize.least_squares(residuals, (x0 - low) / (high - low), bounds=(0.0, 1.0), diff_step=diff_step,
                                 max_nfev=max_evaluations, x_scale=1.0)
    x = low + np.clip(fit.x, 0.0, 1.0) * (high - low)
    mean, sem = means(fit.x)
    table = pd.DataFrame({"metric": list(goals), "low": [g.low for g in goals.values()],
                          "high": [g.high for g in goals.values()], "target": centre, "mean": mean, "sem": sem,
                          "residual": (mean - centre) / scale,
                          "reached": [g.reached(m, tolerance) for g, m in zip(goals.values(), mean, strict=True)]})
    result = Calibration(dict(zip(names, map(float, x), strict=True)), table, bool(fit.success), str(fit.message),
                         replications, evaluations)
    if not result.reached:
        missed = table[~table["reached"]]
        at_bound = [n for n, v, a, b in zip(names, x, low, high, strict=True) if np.isclose(v, a) or np.isclose(v, b)]
        given = ", ".join(f"{n} in ({a:g}, {b:g})" for n, a, b in zip(names, low, high, strict=True))
        error = InputError(
            "calibrate: the fit cannot reach "
            + "; ".join(f"{r.metric} in [{r.low:g}, {r.high:g}] (best {r.mean:.4g})" for r in missed.itertuples())
            + f" within the bounds given ({given})"
            + (f"; {', '.join(at_bound)} ended at a bound, so widening it may help" if at_bound else
               "; no parameter is at a bound, so these parameters cannot move those metrics far enough")
            + ". The best fit found is on this error's .calibration.")
        error.calibration = result  # type: ignore[attr-defined]
        raise error
    return result


class Bounds(StrictModel):
    """A fitted parameter's range, and where the search starts."""

    low: float = Field(description="Lowest value the fit may use.")
    high: float = Field(description="Highest value the fit may use (above low).")
    start: float | None = Field(None, description="First value tried (default: the middle of the range).")

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g}): "
                             "the bounds are the wrong way round")
        if self.start is not None and not self.low <= self.start <= self.high:
            raise ValueError(f"start ({self.start:g}) must lie within [{self.low:g}, {self.high:g}]")
        return self


class TargetRange(StrictModel):
    """An observed range of a summary metric (low = high for a point)."""

    low: float = Field(description="Lowest observed value.")
    high: float = Field(description="Highest observed value (at least low).")

    @model_validator(mode="after")
    def _ordered(self) -> TargetRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g}): the range is the wrong way round")
        return self


class CalibrationSpec(StrictModel):
    """A calibration file: base scenario, the parameters to fit within bounds, the targets to hit."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Names the fit in its report.")
    description: str = Field("", description="What is fitted to what, and the targets' sources.")
    base: Path = Field(description="Base scenario file, relative to this file.")
    set: dict[str, int | float | bool | str] = Field(default_factory=dict,
                                                     description="Overrides applied to every run (as --set).")
    replications: int = Field(2, ge=1, le=100, description="Runs per evaluated point (common random numbers).")
    seed: int = Field(0, ge=0, description="Root seed of the replications.")
    max_evaluations: int = Field(60, ge=1, description="Most points least_squares may evaluate.")
    params: dict[str, Bounds] = Field(min_length=1, description="Dotted scenario path -> its bounds.")
    targets: dict[str, TargetRange] = Field(min_length=1, description="Summary column -> observed range.")

    @field_validator("base")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_base(value, info)

    def run(self, backend: Backend = "serial", workers: int | None = None) -> Calibration:
        """Fit as the file says."""
        return calibrate(self.base, {n: (b.low, b.high) for n, b in self.params.items()},
                         {m: Target(t.low, t.high) for m, t in self.targets.items()},
                         start={n: b.start for n, b in self.params.items() if b.start is not None},
                         replications=self.replications, seed=self.seed,
                         fixed=[f"{k}={v}" for k, v in self.set.items()],
                         backend=backend, workers=workers, max_evaluations=self.max_evaluations)


def load_calibration_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration file, and check its base scenario with its overrides."""
    spec = load_input(path, CalibrationSpec, "calibration", "sweeps/market_2026_fit.yaml")
    first = [f"{k}={v}" for k, v in spec.set.items()] + [f"{n}={b.start if b.start is not None else b.low}"
                                                          for n, b in spec.params.items()]
    try:
        load_scenario(spec.base, first)
    except InputError as exc:
        raise InputError(f"Calibration file {path}: its base scenario with these overrides is invalid: {exc}") from None
    return spec
