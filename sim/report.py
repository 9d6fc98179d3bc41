"""What the command line prints: the run, replication and stress tables (rich), on stdout; messages go to
stderr (``console(stderr=True)``). Rich is imported when something is printed, so ``--help`` stays quick."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from .results import RunResult


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def print_replications(s: dict[str, Any], target: Path, files: list[str]) -> None:
    from rich.table import Table

    def band(entry: dict[str, Any] | None, percent: bool = False) -> str:
        if entry is None or entry["p50"] is None:
            return "-"
        show = pct if percent else fmt
        return f"{show(entry['p50'])} [{show(entry['p10'])}-{show(entry['p90'])}]"

    out = console()
    table = Table(title=f"{s['scenario']}: {s['horizon_days']:g} days, {s['replications']} seeds from root seed "
                        f"{s['seed']} (median [P10-P90])", title_justify="left")
    for col in ("GPU class", "network $/GPU-h", "ratio on-demand", "p95 ratio", f"months < {s['below_share']:g}",
                "utilisation"):
        table.add_column(col, justify="right" if col != "GPU class" else "left")
    for cls, c in s["by_class"].items():
        table.add_row(cls, band(c.get("network_price_usd_per_gpu_hour")), band(c.get("undercut_ratio_on_demand")),
                      band(c.get("p95_ratio_on_demand")), band(c.get("months_below_on_demand")),
                      band(c.get("utilisation"), percent=True))
    out.print(table)
    out.print(f"wrote {target}/ ({', '.join(files)})", highlight=False)


def alternatives_table(s: dict[str, Any]) -> Any:
    """Network price / each alternative's price, per class, and against the cheapest; a comparison with
    another GPU's price converted by throughput is marked (work-eq.)."""
    from rich.table import Table

    names = s["cloud"]["alternatives"]
    table = Table(title="undercut ratio (network / alternative, volume-weighted; < 1 is an undercut)",
                  title_justify="left")
    table.add_column("GPU class")
    for name in names:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_column("cheapest", justify="right")
    for cls, c in s["by_class"].items():
        cells = []
        for name in names:
            alt = c["alternatives"][name]
            mark = " (work-eq.)" if "work-equivalent" in alt["reference_offer"] else ""
            cells.append(fmt(alt["undercut_ratio"]) + mark if alt["reference_offer"] != "none" else "-")
        table.add_row(cls, *cells, fmt(c["cheapest_alternative"]["undercut_ratio"]))
    return table


def print_summary(result: RunResult, target: Path, files: list[str]) -> None:
    from rich.table import Table

    from .catalog import display_unit

    out = console()
    s = result.summary
    table = Table(title=f"{s['scenario']}: {s['horizon_days']:g} days, seed {s['seed']}", title_justify="left")
    columns = ("GPU class", "network $/GPU-h", "w/o subsidy", "AWS on-demand", "ratio", "p95 ratio",
               f"months < {s['below_share']:g}", "utilisation", "subsidy share")
    for col in columns:
        table.add_column(col, justify="right" if col != "GPU class" else "left")
    for cls, c in s["by_class"].items():
        factor = display_unit(cls)[1]  # a storage class's prices per TiB-month, not per TiB-hour
        label = cls if factor == 1.0 else f"{cls} $/TiB-mo"
        table.add_row(label, fmt(c["network_price_usd_per_gpu_hour"] * factor),
                      fmt(c["price_without_subsidy_usd_per_gpu_hour"] * factor),
                      fmt(c["aws_on_demand_usd_per_gpu_hour"] * factor), fmt(c["undercut_ratio_on_demand"]),
                      fmt(c["p95_ratio_on_demand"]), f"{c['months_below_on_demand']:.1f}", pct(c["utilisation"]),
                      pct(c["subsidy_share"]))
    out.print(table)
    if s["cloud"]["alternatives"] != ["aws_on_demand"]:
        out.print(alternatives_table(s))
    if "incidence" in s:
        out.print(incidence_table(s["incidence"]))
    jobs = s["jobs"]
    tokens, providers = s["tokens"], s["providers"]
    went = ", ".join(f"{v:,} {k}" for k, v in jobs["cloud_by_alternative"].items() if v)
    out.print(f"jobs: {jobs['submitted']:,} submitted, {jobs['network']:,} network, {jobs['cloud']:,} centralised "
              f"({went or 'none'}), "
              f"{jobs['abandoned']:,} abandoned, {jobs['queued_at_end']:,} still waiting; "
              f"providers {providers['start']:,} -> {providers['end']:,} ({providers['entries']:,} in, "
              f"{providers['exits']:,} out)")
    out.print(f"tokens: {tokens['emitted']:,.0f} {tokens['symbol']} emitted (${tokens['reward_usd']:,.0f} "
              f"to providers), {tokens['burned']:,.0f} burned, price ${tokens['price_start_usd']:,.4g} -> "
              f"${tokens['price_end_usd']:,.4g}; conservation checks passed.")
    if "chain" in s:
        c = s["chain"]
        out.print(f"chain ({c['chain']}): {c['transactions']:,} transactions, {c['gas_used']:,} gas; "
                  f"reconciliation exact ({c['values_compared']:,} balances compared).")
    out.print(f"wrote {target}/ ({', '.join(files)})", highlight=False)


def incidence_table(incidence: dict[str, Any]) -> Table:
    """Where each class's reward went, against the paired run without emission."""
    from rich.table import Table

    from .incidence import incidence_frame

    frame = incidence_frame(incidence)
    table = Table(title="subsidy incidence (against the same run with no emission)", title_justify="left")
    for col in frame.columns:
        table.add_column(col, justify="right" if col != "GPU class" else "left")
    for row in frame.itertuples(index=False):  # the class, four prices and rates, then the shares
        table.add_row(str(row[0]), *(fmt(x) for x in row[1:5]), *(pct(x) for x in row[5:]))
    return table


def fmt(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.0f}%"


def print_scorecard(card: Any, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("shock", "ratio after", "unshocked", "survives", "months to first >= 1", "providers lost",
                "price rebound", "subsidy share"):
        table.add_column(col, justify="left" if col == "shock" else "right")
    for row in card.to_dict("records"):
        if not row["modelled"]:
            table.add_row(str(row["shock"]), *["-"] * 6, "not run")
            continue
        ends = row["months_until_undercut_ends"]
        survives = {True: "yes", False: "no", None: "-"}[row["undercut_survives"]]
        table.add_row(str(row["shock"]), fmt(row["ratio_after"]), fmt(row["base_ratio_after"]), survives,
                      "-" if ends is None or ends != ends else f"{ends:.1f}", f"{int(row['providers_lost'])}",
                      pct(row["price_rebound"]), pct(row["subsidy_share"]))
    console().print(table)
