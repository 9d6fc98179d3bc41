"""The investment memo: the question answered in numbers a reader can trace, from run and sweep folders.

``write_memo`` reads what ``depinsim run`` and ``depinsim sweep`` wrote (never re-runs anything, so every
number in the memo is one in ``summary.json`` or ``runs.parquet``) and writes ``memo.md``, a
self-contained ``memo.html`` (figures embedded) and the figures as PNG and SVG. The memo is built once as
a list of blocks and rendered twice, so the two files cannot disagree.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from ruamel.yaml import YAML

from sim.catalog import CLOUD_FILES, hardware_models
from sim.errors import InputError
from sim.folders import MemoFolder, RunFolder, SweepFolder
from sim.incidence import incidence_frame
from sim.loader import load_scenario
from sim.results import RunResult
from sim.summary import package_version

from .breakeven import Z95, metric_goal, rank_sensitivity
from .curves import pricing_curve
from .storage import storage_vs_gpu, storage_vs_gpu_figure
from .sweeps import months_vs_parameter, tornado, undercut_heatmap

OFFERS = (("on_demand", "AWS on-demand"), ("spot", "AWS spot"), ("reserved", "AWS reserved"))
MONTHS = ("1", "12", "36", "60")
DATA_DIR = Path(__file__).resolve().parents[1] / "sim" / "data"
DATA_FILES = ("gpus.yaml", "storage.yaml", *CLOUD_FILES, "regions.yaml")


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str


@dataclass
class Fig:
    name: str
    figure: Figure
    caption: str


Block = Heading | Para | Table | Fig


MAX_FAILED_ROWS = 20  # a sweep's failed runs the memo lists (all are in its runs.parquet)


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:,.{digits}f}"


def headline_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Network price / AWS price per GPU class and AWS offer: over the run, at months 1, 12, 36 and 60
    (blank where the run is shorter), months of undercut and the month it first went below."""
    rows = []
    for cls, c in summary["by_class"].items():
        if not c.get("gpu_hours_sold"):
            continue
        for offer, label in OFFERS:
            at = c.get(f"undercut_ratio_{offer}_at_month") or {}
            crossing = c.get(f"crossings_{offer}") or {}
            rows.append({"GPU class": cls, "against": label, "AWS offer": c.get("aws_reference_offer", "-"),
                         "whole run": _num(c.get(f"undercut_ratio_{offer}")),
                         **{f"month {m}": _num(at.get(m)) for m in MONTHS},
                         "months undercut": _num(c.get(f"months_undercut_{offer}"), 1),
                         "first below (month)": _num(crossing.get("first_below_month"), 1)})
    return pd.DataFrame(rows)


def alternatives_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Network price / each named alternative's price per GPU class, and / the cheapest of them: the offer
    compared (marked where it is a work-equivalent), its price at the start and end (a path moves it),
    the ratio over the run and at months 1, 12, 36 and 60, and months of undercut."""
    rows = []
    for cls, c in summary["by_class"].items():
        if not c.get("gpu_hours_sold"):
            continue
        cheapest = c["cheapest_alternative"]
        venues = dict.fromkeys([cheapest.get("at_start") or "-", cheapest.get("at_end") or "-"])  # in time order
        against = [(name, a, a["reference_offer"]) for name, a in c["alternatives"].items()]
        for name, a, offer in [*against, ("cheapest", cheapest, " then ".join(venues))]:
            at = a.get("undercut_ratio_at_month") or {}
            rows.append({"GPU class": cls, "against": name.replace("_", " "), "offer": offer,
                         "$/GPU-h at start": _num(a.get("usd_per_gpu_hour_start")),
                         "$/GPU-h at end": _num(a.get("usd_per_gpu_hour_end")),
                         "whole run": _num(a.get("undercut_ratio")),
                         **{f"month {m}": _num(at.get(m)) for m in MONTHS},
                         "months undercut": _num(a.get("months_undercut"), 1)})
    return pd.DataFrame(rows)


def subsidy_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Per GPU class: what buyers paid, what providers would ask without tokens, their fully loaded cost,
    and the share of provider revenue that came from token rewards."""
    rows = []
    for cls, c in summary["by_class"].items():
        if not c.get("gpu_hours_sold"):
            continue
        rows.append({"GPU class": cls,
                     "network $/GPU-h": _num(c.get("network_price_usd_per_gpu_hour")),
                     "without subsidy $/GPU-h": _num(c.get("price_without_subsidy_usd_per_gpu_hour")),
                     "fully loaded cost $/GPU-h": _num(c.get("fully_loaded_cost_usd_per_gpu_hour")),
                     "AWS on-demand $/GPU-h": _num(c.get("aws_on_demand_usd_per_gpu_hour")),
                     "subsidy share": _num(c.get("subsidy_share")),
                     "utilisation": _num(c.get("utilisation"))})
    return pd.DataFrame(rows)


def incidence_table(summary: dict[str, Any]) -> pd.DataFrame:
    """Per GPU class, the measured pass-through and where the reward went (``summary["incidence"]``, from a
    run with ``counterfactual: true``)."""
    frame = incidence_frame(summary["incidence"])
    return frame.map(lambda x: x if isinstance(x, str) else _num(x))


def sources_table(files: Sequence[str] = DATA_FILES) -> pd.DataFrame:
    """Every sourced figure in the catalogs the runs use: file, item, value, source, as-of."""
    yaml = YAML(typ="safe")
    rows: list[dict[str, Any]] = []

    def walk(node: Any, path: list[str], file: str) -> None:
        if isinstance(node, dict) and {"value", "source"} <= set(node):
            rows.append({"file": file, "item": ".".join(path), "value": node["value"], "unit": node.get("unit", ""),
                         "source": node["source"], "as of": node.get("as_of", ""), "grade": node.get("grade", "")})
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, str(k)], file)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, str(i)], file)

    for name in files:
        walk(yaml.load((DATA_DIR / name).read_text(encoding="utf-8")), [], f"sim/data/{name}")
    frame = pd.DataFrame(rows)
    frame["value"] = frame["value"].astype(str)
    return frame


def _run_blocks(folder: RunFolder) -> Iterator[Block]:
    summary = folder.summary()
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
        sentences.append(f"{cls}: the network {verdict} AWS on-demand at {_num(ratio)} of its price "
                         f"(${_num(c.get('network_price_usd_per_gpu_hour'))} vs "
                         f"${_num(c.get('aws_on_demand_usd_per_gpu_hour'))} per GPU-hour) for "
                         f"{_num(c.get('months_undercut_on_demand'), 1)} months, with "
                         f"{_num(c.get('subsidy_share'))} of provider revenue from token rewards.")
    if sentences:
        yield Para("**Answer.** " + " ".join(sentences))
    yield Table(headline_table(summary), f"{name}: network price / AWS price (below 1 is an undercut).")
    alternatives = summary["cloud"].get("alternatives", ["aws_on_demand"])
    if alternatives != ["aws_on_demand"]:
        parts = []
        for cls, c in summary["by_class"].items():
            cheapest = c["cheapest_alternative"]
            if c.get("gpu_hours_sold") and cheapest.get("undercut_ratio") is not None:
                parts.append(f"{cls}: {_num(cheapest['undercut_ratio'])} of the cheapest "
                             f"({(cheapest.get('at_end') or '-').replace('_', ' ')} at the end, "
                             f"${_num(cheapest.get('usd_per_gpu_hour_end'))} per GPU-hour), undercut for "
                             f"{_num(cheapest.get('months_undercut'), 1)} months.")
        listed = ", ".join(a.replace("_", " ") for a in alternatives)
        yield Para(f"**Against every alternative buyers consider** ({listed}; each buyer takes the cheapest per "
                   "unit of work). " + " ".join(parts))
        yield Table(alternatives_table(summary), f"{name}: network price / each alternative's price and / the "
                    "cheapest one's; an offer marked work-equivalent is another GPU's price converted by throughput.")
    econ = summary["provider_economics"]
    tokens = summary["tokens"]
    yield Para(f"**Subsidy dependence.** Providers earned ${econ['usd_revenue']:,.0f} from buyers and "
               f"${econ['reward_usd']:,.0f} in token rewards (subsidy share {_num(econ['subsidy_share'])}); "
               f"{tokens['emitted']:,.0f} {tokens['symbol']} were emitted and {tokens['burned']:,.0f} burned; the "
               f"token went from ${tokens['price_start_usd']:,.4g} to ${tokens['price_end_usd']:,.4g}. "
               f"Providers: {summary['providers']['start']} at the start, {summary['providers']['end']} at the end "
               f"({summary['providers']['entries']} entries, {summary['providers']['exits']} exits).")
    yield Table(subsidy_table(summary), f"{name}: prices, costs and subsidy share per GPU class.")
    if "incidence" in summary:
        parts = [f"{cls}: {_num(c['pass_through'])} of each reward dollar per GPU-hour reached buyers as a lower "
                 f"price (${_num(c['price_usd_per_gpu_hour'])} against "
                 f"${_num(c['price_without_rewards_usd_per_gpu_hour'])} without rewards); providers kept "
                 f"{_num(c['split_share']['providers'])}."
                 for cls, c in summary["incidence"].items() if c["gpu_hours_sold"]]
        yield Para("**Subsidy incidence**, measured against the same run with no emission on the same random draws. "
                   + " ".join(parts))
        yield Table(incidence_table(summary), f"{name}: price with and without rewards and reward per GPU-hour "
                    "sold (USD), pass-through (price fall per reward dollar) and the reward's split per GPU class.")
    yield Fig(f"pricing_{name}", pricing_curve(epochs, summary), f"{name}: network price against AWS over time.")


def _sweep_blocks(folder: SweepFolder) -> Iterator[Block]:
    spec = folder.spec()
    runs = folder.runs()
    params = list(spec["params"])
    runs.attrs["params"] = params
    metric = spec.get("metric", "by_class.H100_SXM.undercut_ratio_on_demand")
    target = float(spec.get("target_ratio", 0.5))
    name = spec["name"]
    ok = runs[runs["status"] == "ok"]
    yield Heading(f"Sweep: {name}")
    described = spec.get("description", "").rstrip(".")
    yield Para(f"{described + '. ' if described else ''}{len(runs)} runs ({runs['point'].nunique()} points x "
               f"{runs['replication'].nunique()} replications, method {spec.get('method', 'grid')}, seed "
               f"{spec.get('seed', 0)}); {len(ok)} succeeded. Parameters: {', '.join(params)}. Metric: {metric}.")
    failed = runs[runs["status"] != "ok"]
    if len(failed):
        yield Table(failed[["run_id", "point", "replication", *params, "error"]].head(MAX_FAILED_ROWS),
                    f"{name}: the {len(failed)} failed runs" + (f" (the first {MAX_FAILED_ROWS})" if len(failed) >
                                                                MAX_FAILED_ROWS else "")
                    + "; the figures and breakeven below use the others.")
    if metric not in ok.columns or ok[metric].isna().all():
        yield Para(f"The runs have no values of {metric}; no sweep figures.")
        return
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(runs[p])]
    if len(numeric) >= 2:
        yield Fig(f"heatmap_{name}", undercut_heatmap(ok, numeric[0], numeric[1], metric),
                  f"{name}: mean {metric} over {numeric[0]} and {numeric[1]}.")
    if numeric:
        months = metric.replace("undercut_ratio_", "months_undercut_")
        if months in ok.columns:
            yield Fig(f"months_{name}", months_vs_parameter(ok, numeric[0], months),
                      f"{name}: months of undercut against {numeric[0]}.")
        yield Para(f"**Breakeven.** {_breakevens(ok, numeric, target, metric)}")
        sens = rank_sensitivity(ok, metric, numeric)
        yield Table(sens.assign(rank_correlation=sens["rank_correlation"].map(_num)),
                    f"{name}: Spearman rank correlation of {metric} with each parameter.")
        if sens["rank_correlation"].notna().any():
            yield Fig(f"tornado_{name}", tornado(sens.fillna(0.0), f"Sensitivity of {metric}"),
                      f"{name}: sensitivity (rank correlation) of {metric}.")


def _breakevens(ok: pd.DataFrame, numeric: list[str], target: float, metric: str) -> str:
    """The crossing along the first parameter at each value of the others (pooling them would interpolate
    across, say, two fleet sizes as if they were one)."""
    first, others = numeric[0], numeric[1:]
    if not others:
        return _crossing(ok, target, first, metric)
    parts = []
    for values, group in ok.groupby(others, sort=True):
        at = ", ".join(f"{p} = {v:,.4g}" for p, v in zip(others, np.atleast_1d(values), strict=True))
        parts.append(f"At {at}: {_crossing(group, target, first, metric)}")
    return " ".join(parts)


def _crossing(runs: pd.DataFrame, target: float, param: str, metric: str) -> str:
    """Where the mean metric crosses the target along ``param`` (linear interpolation between the two swept
    values that bracket it), with an interval from the replication spread: where mean -+ 1.96 standard
    errors cross it. A memo reads only what was run."""
    stats_ = runs.groupby(param, sort=True)[metric].agg(["mean", "sem", "count"])
    x = stats_.index.to_numpy(dtype=float)
    y = stats_["mean"].to_numpy(dtype=float)
    half = Z95 * stats_["sem"].fillna(0.0).to_numpy(dtype=float)
    at = _interpolated(x, y, target)
    if at is None:
        if not np.isfinite(y).any():
            return f"the mean {metric} is undefined over the swept range of {param}."
        span = f"it spans {np.nanmin(y):.3f} to {np.nanmax(y):.3f} over {param} = {x[0]:,.4g} to {x[-1]:,.4g}"
        goal = metric_goal(metric)
        if goal is not None:
            met = bool(np.nanmax(y) <= target) if goal == "below" else bool(np.nanmin(y) >= target)
            if met:
                word = "at or below" if goal == "below" else "at or above"
                return (f"the mean {metric} is {word} {target:g} at every swept value ({span}): the target "
                        "already holds.")
            word = "above" if goal == "below" else "below"
            return (f"the mean {metric} stays {word} {target:g} at every swept value ({span}): the target is not "
                    "reached within the swept range.")
        return f"the mean {metric} does not cross {target:g} within the swept range ({span})."
    ends = [v for v in (_interpolated(x, y - half, target), _interpolated(x, y + half, target)) if v is not None]
    interval = (f" (95% interval from the spread of {int(stats_['count'].min())} replications: "
                f"{min(ends):,.4g} to {max(ends):,.4g})" if len(ends) == 2 and half.any() else "")
    return (f"the mean {metric} reaches {target:g} at {param} = {at:,.4g}{interval}, interpolated between the "
            "swept values (`analysis.breakeven` solves it with brentq).")


def _interpolated(x: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """The first crossing of ``target`` by the piecewise-linear curve (x, y), or None."""
    for i in range(len(x) - 1):
        bracketed = (y[i] - target) * (y[i + 1] - target) <= 0 and y[i] != y[i + 1]
        if np.isfinite(y[i]) and np.isfinite(y[i + 1]) and bracketed:
            return float(x[i] + (target - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
    return None


def _repro_rows(inputs: Sequence[Path]) -> pd.DataFrame:
    rows = []
    for path in inputs:
        run = RunFolder(path)
        if run.is_run():
            s = run.summary()
            rows.append({"input": str(path), "kind": "run", "scenario / sweep": s["scenario"],
                         "sha256": s["scenario_hash"], "seed": s["seed"], "depinsim": s["package_version"]})
        else:
            sweep = SweepFolder(path)
            text = (sweep.spec_text() or "").encode()
            spec = sweep.spec()
            rows.append({"input": str(path), "kind": f"sweep ({len(sweep.runs())} runs)",
                         "scenario / sweep": spec["name"], "sha256": hashlib.sha256(text).hexdigest(),
                         "seed": spec.get("seed", 0), "depinsim": package_version()})
    return pd.DataFrame(rows)


def memo_blocks(inputs: Sequence[Path]) -> list[Block]:
    """The memo's content: one section per run and per sweep, then sources and reproducibility."""
    blocks: list[Block] = [Heading("Can a token-subsidised GPU network undercut AWS, and for how long?", 1),
                           Para("Figures from depinsim runs and sweeps. Undercut ratio = volume-weighted network "
                                "price per GPU-hour / AWS price for the same GPU (or the same work); below 1 the "
                                "network is cheaper. Months are 730 hours.")]
    for folder in inputs:
        if RunFolder(folder).is_run():
            blocks.extend(_run_blocks(RunFolder(folder)))
        elif SweepFolder(folder).is_sweep():
            blocks.extend(_sweep_blocks(SweepFolder(folder)))
        else:
            raise InputError(f"{folder} is neither a run folder (summary.json, from depinsim run) nor a sweep "
                             "folder (runs.parquet and sweep.yaml, from depinsim sweep).")
    blocks.extend(_storage_blocks([RunFolder(f) for f in inputs if RunFolder(f).is_run()]))
    blocks.append(Heading("Assumptions and sources"))
    blocks.append(Para("Every figure from the world that the model uses, with its source and date, as in the "
                       "catalogs (sim/data). A source starting with 'assumption' has no primary figure."))
    blocks.append(Table(sources_table(), "Catalog figures."))
    blocks.append(Heading("Reproducibility"))
    blocks.append(Para("Re-run a run with `depinsim run <run>/scenario.resolved.yaml`, a sweep with "
                       "`depinsim sweep <sweep>/sweep.yaml`; the hashes identify the exact inputs."))
    blocks.append(Table(_repro_rows(inputs), "Inputs of this memo."))
    return blocks


def _storage_blocks(runs: list[RunFolder]) -> list[Block]:
    """With a storage run among the inputs: the comparison of storage and GPU runs (``analysis.storage``)."""
    summaries = [folder.summary() for folder in runs]
    if not any(hardware_models()[c].resource == "storage" for s in summaries for c in s["by_class"]):
        return []  # decided from the summaries, before any table is read
    # the comparison reads the epochs and providers tables, never the jobs table (millions of rows): not loaded
    results = {s["scenario"]: RunResult(load_scenario(f.scenario_file), pd.DataFrame(), f.epochs(), f.providers(), s)
               for f, s in zip(runs, summaries, strict=True)}
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


def _markdown(blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Table):
            parts.append(f"*{b.caption}*\n\n" + b.frame.to_markdown(index=False, disable_numparse=True))
        else:
            parts.append(f"![{b.caption}](figures/{b.name}.png)\n\n*{b.caption}*")
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Markdown's **bold** and `code`, the only inline markup the memo's paragraphs use."""
    out, bold, code = [], False, False
    for i, part in enumerate(html.escape(text).split("**")):
        if i:
            bold = not bold
            out.append("<strong>" if bold else "</strong>")
        pieces = part.split("`")
        for j, piece in enumerate(pieces):
            if j:
                code = not code
                out.append("<code>" if code else "</code>")
            out.append(piece)
    return "".join(out)


def _html(blocks: list[Block], pngs: dict[str, bytes]) -> str:
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            body.append(f"<figure><figcaption>{html.escape(b.caption)}</figcaption>"
                        f"{b.frame.to_html(index=False, border=0, escape=True)}</figure>")
        else:
            data = base64.b64encode(pngs[b.name]).decode()
            body.append(f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
             "table{border-collapse:collapse;font-size:.85rem}td,th{padding:.2rem .5rem;border-bottom:1px solid #ddd;"
             "text-align:right}img{max-width:100%}figure{margin:1rem 0}figcaption{font-style:italic;margin:.4rem 0}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>depinsim memo</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


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
    target.write(_markdown(blocks), _html(blocks, pngs), figures, force)
    return target.path
