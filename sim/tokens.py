"""The token's runtime: exact integer splits and conversions, vesting, reward forecasts, and the market
where tokens trade during a run (an AMM pool, or the outside market at a given price).

Trades settle through the integer ledger, rounding in the pool's favour, so the product of a pool's
reserves never falls.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from .ledger import USD, Ledger
from .schema.price import TokenPriceModel
from .schema.rewards import RewardExpectation, RewardRule
from .units import MICRO

POOL = "pool"
HOLDERS = "holders"  # everyone outside the model who holds or trades the token


def to_base_units(amount: float, decimals: int) -> int:
    """Convert a token amount to integer base units, rounding half to even.

    The float's shortest decimal form is used (``repr``), so 0.1 tokens is exactly 10**17 base units at
    18 decimals, as a reader of the scenario expects, not the binary float's 100000000000000005.55...
    """
    scaled = Decimal(repr(float(amount))) * (Decimal(10) ** decimals)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


WEIGHT_QUANTUM = 1e3  # weights are counted in thousandths (e.g. milli-GPU-hours)


def allocate(total: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split an integer amount pro rata to float weights (e.g. GPU-hours), exactly.

    Weights are quantised to thousandths first, so the split is integer arithmetic, identical on every
    machine; see ``split_exact``.
    """
    return split_exact(total, np.rint(np.asarray(weights, dtype=float) * WEIGHT_QUANTUM).astype(np.int64))


def split_exact(total: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Split an integer amount pro rata to integer weights: largest remainder, ties to the lower index.

    Returns (indices, shares) for the non-zero weights, or None when every weight is zero; the shares
    always sum to ``total``. With W the total weight and total = Q*W + R, a share is Q*w + floor(R*w/W)
    plus at most one unit of the remainder. The products stay in int64 when they fit (the common case);
    otherwise Python integers take over (18-decimal token amounts overflow int64).
    """
    idx = np.flatnonzero(weights)
    w = np.asarray(weights, dtype=np.int64)[idx]
    denominator = int(w.sum())
    if denominator <= 0:
        return None
    q, r = divmod(total, denominator)
    if denominator * int(w.max()) < 2**63:
        scaled = w * r
        extra, remainder = np.divmod(scaled, denominator)
    else:
        scaled = w.astype(object) * r
        extra, remainder = (scaled // denominator).astype(np.int64), scaled % denominator
    left = r - int(extra.sum())
    if left:
        extra[_largest(remainder, left)] += 1
    if total < 2**62:  # every share and their sum fit int64
        return idx, w * q + extra
    return idx, w.astype(object) * q + extra


def _largest(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest values, ties to the lower index: the first ``count`` of a stable
    descending sort, found with a partition (linear) instead of the sort."""
    if values.dtype == object:  # Python integers: no partition for them
        return np.argsort(-values, kind="stable")[:count]
    kth = np.partition(values, values.size - count)[values.size - count]  # the count-th largest value
    above = np.flatnonzero(values > kth)
    return np.concatenate([above, np.flatnonzero(values == kth)[:count - above.size]])


class LinearVesting:
    """Per-provider linear release of locked rewards, exact in integers.

    A tranche locked in epoch e is released evenly over the next ``epochs`` epochs. Rather than keep
    each tranche's own schedule, the release is floor((carry + window) / epochs), where window sums the
    tranches still releasing and carry holds the remainder: every tranche is released in full, never
    early, and the per-epoch cost is a few vector operations whatever the vesting length.
    """

    def __init__(self, n_providers: int, epochs: int) -> None:
        self.epochs = epochs
        self._tranches = np.zeros((epochs, n_providers), dtype=np.int64)
        self._window = np.zeros(n_providers, dtype=np.int64)
        self._carry = np.zeros(n_providers, dtype=np.int64)
        self._slot = 0

    def step(self, locked: np.ndarray) -> np.ndarray:
        """Release this epoch's share of earlier tranches, then lock ``locked``; returns the release."""
        released, self._carry = np.divmod(self._carry + self._window, self.epochs)
        self._window += locked - self._tranches[self._slot]
        self._tranches[self._slot] = locked
        self._slot = (self._slot + 1) % self.epochs
        return released


class RewardForecast:
    """Providers' adaptive estimate of the token reward they will earn, per unit of work sold and per
    GPU-hour offered.

    Work rewards per unit fall as the network delivers more work, capacity rewards as it offers more
    GPU-hours; providers only see the past, so they use moving averages of what the network delivered
    and offered, and of the token price (or its latest value, for myopic providers).
    """

    def __init__(self, expectation: RewardExpectation, capacity_gpus: float, capacity_work: float,
                 verified_share: float = 0.0) -> None:
        """``capacity_work``: the work the initial fleet delivers per hour fully busy; ``verified_share``:
        the share of delivered work expected to be verified data (quality-adjusted power only)."""
        self._expectation = expectation
        self._delivered_per_hour = capacity_work * expectation.initial_utilisation
        self._offered_per_hour = capacity_gpus
        self._verified_per_hour = self._delivered_per_hour * verified_share
        self._price: float | None = None

    def observe(self, delivered_work: float, offered_gpu_hours: float, epoch_hours: float,
                verified_work: float = 0.0) -> None:
        a = self._expectation.smoothing
        self._delivered_per_hour += a * (delivered_work / epoch_hours - self._delivered_per_hour)
        self._offered_per_hour += a * (offered_gpu_hours / epoch_hours - self._offered_per_hour)
        self._verified_per_hour += a * (verified_work / epoch_hours - self._verified_per_hour)

    def expected_price(self, price_usd: float) -> float:
        """Update the price expectation with the latest price and return it."""
        if self._price is None or self._expectation.price == "myopic":
            self._price = price_usd
        else:
            self._price += self._expectation.price_smoothing * (price_usd - self._price)
        return self._price

    def rewards_usd(self, tokens_per_hour: float, rule: RewardRule, price_usd: float) -> tuple[float, float]:
        """Expected (work reward per unit of work sold, capacity reward per GPU-hour offered), USD."""
        shares = dict(rule.parts())
        usd_per_hour = max(tokens_per_hour, 0.0) * price_usd
        work = usd_per_hour * shares.get("work", 0.0) / max(self._delivered_per_hour, 1e-9)
        capacity = usd_per_hour * shares.get("capacity", 0.0) / max(self._offered_per_hour, 1e-9)
        if "qa_power" in shares:  # a raw unit-hour earns the power reward; a verified one (m - 1) times more
            extra = rule.power_multiplier() - 1.0
            per_power = usd_per_hour * shares["qa_power"] / max(self._offered_per_hour + extra *
                                                                 self._verified_per_hour, 1e-9)
            capacity += per_power
            work += extra * per_power * min(self._verified_per_hour / max(self._delivered_per_hour, 1e-9), 1.0)
        return work, capacity


class TokenMarket:
    """Where tokens are bought and sold during a run: the AMM pool, or the outside market at a given price.

    Amounts are integers: USD micro-dollars and token base units (``unit`` per token). Trades move
    balances between named ledger accounts; who trades on behalf of providers is the caller's business.
    """

    def __init__(self, ledger: Ledger, token: str, unit: int, model: TokenPriceModel,
                 prices: np.ndarray | None) -> None:
        """``prices``: the exogenous path at epoch starts (None for an endogenous model)."""
        self.ledger, self.token, self.unit = ledger, token, unit
        self.amm = model.endogenous
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

    def realisable_price_usd(self, tokens: int, sell_ppm: int) -> float:
        """What a token of a ``tokens``-unit reward is worth to a provider who sells ``sell_ppm`` of it now
        and holds the rest: the sale at the pool's execution price (it moves the price against the
        seller), the rest at the pool's marginal price after it. Outside the AMM, the market price."""
        spot = self.price_usd()
        if not self.amm or tokens <= 0:
            return spot
        usd_reserve, token_reserve = self.ledger.balance(USD, POOL), self.ledger.balance(self.token, POOL)
        sold = tokens * sell_ppm // MICRO
        usd = usd_reserve * sold / (token_reserve + sold)
        held = (tokens - sold) * (usd_reserve - usd) / (token_reserve + sold)
        return (usd + held) / MICRO / (tokens / self.unit)

    def liquidation_usd(self, tokens: int) -> float:
        """USD that selling ``tokens`` base units at once would fetch (the pool's output; outside the AMM,
        at the market price), without trading."""
        if tokens <= 0:
            return 0.0
        if self.amm:
            usd_reserve, token_reserve = self.ledger.balance(USD, POOL), self.ledger.balance(self.token, POOL)
            return usd_reserve * tokens / (token_reserve + tokens) / MICRO
        return tokens / self.unit * self.price_usd()

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
