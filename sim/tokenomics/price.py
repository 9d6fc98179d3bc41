"""Token price: exogenous paths (constant, seeded GBM, a CSV series) or an endogenous AMM pool.

Exogenous models fix the price at every epoch boundary before the run; trades happen against an
external market at that price. The endogenous model is a constant-product pool (token/USD) whose
reserves move with provider sales, buy-and-burn purchases and speculative flows; its price is the ratio
of the reserves. Trades settle through the integer ledger, rounding in the pool's favour, so the
product of the reserves never falls.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, model_validator
from scipy import stats

from ..base import StrictModel
from ..distributions import Dist
from ..ledger import MICRO, USD, Ledger

HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 8760.0
POOL = "pool"
HOLDERS = "holders"  # everyone outside the model who holds or trades the token


class ConstantTokenPrice(StrictModel):
    """A fixed token price: isolates the market from token volatility."""

    kind: Literal["constant"] = "constant"
    usd: float = Field(gt=0, description="Token price, USD.")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Price at each time of the grid, USD."""
        return np.full(len(t_hours), self.usd)


class GbmTokenPrice(StrictModel):
    """Geometric Brownian motion sampled at epoch boundaries from its own seeded stream."""

    kind: Literal["gbm"] = "gbm"
    initial_usd: float = Field(gt=0, description="Price at t = 0, USD.")
    drift_per_year: float = Field(default=0.0, description="Drift mu of the price per year (expected growth rate).")
    volatility_per_year: float = Field(default=0.8, ge=0, description="Volatility sigma per sqrt(year).")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Exact GBM on the grid (t_hours[0] must be 0): log-increments are normal with the GBM moments."""
        dt = np.diff(np.asarray(t_hours, dtype=float)) / HOURS_PER_YEAR
        z = stats.norm.rvs(size=len(dt), random_state=rng)
        sigma = self.volatility_per_year
        steps = (self.drift_per_year - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * z
        return self.initial_usd * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


class CsvTokenPrice(StrictModel):
    """A price series from a CSV file (columns day and USD), linearly interpolated, flat after the last row.

    The file is read when the scenario is loaded (``file`` relative to the scenario file) and its rows are
    kept in ``points``, so a resolved scenario carries its own series and reruns without the file.
    """

    kind: Literal["csv"] = "csv"
    file: str = Field(description="CSV file, relative to the scenario file.")
    day_column: str = Field(default="day", description="Column with days since the start (increasing).")
    usd_column: str = Field(default="usd", description="Column with the token price, USD (> 0).")
    points: tuple[tuple[float, float], ...] = Field(
        default=(), description="(day, usd) rows; filled from the file when the scenario is loaded.")

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or data.get("points") or "file" not in data:
            return data
        base = Path((info.context or {}).get("base_dir", "."))
        return {**data, "points": read_price_csv(base / str(data["file"]), data.get("day_column", "day"),
                                                   data.get("usd_column", "usd"))}

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
    if not path.is_file():
        raise ValueError(f"price file {path} does not exist")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in (day_column, usd_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}, line 1: missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
        points: list[tuple[float, float]] = []
        for row in reader:
            line = reader.line_num
            try:
                day, usd = float(row[day_column]), float(row[usd_column])
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {line}: {day_column} and {usd_column} must be numbers, "
                                 f"got {row[day_column]!r}, {row[usd_column]!r}") from None
            if usd <= 0 or (points and day <= points[-1][0]):
                raise ValueError(f"{path}, line {line}: prices must be > 0 and days increasing")
            points.append((day, usd))
    return tuple(points)


class AmmTokenPrice(StrictModel):
    """Endogenous price: a constant-product token/USD pool of the given depth.

    Provider sales push the price down, buy-and-burn purchases and speculative buying push it up; a deeper
    pool moves less for the same flow.
    """

    kind: Literal["amm"] = "amm"
    initial_usd: float = Field(gt=0, description="Price at t = 0, USD per token.")
    pool_usd: float = Field(gt=0,
        description="Depth: USD reserve of the pool at t = 0 (tokens = pool_usd / initial_usd).")
    speculative_flow_usd_per_day: Dist = Field(  # type: ignore[valid-type]
        default=0.0, description="Net speculative buying, USD per day (negative: net selling), drawn per epoch.")

    def path(self, t_hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise TypeError("an AMM price is endogenous: it has no path before the run")


TokenPrice = Annotated[ConstantTokenPrice | GbmTokenPrice | CsvTokenPrice | AmmTokenPrice,
                       Field(discriminator="kind")]


class TokenMarket:
    """Where tokens are bought and sold during a run: the AMM pool, or the outside market at a given price.

    Amounts are integers: USD micro-dollars and token base units (``unit`` per token). Trades move
    balances between named ledger accounts; who trades on behalf of providers is the caller's business.
    """

    def __init__(self, ledger: Ledger, token: str, unit: int, model: Any, prices: np.ndarray | None) -> None:
        self.ledger, self.token, self.unit = ledger, token, unit
        self.amm = isinstance(model, AmmTokenPrice)
        self._prices = prices
        self._price_micro = 0

    def set_epoch(self, k: int) -> None:
        """Exogenous prices: the price at epoch k's start applies to its trades."""
        if not self.amm:
            self._price_micro = max(1, round(float(self._prices[k]) * MICRO))

    def price_usd(self) -> float:
        if self.amm:
            tokens = self.ledger.balance(self.token, POOL)
            return (self.ledger.balance(USD, POOL) / MICRO) / (tokens / self.unit) if tokens else float("inf")
        return self._price_micro / MICRO

    def sell(self, seller: str, tokens: int) -> int:
        """``seller`` sells tokens; returns the USD micro-dollars it receives."""
        if tokens <= 0:
            return 0
        if self.amm:
            usd_reserve, token_reserve = self.ledger.balance(USD, POOL), self.ledger.balance(self.token, POOL)
            usd = usd_reserve * tokens // (token_reserve + tokens)
            self.ledger.transfer(self.token, seller, POOL, tokens)
            self.ledger.transfer(USD, POOL, seller, usd)
            return usd
        usd = tokens * self._price_micro // self.unit
        self.ledger.transfer(self.token, seller, HOLDERS, tokens)
        self.ledger.mint(USD, HOLDERS, usd)  # outside money
        self.ledger.transfer(USD, HOLDERS, seller, usd)
        return usd

    def buy(self, buyer: str, usd: int) -> int:
        """``buyer`` spends USD micro-dollars on tokens; returns the tokens it receives (the outside market
        sells only what its holders have)."""
        if usd <= 0:
            return 0
        if self.amm:
            usd_reserve, token_reserve = self.ledger.balance(USD, POOL), self.ledger.balance(self.token, POOL)
            tokens = token_reserve * usd // (usd_reserve + usd)
            self.ledger.transfer(USD, buyer, POOL, usd)
            self.ledger.transfer(self.token, POOL, buyer, tokens)
            return tokens
        tokens = min(usd * self.unit // self._price_micro, self.ledger.balance(self.token, HOLDERS))
        paid = -(-tokens * self._price_micro // self.unit)  # what those tokens cost, rounded up
        self.ledger.transfer(USD, buyer, HOLDERS, min(paid, usd))
        self.ledger.transfer(self.token, HOLDERS, buyer, tokens)
        return tokens
