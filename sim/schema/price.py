"""Token price models: exogenous paths (constant, seeded GBM, a CSV series) or an endogenous AMM pool.

Exogenous models fix the price at every epoch boundary before the run; trades happen against an
external market at that price. The endogenous model is a constant-product pool (token/USD) whose
reserves move with provider sales, buy-and-burn purchases and speculative flows; its price is the ratio
of the reserves (the pool itself is the run's, in ``sim.tokens``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator

from ..units import HOURS_PER_DAY, HOURS_PER_YEAR
from .core import Mechanism, Registry, examples
from .distributions import Dist
from .series import csv_rows, with_file_points


class TokenPriceModel(Mechanism):
    """How the token price moves: a path fixed before the run, or a market the run's flows move."""

    registry: ClassVar[Registry] = Registry("token price model")

    @property
    def endogenous(self) -> bool:
        """Whether the run's own flows set the price (an AMM pool) rather than a path fixed beforehand."""
        return False

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Price at each time of the grid, USD (exogenous models)."""
        raise NotImplementedError

    def pool(self) -> tuple[float, float] | None:
        """The market the run trades in, if it is the run's own: (USD reserve, token reserve) at t = 0."""
        return None

    def speculative_flows_usd_per_day(self, rng: np.random.Generator, epochs: int) -> np.ndarray | None:
        """Net speculative buying per epoch (USD per day), if the model has any."""
        return None

    def tokens_for_stakes(self, initial_supply_tokens: float) -> tuple[float, str]:
        """How many tokens the initial nodes can buy for their stakes, and from whom (for the error)."""
        return initial_supply_tokens, "the initial supply (held outside the network)"

    def check_supply(self, initial_supply_tokens: float) -> None:
        """Raise ValueError if the model cannot work with this initial supply."""


class ConstantTokenPrice(TokenPriceModel):
    """A fixed token price: isolates the market from token volatility."""

    model_config = examples({"kind": "constant", "usd": 0.5})
    kind: Literal["constant"] = "constant"
    usd: float = Field(gt=0, description="Token price, USD.")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Price at each time of the grid, USD."""
        return np.full(len(t_hours), self.usd)


class GbmTokenPrice(TokenPriceModel):
    """Geometric Brownian motion sampled at epoch boundaries from its own seeded stream."""

    model_config = examples({"kind": "gbm", "initial_usd": 0.5, "drift_per_year": -0.5, "volatility_per_year": 1.2})
    kind: Literal["gbm"] = "gbm"
    initial_usd: float = Field(gt=0, description="Price at t = 0, USD.")
    drift_per_year: float = Field(default=0.0, description="Drift mu of the price per year (expected growth rate).")
    volatility_per_year: float = Field(default=0.8, ge=0, description="Volatility sigma per sqrt(year).")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exact GBM on the grid (t_hours[0] must be 0): log-increments are normal with the GBM moments."""
        from scipy import stats

        dt = np.diff(np.asarray(t_hours, dtype=float)) / HOURS_PER_YEAR
        z = stats.norm.rvs(size=len(dt), random_state=rng)
        sigma = self.volatility_per_year
        steps = (self.drift_per_year - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * z
        return self.initial_usd * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


class CsvTokenPrice(TokenPriceModel):
    """A price series from a CSV file (columns day and USD), linearly interpolated, flat after the last row.

    The file is read when the scenario is loaded (``file`` relative to the scenario file) and its rows are
    kept in ``points``, so a resolved scenario carries its own series and reruns without the file.
    """

    model_config = examples({"kind": "csv", "file": "prices.csv", "points": [[0, 0.5], [10, 0.2]]})
    kind: Literal["csv"] = "csv"
    file: str = Field(description="CSV file, relative to the scenario file.")
    day_column: str = Field(default="day", description="Column with days since the start (increasing).")
    usd_column: str = Field(default="usd", description="Column with the token price, USD (> 0).")
    points: tuple[tuple[float, float], ...] = Field(
        default=(), description="(day, usd) rows; filled from the file when the scenario is loaded.")

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any, info: ValidationInfo) -> Any:
        return with_file_points(data, info, read_price_csv, {"day_column": "day", "usd_column": "usd"})

    @model_validator(mode="after")
    def _valid(self) -> CsvTokenPrice:
        if not self.points:
            raise ValueError("the price series is empty")
        return self

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        days, usd = np.array(self.points).T
        return np.interp(np.asarray(t_hours) / HOURS_PER_DAY, days, usd)


def read_price_csv(path: Path, day_column: str, usd_column: str) -> tuple[tuple[float, float], ...]:
    """Rows of a price CSV; any problem is a ValueError naming the file and the line."""
    points: list[tuple[float, float]] = []
    for line, row in csv_rows(path, (day_column, usd_column)):
        try:
            day, usd = float(row[day_column]), float(row[usd_column])
        except (TypeError, ValueError):
            raise ValueError(f"{path}, line {line}: {day_column} and {usd_column} must be numbers, "
                             f"got {row[day_column]!r}, {row[usd_column]!r}") from None
        if usd <= 0 or (points and day <= points[-1][0]):
            raise ValueError(f"{path}, line {line}: prices must be > 0 and days increasing")
        points.append((day, usd))
    return tuple(points)


class AmmTokenPrice(TokenPriceModel):
    """Endogenous price: a constant-product token/USD pool of the given depth.

    Provider sales push the price down, buy-and-burn purchases and speculative buying push it up; a deeper
    pool moves less for the same flow.
    """

    model_config = examples({"kind": "amm", "initial_usd": 0.25, "pool_usd": 100000,
                             "speculative_flow_usd_per_day": 1000})
    kind: Literal["amm"] = "amm"
    initial_usd: float = Field(gt=0, description="Price at t = 0, USD per token.")
    pool_usd: float = Field(gt=0,
        description="Depth: USD reserve of the pool at t = 0 (tokens = pool_usd / initial_usd).")
    speculative_flow_usd_per_day: Dist = Field(  # type: ignore[valid-type]
        default=0.0, description="Net speculative buying, USD per day (negative: net selling), drawn per epoch.")

    @property
    def endogenous(self) -> bool:
        return True

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise TypeError("an AMM price is endogenous: it has no path before the run")

    def pool(self) -> tuple[float, float] | None:
        return self.pool_usd, self.pool_usd / self.initial_usd

    def speculative_flows_usd_per_day(self, rng: np.random.Generator, epochs: int) -> np.ndarray | None:
        return self.speculative_flow_usd_per_day.sample(rng, epochs)

    def tokens_for_stakes(self, initial_supply_tokens: float) -> tuple[float, str]:
        return 0.5 * self.pool_usd / self.initial_usd, "half the AMM pool's tokens"

    def check_supply(self, initial_supply_tokens: float) -> None:
        pool_tokens = self.pool_usd / self.initial_usd
        if pool_tokens > initial_supply_tokens:
            raise ValueError(f"the AMM pool needs {pool_tokens:,.0f} tokens (pool_usd / initial_usd) but "
                             f"initial_supply_tokens is {initial_supply_tokens:,.0f}")


TokenPrice = TokenPriceModel.registry.union()


