"""Parameter distributions for scenario fields.

A scenario describes populations (providers, jobs), so most numeric fields accept either a plain number
or a distribution. Each distribution is a member of the ``distribution`` family, drawing with
``scipy.stats`` from a caller-supplied generator, so every draw is tied to one seeded stream.
(``scipy.stats`` is imported where a draw happens: it costs most of a second to import, and
validating a scenario never draws.)
"""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from .core import Mechanism, Registry, examples

_TINY = math.ulp(0.0)  # infimum of an open (0, inf) support: positive, arbitrarily close to 0


class Distribution(Mechanism):
    """A distribution of one field's values."""

    registry: ClassVar[Registry] = Registry("distribution")

    def support(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce (used to check field bounds)."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def bounds_hint(self) -> str:
        """How to keep this distribution inside a field's bounds, for the error message."""
        return " (bound it: a normal takes low: and high:)"


class Constant(Distribution):
    """Always the same value; a bare number in YAML means this."""

    model_config = examples({"kind": "constant", "value": 1.0})
    kind: Literal["constant"] = "constant"
    value: float = Field(description="The value.")

    def support(self) -> tuple[float, float]:
        return (self.value, self.value)

    def bounds_hint(self) -> str:
        return ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=float)


class Uniform(Distribution):
    """Uniform on [low, high]."""

    model_config = examples({"kind": "uniform", "low": 0.5, "high": 1.5})
    kind: Literal["uniform"]
    low: float = Field(description="Lower bound (same unit as the field).")
    high: float = Field(description="Upper bound (same unit as the field), >= low.")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        from scipy import stats

        return stats.uniform(loc=self.low, scale=self.high - self.low).rvs(size=n, random_state=rng)


class Normal(Distribution):
    """Normal, optionally truncated to [low, high] (truncation keeps bounded fields valid)."""

    model_config = examples({"kind": "normal", "mean": 1.0, "sd": 0.2, "low": 0.1, "high": 2.0})
    kind: Literal["normal"]
    mean: float = Field(description="Mean (same unit as the field).")
    sd: float = Field(gt=0, description="Standard deviation (same unit as the field), > 0.")
    low: float = Field(default=-math.inf, description="Truncation lower bound; default none.")
    high: float = Field(default=math.inf, description="Truncation upper bound; default none.")

    @model_validator(mode="after")
    def _ordered(self) -> Normal:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high}) must be > low ({self.low})")
        return self

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        from scipy import stats

        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return stats.truncnorm(a, b, loc=self.mean, scale=self.sd).rvs(size=n, random_state=rng)


class LogNormal(Distribution):
    """Log-normal given by its median and the sd of log(x): right-skewed sizes such as job work."""

    model_config = examples({"kind": "lognormal", "median": 1.0, "sigma": 0.5})
    kind: Literal["lognormal"]
    median: float = Field(gt=0, description="Median (same unit as the field), > 0.")
    sigma: float = Field(gt=0, description="Standard deviation of log(x), > 0.")

    def support(self) -> tuple[float, float]:
        return (_TINY, math.inf)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        from scipy import stats

        return stats.lognorm(s=self.sigma, scale=self.median).rvs(size=n, random_state=rng)


class Exponential(Distribution):
    """Exponential with the given mean."""

    model_config = examples({"kind": "exponential", "mean": 1.0})
    kind: Literal["exponential"]
    mean: float = Field(gt=0, description="Mean (same unit as the field), > 0.")

    def support(self) -> tuple[float, float]:
        return (_TINY, math.inf)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        from scipy import stats

        return stats.expon(scale=self.mean).rvs(size=n, random_state=rng)


def _number_as_constant(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": "constant", "value": value}
    return value


Dist = Annotated[Distribution.registry.union(), BeforeValidator(_number_as_constant)]
"""A number, or a mapping with ``kind`` (see the distribution family)."""


def _check_support(dist: Distribution, *, ge: float | None = None, gt: float | None = None,
                   le: float | None = None) -> Distribution:
    """Reject distributions that could draw values outside a field's allowed range."""
    lo, hi = dist.support()
    hint = dist.bounds_hint()
    if ge is not None and lo < ge:
        raise ValueError(f"values must be >= {ge}, but this can produce {lo}{hint}")
    if gt is not None and lo <= gt:
        raise ValueError(f"values must be > {gt}, but this can produce {lo}{hint}")
    if le is not None and hi > le:
        raise ValueError(f"values must be <= {le}, but this can produce {hi}{hint}")
    return dist


def bounded(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    """A ``Dist`` whose every possible draw lies in the given range, checked at validation time."""
    return Annotated[Dist, AfterValidator(partial(_check_support, ge=ge, gt=gt, le=le))]


NonNegative = bounded(ge=0)
Positive = bounded(gt=0)
AtLeastOne = bounded(ge=1)


def _scalar_as_choice(value: Any) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {value: 1.0}
    return value


def sample_index(weights: dict[Any, float], rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n positions in ``weights`` (keys in the mapping's order) with probabilities proportional to them."""
    from scipy import stats

    p = np.asarray(list(weights.values()), dtype=float)
    idx = stats.rv_discrete(values=(np.arange(len(p)), p / p.sum())).rvs(size=n, random_state=rng)
    return np.asarray(idx, dtype=np.int64)


def sample_choice(weights: dict[Any, float], rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw n categories with probabilities proportional to ``weights`` (keys in the mapping's order)."""
    return np.asarray(list(weights), dtype=object)[sample_index(weights, rng, n)]


WEIGHT_SUM_TOLERANCE = 1e-6


def _validate_weights(weights: dict[Any, float]) -> dict[Any, float]:
    """Weights are probabilities: >= 0 and summing to 1. They are kept in the order of their keys, so a
    mapping means the same draws however it is written (and the scenario hash, which sorts keys,
    identifies them)."""
    if not weights:
        raise ValueError("needs at least one value")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must be >= 0")
    total = sum(weights.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"weights are probabilities and must sum to 1, but these sum to {total:g}")
    return dict(sorted(weights.items()))


Categorical = Annotated[
    dict[str, float], BeforeValidator(_scalar_as_choice), AfterValidator(_validate_weights)
]
"""A single category, or a mapping category -> probability (summing to 1)."""


def _validate_counts(weights: dict[int, float]) -> dict[int, float]:
    if any(k < 1 for k in weights):
        raise ValueError("counts must be integers >= 1")
    return _validate_weights(weights)


CountChoice = Annotated[
    dict[int, float], BeforeValidator(_scalar_as_choice), AfterValidator(_validate_counts)
]
"""A count >= 1, or a mapping count -> probability (summing to 1, e.g. ``{8: 0.7, 4: 0.3}``)."""
