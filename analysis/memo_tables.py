"""The memo's tables, from summaries and the catalogs: numbers rounded as the memo prints them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from ruamel.yaml import YAML

from sim.catalog import CLOUD_FILES
from sim.incidence import incidence_frame

from .blocks import num as _num

OFFERS = (("on_demand", "AWS on-demand"), ("spot", "AWS spot"), ("reserved", "AWS reserved"))
MONTHS = ("1", "12", "36", "60")
DATA_DIR = Path(__file__).resolve().parents[1] / "sim" / "data"
DATA_FILES = ("gpus.yaml", "storage.yaml", *CLOUD_FILES, "regions.yaml")


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


@dataclass
class Used:
    """What the memo's inputs drew on from the catalogs: hardware models (GPU classes and storage media),
    cloud venues and their price sets."""

    models: set[str]
    venues: set[str]
    price_sets: set[str]

    @classmethod
    def of(cls, scenarios: Sequence[Any], classes: set[str]) -> Used:
        venues = {"aws"} | {alt.venue for sc in scenarios for alt in sc.cloud.alternatives}
        price_sets = {sc.cloud.price_set for sc in scenarios} | {
            alt.price_set for sc in scenarios for alt in sc.cloud.alternatives if alt.price_set}
        return cls(classes, venues, price_sets)

    def keeps(self, item: str) -> bool:
        """A catalog row is shown when the inputs used it: a model's rows for the models they ran, a venue's
        for the venues they compared against, in the price sets they used; every other row (regions,
        reference workloads) applies to every run."""
        parts = item.split(".")
        if parts[0] in ("models", "media") and len(parts) > 1:
            return parts[1] in self.models
        if parts[0] == "venues" and len(parts) > 1:
            if parts[1] not in self.venues:
                return False
            return len(parts) < 4 or parts[2] != "price_sets" or parts[3] in self.price_sets
        return True


def used_sources(used: Used) -> pd.DataFrame:
    """The catalog rows the inputs used (``sources_table`` of every file, filtered by ``Used.keeps``)."""
    table = sources_table()
    return table[table["item"].map(used.keeps)].reset_index(drop=True)


def stress_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The stress scorecard as the memo shows it: one row a shock, numbers rounded as printed."""
    rows = []
    for r in summary["scorecard"]:
        if not r["modelled"]:
            rows.append({"shock": r["shock"].replace("_", " "), "price / cheapest after": "-", "unshocked": "-",
                         "undercut survives": "not run", "months to first epoch at or above": "-",
                         "providers lost": "-",
                         "price rebound": "-", "subsidy share": "-"})
            continue
        ends = r.get("months_until_undercut_ends")
        rows.append({"shock": "none" if r["shock"] == "none" else r["shock"].replace("_", " "),
                     "price / cheapest after": _num(r["ratio_after"]), "unshocked": _num(r["base_ratio_after"]),
                     "undercut survives": {True: "yes", False: "no"}.get(r["undercut_survives"], "-"),
                     "months to first epoch at or above": "none within the horizon" if ends is None else _num(ends, 1),
                     "providers lost": str(int(r["providers_lost"])), "price rebound": _num(r["price_rebound"]),
                     "subsidy share": _num(r["subsidy_share"])})
    return pd.DataFrame(rows)
