"""Analysis: the memo's numbers are the run's, breakeven and sensitivity find what the model says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import breakeven, rank_sensitivity, sobol_sensitivity
from analysis.memo_tables import OFFERS, sources_table
from sim.cli import app
from sim.errors import InputError
from sim.sweep import Range

from .helpers import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
TINY = SCENARIOS / "tiny.yaml"
EMISSION = "tokenomics.emission.tokens_per_day"
H100 = "by_class.H100_SXM.undercut_ratio_on_demand"
# tiny's H100 capacity binds, so its clearing price sits at the buyers' limits whatever the emission
# (providers keep the subsidy); the share of provider income that is subsidy moves with it
SUBSIDY = "provider_economics.subsidy_share"


def _md_table(text: str, caption_start: str) -> list[dict[str, str]]:
    """The Markdown table under the caption that starts with ``caption_start``."""
    block = text.split(f"*{caption_start}", 1)[1].split("\n\n", 2)[1]
    lines = [ln for ln in block.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True)) for ln in lines[2:]]


def _value(cell: str) -> float | None:
    return None if cell == "-" else float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def memo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("memo")
    runner = CliRunner()
    run = runner.invoke(app, ["run", str(SCENARIOS / "baseline.yaml"), "--out", str(base / "baseline"), "--quiet"])
    assert run.exit_code == 0, run.stderr
    sweep = runner.invoke(app, ["sweep", str(ROOT / "sweeps" / "tiny_emission.yaml"), "--out", str(base / "sweep"),
                                "--quiet"])
    assert sweep.exit_code == 0, sweep.stderr
    memo = runner.invoke(app, ["memo", str(base / "baseline"), str(base / "sweep"), "--out", str(base / "memo")])
    assert memo.exit_code == 0, memo.stderr
    replicated = runner.invoke(app, ["run", str(TINY), "--replications", "3", "--set", "horizon_days=5", "--out",
                                     str(base / "replicated"), "--quiet"])
    assert replicated.exit_code == 0, replicated.output
    memo = runner.invoke(app, ["memo", str(base / "replicated"), str(base / "sweep"), "--out",
                               str(base / "memo_replicated")])
    assert memo.exit_code == 0, memo.output
    return base


def _executive_summary(text: str) -> str:
    return text.split("## Executive summary", 1)[1].split("\n## ", 1)[0]


def test_memo_executive_summary_comes_first_and_its_numbers_are_the_summarys(memo_dir: Path) -> None:
    text = (memo_dir / "memo" / "memo.md").read_text()
    assert text.index("## Executive summary") < text.index("## Run: baseline")
    summary = json.loads((memo_dir / "baseline" / "summary.json").read_text())
    c = summary["by_class"]["H100_SXM"]
    exec_summary = _executive_summary(text)
    for word in ("**The question.**", "**The answer.**", "**Main assumptions**", "**What would change the answer.**"):
        assert word in exec_summary
    found = re.search(r"sold H100_SXM at ([0-9.]+) of AWS on-demand's price on average, ([0-9.]+) in the 95th-"
                      r"percentile epoch and ([0-9.]+) in the worst; it stayed below 0.5 of AWS for ([0-9.]+) of "
                      r"([0-9.]+) months, with ([0-9.]+) of provider revenue", exec_summary)
    assert found, exec_summary
    expected = [round(c["undercut_ratio_on_demand"], 3), round(c["p95_ratio_on_demand"], 3),
                round(c["worst_ratio_on_demand"], 3), round(c["months_below_on_demand"], 1),
                round(summary["horizon_days"] * 24 / 730, 1), round(c["subsidy_share"], 3)]
    assert [float(g) for g in found.groups()] == pytest.approx(expected, abs=1e-9)
    assert "Spearman" in exec_summary  # the sweep ranks what moves the answer
    # the replicated memo quotes the seeds' medians and P10-P90
    rep = json.loads((memo_dir / "replicated" / "summary.json").read_text())
    r = rep["by_class"]["H100_SXM"]["undercut_ratio_on_demand"]
    rep_text = _executive_summary((memo_dir / "memo_replicated" / "memo.md").read_text())
    assert f"{r['p50']:.3f} (P10-P90 {r['p10']:.3f}-{r['p90']:.3f})" in rep_text and "3 seeds" in rep_text


def test_memo_pdf_opens_and_has_every_figure(memo_dir: Path) -> None:
    import pypdf

    for name in ("memo", "memo_replicated"):
        memo = memo_dir / name
        reader = pypdf.PdfReader(memo / "memo.pdf")
        images = sum(len(page.images) for page in reader.pages)
        assert images == len(list((memo / "figures").glob("*.png"))) > 0
        text = "".join(page.extract_text() for page in reader.pages[:2])
        assert "Executive summary" in text and "Can a token-subsidised GPU network" in text


def test_memo_labels_and_catalog_rows_are_the_inputs_own(memo_dir: Path) -> None:
    text = (memo_dir / "memo" / "memo.md").read_text()
    sweep_section = text.split("## Sweep: tiny_emission", 1)[1].split("\n## ", 1)[0]
    assert "h100: number of nodes active at the start" in sweep_section
    assert "H100_SXM price / AWS on-demand" in sweep_section
    captions = re.findall(r"\*tiny_emission: [^*]*\*", sweep_section)
    assert captions and not any("providers.0.count" in c or "by_class." in c for c in captions)
    rows = _md_table(text, "Catalog figures the inputs used")
    summary = json.loads((memo_dir / "baseline" / "summary.json").read_text())
    models = {r["item"].split(".")[1] for r in rows if r["item"].startswith("models.")}
    assert models and models <= set(summary["by_class"]) | {"RTX_3090"}  # the sweep's tiny network has 3090s
    assert not [r for r in rows if r["item"].startswith("venues.aws.price_sets.aws_2025_pre_cut")]


def test_memo_headline_numbers_equal_the_run_summary(memo_dir: Path) -> None:
    summary = json.loads((memo_dir / "baseline" / "summary.json").read_text())
    text = (memo_dir / "memo" / "memo.md").read_text()
    rows = _md_table(text, "baseline: network price / AWS price")
    labels = dict((label, offer) for offer, label in OFFERS)
    sold = [c for c, v in summary["by_class"].items() if v["gpu_hours_sold"]]
    assert {r["GPU class"] for r in rows} == set(sold) and len(rows) == 3 * len(sold)
    checked = 0
    for r in rows:
        c, offer = summary["by_class"][r["GPU class"]], labels[r["against"]]
        expected = {"whole run": c[f"undercut_ratio_{offer}"],
                    **{f"month {m}": c[f"undercut_ratio_{offer}_at_month"][m] for m in ("1", "12", "36", "60")}}
        for column, value in expected.items():
            shown = _value(r[column])
            assert (shown is None) == (value is None), (r, column)
            if value is not None:
                assert shown == pytest.approx(round(value, 3), abs=1e-12), (r, column)
                checked += 1
        assert _value(r["months undercut"]) == pytest.approx(round(c[f"months_undercut_{offer}"], 1))
    assert checked >= 12  # a one-year run has whole-run, month-1 and month-12 ratios per class and offer
    answer = re.search(r"H100_SXM: the network (undercut|did not undercut) AWS on-demand at ([0-9.]+)", text)
    assert answer and float(answer.group(2)) == pytest.approx(round(c_h100 := summary["by_class"]["H100_SXM"][
        "undercut_ratio_on_demand"], 3))
    assert (answer.group(1) == "undercut") == (c_h100 < 1)
    subsidy = _md_table(text, "baseline: prices, costs and subsidy share")
    for r in subsidy:
        share = summary["by_class"][r["GPU class"]]["subsidy_share"]
        assert _value(r["subsidy share"]) == pytest.approx(round(share, 3))
    assert summary["scenario_hash"] in text and str(summary["seed"]) in text


def test_memo_html_is_self_contained_and_figures_exist(memo_dir: Path) -> None:
    memo = memo_dir / "memo"
    page = (memo / "memo.html").read_text()
    figures = sorted(p.name for p in (memo / "figures").iterdir())
    pngs = [f for f in figures if f.endswith(".png")]
    assert {"pricing_baseline.png", "heatmap_tiny_emission.png", "tornado_tiny_emission.png"} <= set(pngs)
    assert len(pngs) == len([f for f in figures if f.endswith(".svg")])
    assert page.count("data:image/png;base64,") == len(pngs)
    assert "src=\"figures/" not in page and "<table" in page
    text = (memo / "memo.md").read_text()
    assert "## Assumptions and sources" in text and "skypilot" in text


def test_memo_refuses_what_is_not_a_run_or_a_sweep(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["memo", str(tmp_path), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "is not a run folder" in result.stderr


def test_every_catalog_figure_has_a_source_and_a_date() -> None:
    table = sources_table()
    assert len(table) > 50
    assert table["source"].str.len().gt(5).all() and table["as of"].astype(str).str.len().gt(3).all()


def test_breakeven_finds_the_emission_for_a_target_ratio(tmp_path: Path) -> None:
    fixed = ["horizon_days=8"]
    found = breakeven(TINY, EMISSION, 0.3, (500.0, 8000.0), metric=SUBSIDY, replications=2, seed=2, fixed=fixed,
                      cache_dir=tmp_path)
    assert 500 < found.value < 8000
    # the replicated mean at the solution is the target (brentq's tolerance is a thousandth of the bracket)
    table = found.table()
    near = table.iloc[(table[EMISSION] - found.value).abs().argsort()[:1]]
    assert float(near["mean"].iloc[0]) == pytest.approx(0.3, abs=0.02)
    assert found.status == "crossed" and found.interval[0] <= found.value <= found.interval[1]
    assert found.interval[1] - found.interval[0] > 0  # two replications disagree: the interval has width
    with pytest.raises(InputError, match="not between them"):
        breakeven(TINY, EMISSION, 0.99, (500.0, 8000.0), metric=SUBSIDY, replications=2, seed=2, fixed=fixed,
                  cache_dir=tmp_path)


def test_breakeven_says_when_the_target_holds_already_or_cannot_be_reached(tmp_path: Path) -> None:
    fixed = ["horizon_days=8"]
    kwargs = {"replications": 2, "seed": 2, "fixed": fixed, "cache_dir": tmp_path}
    holds = breakeven(TINY, EMISSION, 1.5, (500.0, 8000.0), metric="p95_ratio", **kwargs)
    assert holds.status == "holds_at_lower_bound" and holds.value == 500.0
    assert holds.metric == "by_class.H100_SXM.p95_ratio_on_demand" and "already holds" in holds.message
    never = breakeven(TINY, EMISSION, 0.01, (500.0, 8000.0), metric="p95_ratio", **kwargs)
    assert never.status == "unreachable" and np.isnan(never.value) and "not reached" in never.message
    # months: met at or above the target; 8 days are 0.26 months, so 1 month below half is out of reach
    months = breakeven(TINY, EMISSION, 1.0, (500.0, 8000.0), metric="months_below", **kwargs)
    assert months.status == "unreachable"
    with pytest.raises(InputError, match="low < high"):
        breakeven(TINY, EMISSION, 0.5, (8000.0, 500.0), **kwargs)
    with pytest.raises(InputError, match="p95_ratio"):
        breakeven(TINY, EMISSION, 0.5, (500.0, 8000.0), metric="p99", **kwargs)


def test_tail_metrics_equal_a_hand_computation_from_the_epoch_table(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(TINY), "--out", str(out), "--below", "0.6", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    epochs = pd.read_parquet(out / "epochs.parquet")
    assert summary["below_share"] == 0.6
    for cls, c in summary["by_class"].items():
        e = epochs[epochs["gpu_class"] == cls]
        for column, entry in (("undercut_ratio_on_demand", {k: c[f"{k}_on_demand"] for k in
                                                             ("worst_ratio", "p95_ratio", "months_below")}),
                              ("undercut_ratio_vs_cheapest", c["cheapest_alternative"])):
            sold = e.loc[(e["gpu_hours_sold"] > 0) & np.isfinite(e[column]), column].to_numpy()
            assert entry["worst_ratio"] == pytest.approx(sold.max())
            assert entry["p95_ratio"] == pytest.approx(np.percentile(sold, 95))
            hours = (e["t_end_hours"] - e["t_start_hours"])[e[column] < 0.6].sum()
            assert entry["months_below"] == pytest.approx(hours / 730.0)
    h100 = summary["by_class"]["H100_SXM"]
    assert h100["undercut_ratio_on_demand"] <= h100["p95_ratio_on_demand"] <= h100["worst_ratio_on_demand"]


def test_sensitivity_ranks_the_emission_above_an_inert_parameter(tmp_path: Path) -> None:
    # the inert axis: a cloud field no buyer of the tiny scenario uses
    ranges = {EMISSION: Range(500.0, 8000.0), "providers.1.count": Range(10, 20, integer=True)}
    indices = sobol_sensitivity(TINY, ranges, metric=SUBSIDY, n=16, seed=1, fixed=["horizon_days=5"],
                                cache_dir=tmp_path)
    by = indices.set_index("parameter")
    assert by.loc[EMISSION, "total_order"] > 0.5
    assert by.loc[EMISSION, "total_order"] > 3 * abs(by.loc["providers.1.count", "total_order"])
    assert np.isfinite(indices[["first_order", "total_order"]].to_numpy()).all()


def test_rank_sensitivity_of_a_sweep(memo_dir: Path) -> None:
    import pandas as pd

    runs = pd.read_parquet(memo_dir / "sweep" / "runs.parquet")
    sens = rank_sensitivity(runs, SUBSIDY, [EMISSION, "providers.0.count"]).set_index("parameter")
    assert sens.loc[EMISSION, "rank_correlation"] > 0.8  # more emission, more of providers' income is subsidy


def test_memo_replaces_only_its_own_folder(memo_dir: Path, tmp_path: Path) -> None:
    args = ["memo", str(memo_dir / "baseline"), "--out"]
    out = tmp_path / "memo"
    assert CliRunner().invoke(app, [*args, str(out)]).exit_code == 0
    again = CliRunner().invoke(app, [*args, str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
    assert CliRunner().invoke(app, [*args, str(out), "--force"]).exit_code == 0
    (out / "draft.md").write_text("my edits")
    forced = CliRunner().invoke(app, [*args, str(out), "--force"])
    assert forced.exit_code == 2 and "draft.md" in forced.stderr
    assert (out / "draft.md").read_text() == "my edits"


def test_memo_reports_every_alternative_and_the_cheapest(tmp_path: Path) -> None:
    runner = CliRunner()
    run = runner.invoke(app, ["run", str(TINY), "--out", str(tmp_path / "run"), "--quiet",
                              "--set", "cloud.alternatives=[{venue: aws}, {venue: vast}]"])
    assert run.exit_code == 0, run.stderr
    memo = runner.invoke(app, ["memo", str(tmp_path / "run"), "--out", str(tmp_path / "memo")])
    assert memo.exit_code == 0, memo.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    rows = _md_table((tmp_path / "memo" / "memo.md").read_text(), "tiny: network price / each alternative")
    sold = [c for c, v in summary["by_class"].items() if v["gpu_hours_sold"]]
    assert len(rows) == 3 * len(sold)  # aws, vast and the cheapest, per class sold
    for r in rows:
        c = summary["by_class"][r["GPU class"]]
        cheapest = r["against"] == "cheapest"
        a = c["cheapest_alternative"] if cheapest else c["alternatives"][r["against"].replace(" ", "_")]
        assert _value(r["whole run"]) == pytest.approx(round(a["undercut_ratio"], 3), abs=1e-12), r
        assert _value(r["$/GPU-h at start"]) == pytest.approx(round(a["usd_per_gpu_hour_start"], 3), abs=1e-12), r
        venues = " then ".join(dict.fromkeys([a["at_start"], a["at_end"]])) if cheapest else None
        assert r["offer"] == (venues if cheapest else a["reference_offer"])
    # AWS offers no RTX 4090: its comparison is a work-equivalent, and the table says so; Vast has the card
    rtx = {r["against"]: r["offer"] for r in rows if r["GPU class"] == "RTX_4090"}
    assert rtx["aws on demand"].endswith("(work-equivalent)") and "work-equivalent" not in rtx["vast on demand"]


def test_the_sources_table_covers_every_venue_with_its_grade() -> None:
    table = sources_table()
    venues = table[table["file"] == "sim/data/cloud_venues.yaml"]
    assert {item.split(".")[1] for item in venues["item"]} >= {"gcp", "lambda", "runpod", "vast"}
    assert set(table["grade"]) <= {"primary", "mirror", "secondary", "derived", "assumption", "definition"}
    assert (table["unit"].str.len() > 0).all()
