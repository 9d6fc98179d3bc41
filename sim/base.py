"""Shared pieces of the scenario schema: the strict base model and common field types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from .catalog import gpu_catalog
from .distributions import bounded

NonNegative = bounded(ge=0)
Positive = bounded(gt=0)
AtLeastOne = bounded(ge=1)


class StrictModel(BaseModel):
    """Frozen, and unknown keys are errors: a typo in a scenario must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def check_gpu_models(names: list[str] | tuple[str, ...], what: str) -> None:
    known = gpu_catalog().models
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown GPU model(s) {', '.join(unknown)} in {what}; allowed: {', '.join(known)}")


def default_kind(kind: str) -> BeforeValidator:
    """For a policy with a usual choice: a mapping without ``kind`` means that choice."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": kind, **value}
        return value

    return BeforeValidator(fill)
