"""The chain hook: the points at which a run hands its settlement to a chain, and the replay that calls them.

The off-chain ledger journals every operation while a chain is on (``Ledger(journal=True)``). After each
epoch the engine passes the journal to :func:`replay`, which turns it into hook calls, in order:
protocol actions (an epoch's settlement, its rewards, stakes, slashes, releases, sampled leases) become the protocol's
contract calls, which compute fees, burns and slashes themselves; everything else (money entering from
outside, trades the simulation draws off-chain) becomes mints, burns and moves. Consecutive operations of
one kind on one asset are merged, so an epoch costs a handful of transactions whatever the fleet size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..ledger import Op, Section

if TYPE_CHECKING:
    from ..economy import TokenEconomy


class ChainError(RuntimeError):
    """The chain failed during a run (a node went away, a transaction reverted)."""

    def __init__(self, message: str, epoch: int | None = None) -> None:
        super().__init__(message, epoch)  # both in args: SimPy re-raises a process's error as type(e)(*e.args)
        self.epoch = epoch

    def __str__(self) -> str:
        return str(self.args[0])


class ChainUnavailable(ChainError):
    """The chain could not be reached or set up before the run started (bad input: exit code 2)."""


Account = tuple[str, str | int]
"""An account of one asset: ("name", "treasury") or ("provider", 17)."""


class ChainHook(Protocol):
    """What a run calls on a chain. Amounts are base units; accounts as in the off-chain ledger."""

    def start(self, economy: TokenEconomy) -> None:
        """Deploy (or attach to) the contracts for this run's assets and parameters."""

    def settle(self, epoch: int, providers: np.ndarray, gross: list[int]) -> None:
        """Buyers pay providers for an epoch's work; the contract takes the fee and burn share."""

    def distribute(self, epoch: int, receivers: list[Account], amounts: list[int], cumulative_cap: int) -> None:
        """Mint an epoch's emission to its receivers, within the schedule's cumulative cap."""

    def stake(self, providers: np.ndarray, amounts: list[int]) -> None:
        """Stake tokens (already moved to the marketplace) are credited to providers."""

    def slash(self, providers: np.ndarray, share_ppm: int) -> None:
        """Burn a share of these providers' stakes."""

    def open_lease(self, epoch: int, lease: int, job: int, provider: int, amount: int) -> None:
        """A sampled job's buyer locks its lease's price (already minted to the buyers' wallet)."""

    def close_lease(self, epoch: int, lease: int, job: int, done_ppm: int) -> None:
        """A lease ends: its provider is paid ``done_ppm`` of it (less fee and burn), the buyer refunded the rest."""

    def release(self, providers: np.ndarray, unit: int) -> None:
        """Leaving providers get their stakes back in whole units; the dust goes to the treasury."""

    def mint(self, asset: str, receivers: list[Account], amounts: list[int]) -> None:
        """Money or tokens enter from outside the network."""

    def burn(self, asset: str, holders: list[Account], amounts: list[int]) -> None:
        """Tokens (or refunded money) leave: burned."""

    def move(self, asset: str, senders: list[Account], receivers: list[Account], amounts: list[int]) -> None:
        """Balances move between parties (trades and transfers the simulation draws off-chain)."""

    def end_epoch(self, epoch: int) -> None:
        """Everything for this epoch has been called: send what is queued (a chain may confirm it later, while
        the next epochs run: a failure then names this epoch)."""

    def confirm(self) -> None:
        """Wait until every epoch sent is confirmed; ChainError names the first that was not."""

    def reconcile(self, economy: TokenEconomy) -> dict[str, Any]:
        """Compare every on-chain balance with the off-chain ledger; return the report."""

    def close(self) -> None:
        """Release the connection (a node the run started is stopped by whoever started it)."""


class NullChain:
    """No chain: every call does nothing (and the engine does not even journal)."""

    def start(self, economy: TokenEconomy) -> None:
        pass

    def close(self) -> None:
        pass


def _account(name: str | None, provider: int | None = None) -> Account:
    return ("provider", int(provider)) if provider is not None else ("name", str(name))


def replay(hook: ChainHook, epoch: int, journal: list[Op | Section]) -> None:
    """Turn an epoch's journal into hook calls, in order, merging runs of like primitive operations."""
    pending: list[tuple[str, str, list[Account], list[Account], list[int]]] = []

    def flush() -> None:
        for kind, asset, src, dst, amounts in pending:
            if kind == "mint":
                hook.mint(asset, dst, amounts)
            elif kind == "burn":
                hook.burn(asset, src, amounts)
            else:
                hook.move(asset, src, dst, amounts)
        pending.clear()

    def add(kind: str, asset: str, src: list[Account], dst: list[Account], amounts: list[int]) -> None:
        if pending and pending[-1][0] == kind and pending[-1][1] == asset:
            last = pending[-1]
            last[2].extend(src)
            last[3].extend(dst)
            last[4].extend(amounts)
        else:
            pending.append((kind, asset, list(src), list(dst), list(amounts)))

    for entry in journal:
        if isinstance(entry, Section):
            flush()
            _section(hook, epoch, entry)
            continue
        op = entry
        if op.kind == "mint":
            add("mint", op.asset, [], [_account(op.dst)], [op.amount])
        elif op.kind == "burn":
            add("burn", op.asset, [_account(op.src)], [], [op.amount])
        elif op.kind == "transfer":
            add("move", op.asset, [_account(op.src)], [_account(op.dst)], [op.amount])
        elif op.kind == "mint_providers":
            assert op.providers is not None and op.amounts is not None
            add("mint", op.asset, [], [_account(None, p) for p in op.providers.tolist()], op.amounts)
        elif op.kind == "pay_providers":
            assert op.providers is not None and op.amounts is not None
            add("move", op.asset, [_account(op.src)] * len(op.amounts),
                [_account(None, p) for p in op.providers.tolist()], op.amounts)
        elif op.kind == "collect_providers":
            assert op.providers is not None and op.amounts is not None
            add("move", op.asset, [_account(None, p) for p in op.providers.tolist()],
                [_account(op.dst)] * len(op.amounts), op.amounts)
        else:
            raise ValueError(f"unknown ledger operation {op.kind!r}")
    flush()
    hook.end_epoch(epoch)


def _section(hook: ChainHook, epoch: int, section: Section) -> None:
    """A protocol action: the contract does what the section's operations did off-chain."""
    p = section.payload
    if section.name == "settlement":
        hook.settle(epoch, p["providers"], p["gross"])
    elif section.name == "rewards":
        receivers: list[Account] = []
        amounts: list[int] = []
        for op in section.ops:
            if op.kind == "mint":
                receivers.append(_account(op.dst))
                amounts.append(op.amount)
            elif op.kind == "mint_providers":
                assert op.providers is not None and op.amounts is not None
                receivers.extend(_account(None, q) for q in op.providers.tolist())
                amounts.extend(op.amounts)
            else:
                raise ValueError(f"a rewards section only mints, found {op.kind}")
        hook.distribute(epoch, receivers, amounts, p["cumulative_cap"])
    elif section.name == "stake":
        for op in section.ops:  # the stake's tokens arrive, then are credited
            hook.move(op.asset, [_account(op.src)], [_account(op.dst)], [op.amount])
        hook.stake(p["providers"], p["amounts"])
    elif section.name == "slash":
        hook.slash(p["providers"], p["share_ppm"])
    elif section.name == "open_lease":
        hook.open_lease(epoch, p["lease"], p["job"], p["provider"], p["amount"])
    elif section.name == "close_lease":
        hook.close_lease(epoch, p["lease"], p["job"], p["done_ppm"])
    elif section.name == "release":
        hook.release(p["providers"], p["unit"])
    else:
        raise ValueError(f"unknown protocol action {section.name!r}")
