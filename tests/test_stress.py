"""The stress battery: each shock is an overlay whose own run gives its scorecard row, on common random numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import InputError, load_scenario, run
from sim.cli import app
from sim.stress import not_run, scorecard_row, stress
from sim.units import HOURS_PER_MONTH

from .helpers import SCENARIOS

TINY = SCENARIOS / "tiny.yaml"
SHORT = ["horizon_days=12", "providers.h100.exit_after_negative_epochs=3"]  # nodes that can leave: the whole battery
MONTH = 0.2  # 146 hours: epoch 6 of 12


@pytest.fixture(scope="module")
def battery():  # type: ignore[no-untyped-def]
    return stress(load_scenario(TINY, SHORT), MONTH, progress=False)


def test_scorecard_rows_equal_the_overlays_own_runs(battery) -> None:  # type: ignore[no-untyped-def]
    base = run(load_scenario(TINY, SHORT))
    card = battery.scorecard.set_index("shock")
    assert set(card.index) == {"none", *battery.shocks, *not_run(battery.scenario)}
    assert "competing_network_2x_yield" in battery.shocks
    base_end = base.summary["providers"]["end"]
    for name, shock in battery.shocks.items():
        overlay = battery.overlays()[name].removeprefix("--set '").removesuffix("'")
        own = run(load_scenario(TINY, [*SHORT, overlay]))
        assert len(own.scenario.shocks) == 1 and own.scenario.shocks[0].kind == shock["kind"]
        expected = scorecard_row(own.epochs, base.epochs, own.summary["providers"]["end"], base_end, MONTH,
                                 battery.gpu_class)
        got = card.loc[name, list(expected)].to_dict()
        for key, value in expected.items():
            assert (value is None and pd.isna(got[key])) or got[key] == pytest.approx(value), (name, key)
        # common random numbers: before the shock the run is the unshocked run
        before = own.epochs["t_end_hours"] <= MONTH * HOURS_PER_MONTH
        pd.testing.assert_frame_equal(own.epochs[before], base.epochs[before])


def test_every_modelled_shock_moves_the_run(battery) -> None:  # type: ignore[no-untyped-def]
    e = battery.epochs
    after = e[e["t_start_hours"] >= MONTH * HOURS_PER_MONTH]
    columns = {"token_crash_80pct": "token_price_usd", "emission_halved": "minted_tokens",
               "alternative_cut_45pct": "cheapest_alternative_usd_per_gpu_hour",
               "demand_halved": "gpu_hours_sold", "new_gpu_generation": "cheapest_alternative_usd_per_gpu_hour"}
    base = after[after["shock"] == "none"]
    for name, column in columns.items():
        shocked = after[after["shock"] == name]
        assert shocked[column].sum() < base[column].sum(), name
    # the shocks' sizes, exactly where the model takes them as given
    crash = after[after["shock"] == "token_crash_80pct"]["token_price_usd"].to_numpy()
    unshocked = base["token_price_usd"].to_numpy()
    late = after[after["shock"] == "none"]["t_start_hours"].to_numpy() >= (MONTH + 1) * HOURS_PER_MONTH
    assert crash[late] == pytest.approx(0.2 * unshocked[late])


def test_shock_errors_are_input_errors() -> None:
    with pytest.raises(InputError, match="alternative 'nope'"):
        load_scenario(TINY, ["shocks=[{kind: alternative_price_cut, month: 0.1, alternative: nope, cut: 0.4}]"])
    amm = ["tokenomics.token_price={kind: amm, initial_usd: 0.25, pool_usd: 100000}"]
    with pytest.raises(InputError, match="exogenous price"):
        load_scenario(TINY, [*amm, "shocks=[{kind: token_price_drop, month: 0.1, drop: 0.8}]"])
    with pytest.raises(InputError, match="after the horizon"):
        load_scenario(TINY, ["shocks=[{kind: demand_drop, month: 5, drop: 0.5}]"])


def test_cli_stress_writes_the_folder_and_the_memo_shows_it(battery, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "stress"
    result = CliRunner().invoke(app, ["stress", str(TINY), "--out", str(out), "--month", str(MONTH),
                                      *[a for o in SHORT for a in ("--set", o)]])
    assert result.exit_code == 0, result.output
    card = pd.read_csv(out / "scorecard.csv").fillna({"overlay": ""})  # CSV reads the empty overlay as NaN
    pd.testing.assert_frame_equal(card, battery.scorecard, check_dtype=False)
    assert (out / "stress.png").stat().st_size > 10_000
    memo = CliRunner().invoke(app, ["memo", str(out), "--out", str(tmp_path / "memo")])
    assert memo.exit_code == 0, memo.output
    text = (tmp_path / "memo" / "memo.md").read_text()
    assert "## Stress battery: tiny" in text and "demand halved" in text and "not run" in text
    summary = json.loads((out / "scorecard.json").read_text())
    assert summary["month"] == MONTH and summary["gpu_class"] == battery.gpu_class
    bad = CliRunner().invoke(app, ["stress", str(TINY), "--out", str(tmp_path / "x"), "--month", "99"])
    assert bad.exit_code == 2 and "within the horizon" in bad.output


def test_a_token_unlock_sold_into_the_pool_moves_an_amm_price() -> None:
    amm = [*SHORT, "tokenomics.token_price={kind: amm, initial_usd: 0.25, pool_usd: 100000}"]
    base = run(load_scenario(TINY, amm))
    unlock = run(load_scenario(TINY, [*amm, f"shocks=[{{kind: token_unlock, month: {MONTH}, tokens: 200000}}]"]))
    price = {name: r.epochs.drop_duplicates("epoch").set_index("epoch")["token_price_usd"]
             for name, r in (("base", base), ("unlock", unlock))}
    at = int(MONTH * HOURS_PER_MONTH // 24) + 1  # the unlock is sold as its epoch closes: the next one trades lower
    assert price["unlock"].iloc[:at].tolist() == price["base"].iloc[:at].tolist()
    assert price["unlock"].iloc[at] < 0.8 * price["base"].iloc[at]  # 200k tokens into a 400k-token pool
    with pytest.raises(InputError, match="kind amm"):
        load_scenario(TINY, [*SHORT, "shocks=[{kind: token_unlock, month: 0.1, tokens: 10}]"])


def test_price_rebound_is_priced_at_the_unshocked_runs_volumes() -> None:
    """Two epochs after the shock at $1 and $2 per GPU-hour in both runs; the shock sells 100 then 1 GPU-hours
    where the unshocked run sold 100 and 100. Same prices: no rebound, where each run's own volumes would
    read a 33% fall ($1.01 against $1.50)."""
    def epochs(sold: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"epoch": [0, 1], "gpu_class": "H100_SXM", "t_start_hours": [0.0, 24.0],
                             "t_end_hours": [24.0, 48.0], "gpu_hours_sold": sold,
                             "network_price_usd_per_gpu_hour": [1.0, 2.0], "undercut_ratio_vs_cheapest": [0.4, 0.8],
                             "reward_usd": 0.0, "usd_revenue": [s * p for s, p in zip(sold, [1.0, 2.0], strict=True)]})

    row = scorecard_row(epochs([100.0, 1.0]), epochs([100.0, 100.0]), 5, 5, 0.0, "H100_SXM")
    assert row["price_rebound"] == pytest.approx(0.0)
    assert row["ratio_after"] == pytest.approx((0.4 * 100 + 0.8) / 101)  # the shocked run's buyers' own ratio
