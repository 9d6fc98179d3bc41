"""The run's settlement on an EVM chain: the embedded chain (revm, in process), py-evm (web3's tester) or
any JSON-RPC node.

Four contracts per run (``contracts/``): the settlement stablecoin (a Token with 6 decimals: one base
unit is one micro-dollar, as in the ledger), the network token, the Marketplace (buyers' money,
settlement with the protocol fee and burn share, provider stakes) and the Distributor (epoch rewards).
Every off-chain account is an address: providers and named accounts get fixed addresses derived from
their names; the buyers' money and the stakes live in the Marketplace. The operator deploys, holds the
harness roles on both tokens and sends every call.

Calls are queued during an epoch and sent at its end: one by one into revm (the embedded chain,
``sim.chain.revm``) or through web3 (py-evm), or as one JSON-RPC batch to a node (``sim.chain.rpc``),
which mines and confirms it while the engine goes on. revm is ~70x py-evm's speed on the baseline year;
py-evm (``--chain py-evm``) stays for cross-checks, the same contracts and reconciliation on a second EVM
implementation.
The operator is the node's first account on py-evm and a node, a fixed funded address on revm.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from ..economy import BUYERS, STAKE
from ..errors import ConservationError
from ..leases import LEASES, LESSEES
from ..ledger import USD
from .abi import encode_call, selector
from .build import ArtifactError, load
from .hook import Account, ChainError, ChainUnavailable

if TYPE_CHECKING:
    from ..economy import TokenEconomy

BATCH = 200          # entries per contract call (each call stays well under the block gas limit)
GAS = 29_000_000     # explicit gas per call: estimating it would double the calls


def pseudo_address(label: str) -> str:
    """The fixed address of a named account or provider (the same in every run)."""
    from eth_utils import keccak, to_checksum_address

    return to_checksum_address(keccak(text=f"depinsim:{label}")[-20:])


class EvmChain(ABC):
    """Contracts deployed for one run; subclasses deploy them, send the queued calls and read balances."""

    label = "evm"
    gas_kind = "receipt gas"
    """What ``gas_used`` counts (a chain's receipts, or an EVM's own execution gas)."""

    def __init__(self) -> None:
        self.transactions = 0
        self.gas_used = 0
        self.seconds = 0.0
        self._queue: list[tuple[str, Any, str, tuple[Any, ...]]] = []
        self._functions: dict[tuple[str, str], tuple[bytes, list[str], list[str]]] = {}

    def _function(self, contract: Any, fn: str) -> tuple[bytes, list[str], list[str]]:
        """A contract function's selector, input types and output types (read off its ABI once)."""
        key = (contract.address, fn)
        if key not in self._functions:
            entry = next(e for e in contract.abi if e.get("type") == "function" and e["name"] == fn)
            types = [i["type"] for i in entry["inputs"]]
            self._functions[key] = (selector(fn, types), types, [o["type"] for o in entry["outputs"]])
        return self._functions[key]

    def _call_data(self, contract: Any, fn: str, args: tuple[Any, ...]) -> bytes:
        """Selector and arguments from ``sim.chain.abi``: web3's per-call encoding (checksums, ABI lookup) cost
        ten times a node's own work, and eth_abi's generic encoders most of what is left."""
        head, types, _ = self._function(contract, fn)
        return head + encode_call(types, args)

    def _returned(self, contract: Any, fn: str, data: bytes) -> Any:
        """A view function's return data, decoded (one value, or a tuple of them)."""
        from eth_abi import decode

        values = decode(self._function(contract, fn)[2], data)
        return values[0] if len(values) == 1 else values

    # --- what a subclass provides -----------------------------------------------------------------------

    @abstractmethod
    def _operator(self) -> str:
        """The account that deploys and sends every call."""

    @abstractmethod
    def _deploy(self, name: str, *args: Any) -> Any:
        """Deploy contract ``name`` (an artifact of contracts/build) with its constructor's ``args``; returns
        a handle with its ``address``."""

    @abstractmethod
    def _transact(self, what: str, contract: Any, fn: str, args: tuple[Any, ...], epoch: int | None = None) -> None:
        """Send one call now (``what`` names it in errors); a revert is a ChainError naming it and the epoch."""

    @abstractmethod
    def _view(self, contract: Any, fn: str, *args: Any) -> Any:
        """A view function's value."""

    # --- set-up ------------------------------------------------------------------------------------

    def start(self, economy: TokenEconomy) -> None:
        started = time.perf_counter()
        self.operator = self._operator()
        self.symbol = economy.token
        max_supply = economy.initial_supply + economy.max_emission_base
        self.usd = self._deploy("Token", "US dollar (simulated)", "USD", 6, 0)
        self.token = self._deploy("Token", f"{economy.token} (depinsim)"[:32], economy.token[:16],
                                  economy.tok.decimals, max_supply)
        self.treasury = pseudo_address("treasury")
        self.market = self._deploy("Marketplace", self.usd.address, self.token.address, self.treasury,
                                   economy.fee_ppm, economy.burn_ppm, not economy.fee_burn)
        self.distributor = self._deploy("Distributor", self.token.address)
        for contract in (self.usd, self.token):
            for role in ("minter", "burner", "custodian"):
                self._transact("grant role", contract, "set_role", (self.operator, role, True))
        self._transact("grant role", self.token, "set_role", (self.distributor.address, "minter", True))
        self.contracts = {USD: self.usd, economy.token: self.token}
        self.providers = [pseudo_address(f"provider:{p}") for p in range(economy.fleet.size)]
        # where the ledger's named accounts live; the marketplace holds the buyers' money and the stakes
        self._special = {(USD, BUYERS): self.market.address, (USD, LEASES): self.market.address,
                         (USD, LESSEES): self.operator, (economy.token, STAKE): self.market.address}
        self._lessee_approved = False
        self.seconds += time.perf_counter() - started

    # --- addresses -------------------------------------------------------------------------------------

    def _addr(self, asset: str, account: Account) -> str:
        kind, key = account
        if kind == "provider":
            return self.providers[int(key)]
        return self._special.get((asset, str(key))) or pseudo_address(str(key))

    def _addrs(self, asset: str, accounts: list[Account]) -> list[str]:
        return [self._addr(asset, a) for a in accounts]

    # --- hook calls (queued) -----------------------------------------------------------------------------

    def settle(self, epoch: int, providers: np.ndarray, gross: list[int]) -> None:
        addrs = [self.providers[p] for p in providers.tolist()]
        for i in range(0, len(addrs), BATCH):
            last = i + BATCH >= len(addrs)
            self._call(f"Marketplace.settle ({len(addrs)} providers)", self.market, "settle",
                       epoch, addrs[i:i + BATCH], gross[i:i + BATCH], last)

    def distribute(self, epoch: int, receivers: list[Account], amounts: list[int], cumulative_cap: int) -> None:
        addrs = self._addrs(self.symbol, receivers)
        for i in range(0, len(addrs), BATCH):
            last = i + BATCH >= len(addrs)
            self._call(f"Distributor.distribute ({len(addrs)} receivers)", self.distributor, "distribute",
                       epoch, addrs[i:i + BATCH], amounts[i:i + BATCH], cumulative_cap, last)

    def stake(self, providers: np.ndarray, amounts: list[int]) -> None:
        addrs = [self.providers[p] for p in providers.tolist()]
        for i in range(0, len(addrs), BATCH):
            self._call("Marketplace.credit_stakes", self.market, "credit_stakes", addrs[i:i + BATCH],
                       amounts[i:i + BATCH])

    def slash(self, providers: np.ndarray, share_ppm: int) -> None:
        addrs = [self.providers[p] for p in providers.tolist()]
        for i in range(0, len(addrs), BATCH):
            self._call("Marketplace.slash", self.market, "slash", addrs[i:i + BATCH], share_ppm)

    def release(self, providers: np.ndarray, unit: int) -> None:
        addrs = [self.providers[p] for p in providers.tolist()]
        for i in range(0, len(addrs), BATCH):
            self._call("Marketplace.release_stakes", self.market, "release_stakes", addrs[i:i + BATCH], unit)

    def open_lease(self, epoch: int, lease: int, job: int, provider: int, amount: int) -> None:
        if not self._lessee_approved:  # the operator is the sampled buyers' wallet: the marketplace may draw on it
            self._call("USD.approve (leases)", self.usd, "approve", self.market.address, 2**256 - 1)
            self._lessee_approved = True
        self._call(f"Marketplace.open_lease (job {job}, lease {lease})", self.market, "open_lease", lease,
                   self.providers[provider], amount)

    def close_lease(self, epoch: int, lease: int, job: int, done_ppm: int) -> None:
        # a failed provider's stake is slashed by the epoch's slash, as for every lease: none here
        self._call(f"Marketplace.close_lease (job {job}, lease {lease})", self.market, "close_lease", lease, done_ppm,
                   0)

    def mint(self, asset: str, receivers: list[Account], amounts: list[int]) -> None:
        addrs = self._addrs(asset, receivers)
        for i in range(0, len(addrs), BATCH):
            self._call(f"{asset}.mint_many", self.contracts[asset], "mint_many", addrs[i:i + BATCH],
                       amounts[i:i + BATCH])

    def burn(self, asset: str, holders: list[Account], amounts: list[int]) -> None:
        addrs = self._addrs(asset, holders)
        for i in range(0, len(addrs), BATCH):
            self._call(f"{asset}.burn_many", self.contracts[asset], "burn_many", addrs[i:i + BATCH],
                       amounts[i:i + BATCH])

    def move(self, asset: str, senders: list[Account], receivers: list[Account], amounts: list[int]) -> None:
        src, dst = self._addrs(asset, senders), self._addrs(asset, receivers)
        for i in range(0, len(src), BATCH):
            self._call(f"{asset}.move_many", self.contracts[asset], "move_many", src[i:i + BATCH], dst[i:i + BATCH],
                       amounts[i:i + BATCH])

    def end_epoch(self, epoch: int) -> None:
        calls, self._queue = self._queue, []
        started = time.perf_counter()
        self._send(epoch, calls)
        self.seconds += time.perf_counter() - started

    def confirm(self) -> None:  # noqa: B027 - in-process chains settle as they are sent: nothing to wait for
        """Wait until every epoch sent is settled on the chain (in-process chains settle as they are sent)."""

    def _call(self, what: str, contract: Any, fn: str, *args: Any) -> None:
        self._queue.append((what, contract, fn, args))

    def _send(self, epoch: int, calls: list[tuple[str, Any, str, tuple[Any, ...]]]) -> None:
        for what, contract, fn, args in calls:
            self._transact(what, contract, fn, args, epoch)

    # --- reconciliation ------------------------------------------------------------------------------------

    def reconcile(self, economy: TokenEconomy) -> dict[str, Any]:
        """Every balance, supply and burn total on-chain against the ledger, in base units; raises on any
        difference (a broken conservation law between the two books)."""
        self.confirm()
        ledger = economy.ledger
        mismatches: list[str] = []
        checked = 0

        def compare(what: str, on_chain: int, off_chain: int) -> None:
            nonlocal checked
            checked += 1
            if on_chain != off_chain:
                mismatches.append(f"{what}: chain {on_chain}, ledger {off_chain}")

        for asset, contract in self.contracts.items():
            compare(f"{asset} supply", self._view(contract, "totalSupply"), ledger.supply(asset))
            compare(f"{asset} burned", self._view(contract, "burned"), ledger.burned[asset])
            held: dict[str, tuple[list[str], int]] = {}  # several accounts may live at one address (the marketplace)
            for name, balance in sorted(ledger.named_balances(asset).items()):
                address = self._addr(asset, ("name", name))
                names, total = held.get(address, ([], 0))
                held[address] = ([*names, name], total + balance)
            for address, (names, balance) in held.items():
                compare(f"{asset} {'+'.join(names)}", self._view(contract, "balanceOf", address), balance)
            books = ledger.provider_balances(asset)
            for i in range(0, len(self.providers), BATCH):
                chunk = self._view(contract, "balances_of", self.providers[i:i + BATCH])
                for j, value in enumerate(chunk):
                    compare(f"{asset} provider {i + j}", value, int(books[i + j]))
        for i in range(0, len(self.providers), BATCH):
            stakes = self._view(self.market, "stakes_of", self.providers[i:i + BATCH])
            for j, value in enumerate(stakes):
                compare(f"stake of provider {i + j}", value, int(economy.stake[i + j]))
        compare("total stake", self._view(self.market, "total_stake"), ledger.balance(economy.token, STAKE))
        if mismatches:
            raise ConservationError(f"on-chain balances differ from the ledger ({len(mismatches)} of {checked}): "
                                    + "; ".join(mismatches[:5]))
        return {"chain": self.label, "exact": True, "values_compared": checked, "transactions": self.transactions,
                "gas_used": self.gas_used, "gas_kind": self.gas_kind, "chain_seconds": round(self.seconds, 3),
                "transactions_per_second": round(self.transactions / self.seconds, 1) if self.seconds else None,
                "contracts": {"usd": self.usd.address, "token": self.token.address,
                              "marketplace": self.market.address, "distributor": self.distributor.address}}

    def close(self) -> None:  # noqa: B027 - nothing to release unless a subclass holds a connection
        """Release what the chain holds (nothing for an in-process one)."""


def in_epoch(epoch: int | None) -> str:
    return "" if epoch is None else f" in epoch {epoch}"


class Web3Chain(EvmChain):
    """A chain behind web3 (a provider object): contracts through web3's contract objects."""

    def __init__(self, w3: Any) -> None:
        super().__init__()
        self.w3 = w3

    def _operator(self) -> str:
        return str(self.w3.eth.accounts[0])

    def _deploy(self, name: str, *args: Any) -> Any:
        built = artifact(name)
        factory = self.w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
        receipt = self._submit(f"deploy {name}", factory.constructor(*args))
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=built["abi"])

    def _transact(self, what: str, contract: Any, fn: str, args: tuple[Any, ...], epoch: int | None = None) -> None:
        self._submit(what, contract.functions[fn](*args), epoch)

    def _submit(self, what: str, call: Any, epoch: int | None = None) -> Any:
        try:
            tx_hash = call.transact({"from": self.operator, "gas": GAS})
            self._mine(epoch)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        except Exception as exc:  # web3 and the providers raise many types; all mean the call failed
            raise ChainError(f"{self.label}: {what} failed{in_epoch(epoch)}: {exc}", epoch) from exc
        if receipt["status"] != 1:
            raise ChainError(f"{self.label}: {what} reverted{in_epoch(epoch)}", epoch)
        self.transactions += 1
        self.gas_used += int(receipt["gasUsed"])
        return receipt

    def _view(self, contract: Any, fn: str, *args: Any) -> Any:
        return contract.functions[fn](*args).call()

    def _mine(self, epoch: int | None) -> None:
        """Chains that mine every transaction as it comes (py-evm's tester) need nothing here."""


def artifact(name: str) -> dict[str, Any]:
    """A committed contract artifact (a missing or stale one: ChainUnavailable, the run does not start)."""
    try:
        return load(name)
    except ArtifactError as exc:
        raise ChainUnavailable(str(exc)) from None


class PyEvmChain(Web3Chain):
    """web3's EthereumTesterProvider on py-evm, in process (the ``chain`` extra): slow (~4M gas a second
    here), kept to cross-check the embedded chain on a second EVM implementation."""

    label = "py-evm"

    def __init__(self) -> None:
        try:
            from web3 import EthereumTesterProvider, Web3
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ChainUnavailable(f"the py-evm chain needs web3 and eth-tester: pip install 'depinsim[chain]' "
                                   f"({exc})") from None
        super().__init__(Web3(EthereumTesterProvider()))
