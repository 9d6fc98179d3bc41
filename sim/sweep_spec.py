"""The sweep file (``sweeps/NAME.yaml``): a base scenario plus parameter axes, validated like a scenario.

    name: emission_vs_fleet
    base: ../scenarios/baseline.yaml      # relative to this file
    set: {horizon_days: 90}               # applied to every run
    method: grid                          # grid (Cartesian product, the default) | zip | lhs | sobol
    replications: 3
    seed: 1
    params:
      tokenomics.emission.tokens_per_day: [20000, 40000, 80000]
      providers.0.count: [10, 20]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import InputError
from .loader import load_input, load_scenario, parse_override
from .schema.core import StrictModel
from .sweep import Range
from .units import BELOW_SHARE

Scalar = int | float | bool | str


def resolve_base(value: Path, info: ValidationInfo) -> Path:
    """A file's ``base`` scenario, relative to the file that names it (its folder is the context's
    ``base_dir``), which must exist."""
    base_dir = Path((info.context or {}).get("base_dir", "."))
    path = value if value.is_absolute() else base_dir / value
    if not path.is_file():
        raise ValueError(f"base scenario {path} does not exist")
    return path


class RangeSpec(StrictModel):
    """A continuous axis for lhs and sobol."""

    low: float = Field(description="Lowest value sampled.")
    high: float = Field(description="Highest value sampled (above low).")
    scale: Literal["linear", "log"] = Field("linear", description="Sample uniformly (linear) or log-uniformly.")
    integer: bool = Field(False, description="Round samples to whole numbers (counts).")

    @model_validator(mode="after")
    def _valid(self) -> RangeSpec:
        try:
            self.to_range()
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return self

    def to_range(self) -> Range:
        return Range(self.low, self.high, self.scale, self.integer)


class SweepSpec(StrictModel):
    """A sweep: which scenario, which parameters over which values, how many replications, which seed."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Names the output folder (runs/sweeps/NAME).")
    description: str = Field("", description="What the sweep asks, for the memo.")
    base: Path = Field(description="Base scenario file, relative to this sweep file.")
    set: dict[str, Scalar] = Field(default_factory=dict,
                                   description="Overrides applied to every run (dotted scenario paths, as --set).")
    method: Literal["grid", "zip", "lhs", "sobol"] = Field(
        "grid", description="grid: Cartesian product of the value lists (default); zip: lists paired in order; "
                            "lhs / sobol: n points sampled over ranges (scipy.stats.qmc).")
    n: int | None = Field(None, ge=1, description="Points to sample (lhs and sobol; a power of two for sobol).")
    replications: int = Field(1, ge=1, le=10_000, description="Runs per point, each with its own seed.")
    seed: int = Field(0, ge=0, description="Root seed: every run's seed is a SeedSequence child by position.")
    common_random_numbers: bool = Field(
        False, description="Give replication r the same seed at every point (comparisons between points "
                           "then see the parameters, not the noise).")
    metric: str = Field("by_class.H100_SXM.undercut_ratio_on_demand",
                        description="The headline summary column for the memo's heatmap and breakeven.")
    target_ratio: float = Field(0.5, gt=0, description="Undercut ratio whose crossing the memo reports as the "
                                                       "breakeven along the first parameter.")
    below: float = Field(BELOW_SHARE, gt=0, description="Share of each alternative's price under which the runs' "
                                                        "months_below counts months (0.5: half of AWS), as run "
                                                        "--below.")
    params: dict[str, list[Scalar] | RangeSpec] = Field(
        min_length=1, description="Dotted scenario path -> a list of values (grid, zip) or a range (lhs, sobol).")

    @field_validator("base")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_base(value, info)

    @model_validator(mode="after")
    def _axes_fit_method(self) -> SweepSpec:
        ranged = self.method in ("lhs", "sobol")
        for name, axis in self.params.items():
            if ranged and not isinstance(axis, RangeSpec):
                raise ValueError(f"params.{name}: method {self.method!r} takes a range {{low, high}}, not a list")
            if not ranged and isinstance(axis, RangeSpec):
                raise ValueError(f"params.{name}: method {self.method!r} takes a list of values, not a range")
            if not ranged and not axis:
                raise ValueError(f"params.{name}: the list of values is empty")
        if ranged and self.n is None:
            raise ValueError(f"method {self.method!r} needs n, the number of points")
        if self.method == "sobol" and self.n is not None and self.n & (self.n - 1):
            raise ValueError(f"method 'sobol' needs n to be a power of two, got {self.n}")
        if self.method == "zip" and len({len(a) for a in self.params.values() if isinstance(a, list)}) > 1:
            raise ValueError("method 'zip' needs value lists of one length")
        return self

    def axes(self) -> dict[str, Any]:
        return {k: v.to_range() if isinstance(v, RangeSpec) else v for k, v in self.params.items()}

    def fixed(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.set.items()]


def input_kind(path: str | Path) -> Literal["scenario", "sweep", "calibration"]:
    """What a YAML input file is: a mapping with a ``base`` scenario and ``params`` axes is a sweep file,
    or a calibration file when it also has ``targets``; anything else (a scenario, or a file that does not
    parse) is left to the scenario loader and its messages."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return "scenario"
    if not (isinstance(doc, dict) and "base" in doc and "params" in doc):
        return "scenario"
    return "calibration" if "targets" in doc else "sweep"


def load_sweep_spec(path: str | Path, overrides: Sequence[str] = (), seed: int | None = None,
                    below: float | None = None) -> SweepSpec:
    """Read and validate a sweep file, with the command line's ``--set`` overrides added to its ``set``
    (the command line wins) and its ``seed`` and ``below`` replaced by ``seed`` and ``below``, and check
    that every run's scenario would be valid at the axes' first values (one clear error now rather than
    one per point later)."""
    spec = load_input(path, SweepSpec, "sweep", "sweeps/emission_vs_fleet.yaml")
    if overrides or seed is not None or below is not None:
        try:
            spec = SweepSpec.model_validate({**spec.model_dump(), "set": {**spec.set, **_cli_set(overrides)},
                                             "seed": spec.seed if seed is None else seed,
                                             "below": spec.below if below is None else below})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
            raise InputError(f"Sweep file {path}: the command line's --set, --seed or --below is invalid: {problems}. "
                             "A sweep's --set takes path.to.field=value with a single value (a number, text or "
                             "true/false); --seed a whole number >= 0; --below a share above 0.") from None
    first = [f"{k}={v[0] if isinstance(v, list) else v.low}" for k, v in spec.params.items()]
    try:
        load_scenario(spec.base, [*spec.fixed(), *first])
    except InputError as exc:
        raise InputError(f"Sweep file {path}: its base scenario with the sweep's overrides is invalid: {exc}") from None
    return spec


def _cli_set(overrides: Sequence[str]) -> dict[str, Any]:
    return {".".join(keys): value for keys, value in map(parse_override, overrides)}


def rebased_spec(path: str | Path, folder: Path, overrides: Sequence[str] = (), seed: int | None = None,
                 below: float | None = None) -> str:
    """The sweep file's text as it should read from ``folder`` (comments kept, ``base`` made relative to
    the folder, the command line's ``--set``, ``--seed`` and ``--below`` written in), so ``depinsim sweep
    <folder>/sweep.yaml`` re-runs the same sweep."""
    import io
    import os

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    yaml = YAML(typ="rt")
    doc = yaml.load(Path(path).read_text(encoding="utf-8"))
    base = Path(doc["base"])
    base = base if base.is_absolute() else Path(path).parent / base
    doc["base"] = Path(os.path.relpath(base.resolve(), folder.resolve())).as_posix()
    if overrides:
        if not isinstance(doc.get("set"), dict):
            doc["set"] = CommentedMap()
        doc["set"].update(_cli_set(overrides))
    if seed is not None:
        doc["seed"] = seed
    if below is not None:
        doc["below"] = below
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
