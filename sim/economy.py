"""The token economy of a run: every epoch's money and token flows, settled in the integer ledger.

Per epoch, in this order: buyers pay for the work delivered (a protocol fee and, under burn-and-mint,
a burn share are taken out; burns buy tokens on the market and destroy them); the emission is minted and
split by the reward rule (self-dealers caught this epoch forfeit theirs); a share of each reward is
locked and released linearly; failed or caught providers lose part of their stake; providers sell a
share of what they received; speculators trade; then the ledger must balance. The token price is
exogenous (a path fixed before the run) or the ratio of an AMM pool's reserves after these flows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import rng as rngs
from .errors import ConservationError
from .fleet import Fleet
from .leases import LEASES, LESSEES, PPM, Closed, Lease, LeaseFlows, payout
from .ledger import USD, Ledger
from .schema.emission import EmissionState
from .schema.market import MarketMechanism
from .schema.shocks import Shock
from .schema.tokenomics import Tokenomics
from .tokens import HOLDERS, POOL, LinearVesting, RewardForecast, TokenMarket, allocate, split_exact, to_base_units
from .units import HOURS_PER_DAY, MICRO

TREASURY, BUYERS, VESTING, STAKE, STAKERS = "treasury", "buyers", "vesting", "stake", "stakers"
SALES, FORFEIT, STAKE_BUYERS, ESCROW = "provider_sales", "forfeit", "stake_buyers", "escrow"


def _ppm(share: float) -> int:
    return int(round(share * MICRO))


def _share_of(amounts: np.ndarray, ppm: int) -> np.ndarray:
    """floor(amounts * ppm / 10**6) without int64 overflow (whole and fractional millions apart)."""
    if ppm == 0:
        return np.zeros_like(amounts)
    return (amounts // MICRO) * ppm + (amounts % MICRO) * ppm // MICRO


@dataclass(frozen=True)
class EpochFlows:
    """What the epoch's flows meant for each provider (USD and tokens) and for the network."""

    usd_received: np.ndarray        # USD for work, net of fee and burn, per provider
    reward_tokens: np.ndarray       # tokens earned (liquid + locked), per provider
    self_dealing_paid_usd: np.ndarray
    token_sales_usd: np.ndarray
    self_dealt_gpu_hours: np.ndarray
    network: dict[str, float]


class TokenEconomy:
    """Ledger accounts, emission state, vesting, stakes and the token market of one run."""

    def __init__(self, tok: Tokenomics, market: MarketMechanism, seed: int, fleet: Fleet, grid: np.ndarray,
                 epoch_hours: float, work_rate: np.ndarray, journal: bool = False, verified_share: float = 0.0,
                 shocks: tuple[Shock, ...] = ()) -> None:
        """``market``: the mechanism whose fee, burn destination and settlement the payments follow; ``seed``:
        the run's root seed; ``grid``: epoch boundaries (hours); ``work_rate``: per GPU class, the work a
        GPU-hour delivers (what work rewards count per hour; all 1 when they count GPU-hours);
        ``journal``: record every ledger operation for a chain to replay (off unless a chain is on);
        ``shocks``: the scenario's, which move the token price path and each epoch's mint."""
        self.tok, self.fleet, self.grid = tok, fleet, grid
        self.node_work_rate = np.asarray(work_rate, dtype=float)[fleet.gpu_class]
        self.token, self.unit = tok.token_symbol, 10**tok.decimals
        n = fleet.size
        self.ledger = Ledger(n, journal)
        self.schedule = tok.emission
        self.state = EmissionState()
        self.initial_supply = to_base_units(tok.initial_supply_tokens, tok.decimals)
        upper = float(self.schedule.cumulative_tokens(np.array([grid[-1]]), EmissionState(math.inf),
                                                      tok.initial_supply_tokens)[0])
        # providers are paid whole provider units (10**9 base units for 18-decimal tokens; each epoch's
        # sub-unit dust goes to the treasury), which keeps their book in int64
        self.reward_unit = 10 ** max(tok.decimals - 9, 0)
        self.max_emission_base = to_base_units(upper, tok.decimals)  # the schedule's total, an upper bound
        self.ledger.open_asset(self.token, self.reward_unit, self.initial_supply + self.max_emission_base)
        self.ledger.open_asset(USD)
        self.minted_base = 0  # emission minted so far, base units
        self._released_base = 0  # what the schedule released so far (a shock may mint less of it)
        self.shocks = shocks

        price = tok.token_price
        prices = None if price.endogenous else price.path(grid, rngs.stream(seed, rngs.TOKEN_PRICE))
        for shock in shocks if prices is not None else ():
            prices = prices * shock.token_price_multiplier(grid)
        self.market = TokenMarket(self.ledger, self.token, self.unit, price, prices)
        self.market.set_epoch(0)  # stakes bought before the first epoch opens trade at its price
        if self.initial_supply:
            self.ledger.mint(self.token, HOLDERS, self.initial_supply)
        pool = price.pool()
        if pool is not None:  # the run's own market holds part of the initial supply
            pool_usd, pool_tokens = pool
            self.ledger.transfer(self.token, HOLDERS, POOL, to_base_units(pool_tokens, tok.decimals))
            self.ledger.mint(USD, POOL, int(round(pool_usd * MICRO)))

        self.fee_ppm = _ppm(market.protocol_fee_share)
        self.fee_burn = market.fee_destination == "buy_and_burn"
        self.burn_ppm = _ppm(self.schedule.payment_burn_share())
        self.provider_ppm = _ppm(self.schedule.provider_reward_share())
        self.parts = [(basis, _ppm(share)) for basis, share in tok.reward_rule.parts()]
        self.sell_ppm = _ppm(tok.provider_sell_share)
        self.locked_ppm = _ppm(tok.vesting.locked_share)
        vest_epochs = max(1, round(tok.vesting.linear_days * HOURS_PER_DAY / epoch_hours))
        self.vesting = LinearVesting(n, vest_epochs) if self.locked_ppm else None
        self.stake = np.zeros(n, dtype=object)         # base units staked per provider
        self.stake_paid_usd = np.zeros(n)
        self._caught_rng = rngs.stream(seed, rngs.SELF_DEALING)
        # net speculative USD per day for every epoch, drawn up front from their own stream
        self._speculation = price.speculative_flows_usd_per_day(rngs.stream(seed, rngs.SPECULATION), len(grid) - 1)
        initial = fleet.initially_active
        self.forecast = RewardForecast(tok.reward_expectation, float(fleet.gpus[initial].sum()),
                                       float((fleet.gpus * self.node_work_rate)[initial].sum()), verified_share)
        self.price_usd = self.expected_price_usd = self.realisable_price_usd = 0.0
        # USD micro-dollars through the epoch settlements, for the end-of-run money check
        # (burn_share: the burn-and-mint share of payments; burn_usd: all USD spent buying tokens to burn)
        # (rebates: what providers asking below zero paid their buyers, outside the settlement)
        self.totals = {"buyers": 0, "self_dealing": 0, "to_providers": 0, "rebates": 0, "fees": 0, "burn_share": 0,
                       "burn_usd": 0, "escrow_in": 0, "escrow_refunds": 0, "lease_cut_deposits": 0}
        self.escrow = market.escrow

    # --- epoch open -------------------------------------------------------------------------------

    @property
    def kept_share(self) -> float:
        """Share of a buyer's payment a provider keeps (after the protocol fee and the payment burn)."""
        return 1.0 - (self.fee_ppm + self.burn_ppm) / MICRO

    def open_epoch(self, k: int, capacity_gpus: float) -> tuple[float, float]:
        """Set the epoch's price; return the rewards providers expect, USD: per unit of work sold (times a
        node's work rate: per GPU-hour sold) and per GPU-hour offered."""
        self.market.set_epoch(k)
        self.price_usd = self.market.price_usd()
        t0, t1 = float(self.grid[k]), float(self.grid[k + 1])
        ahead = self.schedule.advance(self.state, t0, t1, capacity_gpus)
        tokens = (self._cumulative(t1, ahead) - self._cumulative(t0, self.state)) * self.provider_ppm / MICRO
        # providers value the epoch's reward at what they can realise: their planned sales move an AMM
        self.realisable_price_usd = self.market.realisable_price_usd(int(tokens * self.unit), self.sell_ppm)
        self.expected_price_usd = self.forecast.expected_price(self.realisable_price_usd)
        return self.forecast.rewards_usd(tokens / (t1 - t0), self.tok.reward_rule, self.expected_price_usd)

    def self_dealing(self, work_reward_usd: np.ndarray, asks_micro: np.ndarray, utilisation: np.ndarray,
                     active: np.ndarray, epoch_hours: float) -> tuple[np.ndarray, np.ndarray]:
        """Which providers self-deal this epoch, and what each of their idle GPU-hours nets them (USD).

        A node expects to leave idle the share of its hours it did not sell last epoch (half before its
        first). Selling those to itself earns the work reward, costs their power and the fee and burn on
        its own payment (at ``asks_micro``), and risks detection: with its probability the node forfeits
        the whole epoch's reward (its real sales' too) and the slashed share of its stake. It self-deals
        only if the expected gain is positive (``SelfDealing``)."""
        none = np.zeros(self.fleet.size)
        if not self.tok.self_dealing.enabled:
            return none.astype(bool), none
        dealing, fleet = self.tok.self_dealing, self.fleet
        hours = fleet.gpus * epoch_hours
        idle = hours * (1.0 - np.nan_to_num(utilisation, nan=0.5))
        lost = asks_micro / MICRO * (self.fee_ppm + self.burn_ppm) / MICRO
        per_hour = work_reward_usd - fleet.marginal_usd_per_gpu_hour - lost
        stake_usd = np.array([int(x) for x in self.stake], dtype=float) / self.unit * self.expected_price_usd
        at_risk = work_reward_usd * hours + dealing.slash_share * stake_usd
        gain = idle * per_hour - dealing.detection_probability * at_risk
        dealers = active & (idle > 0) & (gain > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(dealers, gain / idle, 0.0)
        return dealers, value

    def buy_stakes(self, providers: np.ndarray) -> None:
        """New nodes buy their stake with their own money, at the market."""
        per_gpu = self.tok.staking.tokens_per_gpu
        if per_gpu <= 0:
            return
        for p in providers.tolist():
            usd = int(round(per_gpu * self.fleet.gpus[p] * self.market.price_usd() * MICRO))
            self.ledger.mint(USD, STAKE_BUYERS, usd)
            tokens = self.market.buy(STAKE_BUYERS, usd)
            self._sweep(USD, STAKE_BUYERS)
            with self.ledger.section("stake", providers=np.array([p]), amounts=[tokens]):
                self.ledger.transfer(self.token, STAKE_BUYERS, STAKE, tokens)
            self.stake[p] += tokens
            self.stake_paid_usd[p] += usd / MICRO

    def release_stakes(self, providers: np.ndarray) -> None:
        """Leaving nodes get their remaining stake back (whole provider units; dust to the treasury)."""
        ids = np.sort(providers)
        units = np.array([int(self.stake[p]) // self.reward_unit for p in ids], dtype=np.int64)
        dust = sum(int(self.stake[p]) for p in ids) - int(units.sum()) * self.reward_unit
        with self.ledger.section("release", providers=ids, unit=self.reward_unit):
            self.ledger.pay_providers(self.token, STAKE, ids, units)
            if dust:
                self.ledger.transfer(self.token, STAKE, TREASURY, dust)
        self.stake[ids] = 0

    # --- epoch close ------------------------------------------------------------------------------

    def close_epoch(self, k: int, gpu_hours: np.ndarray, work: np.ndarray, offered: np.ndarray, due: np.ndarray,
                    asks_micro: np.ndarray, dealers: np.ndarray, active: np.ndarray,
                    failures: np.ndarray, escrow_in: int = 0, escrow_refunds: int = 0,
                    verified: np.ndarray | None = None, leases: LeaseFlows | None = None) -> EpochFlows:
        """Settle epoch k. ``work``: what each provider delivered (what work rewards weigh); ``due``: what
        buyers pay each provider this epoch (micro-USD); under a mechanism
        with escrow it comes out of the escrow, into which new leases paid ``escrow_in`` and from which
        ``escrow_refunds`` went back to buyers whose leases ended early; ``verified``: the verified data
        each provider held (unit-hours), which quality-adjusted power counts ``power_multiplier`` times;
        ``leases``: the sampled jobs' own leases opened and closed (``sim.leases``), outside the pool."""
        t0, t1 = float(self.grid[k]), float(self.grid[k + 1])
        n = self.fleet.size
        ledger, token = self.ledger, self.token
        burned_before = ledger.burned[token]

        # 1. payments for work; self-dealers pay their own asks for their idle hours. A negative payment (an
        # ask below zero) is a rebate the provider pays its buyers out of its own money, outside the
        # settlement (no fee, no burn): it lowers what the provider receives
        self_hours = np.where(dealers, np.maximum(offered - gpu_hours, 0.0), 0.0)
        paid_self = np.floor(np.maximum(asks_micro, 0) * self_hours + 0.5).astype(np.int64)
        rebates = np.minimum(due + paid_self, 0)
        pay = due + paid_self - rebates
        fee, burn = _share_of(pay, self.fee_ppm), _share_of(pay, self.burn_ppm)
        net = pay - fee - burn
        leases = leases or LeaseFlows()
        self._open_leases(leases.opened)
        if self.escrow:
            ledger.mint(USD, ESCROW, escrow_in)
            ledger.burn(USD, ESCROW, escrow_refunds)  # back to the buyers, out of the network
            ledger.transfer(USD, ESCROW, BUYERS, int(due.sum()))
            ledger.mint(USD, BUYERS, int(paid_self.sum()))
        else:
            ledger.mint(USD, BUYERS, int(pay.sum()))
        totals = self.totals
        totals["escrow_in"] += escrow_in
        totals["escrow_refunds"] += escrow_refunds
        totals["buyers"] += int(due.sum())
        totals["self_dealing"] += int(paid_self.sum())
        totals["to_providers"] += int(net.sum()) + int(rebates.sum())
        totals["rebates"] += -int(rebates.sum())
        totals["fees"] += int(fee.sum())
        totals["burn_share"] += int(burn.sum())
        totals["burn_usd"] += int(burn.sum()) + (int(fee.sum()) if self.fee_burn else 0)
        paid = np.flatnonzero(net)
        paying = np.flatnonzero(pay)
        with ledger.section("settlement", providers=paying, gross=pay[paying].tolist()):
            ledger.pay_providers(USD, BUYERS, paid, net[paid])
            if not self.fee_burn:
                ledger.transfer(USD, BUYERS, TREASURY, int(fee.sum()))
        lease_net, lease_burn_usd = self._close_leases(leases.closed)
        burn_usd = int(burn.sum()) + (int(fee.sum()) if self.fee_burn else 0) + lease_burn_usd
        ledger.burn(token, BUYERS, self.market.buy(BUYERS, burn_usd))
        self._sweep(USD, BUYERS)  # what the outside market could not sell for burning

        # 2. emission, split by the reward rule; self-dealers caught this epoch forfeit their share
        self.state = self.schedule.advance(self.state, t0, t1, float((self.fleet.gpus * active).sum()))
        cumulative = to_base_units(self._cumulative(t1, self.state), self.tok.decimals)
        minted, self._released_base = cumulative - self._released_base, cumulative
        for shock in self.shocks:  # an emission cut mints a share of what the schedule releases
            minted = int(minted * float(shock.emission_multiplier(np.array([t0]))[0]))
        self.minted_base += minted
        for_providers = minted * self.provider_ppm // MICRO
        pool, dust = divmod(for_providers, self.reward_unit)
        units = np.zeros(n, dtype=np.int64)
        self_work = self_hours * self.node_work_rate
        # under quality-adjusted power a self-dealer stores its own data as verified (the FIL+ abuse that
        # notaries police: the self-dealing rule's detection probability), so its idle hours count as verified
        verified = (np.zeros(n) if verified is None else verified) + self_hours
        weights = {"work": work + self_work, "capacity": offered,
                   "qa_power": offered + (self.tok.reward_rule.power_multiplier() - 1.0) * verified}
        left = pool
        for i, (basis, ppm) in enumerate(self.parts):
            part = left if i == len(self.parts) - 1 else pool * ppm // MICRO
            left -= part
            split = allocate(part, weights[basis]) if part else None
            if split is None:
                dust += part * self.reward_unit
            else:
                units[split[0]] += split[1]
        caught = dealers & (self._caught_rng.random(n) < self.tok.self_dealing.detection_probability)
        forfeited = int(units[caught].sum())
        units[caught] = 0
        # 3. vesting: lock a share, release earlier tranches linearly
        locked = _share_of(units, self.locked_ppm)
        liquid = units - locked
        released = self.vesting.step(locked) if self.vesting else np.zeros_like(locked)
        received = liquid + released
        # the epoch's emission, minted in one protocol action (a chain's reward distributor)
        with ledger.section("rewards", cumulative_cap=cumulative):
            if minted > for_providers:
                ledger.mint(token, STAKERS, minted - for_providers)
            if forfeited:
                ledger.mint(token, FORFEIT, forfeited * self.reward_unit)
            if dust:
                ledger.mint(token, TREASURY, dust)
            ids = np.flatnonzero(liquid)
            ledger.mint_to_providers(token, ids, liquid[ids])
            if locked.any():
                ledger.mint(token, VESTING, int(locked.sum()) * self.reward_unit)
        if forfeited:
            ledger.burn(token, FORFEIT, forfeited * self.reward_unit)
        ids = np.flatnonzero(released)
        ledger.pay_providers(token, VESTING, ids, released[ids])

        # 4. stakes: nodes that failed this epoch and caught self-dealers are slashed
        staking, dealing = self.tok.staking, self.tok.self_dealing
        failed = failures > 0
        slashed = self._slash(failed, staking.slash_share_on_failure) + self._slash(caught, dealing.slash_share)

        # 5. providers sell a share of what they received; 6. speculators trade (AMM only)
        sales_usd = self._sell(_share_of(received, self.sell_ppm))
        self._speculate(k, t1 - t0)
        self._unlock(t0, t1)

        ledger.check(token)
        ledger.check(USD)
        self.forecast.observe(float((work + self_work).sum()), float(offered.sum()), t1 - t0, float(verified.sum()))
        unit_tokens = self.reward_unit / self.unit
        return EpochFlows(
            usd_received=(net + rebates + lease_net) / MICRO,
            reward_tokens=units * unit_tokens,
            self_dealing_paid_usd=paid_self / MICRO,
            token_sales_usd=sales_usd,
            self_dealt_gpu_hours=self_hours,
            network={
                "token_price_usd": self.price_usd,
                "realisable_token_price_usd": self.realisable_price_usd,
                "provider_token_sales_usd": float(sales_usd.sum()),
                "minted_tokens": minted / self.unit,
                "burned_tokens": (ledger.burned[token] - burned_before) / self.unit,
                "supply_tokens": ledger.supply(token) / self.unit,
                "circulating_tokens": (ledger.supply(token) - sum(ledger.balance(token, a) for a in (
                    VESTING, STAKE, TREASURY))) / self.unit,
                "locked_tokens": (ledger.balance(token, VESTING) + ledger.balance(token, STAKE)) / self.unit,
                "pool_usd": ledger.balance(USD, POOL) / MICRO,
                "pool_tokens": ledger.balance(token, POOL) / self.unit,
                "buyers_usd": float(due.sum()) / MICRO,
                "escrow_usd": (ledger.balance(USD, ESCROW) + ledger.balance(USD, LEASES)) / MICRO,
                "burn_usd": burn_usd / MICRO,
                "self_dealers": float(dealers.sum()),
                "self_dealers_caught": float(caught.sum()),
                "self_dealt_gpu_hours": float(self_hours.sum()),
                "forfeited_tokens": forfeited * unit_tokens,
                "failures": float(failures.sum()),
                "slashed_tokens": slashed / self.unit,
            },
        )

    def _open_leases(self, opened: list[Lease]) -> None:
        """The sampled buyers' money comes in and is locked, lease by lease (the chain: ``open_lease``)."""
        for lease in opened:
            self.ledger.mint(USD, LESSEES, lease.locked)
            with self.ledger.section("open_lease", lease=lease.id, job=lease.job, provider=lease.provider,
                                     amount=lease.locked):
                self.ledger.transfer(USD, LESSEES, LEASES, lease.locked)
            self.totals["escrow_in"] += lease.locked

    def _close_leases(self, closed: list[Closed]) -> tuple[np.ndarray, int]:
        """Pay and refund the leases that ended (the chain: ``close_lease``): per provider, what they got, and
        the USD their fees and burn shares left for this epoch's buy-and-burn."""
        ledger, totals = self.ledger, self.totals
        net_of = np.zeros(self.fleet.size, dtype=np.int64)
        burn_usd = 0
        for c in closed:
            net, fee, burn = payout(c, self.fee_ppm, self.burn_ppm)
            p, refund = c.lease.provider, c.refund
            kept = burn + (fee if self.fee_burn else 0)  # stays with the marketplace, to buy tokens to burn
            with ledger.section("close_lease", lease=c.lease.id, job=c.lease.job, done_ppm=c.done_ppm):
                ledger.pay_providers(USD, LEASES, np.array([p]), np.array([net], dtype=np.int64))
                if not self.fee_burn:
                    ledger.transfer(USD, LEASES, TREASURY, fee)
                ledger.transfer(USD, LEASES, BUYERS, kept)
                ledger.transfer(USD, LEASES, LESSEES, refund)
            ledger.burn(USD, LESSEES, refund)  # back to the buyer, out of the network
            net_of[p] += net
            burn_usd += kept
            for key, amount in (("buyers", c.paid), ("to_providers", net), ("fees", fee), ("burn_share", burn),
                                ("escrow_refunds", refund), ("lease_cut_deposits", 0 if c.done_ppm == PPM
                                                             else c.lease.locked)):
                totals[key] += amount
        totals["burn_usd"] += burn_usd
        return net_of, burn_usd

    def _unlock(self, t0: float, t1: float) -> None:
        """A token unlock shock: the holders outside the network sell the unlocked tokens into the pool (at
        most what they hold), which moves an AMM's price; the tokens change hands, none is minted."""
        for shock in self.shocks:
            tokens = shock.unlocked_tokens(t0, t1)
            if tokens > 0:
                units = min(to_base_units(tokens, self.tok.decimals), self.ledger.balance(self.token, HOLDERS))
                self.market.sell(HOLDERS, units)

    def _cumulative(self, t_hours: float, state: EmissionState) -> float:
        return float(self.schedule.cumulative_tokens(np.array([t_hours]), state, self.tok.initial_supply_tokens)[0])

    def _sweep(self, asset: str, account: str) -> None:
        """Leftovers of a named flow account go to the treasury, so flow accounts end every epoch empty."""
        left = self.ledger.balance(asset, account)
        if left:
            self.ledger.transfer(asset, account, TREASURY, left)

    def _slash(self, who: np.ndarray, share: float) -> int:
        ids = np.flatnonzero(who)
        if not ids.size or share <= 0:
            return 0
        cut = [int(self.stake[p]) * _ppm(share) // MICRO for p in ids]
        total = sum(cut)
        self.stake[ids] -= np.array(cut, dtype=object)
        if total:
            with self.ledger.section("slash", providers=ids, share_ppm=_ppm(share)):
                self.ledger.burn(self.token, STAKE, total)
        return total

    def _sell(self, units: np.ndarray) -> np.ndarray:
        """Providers' sales as one market order; the USD is split back pro rata to what each sold."""
        usd = np.zeros(self.fleet.size)
        ids = np.flatnonzero(units)
        if not ids.size:
            return usd
        self.ledger.collect_from_providers(self.token, SALES, ids, units[ids])
        proceeds = self.market.sell(SALES, int(units.sum()) * self.reward_unit)
        # pro rata to what each sold; weights are scaled down to keep the split's products in int64
        # (the split stays exact and sums to the proceeds; only its proportions round, at ~1e-9)
        total_bits = int(units.sum()).bit_length() + int(units.max()).bit_length()
        weights = units >> max(0, (total_bits - 60 + 1) // 2)
        split = split_exact(proceeds, weights if weights.any() else units) if proceeds else None
        if split is not None:
            self.ledger.pay_providers(USD, SALES, split[0], split[1])
            usd[split[0]] = split[1] / MICRO
        self._sweep(USD, SALES)
        return usd

    def _speculate(self, k: int, hours: float) -> None:
        if self._speculation is None:
            return
        flow = float(self._speculation[k]) * hours / HOURS_PER_DAY
        if flow > 0:
            usd = int(round(flow * MICRO))
            self.ledger.mint(USD, HOLDERS, usd)
            self.market.buy(HOLDERS, usd)
        elif flow < 0:
            tokens = min(int(-flow / self.market.price_usd() * self.unit), self.ledger.balance(self.token, HOLDERS))
            self.market.sell(HOLDERS, tokens)

    def check_accounts(self) -> dict[str, Any]:
        """End-of-run token totals; flow accounts must be empty."""
        for account in (BUYERS, SALES, FORFEIT, STAKE_BUYERS, LESSEES):
            for asset in (self.token, USD):
                left = self.ledger.balance(asset, account)
                if left:
                    raise ConservationError(f"{asset}: flow account {account} holds {left}")
        staked = sum(int(s) for s in self.stake)
        if staked != self.ledger.balance(self.token, STAKE):
            raise ConservationError(f"stakes sum to {staked} but the stake account holds "
                                    f"{self.ledger.balance(self.token, STAKE)}")
        return {"minted_base_units": self.minted_base}
