"""Centralised alternatives: sourced catalogs of several venues, buyers taking the cheapest, per-alternative
undercut ratios, and prices that move along a path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from sim import run
from sim.catalog import CLOUD_FILES, cloud_catalog, gpu_catalog
from sim.cli import app
from sim.errors import InputError
from sim.loader import parse_scenario
from sim.units import HOURS_PER_MONTH

from .helpers import ROOT, SCENARIOS

TINY = (SCENARIOS / "tiny.yaml").read_text()
DATA = ROOT / "sim" / "data"


def _figures(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every mapping with a ``value`` in a data file, wherever it sits."""
    if isinstance(node, dict):
        if "value" in node:
            return [(where, node)]
        return [f for key, child in node.items() for f in _figures(child, f"{where}.{key}")]
    if isinstance(node, list):
        return [f for i, child in enumerate(node) for f in _figures(child, f"{where}.{i}")]
    return []


@pytest.mark.parametrize("name", [*CLOUD_FILES, "gpus.yaml", "regions.yaml", "storage.yaml"])
def test_every_catalog_figure_has_value_unit_source_date_and_grade(name: str) -> None:
    figures = _figures(YAML(typ="safe").load((DATA / name).read_text()))
    assert len(figures) >= 4  # the walk found the file's records
    for where, fig in figures:
        assert isinstance(fig["value"], (int, float)), where
        for key in ("unit", "source", "as_of", "grade"):
            assert str(fig.get(key) or "").strip(), f"{name}{where}: no {key}"
        assert (fig["grade"] == "assumption") == fig["source"].lower().startswith("assumption"), where


def test_post_cut_prices_are_not_the_pre_cut_list_prices_unless_sourced() -> None:
    sets = cloud_catalog().price_sets
    pre, post = sets["aws_2025_pre_cut"], sets["aws_2025_post_cut"]
    for offer in ("p5.48xlarge", "p5en.48xlarge", "p4d.24xlarge", "p4de.24xlarge"):
        figure = post.offers[offer].on_demand
        assert figure is not None
        same = post.price(offer, "on_demand") == pre.price(offer, "on_demand")
        assert not same or "pre-cut list price" in figure.source, offer
        assert post.price(offer, "on_demand") < pre.price(offer, "on_demand"), offer
    assert post.price("p5en.48xlarge", "on_demand") == pytest.approx(7.912)  # 63.296 / 8, dstack PR 4110 [P]
    assert post.offers["p5en.48xlarge"].on_demand.grade == "primary"
    assert post.offers["p4d.24xlarge"].on_demand.grade == "assumption"  # no published p4d cut: marked


def test_catalogs_have_the_venues_and_gpus_the_issue_names() -> None:
    venues = cloud_catalog().venues
    assert {"aws", "gcp", "azure", "coreweave", "lambda", "nebius", "crusoe", "vast", "runpod"} <= set(venues)
    assert "p6-b200.48xlarge" in venues["aws"].unpriced  # exists, price not found: said so, not guessed
    assert {o.gpu_model for o in venues["aws"].price_sets["aws_2025_post_cut"].offers.values()} >= {"L40S", "H200"}
    models = gpu_catalog().models
    for gpu in ("B200", "MI300X", "RTX_5090"):
        assert models[gpu].tdp_watts.value > 0 and models[gpu].purchase_usd.value > 0


def _two_alternatives() -> Any:
    return parse_scenario(TINY, "tiny.yaml", ["cloud.alternatives=[{venue: aws}, {venue: lambda}]"])


def test_buyers_take_the_cheaper_alternative_and_the_summary_ratios_are_hand_computable() -> None:
    result = run(_two_alternatives())
    cloud = result.jobs[result.jobs["venue"] == "cloud"]
    assert len(cloud) > 20
    # Lambda's 8x H100 at $23.92/instance-hour ($2.99/GPU-h) is below AWS p5 at $55.04 ($6.88) for every job
    assert set(cloud["alternative"].astype(str)) == {"lambda_on_demand"}
    assert np.allclose(cloud["price_usd_per_gpu_hour"], 23.92 / 8)
    aws_only = run(parse_scenario(TINY, "tiny.yaml"))
    assert (aws_only.jobs["venue"] == "cloud").sum() < len(cloud)  # cheaper outside option: more buyers leave

    e, summary = result.epochs, result.summary["by_class"]
    expected_usd = {"H100_SXM": ("lambda_on_demand", 23.92 / 8, "gpu_8x_h100_sxm5"),
                    "RTX_4090": ("lambda_on_demand", 23.92 / 8 * 0.2 / 1.0, "gpu_8x_h100_sxm5 (work-equivalent)"),
                    "H100_SXM ": ("aws_on_demand", 55.04 / 8, "p5.48xlarge")}
    for cls, (alt, usd, label) in expected_usd.items():
        rows = e[e["gpu_class"] == cls.strip()]
        sold, price = rows["gpu_hours_sold"].to_numpy(), rows["network_price_usd_per_gpu_hour"].to_numpy()
        ok = sold > 0
        by_hand = float((price[ok] / usd * sold[ok]).sum() / sold[ok].sum())
        got = summary[cls.strip()]["alternatives"][alt]
        assert got["reference_offer"] == label
        assert got["usd_per_gpu_hour_start"] == pytest.approx(usd)
        assert got["undercut_ratio"] == pytest.approx(by_hand, rel=1e-12)
    # the cheapest of the two, per class: Lambda for H100
    assert summary["H100_SXM"]["cheapest_alternative"]["at_start"] == "lambda_on_demand"
    assert summary["H100_SXM"]["cheapest_alternative"]["undercut_ratio"] == pytest.approx(
        summary["H100_SXM"]["alternatives"]["lambda_on_demand"]["undercut_ratio"])


def test_a_scheduled_cut_in_month_6_steps_the_ratio_and_moves_buyers() -> None:
    sc = parse_scenario(TINY, "tiny.yaml", [
        "horizon_days=270",
        "cloud.alternatives=[{venue: aws, path: {kind: steps, steps: [{month: 6, multiplier: 0.55}]}}]"])
    result = run(sc)
    e = result.epochs[result.epochs["gpu_class"] == "H100_SXM"]
    month = e["t_start_hours"].to_numpy() / HOURS_PER_MONTH
    aws = e["alt_aws_on_demand_usd_per_gpu_hour"].to_numpy()
    assert np.all(aws[month < 6] == 6.88) and np.allclose(aws[month >= 6], 6.88 * 0.55)
    assert np.array_equal(aws, e["aws_on_demand_usd_per_gpu_hour"].to_numpy())  # the AWS columns follow the path
    ratio = e["undercut_ratio_vs_aws_on_demand"].to_numpy()
    before, after = ratio[(month >= 5) & (month < 6)].mean(), ratio[(month >= 6) & (month < 7)].mean()
    assert after > 1.15 * before, (before, after)

    jobs = result.jobs
    submitted = jobs["submit_hours"].to_numpy() / HOURS_PER_MONTH
    to_cloud = jobs["venue"].to_numpy() == "cloud"
    went_before = to_cloud[(submitted >= 4) & (submitted < 6)].sum()
    went_after = to_cloud[(submitted >= 6) & (submitted < 8)].sum()
    assert went_after > 2 * went_before, (went_before, went_after)  # buyers priced out of AWS before now go
    abandoned = jobs["state"].to_numpy() == "abandoned"
    assert abandoned[(submitted >= 6) & (submitted < 8)].sum() < abandoned[(submitted >= 4) & (submitted < 6)].sum()
    # a buyer pays the price the offer had when it arrived: p5 ($6.88) or g6e ($1.861), cut from month 6
    catalog = np.array([55.04 / 8, 1.861])
    for when, factor in (((submitted < 6) & (submitted > 0.1), 1.0), (submitted >= 6.05, 0.55)):
        paid = jobs.loc[to_cloud & when, "price_usd_per_gpu_hour"].to_numpy()
        assert paid.size and np.isclose(paid[:, None], catalog * factor).any(axis=1).all()


def test_a_decline_and_a_csv_series(tmp_path: Path) -> None:
    (tmp_path / "h100.csv").write_text("month,usd_per_gpu_hour\n2026-01,3.00\n2026-02,2.50\n2026-03,2.00\n")
    sc = parse_scenario(TINY, "tiny.yaml", [
        "horizon_days=90", "cloud.alternatives=[{venue: lambda, path: {kind: csv, file: h100.csv, "
        "offer: gpu_8x_h100_sxm5}}, {venue: aws, path: {kind: decline, rate_per_year: 0.5}}]"], base_dir=tmp_path)
    assert sc.cloud.alternatives[0].path.points == ((0.0, 3.0), (1.0, 2.5), (2.0, 2.0))
    e = run(sc).epochs
    h = e[e["gpu_class"] == "H100_SXM"]
    months = (h["t_start_hours"] / HOURS_PER_MONTH).astype(int).clip(upper=2).to_numpy()
    assert np.allclose(h["alt_lambda_on_demand_usd_per_gpu_hour"], np.array([3.0, 2.5, 2.0])[months])
    years = h["t_start_hours"].to_numpy() / (12 * HOURS_PER_MONTH)
    assert np.allclose(h["alt_aws_on_demand_usd_per_gpu_hour"], 6.88 * 0.5 ** years)


@pytest.mark.parametrize(("override", "csv", "fragment"), [
    ("cloud.alternatives=[{venue: oracle}]", None, "unknown venue 'oracle'; allowed: aws, "),
    ("cloud.alternatives=[{venue: aws, offers: [p9.huge]}]", None, "unknown offer(s) p9.huge"),
    ("cloud.alternatives=[{venue: lambda, price: spot}]", None, "no offer of lambda"),
    ("cloud.alternatives=[{venue: aws}, {venue: aws, price: spot}]", None, "listed twice"),
    ("cloud.alternatives=[{venue: aws, path: {kind: csv, file: p.csv, offer: p5.48xlarge}}]",
     "month,usd_per_gpu_hour\n0,6\n1,5\n3,4\n", "no gaps; expected month 2"),
    ("cloud.alternatives=[{venue: aws, path: {kind: csv, file: p.csv, offer: p5.48xlarge}}]",
     "month,usd_per_gpu_hour\n2026-01,6\n2026-02,-1\n", "prices must be > 0"),
    ("cloud.alternatives=[{venue: aws, path: {kind: csv, file: p.csv, offer: p5.48xlarge}}]",
     "month,usd_per_gpu_hour\n2026-01,6\n2026-03,5\n", "expected month 2026-02"),
    ("cloud.alternatives=[{venue: aws, path: {kind: steps, steps: [{month: 6, multiplier: 0.5}, "
     "{month: 3, multiplier: 0.4}]}}]", None, "strictly increasing"),
    ("providers.0.gpu_model=B200", None, "no alternative"),
])
def test_bad_alternatives_exit_2_with_one_paragraph(tmp_path: Path, override: str, csv: str | None,
                                                    fragment: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(TINY)
    if csv is not None:
        (tmp_path / "p.csv").write_text(csv)
    result = CliRunner().invoke(app, ["validate", str(scenario), "--set", override])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert fragment in text and "Traceback" not in result.output, text
    with pytest.raises(InputError):
        parse_scenario(TINY, "tiny.yaml", [override], base_dir=tmp_path)


def test_the_resolved_scenario_names_its_alternatives_and_validates_to_the_same(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("month,usd_per_gpu_hour\n0,3\n1,2\n")
    sc = parse_scenario(TINY, "tiny.yaml", ["cloud.alternatives=[{venue: aws}, {venue: lambda, path: {kind: csv, "
                                            "file: p.csv, offer: gpu_8x_h100_sxm5}}]"], base_dir=tmp_path)
    assert [a.name for a in sc.cloud.alternatives] == ["aws_on_demand", "lambda_on_demand"]
    assert sc.cloud.alternatives[1].price_set == "lambda_2026"  # defaults made explicit
    again = type(sc).model_validate(sc.model_dump(mode="json"))  # the series travels without its file
    assert again == sc
