"""The integer ledger: exact flows, provider units, and the checks that catch a broken flow."""

from __future__ import annotations

import numpy as np
import pytest

from sim import ConservationError
from sim.ledger import USD, Ledger


def test_flows_balance_exactly() -> None:
    ledger = Ledger(n_providers=3)
    ledger.open_asset(USD)
    ledger.mint(USD, "buyers", 1_000)
    ledger.pay_providers(USD, "buyers", np.array([0, 2]), np.array([600, 380]))
    ledger.transfer(USD, "buyers", "treasury", 20)
    ledger.check(USD)
    assert ledger.provider_balances(USD).tolist() == [600, 0, 380]
    assert ledger.balance(USD, "buyers") == 0 and ledger.supply(USD) == 1_000


def test_provider_unit_keeps_18_decimal_tokens_exact() -> None:
    ledger = Ledger(n_providers=2)
    nano = 10**9
    ledger.open_asset("GPU", provider_unit=nano, max_supply=10**9 * 10**18)
    ledger.mint_to_providers("GPU", np.array([0, 1]), np.array([3 * 10**18, 5]))  # 3e9 and 5e-9 tokens
    ledger.mint("GPU", "treasury", 7)  # sub-unit dust
    ledger.check("GPU")
    assert ledger.supply("GPU") == 3 * 10**27 + 5 * nano + 7
    assert ledger.provider_balances("GPU").tolist() == [3 * 10**27, 5 * nano]


def test_supply_too_large_for_int64_falls_back_to_python_integers() -> None:
    ledger = Ledger(n_providers=2)
    ledger.open_asset("MEME", provider_unit=1, max_supply=10**40)
    ledger.mint_to_providers("MEME", np.array([1]), np.array([10**30], dtype=object))
    ledger.check("MEME")
    assert ledger.provider_balances("MEME").tolist() == [0, 10**30]


@pytest.mark.parametrize("bad", ["overdraw", "negative", "unsorted", "unknown provider", "float"])
def test_bad_flows_raise(bad: str) -> None:
    ledger = Ledger(n_providers=2)
    ledger.open_asset(USD)
    ledger.mint(USD, "buyers", 10)
    with pytest.raises(ConservationError):
        if bad == "overdraw":
            ledger.transfer(USD, "buyers", "treasury", 11)
        elif bad == "negative":
            ledger.pay_providers(USD, "buyers", np.array([0]), np.array([-1]))
        elif bad == "unsorted":
            ledger.pay_providers(USD, "buyers", np.array([1, 0]), np.array([1, 1]))
        elif bad == "unknown provider":
            ledger.pay_providers(USD, "buyers", np.array([5]), np.array([1]))
        else:
            ledger.mint(USD, "buyers", 1.5)  # type: ignore[arg-type]


def test_check_catches_a_tampered_balance() -> None:
    ledger = Ledger(n_providers=2)
    ledger.open_asset(USD)
    ledger.mint(USD, "buyers", 10)
    ledger.pay_providers(USD, "buyers", np.array([0]), np.array([10]))
    ledger._providers[USD][1] += 1
    with pytest.raises(ConservationError, match="balances sum to 11"):
        ledger.check(USD)
