"""The investment memo: the question answered in numbers a reader can trace, from run and sweep folders.

``write_memo`` reads what ``depinsim run`` and ``depinsim sweep`` wrote (never re-runs anything, so every
number in the memo is one in ``summary.json`` or ``runs.parquet``) and writes ``memo.md``, a
self-contained ``memo.html`` (figures embedded) and the figures as PNG and SVG. The memo is built once as
a list of blocks and rendered twice, so the two files cannot disagree.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.catalog import hardware_models
from sim.errors import InputError
from sim.folders import MemoFolder, ReplicatedRunFolder, RunFolder, StressFolder, SweepFolder
from sim.loader import load_scenario
from sim.results import RunResult
from sim.schema import Scenario
from sim.summary import package_version
from sim.units import BELOW_SHARE, HOURS_PER_MONTH

from .blocks import TITLE, Block, Fig, Heading, Para, Table, num
from .breakeven import rank_sensitivity
from .crossing import breakevens
from .curves import pricing_curve
from .labels import metric_label, parameter_label
from .memo_tables import (
    Used,
    alternatives_table,
    headline_table,
    incidence_table,
    stress_table,
    subsidy_table,
    used_sources,
)
from .render import render_html, render_markdown, render_pdf
from .storage import storage_vs_gpu, storage_vs_gpu_figure
from .stress import stress_figure
from .sweeps import months_vs_parameter, tornado, undercut_heatmap

MAX_FAILED_ROWS = 20  # a sweep's failed runs the memo lists (all are in its runs.parquet)


def _run_blocks(folder: RunFolder, summary: dict[str, Any]) -> Iterator[Block]:
    epochs = folder.epochs()
    name = summary["scenario"]
    yield Heading(f"Run: {name}")
    p = summary.get("partial")
    if p:
        yield Para(f"**Partial run**: stopped after {p['epochs_completed']} epochs ({p['reason']}).")
    described = summary.get("description", "").rstrip(".")
    yield Para(f"{described + '. ' if described else ''}{summary['horizon_days']:g} days, seed {summary['seed']}, "
               f"AWS prices {summary['cloud']['price_set']}, buyers compare against "
               f"{summary['cloud']['buyer_price'].replace('_', '-')}.")
    sentences = []
    for cls, c in summary["by_class"].items():
        if not c.get("gpu_hours_sold"):
            continue
        ratio = c.get("undercut_ratio_on_demand")
        verdict = "undercut" if ratio is not None and ratio < 1 else "did not undercut"
        sentences.append(f"{cls}: the network {verdict} AWS on-demand at {num(ratio)} of its price "
                         f"(${num(c.get('network_price_usd_per_gpu_hour'))} vs "
                         f"${num(c.get('aws_on_demand_usd_per_gpu_hour'))} per GPU-hour) for "
                         f"{num(c.get('months_undercut_on_demand'), 1)} months, with "
                         f"{num(c.get('subsidy_share'))} of provider revenue from token rewards.")
    if sentences:
        yield Para("**Against AWS on-demand.** " + " ".join(sentences))
    yield Table(headline_table(summary), f"{name}: network price / AWS price (below 1 is an undercut).")
    alternatives = summary["cloud"].get("alternatives", ["aws_on_demand"])
    if alternatives != ["aws_on_demand"]:
        parts = []
        for cls, c in summary["by_class"].items():
            cheapest = c["cheapest_alternative"]
            if c.get("gpu_hours_sold") and cheapest.get("undercut_ratio") is not None:
                parts.append(f"{cls}: {num(cheapest['undercut_ratio'])} of the cheapest "
                             f"({(cheapest.get('at_end') or '-').replace('_', ' ')} at the end, "
                             f"${num(cheapest.get('usd_per_gpu_hour_end'))} per GPU-hour), undercut for "
                             f"{num(cheapest.get('months_undercut'), 1)} months.")
        listed = ", ".join(a.replace("_", " ") for a in alternatives)
        yield Para(f"**Against every alternative buyers consider** ({listed}; each buyer takes the cheapest per "
                   "unit of work). " + " ".join(parts))
        yield Table(alternatives_table(summary), f"{name}: network price / each alternative's price and / the "
                    "cheapest one's; an offer marked work-equivalent is another GPU's price converted by throughput.")
    econ = summary["provider_economics"]
    tokens = summary["tokens"]
    yield Para(f"**Subsidy dependence.** Providers earned ${econ['usd_revenue']:,.0f} from buyers and "
               f"${econ['reward_usd']:,.0f} in token rewards (subsidy share {num(econ['subsidy_share'])}); "
               f"{tokens['emitted']:,.0f} {tokens['symbol']} were emitted and {tokens['burned']:,.0f} burned; the "
               f"token went from ${tokens['price_start_usd']:,.4g} to ${tokens['price_end_usd']:,.4g}. "
               f"Providers: {summary['providers']['start']} at the start, {summary['providers']['end']} at the end "
               f"({summary['providers']['entries']} entries, {summary['providers']['exits']} exits).")
    yield Table(subsidy_table(summary), f"{name}: prices, costs and subsidy share per GPU class.")
    if "incidence" in summary:
        parts = [f"{cls}: {num(c['pass_through'])} of each reward dollar per GPU-hour reached buyers as a lower "
                 f"price (${num(c['price_usd_per_gpu_hour'])} against "
                 f"${num(c['price_without_rewards_usd_per_gpu_hour'])} without rewards); providers kept "
                 f"{num(c['split_share']['providers'])}."
                 for cls, c in summary["incidence"].items() if c["gpu_hours_sold"]]
        yield Para("**Subsidy incidence**, measured against the same run with no emission on the same random draws. "
                   + " ".join(parts))
        yield Table(incidence_table(summary), f"{name}: price with and without rewards and reward per GPU-hour "
                    "sold (USD), pass-through (price fall per reward dollar) and the reward's split per GPU class.")
    yield Fig(f"pricing_{name}", pricing_curve(epochs, summary), f"{name}: network price against AWS over time.")


def sweep_labels(base: Scenario, params: Sequence[str], metrics: Sequence[str],
                 below: float = BELOW_SHARE) -> dict[str, str]:
    """Readable names of a sweep's parameters (by its base scenario's item names and the schema's
    descriptions) and metrics (``below``: the sweep's share for ``months_below``)."""
    return {**{p: parameter_label(p, base) for p in params}, **{m: metric_label(m, below) for m in metrics}}


@dataclass
class _Sweep:
    """A sweep folder as the memo reads it, once: its spec, its runs table and its base scenario (with the
    spec's fixed overrides)."""

    folder: SweepFolder
    spec: dict[str, Any]
    runs: pd.DataFrame
    base: Scenario

    @classmethod
    def read(cls, folder: SweepFolder) -> _Sweep:
        spec = folder.spec()
        base = load_scenario(folder.path / spec["base"], [f"{k}={v}" for k, v in (spec.get("set") or {}).items()])
        return cls(folder, spec, folder.runs(), base)


def _sweep_blocks(sweep: _Sweep) -> Iterator[Block]:
    spec, runs = sweep.spec, sweep.runs.copy()
    params = list(spec["params"])
    runs.attrs["params"] = params
    metric = spec.get("metric", "by_class.H100_SXM.undercut_ratio_on_demand")
    months = metric.replace("undercut_ratio_", "months_undercut_")
    labels = sweep_labels(sweep.base, params, [metric, months], spec.get("below", BELOW_SHARE))
    target = float(spec.get("target_ratio", 0.5))
    name = spec["name"]
    ok = runs[runs["status"] == "ok"]
    yield Heading(f"Sweep: {name}")
    described = spec.get("description", "").rstrip(".")
    yield Para(f"{described + '. ' if described else ''}{len(runs)} runs ({runs['point'].nunique()} points x "
               f"{runs['replication'].nunique()} replications, method {spec.get('method', 'grid')}, seed "
               f"{spec.get('seed', 0)}); {len(ok)} succeeded. Parameters: "
               f"{'; '.join(labels[p] + f' (`{p}`)' for p in params)}. Metric: {labels[metric]} (`{metric}`).")
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        shown = failed[["run_id", "point", "replication", *params, "error"]].head(MAX_FAILED_ROWS)
        yield Table(shown.rename(columns=labels),
                    f"{name}: the {len(failed)} failed runs" + (f" (the first {MAX_FAILED_ROWS})" if len(failed) >
                                                                MAX_FAILED_ROWS else "")
                    + "; the figures and breakeven below use the others.")
    if metric not in ok.columns or ok[metric].isna().all():
        yield Para(f"The runs have no values of {labels[metric]}; no sweep figures.")
        return
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(runs[p])]
    source = (f"Source: depinsim {package_version()}, sweep {name} (seed {spec.get('seed', 0)}), {len(ok)} runs of "
              f"{Path(spec['base']).name}; means over {runs['replication'].nunique()} replications a point.")
    if len(numeric) >= 2:
        yield Fig(f"heatmap_{name}", undercut_heatmap(ok, numeric[0], numeric[1], metric, labels, source),
                  f"{name}: mean {labels[metric]} over {labels[numeric[0]]} and {labels[numeric[1]]}.")
    if numeric:
        if months in ok.columns:
            horizon = float(ok["horizon_days"].max()) * 24 / HOURS_PER_MONTH if "horizon_days" in ok else None
            yield Fig(f"months_{name}", months_vs_parameter(ok, numeric[0], months, labels, horizon, source),
                      f"{name}: {labels[months]} against {labels[numeric[0]]} (the axis spans the horizon).")
        yield Para(f"**Breakeven.** {breakevens(ok, numeric, target, metric, labels)}")
        sens = rank_sensitivity(ok, metric, numeric)
        shown = pd.DataFrame({"Parameter": sens["parameter"].map(labels),
                              "Spearman rank correlation": sens["rank_correlation"].map(num)})
        yield Table(shown, f"{name}: Spearman rank correlation of {labels[metric]} with each parameter.")
        if sens["rank_correlation"].notna().any():
            yield Fig(f"tornado_{name}", tornado(sens.fillna(0.0), f"Sensitivity of {labels[metric]}", labels,
                                                 source),
                      f"{name}: sensitivity (rank correlation) of {labels[metric]}.")


def _repro_rows(inputs: Sequence[Path], sweeps: Sequence[_Sweep]) -> pd.DataFrame:
    runs_of = {s.folder.path: s.runs for s in sweeps}
    rows = []
    for path in inputs:
        replicated, run, stressed = ReplicatedRunFolder(path), RunFolder(path), StressFolder(path)
        if stressed.exists():
            s = stressed.summary()
            rows.append({"input": str(path), "kind": f"stress ({sum(r['modelled'] for r in s['scorecard']) - 1} "
                         "shocks)", "scenario / sweep": s["scenario"], "sha256": s["scenario_hash"], "seed": s["seed"],
                         "depinsim": package_version()})
        elif replicated.exists() or run.is_run():
            s = replicated.summary() if replicated.exists() else run.summary()
            kind = f"replicated run ({s['replications']} seeds)" if replicated.exists() else "run"
            rows.append({"input": str(path), "kind": kind, "scenario / sweep": s["scenario"],
                         "sha256": s["scenario_hash"], "seed": s["seed"], "depinsim": s["package_version"]})
        else:
            sweep = SweepFolder(path)
            text = (sweep.spec_text() or "").encode()
            spec = sweep.spec()
            rows.append({"input": str(path), "kind": f"sweep ({len(runs_of[path])} runs)",
                         "scenario / sweep": spec["name"], "sha256": hashlib.sha256(text).hexdigest(),
                         "seed": spec.get("seed", 0), "depinsim": package_version()})
    return pd.DataFrame(rows)


@dataclass
class _Inputs:
    """The memo's inputs, read once: each run's and replicated run's summary with its scenario, and each sweep."""

    runs: list[tuple[RunFolder, dict[str, Any], Scenario]]
    replicated: list[tuple[ReplicatedRunFolder, dict[str, Any], Scenario]]
    sweeps: list[_Sweep]
    stress: list[tuple[StressFolder, dict[str, Any]]]

    @classmethod
    def read(cls, inputs: Sequence[Path]) -> _Inputs:
        out = cls([], [], [], [])
        for folder in inputs:
            replicated, run, sweep = ReplicatedRunFolder(folder), RunFolder(folder), SweepFolder(folder)
            if StressFolder(folder).exists():
                out.stress.append((StressFolder(folder), StressFolder(folder).summary()))
            elif replicated.exists():  # before is_run: a replicated run has a summary.json too
                out.replicated.append((replicated, replicated.summary(),
                                       load_scenario(folder / ReplicatedRunFolder.SCENARIO)))
            elif run.is_run():
                out.runs.append((run, run.summary(), load_scenario(run.scenario_file)))
            elif sweep.is_sweep():
                out.sweeps.append(_Sweep.read(sweep))
            else:
                raise InputError(f"{folder} is not a run folder (summary.json, from depinsim run), a sweep folder "
                                 "(runs.parquet and sweep.yaml, from depinsim sweep) or a stress folder (from "
                                 "depinsim stress).")
        return out

    @property
    def scenarios(self) -> list[Scenario]:
        return [sc for *_, sc in self.runs] + [sc for *_, sc in self.replicated] + [s.base for s in self.sweeps]

    @property
    def classes(self) -> set[str]:
        ran = {c for _, s, _ in [*self.runs, *self.replicated] for c in s["by_class"]}
        swept = {col.split(".")[1] for s in self.sweeps for col in s.runs.columns if col.startswith("by_class.")}
        return ran | swept


def _lead_class(by_class: dict[str, Any], sold: dict[str, float]) -> str:
    """The class the answer is about: H100_SXM where it sold (the question's GPU), else the best seller."""
    return "H100_SXM" if sold.get("H100_SXM") else max(sold, key=lambda c: sold[c], default=next(iter(by_class)))


def _executive_summary(inputs: _Inputs) -> list[Block]:
    """The question, the answer in two or three sentences (with intervals where the inputs have them), the
    main assumptions and what would change the answer; every number is one of a summary's, rounded as
    printed, or a sweep's."""
    blocks: list[Block] = [Heading("Executive summary"),
                           Para("**The question.** Can a token-subsidised, decentralised GPU network undercut AWS "
                                "for AI training and inference the way Filecoin undercut Amazon S3, and for how "
                                "long?")]
    answer, scenario = [], None
    if inputs.replicated:
        _, s, scenario = inputs.replicated[0]
        used = {k: (v.get("utilisation") or {}).get("p50") or 0.0 for k, v in s["by_class"].items()}
        cls = _lead_class(s["by_class"], {k: u for k, u in used.items() if u})
        c = s["by_class"][cls]

        def band(name: str, digits: int = 3) -> str:
            e = c.get(name) or {}
            return f"{num(e.get('p50'), digits)} (P10-P90 {num(e.get('p10'), digits)}-{num(e.get('p90'), digits)})"

        answer.append(f"In {s['scenario']} ({s['horizon_days']:g} days, {s['replications']} seeds), the network sold "
                      f"{cls} at a median {band('undercut_ratio_on_demand')} of AWS on-demand's price; in 95% of "
                      f"epochs it was at most {band('p95_ratio_on_demand')} of it, and it stayed below "
                      f"{s['below_share']:g} of AWS for {band('months_below_on_demand', 1)} months, with "
                      f"{band('subsidy_share')} of provider revenue from token rewards.")
    elif inputs.runs:
        _, s, scenario = inputs.runs[0]
        sold = {k: v.get("gpu_hours_sold") or 0.0 for k, v in s["by_class"].items()}
        cls = _lead_class(s["by_class"], {k: v for k, v in sold.items() if v})
        c = s["by_class"][cls]
        answer.append(f"In {s['scenario']} ({s['horizon_days']:g} days, one seed: no interval; `depinsim run "
                      f"--replications N` gives one), the network sold {cls} at "
                      f"{num(c.get('undercut_ratio_on_demand'))} of AWS on-demand's price on average, "
                      f"{num(c.get('p95_ratio_on_demand'))} in the 95th-"
                      f"percentile epoch and {num(c.get('worst_ratio_on_demand'))} in the worst; it stayed below "
                      f"{s['below_share']:g} of AWS for {num(c.get('months_below_on_demand'), 1)} of "
                      f"{num(s['horizon_days'] * 24 / HOURS_PER_MONTH, 1)} months, with "
                      f"{num(c.get('subsidy_share'))} of provider revenue from token rewards.")
        incidence = (s.get("incidence") or {}).get(cls)
        if incidence and incidence.get("gpu_hours_sold"):
            answer.append(f"Of each reward dollar per GPU-hour, {num(incidence['pass_through'])} reached buyers as a "
                          f"lower price; providers kept {num(incidence['split_share']['providers'])}.")
    for sweep in inputs.sweeps[:1]:
        spec, runs, base = sweep.spec, sweep.runs, sweep.base
        params = [p for p in spec["params"] if pd.api.types.is_numeric_dtype(runs[p])]
        metric = spec.get("metric", "by_class.H100_SXM.undercut_ratio_on_demand")
        ok = runs[runs["status"] == "ok"]
        if params and metric in ok and ok[metric].notna().any():
            labels = sweep_labels(base, params, [metric], spec.get("below", BELOW_SHARE))
            target = float(spec.get("target_ratio", 0.5))
            answer.append(f"Sweep {spec['name']}: {breakevens(ok, params, target, metric, labels)}")
    if answer:
        blocks.append(Para("**The answer.** " + " ".join(answer)))
    if scenario is None and inputs.sweeps:
        scenario = inputs.sweeps[0].base
    if scenario is not None:
        t = scenario.tokenomics
        asks = ", ".join(sorted({g.ask_policy.kind for g in scenario.providers}))
        blocks.append(Para(f"**Main assumptions** ({scenario.name}). Market {scenario.market.kind}, provider asks "
                           f"{asks}; emission {t.emission.kind}, token price {t.token_price.kind}, providers sell "
                           f"{t.provider_sell_share:.0%} of their rewards; AWS prices {scenario.cloud.price_set}, "
                           f"buyers compare against {scenario.cloud.buyer_price.replace('_', '-')}; "
                           f"{sum(g.count for g in scenario.providers):,} provider nodes in {len(scenario.providers)} "
                           f"groups, {len(scenario.workload.streams)} job streams. Catalog figures and their sources "
                           "are at the end."))
    changes = []
    for sweep in inputs.sweeps:
        spec, runs, base = sweep.spec, sweep.runs, sweep.base
        metric = spec.get("metric", "by_class.H100_SXM.undercut_ratio_on_demand")
        params = [p for p in spec["params"] if pd.api.types.is_numeric_dtype(runs[p])]
        if metric not in runs or not params:
            continue
        sens = rank_sensitivity(runs, metric, params).dropna().sort_values("rank_correlation", key=abs,
                                                                            ascending=False)
        ranked = "; ".join(f"{parameter_label(p, base)} (Spearman {rho:+.2f})"
                           for p, rho in zip(sens["parameter"], sens["rank_correlation"], strict=True))
        if ranked:
            what = metric_label(metric, spec.get("below", BELOW_SHARE))
            changes.append(f"In sweep {spec['name']}, what moves {what} most: {ranked}.")
    for _, summary in inputs.stress:
        ended = [r["shock"].replace("_", " ") for r in summary["scorecard"] if r.get("undercut_survives") is False]
        changes.append(f"In the stress battery on {summary['scenario']} (shocks at month {summary['month']:g}), the "
                       f"{summary['gpu_class']} undercut of the cheapest alternative "
                       + (f"ends under: {', '.join(ended)}." if ended else "survives every shock it was run under."))
    if not changes:
        changes.append("No sweep among the inputs, so this memo cannot rank what moves the answer; a sweep over the "
                       "emission, the token price and the fleet (`depinsim sweep`) would.")
    blocks.append(Para("**What would change the answer.** " + " ".join(changes)))
    return blocks


def _replicated_blocks(folder: ReplicatedRunFolder, summary: dict[str, Any]) -> Iterator[Block]:
    name = summary["scenario"]
    yield Heading(f"Replicated run: {name}")
    yield Para(f"{summary['replications']} seeds (the first SeedSequence children of root seed {summary['seed']}), "
               f"{summary['horizon_days']:g} days. Values are medians with the P10-P90 spread across seeds: the "
               "range of the model's outcomes over its random draws.")
    rows = []
    for cls, c in summary["by_class"].items():
        for key, label in (("network_price_usd_per_gpu_hour", "network $/GPU-h"),
                           ("undercut_ratio_on_demand", "price / AWS on-demand"),
                           ("p95_ratio_on_demand", "95th-percentile epoch / AWS on-demand"),
                           ("months_below_on_demand", f"months below {summary['below_share']:g} x AWS"),
                           ("utilisation", "utilisation"), ("subsidy_share", "subsidy share")):
            e = c.get(key)
            if e is not None:
                rows.append({"GPU class": cls, "measure": label, "P10": num(e["p10"]), "median": num(e["p50"]),
                             "P90": num(e["p90"]), "mean": num(e["mean"])})
    yield Table(pd.DataFrame(rows), f"{name}: headlines across {summary['replications']} seeds.")
    yield Fig(f"pricing_{name}", pricing_curve(folder.bands(), summary),
              f"{name}: network price (median of seeds, P10-P90 band) against AWS over time.")


def _stress_blocks(folder: StressFolder, summary: dict[str, Any]) -> Iterator[Block]:
    name, cls, month = summary["scenario"], summary["gpu_class"], summary["month"]
    survived = [r["shock"].replace("_", " ") for r in summary["scorecard"]
                if r["shock"] != "none" and r.get("undercut_survives") is True]
    failed = [r["shock"].replace("_", " ") for r in summary["scorecard"] if r.get("undercut_survives") is False]
    yield Heading(f"Stress battery: {name}")
    yield Para(f"Each shock hits {name} (seed {summary['seed']}) at month {month:g}, one at a time, on the same random "
               f"draws; the scorecard compares {cls}'s volume-weighted price after the shock with the cheapest "
               f"alternative buyers have. The undercut survives {', '.join(survived) or 'no shock'}"
               + (f" and ends under {', '.join(failed)}." if failed else "."))
    yield Table(stress_table(summary), f"{name}: stress scorecard ({cls} against the cheapest alternative, after "
                f"month {month:g}; price rebound: shocked / unshocked price - 1 at the unshocked run's volumes; "
                "subsidy share: token rewards' share of provider income after the shock).")
    yield Fig(f"stress_{name}", stress_figure(folder.epochs(), cls, month, name),
              f"{name}: {cls} network price / cheapest alternative under each shock.")


def memo_blocks(inputs: Sequence[Path]) -> list[Block]:
    """The memo's content: the executive summary, one section per run, replicated run and sweep, then
    sources and reproducibility."""
    read = _Inputs.read(inputs)
    blocks: list[Block] = [Heading(TITLE, 1),
                           Para("Figures from depinsim runs and sweeps. Undercut ratio = volume-weighted network "
                                "price per GPU-hour / AWS price for the same GPU (or the same work); below 1 the "
                                "network is cheaper. Months are 730 hours."),
                           *_executive_summary(read)]
    for folder in inputs:
        for replicated, summary, _ in read.replicated:
            if replicated.path == folder:
                blocks.extend(_replicated_blocks(replicated, summary))
        for run, summary, _ in read.runs:
            if run.path == folder:
                blocks.extend(_run_blocks(run, summary))
        for sweep in read.sweeps:
            if sweep.folder.path == folder:
                blocks.extend(_sweep_blocks(sweep))
        for stressed, summary in read.stress:
            if stressed.path == folder:
                blocks.extend(_stress_blocks(stressed, summary))
    blocks.extend(_storage_blocks(read.runs))
    blocks.append(Heading("Assumptions and sources"))
    blocks.append(Para("Every figure from the world that the model uses, with its source and date, as in the "
                       "catalogs (sim/data). A source starting with 'assumption' has no primary figure."))
    used = Used.of(read.scenarios, read.classes)
    blocks.append(Table(used_sources(used), "Catalog figures the inputs used (their GPU and storage models, the "
                        f"venues {', '.join(sorted(used.venues))} in price sets {', '.join(sorted(used.price_sets))}, "
                        "and the regions)."))
    blocks.append(Heading("Reproducibility"))
    blocks.append(Para("Re-run a run with `depinsim run <run>/scenario.resolved.yaml`, a sweep with "
                       "`depinsim sweep <sweep>/sweep.yaml`; the hashes identify the exact inputs."))
    blocks.append(Table(_repro_rows(inputs, read.sweeps), "Inputs of this memo."))
    return blocks


def _storage_blocks(runs: Sequence[tuple[RunFolder, dict[str, Any], Scenario]]) -> list[Block]:
    """With a storage run among the inputs: the comparison of storage and GPU runs (``analysis.storage``)."""
    if not any(hardware_models()[c].resource == "storage" for _, s, _ in runs for c in s["by_class"]):
        return []  # decided from the summaries, before any table is read
    # the comparison reads the epochs and providers tables, never the jobs table (millions of rows): not loaded
    results = {s["scenario"]: RunResult(sc, pd.DataFrame(), f.epochs(), f.providers(), s) for f, s, sc in runs}
    table = storage_vs_gpu(results)
    store, gpu = table[table["resource"] == "storage"].iloc[0], table[table["resource"] == "gpu"]
    text = (f"In {store['run']}, a storage provider's marginal cost (sealing; power is drawn by every sealed TiB "
            f"whether it holds a client's data or not) is {store['marginal_share_of_cost']:.0%} of its cost, "
            f"buyers use {store['utilisation']:.1%} of the capacity the reward built, and the price is "
            f"{store['price_share_of_alternative']:.1%} of the cheapest alternative's "
            f"${store['alternative_price']:.2f} {store['unit'].replace('USD ', '')} "
            f"({store['price_without_subsidy_share_of_alternative']:.1%} without the reward): with capacity far "
            "beyond paying demand the price sits at marginal cost, and the reward for verified data takes it to "
            "the protocol's floor of zero, so a lower price passes on almost none of the reward "
            f"({store['price_drop_per_reward_usd']:.2g} USD per USD).")
    if not gpu.empty:
        best = gpu.loc[gpu["utilisation"].idxmax()]
        text += (f" In {best['run']}'s {best['class']}, {best['utilisation']:.0%} of capacity is sold and the price is "
                 f"{best['price_share_of_alternative']:.0%} of the cheapest alternative "
                 f"({best['price_without_subsidy_share_of_alternative']:.0%} without the reward; "
                 f"{best['price_drop_per_reward_usd']:.2f} USD lower per USD of reward): where capacity binds, "
                 "buyers' outside option sets the GPU price and the subsidy moves it only as far as the market "
                 "clears.")
    shown = table[["run", "class", "unit", "marginal_share_of_cost", "utilisation", "price", "price_without_subsidy",
                   "alternative_price", "price_share_of_alternative", "price_drop_per_reward_usd",
                   "months_undercut", "horizon_months"]].copy()
    for column in shown.columns[3:]:
        shown[column] = shown[column].map(lambda v: "-" if v is None or pd.isna(v) else f"{v:.4g}")
    shown.columns = ["Run", "Class", "Price unit", "Marginal share of cost", "Capacity sold", "Price",
                     "Price without reward", "Cheapest alternative", "Price / alternative",
                     "Price drop per USD of reward", "Months undercut", "Months run"]
    return [Heading("Storage against GPU: where the Filecoin analogy holds"), Para(text),
            Table(shown, "Storage and GPU runs compared (analysis.storage.storage_vs_gpu): marginal share of a "
                  "provider's cost per unit-hour, share of capacity sold, volume-weighted prices with and without "
                  "the reward (static counterfactual: same orders and nodes), price drop per USD of reward, months "
                  "undercut."),
            Fig("storage_vs_gpu", storage_vs_gpu_figure(table), "Storage and GPU runs compared.")]


def write_memo(inputs: Sequence[str | Path], out: str | Path, force: bool = False) -> Path:
    """Write memo.md, memo.html and figures/*.png|svg into ``out``, atomically; an existing folder is
    replaced only with ``force``, and only if it is a memo folder depinsim wrote."""
    folders = [Path(p) for p in inputs]
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"Memo input {folder} is not a folder: give run folders (depinsim run --out) or "
                             "sweep folders (depinsim sweep --out).")
    target = MemoFolder(out)
    target.check_target(force)
    blocks = memo_blocks(folders)
    figures = {}
    for b in blocks:
        if isinstance(b, Fig):
            buf = io.BytesIO()
            b.figure.savefig(buf, format="png", dpi=130)
            figures[b.name] = (buf.getvalue(), b.figure)
    pngs = {name: png for name, (png, _) in figures.items()}
    markdown = render_markdown(blocks)
    target.write(markdown, render_html(markdown, pngs), render_pdf(markdown, pngs), figures, force)
    return target.path
