"""The embedded chain: revm (Rust, through pyrevm) in process, the run's settlement one call at a time.

The same contracts (deployed from the committed artifacts) and the same call data a node would get, so
the reconciliation is as strict as on any chain; ~50x py-evm's speed (``sim.chain.evm.PyEvmChain``
stays for cross-checks on a second EVM implementation).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .evm import GAS, EvmChain, artifact, in_epoch, pseudo_address
from .hook import ChainError, ChainUnavailable


class RevmChain(EvmChain):
    """The embedded chain: revm (Rust, through pyrevm) in process, one call at a time into its state.

    The calls are the contracts' own (deployed from the same artifacts, the same call data as a node
    receives), so the reconciliation is as strict as on any chain. What differs is the gas: revm keeps
    the accounts and storage a run has touched warm from one call to the next, as within one transaction,
    so its execution gas is below what a chain charges (about 0.56x py-evm's receipts on the baseline
    year, measured when this was written); it is reported as ``revm execution gas``, not chain gas."""

    label = "embedded"
    gas_kind = "revm execution gas (storage stays warm between calls: below a chain's receipt gas)"

    def __init__(self) -> None:
        try:
            from pyrevm import EVM
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ChainUnavailable(f"the embedded chain needs pyrevm: pip install 'depinsim[chain]' ({exc})") from None
        super().__init__()
        # Vyper 0.4.3 emits Cancun opcodes (MCOPY); pyrevm takes the spec's exact name (an unknown one is
        # silently the latest)
        self.evm = EVM(spec_id="CANCUN", gas_limit=2**63)

    def _operator(self) -> str:
        operator = pseudo_address("operator")
        self.evm.set_balance(operator, 10**30)
        return operator

    def _deploy(self, name: str, *args: Any) -> Any:
        from eth_abi import encode

        built = artifact(name)
        constructor = next((e for e in built["abi"] if e.get("type") == "constructor"), {"inputs": []})
        code = bytes.fromhex(built["bytecode"].removeprefix("0x")) + encode(
            [i["type"] for i in constructor["inputs"]], list(args))
        try:
            address = self.evm.deploy(self.operator, code, gas=GAS)
        except RuntimeError as exc:
            raise ChainError(f"{self.label}: deploy {name} failed: {_revert_reason(str(exc))}") from None
        self.transactions += 1
        self.gas_used += self._gas()
        return Deployed(address, built["abi"])

    def _transact(self, what: str, contract: Any, fn: str, args: tuple[Any, ...], epoch: int | None = None) -> None:
        try:
            self.evm.message_call(self.operator, contract.address, self._call_data(contract, fn, args), gas=GAS)
        except RuntimeError as exc:  # pyrevm raises a revert or a halt as RuntimeError("Revert { ... }")
            raise ChainError(f"{self.label}: {what} reverted{in_epoch(epoch)}: {_revert_reason(str(exc))}",
                             epoch) from None
        self.transactions += 1
        self.gas_used += self._gas()

    def _gas(self) -> int:
        result = self.evm.result
        return int(result.gas_used) if result is not None else 0

    def _view(self, contract: Any, fn: str, *args: Any) -> Any:
        data = self.evm.message_call(self.operator, contract.address, self._call_data(contract, fn, args), gas=GAS,
                                     is_static=True)
        return self._returned(contract, fn, bytes(data))


class Deployed(NamedTuple):
    """A contract deployed on the embedded chain: where, and its ABI."""

    address: str
    abi: list[dict[str, Any]]


def _revert_reason(message: str) -> str:
    """The reason in pyrevm's error text: a Vyper assert's string (ABI ``Error(string)``), else the text."""
    from eth_abi import decode

    found = re.search(r"output: 0x([0-9a-fA-F]*)", message)
    if found is None:
        return message  # a halt (out of gas, an invalid opcode): pyrevm's own words
    if found[1].startswith("08c379a0"):
        return str(decode(["string"], bytes.fromhex(found[1][8:]))[0])
    if not found[1]:
        return "no reason given (a checked arithmetic, bounds or transfer failure in the contract)"
    return f"output 0x{found[1]}"
