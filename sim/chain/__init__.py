"""Optional chain hooks: the run's settlement through real contracts on a local EVM chain.

Off by default (nothing here is imported or started unless a run asks for a chain). ``open_chain``
turns the CLI's ``--chain`` value into a hook: ``embedded`` (web3's in-process tester chain), ``anvil``
(a local node the caller starts with :func:`anvil_node`) or any JSON-RPC URL.
"""

from __future__ import annotations

from .hook import ChainError, ChainHook, ChainUnavailable, NullChain, replay

__all__ = ["ChainError", "ChainHook", "ChainUnavailable", "NullChain", "open_chain", "replay"]


def open_chain(spec: str, label: str = "rpc") -> ChainHook:
    """``embedded`` or a JSON-RPC URL (``http://`` or ``https://``); ``label`` names a node in reports."""
    if spec == "embedded":
        from .evm import EmbeddedChain

        return EmbeddedChain()
    if spec.startswith(("http://", "https://")):
        from .evm import RpcChain

        return RpcChain(spec, label=label)
    raise ChainUnavailable(f"--chain must be embedded, anvil or a JSON-RPC URL (http://...), not {spec!r}")
