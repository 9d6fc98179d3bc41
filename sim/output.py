"""Writing a run folder atomically: everything is written into a temporary folder beside the target,
then renamed into place, so a crash or Ctrl-C never leaves a half-written or half-overwritten run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .errors import InputError
from .results import RunResult

RUN_FILES = ("scenario.resolved.yaml", "jobs.parquet", "epochs.parquet", "providers.parquet",
             "summary.json", "pricing_curve.png", "pricing_curve.svg")


def check_target(out: Path, force: bool) -> None:
    """Refuse to clobber: an existing run is replaced only with --force, and never a plain file."""
    if out.exists() and not out.is_dir():
        raise InputError(f"Output path {out} exists and is not a folder. Give --out a folder path.")
    if out.exists() and not force:
        raise InputError(f"Output folder {out} already exists. Pass --force to replace it, or choose "
                         "another folder with --out.")


def write_run(result: RunResult, out: Path, force: bool = False) -> None:
    """Write the run's files into ``out`` (see RUN_FILES), atomically."""
    from analysis import pricing_curve  # matplotlib is only needed when writing figures

    out = Path(out)
    check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.partial"
    tmp.mkdir()  # unlike mkdtemp, honours the umask: the run folder gets normal permissions
    try:
        _write_yaml(tmp / "scenario.resolved.yaml", result)
        result.jobs.to_parquet(tmp / "jobs.parquet", index=False)
        result.epochs.to_parquet(tmp / "epochs.parquet", index=False)
        result.providers.to_parquet(tmp / "providers.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(json_safe(result.summary), indent=2, allow_nan=False) + "\n")
        fig = pricing_curve(result.epochs, result.summary)
        fig.savefig(tmp / "pricing_curve.png", dpi=150)
        fig.savefig(tmp / "pricing_curve.svg")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an existing ``out`` is moved aside first and removed only after."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(new, out)
    except BaseException:
        if old is not None:
            os.replace(old / out.name, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write one file atomically: ``write`` fills a temporary file beside it, which then replaces it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.partial"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_yaml(path: Path, result: RunResult) -> None:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    summary = result.summary
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"# Resolved scenario (every default filled in), as run by depinsim {summary['package_version']}.\n"
                 f"# sha256 {summary['scenario_hash']}; re-run with: depinsim run {path.name}\n")
        yaml.dump(result.scenario.model_dump(mode="json"), fh)


def json_safe(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
