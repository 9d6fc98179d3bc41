"""Call data for the contracts' functions: a selector and the arguments, ABI-encoded.

The settlement sends a few thousand calls a run, each with up to a few hundred addresses and amounts:
eth_abi's ``encode`` validates every value through a chain of generic encoders and took 1.7 ms for one
200-provider settlement here (2.3 s of CPU for a baseline year), more than the EVM spent executing it.
The contracts' functions take only these types: ``uint8``, ``uint256``, ``bool``, ``address``,
``string``, ``address[]`` and ``uint256[]``, whose encoding is a few lines; ``tests/test_chain.py``
checks it byte for byte against eth_abi for every function of every contract, on random values. Any
other type (or a value out of its type's range) raises ValueError, so a contract change that needs one
fails loudly instead of encoding wrongly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from eth_utils import keccak

STATIC = {"uint8": 2**8, "uint256": 2**256}


def selector(name: str, types: Sequence[str]) -> bytes:
    """The function's 4-byte selector."""
    return keccak(text=f"{name}({','.join(types)})")[:4]


def encode_call(types: Sequence[str], args: Sequence[Any]) -> bytes:
    """``eth_abi.encode(types, args)`` for the types listed in the module docstring."""
    if len(types) != len(args):
        raise ValueError(f"{len(types)} types for {len(args)} arguments")
    head, tail = [], []
    offset = 32 * len(types)
    for kind, value in zip(types, args, strict=True):
        if kind in STATIC or kind in ("bool", "address"):
            head.append(_word(kind, value))
            continue
        body = _dynamic(kind, value)
        head.append(_uint(offset, 2**256))
        tail.append(body)
        offset += len(body)
    return b"".join(head) + b"".join(tail)


def _word(kind: str, value: Any) -> bytes:
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"bool expected, got {value!r}")
        return _uint(int(value), 2)
    if kind == "address":
        return _address(value)
    return _uint(value, STATIC[kind])


def _uint(value: Any, bound: int) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < bound:
        raise ValueError(f"an integer in [0, {bound}) expected, got {value!r}")
    return value.to_bytes(32, "big")


def _address(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"an address (0x and 40 hex digits) expected, got {value!r}")
    return _address_word(value)


@functools.lru_cache(maxsize=1 << 16)
def _address_word(value: str) -> bytes:
    """An address as its word, remembered: a run encodes the same few hundred addresses thousands of times."""
    raw = bytes.fromhex(value[2:]) if value[:2] in ("0x", "0X") else None
    if raw is None or len(raw) != 20:
        raise ValueError(f"an address (0x and 40 hex digits) expected, got {value!r}")
    return bytes(12) + raw


def _dynamic(kind: str, value: Any) -> bytes:
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"a string expected, got {value!r}")
        data = value.encode()
        return _uint(len(data), 2**256) + data + bytes(-len(data) % 32)
    if kind in ("address[]", "uint256[]"):
        item = kind[:-2]
        return _uint(len(value), 2**256) + b"".join(_word(item, v) for v in value)
    raise ValueError(f"ABI type {kind!r} is not one the contracts use (see sim.chain.abi)")
