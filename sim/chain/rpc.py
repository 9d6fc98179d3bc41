"""A JSON-RPC node as the run's chain (anvil, or any node whose first account is unlocked).

Each epoch's calls go to the node as one JSON-RPC batch of transactions with explicit nonces; then the
node mines them (``evm_mine``) and their receipts are checked, while the engine simulates the next epochs:
the mining request is written and its answer read at the next epoch, and the receipts come on a second
connection one epoch later still. On the baseline year anvil's own work is most of a chain-on run's cost
(mining 1.2 s, writing 48 MB of receipts 0.6 s, taking the batches 0.7-0.9 s, a third of that signing
them); done in step with the engine, anvil ran at 2.8-3.8x chain-off on this machine, overlapped and
unsigned at 1.8-2.0x (2026-12-07, ``benchmarks/bench_chain.py``).
What a user sees is the same: a revert is still named by its contract function and epoch, and a failure
stops the run with the first epoch the chain did not confirm; the engine may then have closed up to two
epochs past it off-chain (the partial result says both). ``confirm`` waits for everything sent.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from .evm import GAS, Web3Chain, in_epoch
from .hook import ChainError, ChainUnavailable

Call = tuple[str, Any, str, tuple[Any, ...]]


class NodeSilent(ChainError):
    """The node stopped answering (refused, reset, timed out or answered garbage)."""


@dataclass
class _Sent:
    """An epoch's transactions, accepted by the node, with the labels errors name them by."""

    epoch: int
    labels: list[str]
    hashes: list[str]


class _Link:
    """One kept-alive HTTP connection to the node, with at most one request in flight: ``send`` returns as
    soon as the request is written and ``reply`` waits for its answer, so the node works meanwhile. A new
    connection per request cost about a third of a millisecond, four requests an epoch."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self._url, self._timeout_s = urllib.parse.urlsplit(url), timeout_s
        self._connection: http.client.HTTPConnection | None = None
        self._body: bytes | None = None  # the request in flight

    def send(self, body: bytes) -> None:
        try:
            self._write(body)
        except (BrokenPipeError, ConnectionResetError):  # the node had closed the kept connection: a new one
            self.close()
            self._write(body)
        self._body = body

    def reply(self) -> bytes:
        body, self._body = self._body, None
        assert body is not None, "no request in flight"
        try:
            return self._read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # closed by the node before it read the request (an idle kept connection): sent again, once
            self.close()
            self._write(body)
            return self._read()

    def close(self) -> None:
        self._body = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _write(self, body: bytes) -> None:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self._url.netloc, timeout=self._timeout_s)
        self._connection.request("POST", self._url.path or "/", body, {"Content-Type": "application/json"})

    def _read(self) -> bytes:
        assert self._connection is not None
        response = self._connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise http.client.HTTPException(f"HTTP {response.status} {response.reason}")
        return data


class RpcChain(Web3Chain):
    """A JSON-RPC node: one batch of transactions per epoch, mined and checked while the run goes on."""

    label = "rpc"

    def __init__(self, url: str, timeout_s: float = 30.0, label: str = "rpc") -> None:
        from web3 import HTTPProvider, Web3

        self.url, self.timeout_s, self.label = url, timeout_s, label
        self._nonce: int | None = None  # the operator's next nonce, kept here once the epochs' batches begin
        self._link = _Link(url, timeout_s)    # transactions and mining, in order
        self._checks = _Link(url, timeout_s)  # receipts of mined epochs
        self._mining: _Sent | None = None     # sent; the request to mine them is in flight on _link
        self._checking: _Sent | None = None   # mined; the request for their receipts is in flight on _checks
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        try:
            accounts = w3.eth.accounts
        except Exception as exc:  # connection refused, DNS, HTTP errors: all mean no node here
            raise ChainUnavailable(f"no JSON-RPC node answers at {url} ({type(exc).__name__}: {exc}). Start one "
                                   "(e.g. anvil) or use --chain embedded.") from None
        if not accounts:
            raise ChainUnavailable(f"the node at {url} has no unlocked account to send from: use a development "
                                   "node (anvil, or one started with an unlocked account).")
        super().__init__(w3)

    def _operator(self) -> str:
        """The node's first account, impersonated on anvil: the node then takes its transactions without
        signing them (0.25 ms a transaction, ~0.3 s of the baseline year), and executes and charges gas for
        them just the same. A node without ``anvil_impersonateAccount`` signs them as before."""
        operator = super()._operator()
        self._request(self._link, [("anvil_impersonateAccount", [operator])], None)
        self._replies(self._link, 1, None, strict=False)
        return operator

    def _send(self, epoch: int, calls: list[Call]) -> None:
        self._advance()
        if not calls:
            return
        if self._nonce is None:  # the run's first batch; after it only this run sends from the operator
            self._nonce = int(self._rpc([("eth_getTransactionCount", [self.operator, "pending"])], epoch)[0], 16)
        nonce, self._nonce = self._nonce, self._nonce + len(calls)
        labels = [call[0] for call in calls]
        requests = [("eth_sendTransaction", [{"from": self.operator, "to": contract.address,
                                              "data": "0x" + self._call_data(contract, fn, args).hex(),
                                              "gas": hex(GAS),
                                              "nonce": hex(nonce + i)}])
                    for i, (_, contract, fn, args) in enumerate(calls)]
        hashes = self._rpc(requests, epoch, labels)
        self._request(self._link, [("evm_mine", [])], epoch)
        self._mining = _Sent(epoch, labels, hashes)

    def _advance(self) -> None:
        """One step down the pipeline: check the receipts that came in, and ask for those of the block just
        mined. A node that mines by itself, or has no ``evm_mine``, answers that call with an error: left be
        (its receipts are then waited for)."""
        if self._checking is not None:
            sent, self._checking = self._checking, None
            self._check(sent, self._replies(self._checks, len(sent.hashes), sent.epoch, sent.labels, strict=False))
        if self._mining is not None:
            sent, self._mining = self._mining, None
            self._replies(self._link, 1, sent.epoch, strict=False)
            self._request(self._checks, [("eth_getTransactionReceipt", [h]) for h in sent.hashes], sent.epoch)
            self._checking = sent

    def confirm(self) -> None:
        """Wait until every epoch sent is mined and its receipts checked (ChainError names the first that
        failed)."""
        while self._mining is not None or self._checking is not None:
            self._advance()

    def _check(self, sent: _Sent, receipts: list[Any]) -> None:
        """Every transaction succeeded; those not mined yet (a node mining on its own) are waited for."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            missing = [i for i, r in enumerate(receipts) if r is None]
            if not missing:
                break
            if time.monotonic() > deadline:
                raise ChainError(f"{self.label}: {sent.labels[missing[0]]} not mined in epoch {sent.epoch} after "
                                 f"{self.timeout_s:g} s", sent.epoch)
            time.sleep(0.01)
            found = self._rpc([("eth_getTransactionReceipt", [sent.hashes[i]]) for i in missing], sent.epoch,
                              [sent.labels[i] for i in missing], self._checks)
            for i, r in zip(missing, found, strict=True):
                receipts[i] = r
        for what, receipt in zip(sent.labels, receipts, strict=True):
            if int(receipt["status"], 16) != 1:
                raise ChainError(f"{self.label}: {what} reverted in epoch {sent.epoch}", sent.epoch)
            self.gas_used += int(receipt["gasUsed"], 16)
        self.transactions += len(receipts)

    def _view(self, contract: Any, fn: str, *args: Any) -> Any:
        """An ``eth_call`` over the kept connection (web3's own took ~15 ms a call: half a second of a
        reconciliation), on the state after every epoch sent."""
        self.confirm()
        call = {"to": contract.address, "data": "0x" + self._call_data(contract, fn, args).hex()}
        data = self._rpc([("eth_call", [call, "latest"])], None)[0]
        return self._returned(contract, fn, bytes.fromhex(data.removeprefix("0x")))

    def _mine(self, epoch: int | None) -> None:
        """Mine a deployment's transaction now (anvil started by depinsim does not mine on its own); a node
        that mines by itself or has no ``evm_mine`` is left be."""
        self._request(self._link, [("evm_mine", [])], epoch)
        self._replies(self._link, 1, epoch, strict=False)

    def _rpc(self, calls: list[tuple[str, list[Any]]], epoch: int | None, labels: list[str] | None = None,
             link: _Link | None = None) -> list[Any]:
        """One JSON-RPC batch, answered; results in call order."""
        link = link or self._link
        self._request(link, calls, epoch)
        return self._replies(link, len(calls), epoch, labels or [method for method, _ in calls])

    def _request(self, link: _Link, calls: list[tuple[str, list[Any]]], epoch: int | None) -> None:
        """Write a JSON-RPC batch (orjson, not json: a year's replies are ~50 MB, the settlements' Transfer
        logs in the receipts, 0.29 s to parse with json)."""
        import orjson  # the chain extra's, as web3

        body = orjson.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                             for i, (m, p) in enumerate(calls)])
        try:
            link.send(body)
        except (http.client.HTTPException, OSError) as exc:
            raise self._silent(link, exc, epoch) from None

    def _replies(self, link: _Link, n: int, epoch: int | None, labels: list[str] | None = None,
                 strict: bool = True) -> list[Any]:
        """The answers to the batch in flight on ``link``, in call order; an error answer raises ChainError
        naming the call (``labels``, else the method), or, not ``strict``, gives None."""
        import orjson

        try:
            replies = orjson.loads(link.reply())
            by_id = {r["id"]: r for r in replies}
        except (http.client.HTTPException, OSError, ValueError, TypeError, KeyError) as exc:
            raise self._silent(link, exc, epoch) from None
        out = []
        for i in range(n):
            reply = by_id.get(i, {"error": {"message": "no reply"}})
            if "error" in reply:
                if not strict:
                    out.append(None)
                    continue
                what = labels[i] if labels else "a call"
                raise ChainError(f"{self.label}: {what} failed{in_epoch(epoch)}: {reply['error'].get('message')}",
                                 epoch)
            out.append(reply["result"])
        return out

    def _silent(self, link: _Link, exc: Exception, epoch: int | None) -> NodeSilent:
        link.close()
        return NodeSilent(f"{self.label}: the node at {self.url} stopped answering{in_epoch(epoch)} "
                          f"({type(exc).__name__}: {exc})", epoch)

    def close(self) -> None:
        self._link.close()
        self._checks.close()
