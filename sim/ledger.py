"""Integer ledger of money and tokens: every flow is exact, so conservation can be checked exactly.

Money is in USD micro-dollars, tokens in base units (10**decimals per token). The model computes in
floats and converts to integers at the ledger with explicit rounding; after that nothing is lost to
rounding, and the same numbers can later be reconciled with a chain to the last base unit.

Named accounts (buyers, treasury, ...) hold Python integers. Provider accounts are one array per
asset, so an epoch's payout to every provider is one vectorised, exact operation. Each asset has a
provider unit (a whole number of base units): providers are paid in multiples of it, which keeps their
book in int64 even for 18-decimal tokens (a unit of 10**9 base units holds 9.2e9 tokens per account).
An asset whose whole supply could overflow that falls back to Python integers (an object array).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConservationError

USD = "USD"
INT64_SAFE = 2**62


@dataclass
class Op:
    """One ledger operation, as journaled for a chain: ``kind`` is mint, burn, transfer, mint_providers,
    pay_providers or collect_providers; amounts in base units (provider amounts already scaled)."""

    kind: str
    asset: str
    src: str | None = None
    dst: str | None = None
    amount: int = 0
    providers: np.ndarray | None = None
    amounts: list[int] | None = None


@dataclass
class Section:
    """Operations that together are one protocol action (an epoch's settlement, its rewards, a slash):
    a chain performs the action through its contract, which must arrive at the same balances."""

    name: str
    payload: dict[str, Any]
    ops: list[Op] = field(default_factory=list)


class Ledger:
    """Balances per asset: named accounts ("buyers", "treasury") and one account per provider.

    With ``journal`` on, every operation is also recorded, in order, for a chain to replay; off (the
    default), recording costs nothing."""

    def __init__(self, n_providers: int, journal: bool = False) -> None:
        self._n = n_providers
        self._named: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._providers: dict[str, np.ndarray] = {}
        self._unit: dict[str, int] = {}
        self.minted: dict[str, int] = defaultdict(int)
        self.burned: dict[str, int] = defaultdict(int)
        self.journal: list[Op | Section] | None = [] if journal else None
        self._section: Section | None = None

    @contextmanager
    def section(self, name: str, **payload: Any) -> Iterator[None]:
        """Group the operations inside into one protocol action for the journal."""
        if self.journal is None:
            yield
            return
        outer, self._section = self._section, Section(name, payload)
        try:
            yield
        finally:
            done, self._section = self._section, outer
            if done is not None and done.ops:
                self._record(done)

    def _record(self, entry: Op | Section) -> None:
        if self._section is not None and isinstance(entry, Op):
            self._section.ops.append(entry)
        else:
            assert self.journal is not None
            self.journal.append(entry)

    def take_journal(self) -> list[Op | Section]:
        """The operations since the last call, oldest first."""
        out, self.journal = self.journal or [], [] if self.journal is not None else None
        return out

    def open_asset(self, asset: str, provider_unit: int = 1, max_supply: int | None = None) -> None:
        """Declare an asset: providers are paid in multiples of ``provider_unit`` base units; with a known
        ``max_supply`` (base units) small enough, their balances are int64."""
        fits = max_supply is None or max_supply // provider_unit < INT64_SAFE
        self._unit[asset] = provider_unit
        book = np.zeros(self._n, dtype=np.int64)
        self._providers[asset] = book if fits else book.astype(object)

    def provider_unit(self, asset: str) -> int:
        return self._unit[asset]

    def mint(self, asset: str, account: str, amount: int) -> None:
        """Create ``amount`` base units of an asset in a named account (e.g. USD entering from buyers)."""
        self._check_amount(amount)
        self._named[asset][account] += amount
        self.minted[asset] += amount
        if self.journal is not None and amount:
            self._record(Op("mint", asset, dst=account, amount=amount))

    def burn(self, asset: str, account: str, amount: int) -> None:
        self._check_amount(amount)
        self._debit(asset, account, amount)
        self.burned[asset] += amount
        if self.journal is not None and amount:
            self._record(Op("burn", asset, src=account, amount=amount))

    def transfer(self, asset: str, src: str, dst: str, amount: int) -> None:
        self._check_amount(amount)
        self._debit(asset, src, amount)
        self._named[asset][dst] += amount
        if self.journal is not None and amount:
            self._record(Op("transfer", asset, src=src, dst=dst, amount=amount))

    def mint_to_providers(self, asset: str, provider_ids: np.ndarray, units: np.ndarray) -> None:
        """One batched emission to many providers (the shape of an on-chain reward call).

        ``units`` are in the asset's provider unit; ``provider_ids`` ascending."""
        total = self._check_amounts(provider_ids, units) * self._unit[asset]
        self._book_for(asset, units)[provider_ids] += units
        self.minted[asset] += total
        self._record_batch("mint_providers", asset, None, None, provider_ids, units)

    def pay_providers(self, asset: str, src: str, provider_ids: np.ndarray, units: np.ndarray) -> None:
        """One batched transfer from a named account to many providers (an on-chain settlement call).

        ``units`` are in the asset's provider unit; ``provider_ids`` ascending."""
        total = self._check_amounts(provider_ids, units) * self._unit[asset]
        self._debit(asset, src, total)
        self._book_for(asset, units)[provider_ids] += units
        self._record_batch("pay_providers", asset, src, None, provider_ids, units)

    def _book_for(self, asset: str, units: np.ndarray) -> np.ndarray:
        """The provider book, switched to Python integers if amounts this large arrive (never back)."""
        book = self._providers[asset]
        if units.dtype == object and book.dtype != object:
            book = self._providers[asset] = book.astype(object)
        return book

    def collect_from_providers(self, asset: str, dst: str, provider_ids: np.ndarray, units: np.ndarray) -> None:
        """One batched transfer from many providers to a named account; ``provider_ids`` ascending."""
        total = self._check_amounts(provider_ids, units)
        book = self._providers[asset]
        if len(units) and (book[provider_ids] < units).any():
            raise ConservationError(f"{asset}: a provider pays more than it holds")
        book[provider_ids] -= units
        self._named[asset][dst] += total * self._unit[asset]
        self._record_batch("collect_providers", asset, None, dst, provider_ids, units)

    def _record_batch(self, kind: str, asset: str, src: str | None, dst: str | None, provider_ids: np.ndarray,
                      units: np.ndarray) -> None:
        if self.journal is None:
            return
        keep = np.asarray(units) != 0
        if keep.any():
            unit = self._unit[asset]
            self._record(Op(kind, asset, src=src, dst=dst, providers=np.asarray(provider_ids)[keep].copy(),
                            amounts=[int(u) * unit for u in np.asarray(units)[keep].tolist()]))

    def balance(self, asset: str, account: str) -> int:
        return self._named[asset].get(account, 0)

    def named_balances(self, asset: str) -> dict[str, int]:
        return dict(self._named[asset])

    def provider_balances(self, asset: str) -> np.ndarray:
        """Balances of every provider in base units (Python integers in an object array)."""
        return self._providers[asset].astype(object) * self._unit[asset]

    def supply(self, asset: str) -> int:
        return self.minted[asset] - self.burned[asset]

    def check(self, asset: str) -> None:
        """Sum of balances must equal minted - burned, and no balance may be negative."""
        named = self._named[asset]
        providers = self._providers[asset]
        total = sum(named.values()) + int(providers.sum()) * self._unit[asset]
        if total != self.supply(asset):
            raise ConservationError(f"{asset}: balances sum to {total} but minted - burned = {self.supply(asset)}")
        negative = [a for a, v in named.items() if v < 0]
        if negative or (self._n and providers.min() < 0):
            raise ConservationError(f"{asset}: negative balance ({negative[:5] or 'a provider'})")

    def _debit(self, asset: str, account: str, amount: int) -> None:
        book = self._named[asset]
        if book.get(account, 0) < amount:
            raise ConservationError(f"{asset}: {account} holds {book.get(account, 0)}, cannot pay {amount}")
        book[account] -= amount

    def _check_amounts(self, provider_ids: np.ndarray, amounts: np.ndarray) -> int:
        if len(amounts) != len(provider_ids) or (np.diff(provider_ids) <= 0).any():
            raise ConservationError("batched ledger payments need one amount per provider, ids ascending")
        if len(amounts) and (amounts.min() < 0 or provider_ids.min() < 0 or provider_ids.max() >= self._n):
            raise ConservationError("batched ledger amounts must be non-negative, to known providers")
        return int(amounts.sum())

    @staticmethod
    def _check_amount(amount: int) -> None:
        if not isinstance(amount, int) or amount < 0:
            raise ConservationError(f"ledger amounts are non-negative integers, got {amount!r}")
