"""The ``depinsim`` command line: run, sweep, memo, validate, schema, contracts build.

Bad input (a scenario, an override, an output folder, a chain that cannot be reached) prints one
paragraph to stderr and exits 2; a broken conservation law, or a chain that fails mid-run, exits 1 with
the law or the epoch named. Tracebacks are for bugs only.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .chain.hook import ChainError, ChainHook, ChainUnavailable
from .engine import PartialRun
from .engine import run as run_scenario
from .errors import ConservationError, InputError
from .loader import load_scenario
from .output import RUN_FILES, check_target, write_file, write_run
from .results import RunResult
from .scenario import json_schema

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Simulate a token-subsidised GPU marketplace against the AWS baseline.")
out_console = Console()
err_console = Console(stderr=True)

SetOption = Annotated[list[str], typer.Option(
    "--set", help="Override a scenario field: path.to.field=value (repeatable), e.g. "
                  "--set tokenomics.emission.tokens_per_day=0 or --set providers.0.count=50.")]


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[bold red]depinsim:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out: Annotated[Path | None,
                   typer.Option("--out", help="Run folder to create (default runs/<scenario name>).")] = None,
    set_: SetOption = [],  # noqa: B006 - typer reads the default, never mutates it
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed (same as --set seed=N).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")] = False,
    chain: Annotated[str | None, typer.Option(
        "--chain", help="Also settle every epoch through the Vyper contracts on a local chain and reconcile it "
                        "with the ledger: 'embedded' (in-process py-evm), 'anvil' (a node started and stopped "
                        "here; `npm ci` installs it) or a JSON-RPC URL.")] = None,
) -> None:
    """Run a scenario and write its results into a run folder."""
    overrides = [*set_, *([f"seed={seed}"] if seed is not None else [])]
    with ExitStack() as stack:
        try:
            sc = load_scenario(scenario, overrides)
            target = out if out is not None else Path("runs") / sc.name
            check_target(target, force)
            hook = _open_chain(chain, stack) if chain is not None else None
            result = _run_with_progress(sc, quiet, hook)
            write_run(result, target, force)
        except (InputError, ChainUnavailable) as exc:
            raise _fail(str(exc), 2) from None
        except ConservationError as exc:
            raise _fail(f"the run broke a conservation law, so no results were written: {exc}", 1) from None
        except PartialRun as exc:
            write_run(exc.result, target, force)
            done = exc.result.summary["partial"]["epochs_completed"]
            raise _fail(f"the chain failed in epoch {exc.epoch}, so the run stopped there: {exc}. The off-chain "
                        f"results of the {done} epochs simulated by then are in {target}/, marked partial in "
                        "summary.json.", 1) from None
        except ChainError as exc:
            raise _fail(f"the chain failed, so no results were written: {exc}", 1) from None
    if not quiet:
        _print_summary(result, target)


def _open_chain(spec: str, stack: ExitStack) -> ChainHook:
    """The hook for --chain; an anvil node started here is stopped when ``stack`` closes, errors included."""
    from .chain import open_chain

    label = "rpc"
    if spec == "anvil":
        from .chain.anvil import anvil_node

        (spec, _), label = stack.enter_context(anvil_node()), "anvil"
    hook = open_chain(spec, label)
    stack.callback(hook.close)
    return hook


def _run_with_progress(sc, quiet: bool, chain: ChainHook | None = None) -> RunResult:  # type: ignore[no-untyped-def]
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeElapsedColumn(), console=err_console, transient=True,
                        disable=quiet or not err_console.is_terminal)
    with progress:
        task = progress.add_task(f"simulating {sc.name}" + (" (chain on)" if chain is not None else ""), total=1.0)
        return run_scenario(sc, progress=lambda frac: progress.update(task, completed=frac), chain=chain)


def _print_summary(result: RunResult, target: Path) -> None:
    s = result.summary
    table = Table(title=f"{s['scenario']}: {s['horizon_days']:g} days, seed {s['seed']}", title_justify="left")
    columns = ("GPU class", "network $/GPU-h", "w/o subsidy", "AWS on-demand", "ratio", "utilisation", "subsidy share")
    for col in columns:
        table.add_column(col, justify="right" if col != "GPU class" else "left")
    for cls, c in s["by_class"].items():
        table.add_row(cls, _fmt(c["network_price_usd_per_gpu_hour"]), _fmt(c["price_without_subsidy_usd_per_gpu_hour"]),
                      _fmt(c["aws_on_demand_usd_per_gpu_hour"]), _fmt(c["undercut_ratio_on_demand"]),
                      _pct(c["utilisation"]), _pct(c["subsidy_share"]))
    out_console.print(table)
    jobs = s["jobs"]
    tokens, providers = s["tokens"], s["providers"]
    out_console.print(f"jobs: {jobs['submitted']:,} submitted, {jobs['network']:,} network, {jobs['cloud']:,} AWS, "
                      f"{jobs['abandoned']:,} abandoned, {jobs['queued_at_end']:,} still waiting; "
                      f"providers {providers['start']:,} -> {providers['end']:,} ({providers['entries']:,} in, "
                      f"{providers['exits']:,} out)")
    out_console.print(f"tokens: {tokens['emitted']:,.0f} {tokens['symbol']} emitted (${tokens['reward_usd']:,.0f} "
                      f"to providers), {tokens['burned']:,.0f} burned, price ${tokens['price_start_usd']:,.4g} -> "
                      f"${tokens['price_end_usd']:,.4g}; conservation checks passed.")
    if "chain" in s:
        c = s["chain"]
        out_console.print(f"chain ({c['chain']}): {c['transactions']:,} transactions, {c['gas_used']:,} gas; "
                          f"reconciliation exact ({c['values_compared']:,} balances compared).")
    out_console.print(f"wrote {target}/ ({', '.join(RUN_FILES)})", highlight=False)


def _fmt(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.0f}%"


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: SetOption = [],  # noqa: B006
) -> None:
    """Check a scenario file (and overrides) without running it."""
    try:
        sc = load_scenario(scenario, set_)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    providers = sum(g.count for g in sc.providers)
    out_console.print(f"{scenario}: valid (scenario {sc.name!r}, {providers:,} provider nodes in "
                      f"{len(sc.providers)} groups, {len(sc.workload.streams)} job streams, "
                      f"{sc.horizon_days:g} days).", highlight=False)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the scenario JSON Schema (for editors: every field, its unit and what it allows)."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


@app.command("sweep")
def sweep_command(
    spec: Annotated[Path, typer.Argument(help="Sweep file (sweeps/NAME.yaml): base scenario and parameter axes.")],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel runs: 1 runs serially; more start a "
                                                                  "Dask LocalCluster of that many workers.")] = 1,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Use an existing Dask cluster at this "
                                                                      "address (tcp://HOST:PORT).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Sweep folder (default runs/sweeps/<name>); re-running "
                                                           "into it resumes from its cache.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Run a parameter sweep (resumable: finished runs are cached in the sweep folder)."""
    from .sweep import sweep, sweep_epochs
    from .sweep_spec import load_sweep_spec, rebased_spec

    try:
        sp = load_sweep_spec(spec)
        target = out if out is not None else Path("runs") / "sweeps" / sp.name
        if target.exists() and not target.is_dir():
            raise InputError(f"Output path {target} exists and is not a folder. Give --out a folder path.")
        backend = "dask" if scheduler is not None or workers > 1 else "serial"
        try:
            runs = sweep(sp.base, sp.axes(), method=sp.method, n=sp.n, replications=sp.replications, seed=sp.seed,
                         backend=backend, address=scheduler, cache_dir=target / "cache", progress=not quiet,
                         workers=workers, fixed=sp.fixed(), common_random_numbers=sp.common_random_numbers)
        except KeyboardInterrupt:
            raise _fail(f"interrupted; finished runs are cached in {target / 'cache'}: run the same command to "
                        "resume.", 130) from None
        write_file(target / "sweep.yaml", lambda p: p.write_text(rebased_spec(spec, target), encoding="utf-8"))
        write_file(target / "runs.parquet", lambda p: runs.to_parquet(p, index=False))
        epochs = sweep_epochs(runs)
        write_file(target / "epochs.parquet", lambda p: epochs.to_parquet(p, index=False))
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    failed = runs[runs["status"] != "ok"]
    if not quiet:
        out_console.print(f"sweep {sp.name}: {len(runs):,} runs ({runs.attrs['from_cache']:,} from the cache), "
                          f"{len(runs) - len(failed):,} ok, {len(failed):,} failed; wrote {target}/ (runs.parquet, "
                          "epochs.parquet, sweep.yaml, cache/)", highlight=False)
    for _, row in failed.head(5).iterrows():
        err_console.print(f"run {row['run_id']} failed: {row['error']}", highlight=False, soft_wrap=True)
    if len(failed) == len(runs):
        raise typer.Exit(1)


@app.command()
def memo(
    inputs: Annotated[list[Path], typer.Argument(help="Run folders (depinsim run) and sweep folders "
                                                      "(depinsim sweep).")],
    out: Annotated[Path, typer.Option("--out", help="Memo folder to create: memo.md, memo.html, figures/.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing memo folder.")] = False,
) -> None:
    """Write the investment memo (Markdown and self-contained HTML, figures as PNG and SVG)."""
    from analysis import write_memo

    try:
        write_memo(inputs, out, force)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    out_console.print(f"wrote {out}/ (memo.md, memo.html, figures/)", highlight=False)


contracts_app = typer.Typer(no_args_is_help=True, help="The Vyper contracts the chain hooks deploy.")
app.add_typer(contracts_app, name="contracts")


@contracts_app.command("build")
def contracts_build() -> None:
    """Compile contracts/*.vy with the pinned Vyper into contracts/build/*.json (byte-for-byte reproducible)."""
    from .chain.build import ArtifactError, build

    try:
        written = build()
    except ArtifactError as exc:
        raise _fail(str(exc), 2) from None
    for path in written:
        out_console.print(f"wrote {path}", highlight=False)


def main() -> None:
    app()
