"""Optional chain hooks: the run's settlement through real contracts on a local EVM chain.

Off by default (nothing here is imported or started unless a run asks for a chain). ``open_chain``
turns the CLI's ``--chain`` value into a hook: ``embedded`` (revm in process), ``py-evm`` (web3's
in-process tester chain, for cross-checks), ``anvil`` (a local node the caller starts with
:func:`anvil_node`) or any JSON-RPC URL.
"""

from __future__ import annotations

from .hook import ChainError, ChainHook, ChainUnavailable, NullChain, replay

__all__ = ["ChainError", "ChainHook", "ChainUnavailable", "NullChain", "open_chain", "replay"]


def open_chain(spec: str, label: str = "rpc") -> ChainHook:
    """``embedded`` (revm), ``py-evm`` or a JSON-RPC URL (``http://`` or ``https://``); ``label`` names a
    node in reports."""
    if spec == "embedded":
        from .revm import RevmChain

        return RevmChain()
    if spec == "py-evm":
        from .evm import PyEvmChain

        return PyEvmChain()
    if spec.startswith(("http://", "https://")):
        from .rpc import RpcChain

        return RpcChain(spec, label=label)
    raise ChainUnavailable(f"--chain must be embedded, py-evm, anvil or a JSON-RPC URL (http://...), not {spec!r}")
