"""Chain hooks: the contracts, their artifacts, and exact reconciliation of runs on the embedded chain and anvil."""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("web3")
pytest.importorskip("vyper")

from eth_abi import encode  # noqa: E402
from eth_tester.exceptions import TransactionFailed  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from typer.testing import CliRunner  # noqa: E402
from web3 import EthereumTesterProvider, Web3  # noqa: E402
from web3.exceptions import ContractLogicError  # noqa: E402

from sim import load_scenario, run  # noqa: E402
from sim.chain import ChainError, ChainUnavailable, open_chain  # noqa: E402
from sim.chain.abi import encode_call, selector  # noqa: E402
from sim.chain.anvil import anvil_node, find_anvil  # noqa: E402
from sim.chain.build import CONTRACTS, CONTRACTS_DIR, build, load  # noqa: E402
from sim.cli import app  # noqa: E402
from sim.folders import json_safe  # noqa: E402
from sim.runner import PartialRun  # noqa: E402

from .helpers import SCENARIOS  # noqa: E402

UINT256_MAX = 2**256 - 1


def _anvil_or_skip() -> None:
    """On CI a missing anvil is a failure (`.ci/run` installs it with npm ci); elsewhere the test skips."""
    if find_anvil() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("anvil is not installed: .ci/run must `npm ci` (package-lock.json pins @foundry-rs/anvil)")
        pytest.skip("anvil is not installed (npm ci)")


# --- artifacts ----------------------------------------------------------------------------------------


def test_rebuilt_artifacts_match_the_committed_ones_byte_for_byte(tmp_path: Path) -> None:
    written = build(out_dir=tmp_path)
    assert [p.name for p in written] == [f"{name}.json" for name in CONTRACTS]
    for path in written:
        assert path.read_bytes() == (CONTRACTS_DIR / "build" / path.name).read_bytes(), path.name
        artifact = json.loads(path.read_text())
        assert artifact["compiler"] == "vyper 0.4.3"
        assert len(artifact["source_sha256"]) == 64


def test_a_stale_artifact_is_refused(tmp_path: Path) -> None:
    for name in CONTRACTS:
        (tmp_path / f"{name}.vy").write_bytes((CONTRACTS_DIR / f"{name}.vy").read_bytes())
    build(tmp_path)
    (tmp_path / "Token.vy").write_bytes((CONTRACTS_DIR / "Token.vy").read_bytes() + b"\n# edited\n")
    with pytest.raises(RuntimeError, match="another version"):
        load("Token", tmp_path)


# --- contract unit tests on the embedded chain --------------------------------------------------------


@pytest.fixture()
def chain() -> tuple[Web3, list[str]]:
    w3 = Web3(EthereumTesterProvider())
    return w3, list(w3.eth.accounts)


def _deploy(w3: Web3, name: str, *args: object, sender: str | None = None):  # type: ignore[no-untyped-def]
    artifact = load(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(*args).transact({"from": sender or w3.eth.accounts[0]})
    address = w3.eth.get_transaction_receipt(tx)["contractAddress"]
    return w3.eth.contract(address=address, abi=artifact["abi"])


def _reverts(call, sender: str, match: str | None) -> None:  # type: ignore[no-untyped-def]
    """The call reverts with this reason, and the same transaction, mined, fails (status 0)."""
    with pytest.raises((ContractLogicError, TransactionFailed), match=match):
        call.call({"from": sender})
    tx = call.transact({"from": sender, "gas": 5_000_000})  # explicit gas: no estimate, so it is mined
    assert call.w3.eth.get_transaction_receipt(tx)["status"] == 0


def test_token_mint_transfer_burn_and_roles(chain: tuple[Web3, list[str]]) -> None:
    w3, (owner, alice, bob, *_) = chain
    token = _deploy(w3, "Token", "Test", "TST", 18, 1_000)
    _reverts(token.functions.mint_many([alice], [10]), owner, "minter only")
    _reverts(token.functions.set_role(alice, "minter", True), alice, "owner only")
    token.functions.set_role(owner, "minter", True).transact({"from": owner})
    token.functions.mint_many([alice, bob], [600, 300]).transact({"from": owner})
    assert token.functions.balances_of([alice, bob]).call() == [600, 300]
    _reverts(token.functions.mint_many([alice], [101]), owner, "max supply")  # 900 + 101 > 1,000
    _reverts(token.functions.mint_many([alice, bob], [1]), owner, "length mismatch")
    token.functions.transfer(bob, 100).transact({"from": alice})
    _reverts(token.functions.transfer(bob, 501), alice, None)  # more than the balance
    token.functions.burn(50).transact({"from": bob})
    assert token.functions.totalSupply().call() == 850
    assert token.functions.burned().call() == 50
    _reverts(token.functions.mint_many([alice], [101]), owner, "max supply")  # burned tokens count
    _reverts(token.functions.burn_many([alice], [1]), owner, "burner only")
    _reverts(token.functions.move_many([alice], [bob], [1]), owner, "custodian only")
    token.functions.set_role(owner, "custodian", True).transact({"from": owner})
    token.functions.move_many([alice, bob], [bob, alice], [500, 350]).transact({"from": owner})
    assert token.functions.balances_of([alice, bob]).call() == [350, 500]


def test_token_amount_overflow_reverts(chain: tuple[Web3, list[str]]) -> None:
    w3, (owner, alice, bob, *_) = chain
    token = _deploy(w3, "Token", "Uncapped", "UNC", 6, 0)  # max supply 0: no cap, only uint256
    token.functions.set_role(owner, "minter", True).transact({"from": owner})
    token.functions.mint_many([alice], [UINT256_MAX]).transact({"from": owner})
    _reverts(token.functions.mint_many([bob], [1]), owner, None)  # the supply would overflow
    assert token.functions.totalSupply().call() == UINT256_MAX
    assert token.functions.balanceOf(bob).call() == 0


def _market(w3: Web3, owner: str, fee_ppm: int, burn_ppm: int, fee_to_treasury: bool):  # type: ignore[no-untyped-def]
    usd = _deploy(w3, "Token", "USD", "USD", 6, 0)
    tok = _deploy(w3, "Token", "Network", "NET", 18, 0)
    treasury = w3.eth.accounts[9]
    market = _deploy(w3, "Marketplace", usd.address, tok.address, treasury, fee_ppm, burn_ppm, fee_to_treasury)
    for t in (usd, tok):
        t.functions.set_role(owner, "minter", True).transact({"from": owner})
        t.functions.set_role(market.address, "burner", True).transact({"from": owner})
    return usd, tok, market, treasury


def test_marketplace_settlement_fee_and_order(chain: tuple[Web3, list[str]]) -> None:
    w3, (owner, p1, p2, outsider, *_) = chain
    usd, _, market, treasury = _market(w3, owner, 100_000, 50_000, True)  # 10% fee, 5% burn share
    usd.functions.mint_many([market.address], [3_000]).transact({"from": owner})
    market.functions.settle(0, [p1, p2], [1_000, 2_000], True).transact({"from": owner})
    assert usd.functions.balances_of([p1, p2, treasury]).call() == [850, 1_700, 300]
    assert usd.functions.balanceOf(market.address).call() == 150  # the burn share waits for the burn
    _reverts(market.functions.settle(0, [p1], [1], True), owner, "in order, once")
    _reverts(market.functions.settle(1, [p1], [1], True), outsider, "operator only")
    _reverts(market.functions.settle(1, [p1], [10_000], True), owner, None)  # more than the escrow holds
    _reverts(market.functions.settle(1, [p1, p2], [1], True), owner, "length mismatch")


def test_marketplace_lease_refund_and_slash(chain: tuple[Web3, list[str]]) -> None:
    w3, (owner, provider, buyer, *_) = chain
    usd, tok, market, treasury = _market(w3, owner, 200_000, 0, True)  # Akash-like 20% take rate
    usd.functions.mint_many([buyer], [1_000]).transact({"from": owner})
    usd.functions.approve(market.address, 1_000).transact({"from": buyer})
    market.functions.open_lease(7, provider, 1_000).transact({"from": buyer})
    _reverts(market.functions.open_lease(7, provider, 1), buyer, "lease id used")
    tok.functions.mint_many([market.address], [500]).transact({"from": owner})
    _reverts(market.functions.credit_stakes([provider], [501]), owner, "not received")
    market.functions.credit_stakes([provider], [500]).transact({"from": owner})
    _reverts(market.functions.close_lease(7, 1_000_001, 0), owner, "at most")
    market.functions.close_lease(7, 400_000, 100_000).transact({"from": owner})  # failed at 40%; 10% slash
    assert usd.functions.balances_of([provider, buyer, treasury]).call() == [320, 600, 80]
    assert market.functions.stakes_of([provider]).call() == [450]
    assert tok.functions.burned().call() == 50
    _reverts(market.functions.close_lease(7, 1, 0), owner, "no open lease")


def test_distributor_pays_in_order_within_the_schedule(chain: tuple[Web3, list[str]]) -> None:
    w3, (owner, a, b, outsider, *_) = chain
    tok = _deploy(w3, "Token", "Network", "NET", 18, 10**6)
    dist = _deploy(w3, "Distributor", tok.address)
    _reverts(dist.functions.distribute(0, [a], [1], 10, True), owner, None)  # not yet a minter
    tok.functions.set_role(dist.address, "minter", True).transact({"from": owner})
    dist.functions.distribute(0, [a, b], [60, 40], 100, True).transact({"from": owner})
    assert tok.functions.balances_of([a, b]).call() == [60, 40]
    _reverts(dist.functions.distribute(0, [a], [1], 200, True), owner, "in order, once")
    _reverts(dist.functions.distribute(1, [a], [101], 200, True), owner, "above the emission schedule")
    _reverts(dist.functions.distribute(1, [a], [1], 200, True), outsider, "operator only")


# --- reconciliation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,name,days", [("embedded", "tiny", 30), ("embedded", "render_bme", 10),
                                            ("embedded", "akash_style", 10), ("embedded", "filecoin_style", 6),
                                            ("py-evm", "tiny", 8), ("py-evm", "render_bme", 5)])
def test_embedded_chain_reconciles_exactly(kind: str, name: str, days: int) -> None:
    """On revm (embedded) and on py-evm (the cross-check): every balance equal to the ledger's."""
    sc = load_scenario(SCENARIOS / f"{name}.yaml", [f"horizon_days={days}"])
    off = run(sc)
    on = run(sc, chain=open_chain(kind))
    report = on.summary.pop("chain")
    assert report["exact"] is True and report["chain"] == kind
    assert report["values_compared"] > 2 * len(on.providers)  # every provider's balances and stake, and more
    assert report["transactions"] >= days  # at least one settlement call an epoch
    same = json.dumps(json_safe(on.summary), sort_keys=True) == json.dumps(json_safe(off.summary), sort_keys=True)
    assert same  # the chain observes; it never changes the run


def test_revm_and_py_evm_end_with_the_same_balances() -> None:
    """Two EVM implementations, the same calls: the same state (read back through the same view calls)."""
    sc = load_scenario(SCENARIOS / "render_bme.yaml", ["horizon_days=4"])
    chains = [open_chain("embedded"), open_chain("py-evm")]
    reports = [run(sc, chain=chain).summary["chain"] for chain in chains]
    assert reports[0]["transactions"] == reports[1]["transactions"]
    assert reports[1]["gas_kind"] == "receipt gas" and reports[0]["gas_kind"].startswith("revm execution gas")
    for contract in ("usd", "token"):
        holders = [chains[0].providers[p] for p in range(len(chains[0].providers))]
        balances = [chain._view(getattr(chain, contract), "balances_of", holders[:200]) for chain in chains]
        assert list(balances[0]) == list(balances[1])


def test_a_revert_on_the_embedded_chain_names_the_call_the_epoch_and_the_reason() -> None:
    sc = load_scenario(SCENARIOS / "tiny.yaml", ["horizon_days=3"])
    chain = open_chain("embedded")
    run(sc, chain=chain)  # settles epochs 0 to 2
    chain.settle(1, np.array([0]), [1])  # epoch 1 again
    with pytest.raises(ChainError, match=r"embedded: Marketplace.settle \(1 providers\) reverted in epoch 1: "
                                         "epochs settle in order, once"):
        chain.end_epoch(1)
    chain.burn("USD", [("name", "treasury")], [10**15])  # far more than the treasury holds: Vyper's checked maths
    with pytest.raises(ChainError, match=r"USD.burn_many reverted in epoch 7: no reason given"):
        chain.end_epoch(7)


# --- sampled per-job escrow ---------------------------------------------------------------------------


def _record_lease_closes(chain: object) -> list[int]:
    """The done shares (ppm) of the leases the run closes on ``chain``, in order."""
    shares: list[int] = []
    close = chain.close_lease  # type: ignore[attr-defined]

    def recorded(epoch: int, lease: int, job: int, done_ppm: int) -> None:
        shares.append(done_ppm)
        close(epoch, lease, job, done_ppm)

    chain.close_lease = recorded  # type: ignore[attr-defined]
    return shares


@pytest.mark.parametrize("kind,days", [("embedded", 20), ("py-evm", 3), ("anvil", 8)])
def test_sampled_escrow_leases_reconcile_exactly(kind: str, days: int) -> None:
    """akash_style (reverse-auction leases) with 30% of jobs on leases of their own, each opened and closed
    through the Marketplace contract with the fee and burn rounded per lease: every balance equal to the
    ledger's, leases cut short by failures or the horizon included, and the same results as off-chain."""
    if kind == "anvil":
        _anvil_or_skip()
    sc = load_scenario(SCENARIOS / "akash_style.yaml", [f"horizon_days={days}", "chain.escrow_sample_share=0.3"])
    off = run(sc)
    with anvil_node() if kind == "anvil" else nullcontext((kind, None)) as (where, _):
        chain = open_chain(where)
        shares = _record_lease_closes(chain)
        on = run(sc, chain=chain)
        chain.close()
    report = on.summary.pop("chain")
    assert report["exact"] is True
    assert json.dumps(json_safe(on.summary), sort_keys=True) == json.dumps(json_safe(off.summary), sort_keys=True)
    assert len(shares) > 50 and 10**6 in shares  # leases run in full ...
    assert any(0 < s < 10**6 for s in shares)     # ... and cut short, paid pro rata


def test_a_lease_revert_names_the_job() -> None:
    sc = load_scenario(SCENARIOS / "akash_style.yaml", ["horizon_days=3", "chain.escrow_sample_share=0.3"])
    chain = open_chain("embedded")
    run(sc, chain=chain)  # every lease has closed by the horizon
    chain.close_lease(2, 0, 4321, 10**6)
    with pytest.raises(ChainError, match=r"Marketplace.close_lease \(job 4321, lease 0\) reverted in epoch 2: "
                                         "no open lease"):
        chain.end_epoch(2)


SIGNATURES = sorted({(e["name"], tuple(i["type"] for i in e["inputs"])) for name in CONTRACTS
                     for e in load(name)["abi"] if e.get("type") == "function"})
ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
ABI_VALUES = {"uint256": st.integers(0, 2**256 - 1), "uint8": st.integers(0, 255), "bool": st.booleans(),
              "address": ADDRESS, "string": st.text(max_size=40), "address[]": st.lists(ADDRESS, max_size=5),
              "uint256[]": st.lists(st.integers(0, 2**256 - 1), max_size=5)}


@pytest.mark.parametrize("fn,types", SIGNATURES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_abi_encoder_is_eth_abis_byte_for_byte(fn: str, types: tuple[str, ...], data: st.DataObject) -> None:
    """``sim.chain.abi`` against eth_abi for every function of every contract, on random values (the
    settlement's calls go through it, not through eth_abi)."""
    args = [data.draw(ABI_VALUES[t]) for t in types]
    assert encode_call(types, args) == encode(list(types), args)
    assert selector(fn, types) == Web3.keccak(text=f"{fn}({','.join(types)})")[:4]


def test_the_abi_encoder_refuses_what_it_does_not_encode() -> None:
    with pytest.raises(ValueError, match="not one the contracts use"):
        encode_call(["bytes32"], [b"x" * 32])
    with pytest.raises(ValueError, match="integer"):
        encode_call(["uint8"], [256])


def test_unreachable_url_is_bad_input() -> None:
    with pytest.raises(ChainUnavailable, match="no JSON-RPC node answers"):
        open_chain("http://127.0.0.1:9")
    result = CliRunner().invoke(app, ["run", str(SCENARIOS / "tiny.yaml"), "--chain", "http://127.0.0.1:9",
                                      "--out", "unused"])
    assert result.exit_code == 2
    assert "no JSON-RPC node answers at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_anvil_run_reconciles_exactly() -> None:
    _anvil_or_skip()
    sc = load_scenario(SCENARIOS / "render_bme.yaml", ["horizon_days=10"])
    with anvil_node() as (url, _):
        chain = open_chain(url)
        result = run(sc, chain=chain)
        chain.close()  # the kept-alive connection (the CLI closes it on its way out)
    report = result.summary["chain"]
    assert report["exact"] is True and report["chain"] == "rpc"
    assert report["transactions"] >= 10


def test_cli_anvil_writes_the_reconciliation_into_the_summary(tmp_path: Path) -> None:
    _anvil_or_skip()
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(SCENARIOS / "tiny.yaml"), "--chain", "anvil", "--out", str(out),
                                      "--quiet"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chain"]["exact"] is True and summary["chain"]["values_compared"] > 0
    assert summary["chain"]["chain"] == "anvil"
    assert "partial" not in summary
    assert "reconciliation exact" not in result.stdout  # --quiet


class _KillAt:
    """The RPC chain, with the node killed just before the given epoch is sent, once every epoch before it
    is confirmed (a node dying between epochs), or, ``in_flight``, just after, while it is being mined."""

    def __init__(self, inner, proc, epoch: int, in_flight: bool = False) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.proc, self.epoch, self.in_flight = inner, proc, epoch, in_flight

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def end_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            self.inner.confirm()
            if not self.in_flight:
                self._kill()
        self.inner.end_epoch(epoch)
        if epoch == self.epoch and self.in_flight:
            self._kill()

    def _kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_killing_anvil_mid_run_stops_with_the_epoch_and_a_partial_result(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _anvil_or_skip()
    import sim.cli

    started: list = []

    def open_killed(spec: str, stack):  # type: ignore[no-untyped-def]
        url, proc = stack.enter_context(anvil_node())
        started.append(proc)
        return _KillAt(open_chain(url), proc, epoch=12)

    monkeypatch.setattr(sim.cli, "_open_chain", open_killed)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(SCENARIOS / "tiny.yaml"), "--chain", "anvil", "--out", str(out),
                                      "--quiet"])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "the chain failed in epoch 12" in message and "stopped answering in epoch 12" in message
    assert "marked partial" in message and "Traceback" not in message
    summary = json.loads((out / "summary.json").read_text())
    partial = summary["partial"]
    assert partial["failed_epoch"] == 12 and partial["epochs_completed"] == 13
    assert partial["until_hours"] == 13 * 24.0
    assert "chain" not in summary
    assert int(summary["conservation"]["tokens"]["supply_base_units"]) > 0  # the ledgers were checked
    epochs = pd.read_parquet(out / "epochs.parquet")
    jobs = pd.read_parquet(out / "jobs.parquet")
    assert epochs["epoch"].max() == 12
    assert (jobs["submit_hours"] <= 13 * 24.0).all() and len(jobs) > 0
    assert started[0].poll() is not None  # the node is gone (and the CLI's clean-up did not choke on it)


def test_partial_result_in_the_library(tmp_path: Path) -> None:
    _anvil_or_skip()
    sc = load_scenario(SCENARIOS / "tiny.yaml")
    full = run(sc)
    with anvil_node() as (url, proc), pytest.raises(PartialRun) as caught:
        run(sc, chain=_KillAt(open_chain(url), proc, epoch=5))
    partial = caught.value.result
    assert caught.value.epoch == 5
    assert partial.summary["partial"]["epochs_completed"] == 6
    # the epochs simulated before the failure are the full run's epochs, number for number
    first = full.epochs[full.epochs["epoch"] <= 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(partial.epochs, first)


def test_a_node_dying_while_it_mines_an_epoch_names_that_epoch() -> None:
    """The node mines epoch 5 while the engine simulates epoch 6: its failure is epoch 5's, found at the end
    of epoch 6 (the off-chain results then hold epochs 0 to 6)."""
    _anvil_or_skip()
    sc = load_scenario(SCENARIOS / "tiny.yaml")
    with anvil_node() as (url, proc), pytest.raises(PartialRun) as caught:
        run(sc, chain=_KillAt(open_chain(url, label="anvil"), proc, epoch=5, in_flight=True))
    assert caught.value.epoch == 5 and "stopped answering in epoch 5" in str(caught.value)
    assert caught.value.result.summary["partial"]["epochs_completed"] == 7


class _RevertAt:
    """The RPC chain, with a call that reverts (a burn far above the treasury's balance) added to an epoch."""

    def __init__(self, inner, epoch: int) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.epoch = inner, epoch

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def end_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            self.inner.burn("USD", [("name", "treasury")], [10**15])
        self.inner.end_epoch(epoch)


def test_a_revert_on_a_node_names_the_call_and_its_epoch() -> None:
    """Receipts are checked two epochs after their epoch is sent, and still name it; the last epoch waits
    for every receipt, so a revert there fails the run too."""
    _anvil_or_skip()
    sc = load_scenario(SCENARIOS / "tiny.yaml")
    last = int(sc.horizon_days) - 1
    for epoch, completed in ((4, 7), (last, last + 1)):
        with anvil_node() as (url, _), pytest.raises(PartialRun) as caught:
            run(sc, chain=_RevertAt(open_chain(url, label="anvil"), epoch))
        assert caught.value.epoch == epoch
        assert f"anvil: USD.burn_many reverted in epoch {epoch}" in str(caught.value)
        assert caught.value.result.summary["partial"]["epochs_completed"] == completed
