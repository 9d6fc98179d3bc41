"""The ``depinsim`` command line: run, sweep, memo, validate, schema, contracts build.

Bad input (a scenario, an override, an output folder, a chain that cannot be reached) prints one
paragraph to stderr and exits 2; a broken conservation law, or a chain that fails mid-run, exits 1 with
the law or the epoch named; Ctrl-C prints one line (what was kept, how to resume) and exits 130.
Tracebacks are for bugs only. Each command imports what it needs when it runs, so ``--help`` and
``validate`` start quickly.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .report import console, print_replications, print_scorecard, print_summary
from .units import BELOW_SHARE

if TYPE_CHECKING:

    from .chain.hook import ChainHook
    from .folders import Figure
    from .jobsink import JobsTo
    from .results import RunResult
    from .schema import Scenario

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Simulate a token-subsidised GPU marketplace against the AWS baseline.")


def _version(value: bool) -> None:
    if value:
        from .summary import package_version

        typer.echo(f"depinsim {package_version()}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Simulate a token-subsidised GPU marketplace against the AWS baseline."""

SetOption = Annotated[list[str], typer.Option(
    "--set", help="Override a scenario field: path.to.field=value (repeatable), e.g. --set "
                  "tokenomics.emission.tokens_per_day=0 or --set providers.h100_datacentre.count=50 (a list "
                  "item by its name or its index).")]
INTERRUPTED = 130
SHOWN_FAILURES = 10  # a sweep's failed runs listed on the terminal; all are in runs.parquet
_reported: list[str] = []  # what _fail printed, so main adds nothing to a reported interrupt


def _fail(message: str, code: int) -> typer.Exit:
    console(stderr=True).print(f"[bold red]depinsim:[/] {message}", highlight=False, soft_wrap=True)
    _reported.append(message)
    return typer.Exit(code)


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out: Annotated[Path | None,
                   typer.Option("--out", help="Run folder to create (default runs/<scenario name>).")] = None,
    set_: SetOption = [],  # noqa: B006 - typer reads the default, never mutates it
    seed: Annotated[int | None, typer.Option("--seed", help="Root seed (same as --set seed=N).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder (one depinsim wrote, "
                                                        "holding nothing else).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")] = False,
    counterfactual: Annotated[bool, typer.Option(
        "--counterfactual", help="Also run the scenario with no emission on the same random draws and measure "
                                 "the subsidy's incidence (same as --set counterfactual=true; twice the run time).")
    ] = False,
    chain: Annotated[str | None, typer.Option(
        "--chain", help="Also settle every epoch through the Vyper contracts on a local chain and reconcile it "
                        "with the ledger: 'embedded' (in-process revm), 'py-evm' (in process, slow: a cross-check "
                        "on a second EVM), 'anvil' (a node started and stopped here; `npm ci` installs it) or a "
                        "JSON-RPC URL.")] = None,
    below: Annotated[float, typer.Option(
        "--below", help="The share of each alternative's price whose months the summary counts (months_below): "
                        "0.5 asks how long the network stays below half of AWS. Changes no table.")] = BELOW_SHARE,
    replications: Annotated[int, typer.Option(
        "--replications", min=1, help="Run the scenario on this many seeds (children of its seed) and write "
                                      "each seed's summary and epochs with their P10/P50/P90 bands.")] = 1,
    workers: Annotated[int, typer.Option("--workers", min=1, help="With --replications: parallel runs (a "
                                                                  "process pool; 1 runs them serially).")] = 1,
) -> None:
    """Run a scenario and write its results into a run folder."""
    from .chain.hook import ChainError, ChainUnavailable
    from .errors import ConservationError, InputError
    from .runner import PartialRun

    overrides = [*set_, *([f"seed={seed}"] if seed is not None else []),
                 *(["counterfactual=true"] if counterfactual else [])]
    if replications > 1:
        _run_replications(scenario, overrides, replications, workers, out, force, quiet, chain, below)
        return
    target: Path | None = None
    with ExitStack() as stack:
        try:
            from .folders import RunFolder
            from .loader import load_scenario

            if not below > 0:
                raise InputError(f"--below {below:g}: the share of the alternative's price must be above 0 "
                                 "(0.5: half of AWS; 1: any undercut).")
            sc = load_scenario(scenario, overrides)
            target = out if out is not None else Path("runs") / sc.name
            folder = RunFolder(target)
            folder.check_target(force)
            streamed = folder.jobs_stage()
            stack.callback(streamed.unlink, missing_ok=True)  # ours: moved into the folder, or left by a failure
            hook = _open_chain(chain, stack) if chain is not None else None
            result = _run_with_progress(sc, quiet, hook, below, streamed)
            files = folder.write(result, _run_figures(result), force)
        except (InputError, ChainUnavailable) as exc:
            raise _fail(str(exc), 2) from None
        except ConservationError as exc:
            raise _fail(f"the run broke a conservation law, so no results were written: {exc}", 1) from None
        except PartialRun as exc:
            RunFolder(target).write(exc.result, _run_figures(exc.result), force)  # type: ignore[arg-type]
            done = exc.result.summary["partial"]["epochs_completed"]
            raise _fail(f"the chain failed in epoch {exc.epoch} and the run stopped: {exc}. The off-chain "
                        f"results of the {done} epochs simulated by then are in {target}/, marked partial in "
                        "summary.json.", 1) from None
        except ChainError as exc:
            raise _fail(f"the chain failed, so no results were written: {exc}", 1) from None
        except KeyboardInterrupt:
            kept = f" ({target} is as it was)" if target is not None and target.exists() else ""
            raise _fail(f"interrupted; nothing was written{kept}. A run folder is written only once its run "
                        "has finished: run the same command again.", INTERRUPTED) from None
    _warn(result.summary["warnings"])
    if not quiet:
        print_summary(result, target, files)


def _run_replications(scenario: Path, overrides: list[str], replications: int, workers: int, out: Path | None,
                      force: bool, quiet: bool, chain: str | None, below: float) -> None:
    """``run --replications N``: the scenario on N seeds into a replicated run folder."""
    from .errors import InputError
    from .folders import ReplicatedRunFolder

    target: Path | None = None
    try:
        from analysis.curves import pricing_curve

        from .loader import load_scenario
        from .replicate import ReplicationError, replicate

        if chain is not None:
            raise InputError("--chain applies to a single run, not to --replications: run one seed with it "
                             "(depinsim run FILE --seed SEED) or leave it out.")
        sc = load_scenario(scenario, overrides)
        target = out if out is not None else Path("runs") / sc.name
        folder = ReplicatedRunFolder(target)
        folder.check_target(force)
        done = replicate(sc, replications, backend="processes" if workers > 1 else "serial", workers=workers,
                         progress=not quiet, below=below)
        summary = done.summary()
        files = folder.write(done, {"pricing_curve": pricing_curve(done.bands(), summary)}, force)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except ReplicationError as exc:
        raise _fail(f"{exc}; nothing was written.", 1) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; nothing was written. Run the same command again.", INTERRUPTED) from None
    if not quiet:
        print_replications(summary, target, files)


def _run_figures(result: RunResult) -> dict[str, Figure]:
    """The figures of a run folder, drawn by analysis (the model draws nothing)."""
    from analysis.curves import pricing_curve

    return {"pricing_curve": pricing_curve(result.epochs, result.summary)}


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


def _run_with_progress(sc: Scenario, quiet: bool, chain: ChainHook | None = None,
                       below: float = BELOW_SHARE, jobs: JobsTo = "memory") -> RunResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .runner import run as run_scenario

    err = console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeElapsedColumn(), console=err, transient=True, disable=quiet or not err.is_terminal)
    with progress:
        task = progress.add_task(f"simulating {sc.name}" + (" (chain on)" if chain is not None else ""), total=1.0)
        return run_scenario(sc, progress=lambda frac: progress.update(task, completed=frac), chain=chain, below=below,
                            jobs=jobs)


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario, sweep or calibration YAML file.")],
    set_: SetOption = [],  # noqa: B006
) -> None:
    """Check a scenario, sweep or calibration file (and overrides) without running it."""
    from .errors import InputError
    from .loader import load_scenario
    from .sweep_spec import input_kind

    try:
        kind = input_kind(scenario)
        if kind == "sweep":
            _validate_sweep(scenario, set_)
            return
        if kind == "calibration":
            _validate_calibration(scenario, set_)
            return
        sc = load_scenario(scenario, set_)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    providers = sum(g.count for g in sc.providers)
    console().print(f"{scenario}: valid (scenario {sc.name!r}, {providers:,} provider nodes in "
                     f"{len(sc.providers)} groups, {len(sc.workload.streams)} job streams, "
                     f"{sc.horizon_days:g} days).", highlight=False)
    _warn(sc.warnings())


def _validate_sweep(path: Path, overrides: list[str]) -> None:
    """A sweep file is valid when it and its base scenario at every point of its design are."""
    from .errors import InputError
    from .sweep import design, invalid_points
    from .sweep_spec import load_sweep_spec

    sp = load_sweep_spec(path, overrides)
    points = design(sp.axes(), sp.method, sp.n, sp.seed)
    invalid = invalid_points(sp.base, points, sp.fixed())
    if invalid:
        shown = "; ".join(f"point {i} ({_point(points, i)}): {error}" for i, error in invalid[:3])
        more = f" ({len(invalid) - 3} more not shown.)" if len(invalid) > 3 else ""
        raise InputError(f"Sweep file {path}: {len(invalid)} of its {len(points)} points give an invalid scenario "
                         f"(a sweep would record them as failed runs): {shown}.{more}")
    runs = len(points) * sp.replications
    console().print(f"{path}: valid (sweep {sp.name!r} over {sp.base}: {len(points):,} points x {sp.replications} "
                     f"replications = {runs:,} runs, method {sp.method}, seed {sp.seed}).", highlight=False)


def _validate_calibration(path: Path, overrides: list[str]) -> None:
    from analysis.calibrate import load_calibration_spec

    from .errors import InputError

    if overrides:
        raise InputError(f"{path} is a calibration file: --set applies to scenario and sweep files. Put the "
                         "overrides in the calibration file's set mapping.")
    sp = load_calibration_spec(path)
    console().print(f"{path}: valid (calibration {sp.name!r} over {sp.base}: {len(sp.params)} parameters fitted "
                     f"to {len(sp.targets)} targets).", highlight=False)


def _point(points: Any, i: int) -> str:
    return ", ".join(f"{k}={v}" for k, v in points.iloc[i].items())


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        console(stderr=True).print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Print the scenario JSON Schema (for editors: every field, its unit and what it allows)."""
    import json

    from .atomic import write_file
    from .schema import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    if out.exists() and (out.is_dir() or not force):
        what = "is a folder" if out.is_dir() else "already exists; pass --force to replace it"
        raise _fail(f"Output file {out} {what}. Give --out a new file path.", 2)
    write_file(out, lambda p: p.write_text(text, encoding="utf-8"))


@app.command("sweep")
def sweep_command(
    spec: Annotated[Path, typer.Argument(help="Sweep file (sweeps/NAME.yaml): base scenario and parameter axes.")],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel runs: 1 runs serially; more start a "
                                                                  "Dask LocalCluster of that many workers.")] = 1,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Use an existing Dask cluster at this "
                                                                      "address (tcp://HOST:PORT).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Sweep folder (default runs/sweeps/<name>); re-running "
                                                           "the same sweep into it resumes from its cache.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the results of another sweep in that folder "
                                                        "(one depinsim wrote, holding nothing else).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    set_: Annotated[list[str], typer.Option(
        "--set", help="Override a scenario field in every run: path.to.field=value (repeatable; a list item by "
                      "its name or index). Added to the sweep file's set (the command line wins) and written "
                      "into the folder's sweep.yaml.")] = [],  # noqa: B006
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Root seed of the sweep (replaces the sweep "
                                                                   "file's seed).")] = None,
    below: Annotated[float | None, typer.Option(
        "--below", help="The share of each alternative's price whose months every run's months_below counts "
                        "(replaces the sweep file's below, default 0.5; written into sweep.yaml).")] = None,
) -> None:
    """Run a parameter sweep (resumable: finished runs are cached in the sweep folder).

    Exits 1 when any run failed, after writing the rest; the failures are listed, and all of them are in
    runs.parquet (status, error).
    """
    from .errors import InputError
    from .folders import SweepFolder

    target: Path | None = None
    try:
        from .sweep import sweep, sweep_epochs
        from .sweep_spec import load_sweep_spec, rebased_spec

        sp = load_sweep_spec(spec, set_, seed, below)
        target = out if out is not None else Path("runs") / "sweeps" / sp.name
        folder = SweepFolder(target)
        folder.open(rebased_spec(spec, target, set_, seed, below), force)
        backend = "dask" if scheduler is not None or workers > 1 else "serial"
        runs = sweep(sp.base, sp.axes(), method=sp.method, n=sp.n, replications=sp.replications, seed=sp.seed,
                     backend=backend, address=scheduler, cache_dir=folder.cache_dir, progress=not quiet,
                     workers=workers, fixed=sp.fixed(), common_random_numbers=sp.common_random_numbers,
                     below=sp.below)
        folder.write_results(runs, sweep_epochs(runs))
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt:
        if target is None or not SweepFolder(target).cache_dir.is_dir():
            raise _fail("interrupted before the sweep started; nothing was written.", INTERRUPTED) from None
        raise _fail(f"interrupted; the finished runs are cached in {target / SweepFolder.CACHE}: run the same command "
                    "to resume from them.", INTERRUPTED) from None
    failed = runs[runs["status"] != "ok"]
    if not quiet:
        console().print(f"sweep {sp.name}: {len(runs):,} runs ({runs.attrs['from_cache']:,} from the cache), "
                         f"{len(runs) - len(failed):,} ok, {len(failed):,} failed; wrote {target}/ (runs.parquet, "
                         "epochs.parquet, sweep.yaml, cache/)", highlight=False)
    if len(failed):
        err = console(stderr=True)
        for _, row in failed.head(SHOWN_FAILURES).iterrows():
            err.print(f"run {row['run_id']} (point {row['point']}, replication {row['replication']}) failed: "
                      f"{row['error']}", highlight=False, soft_wrap=True)
        more = f"; {len(failed) - SHOWN_FAILURES:,} more in runs.parquet" if len(failed) > SHOWN_FAILURES else ""
        raise _fail(f"{len(failed):,} of {len(runs):,} runs failed{more} (the others are written and "
                    "cached).", 1)


@app.command("stress")
def stress_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    out: Annotated[Path | None, typer.Option("--out", help="Stress folder to create (default runs/stress/<scenario "
                                                           "name>).")] = None,
    month: Annotated[float | None, typer.Option("--month", help="Month the shocks hit (default: a third of the "
                                                                "horizon, at most 12).")] = None,
    set_: SetOption = [],  # noqa: B006
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel runs (a process pool; 1: serial).")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing stress folder (one depinsim wrote, "
                                                        "holding nothing else).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or scorecard table.")] = False,
) -> None:
    """Run a scenario against the stress battery (token crash, emission halved, the cheapest alternative cut
    45%, demand halved, a new GPU generation) and write the scorecard."""
    from .errors import InputError
    from .folders import StressFolder

    try:
        from analysis.stress import stress_figure

        from .loader import load_scenario
        from .stress import stress

        sc = load_scenario(scenario, set_)
        target = out if out is not None else Path("runs") / "stress" / sc.name
        folder = StressFolder(target)
        folder.check_target(force)
        result = stress(sc, month, backend="processes" if workers > 1 else "serial", workers=workers,
                        progress=not quiet)
        figure = stress_figure(result.epochs, result.gpu_class, result.month, sc.name)
        files = folder.write(result, {"stress": figure}, force)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; nothing was written.", INTERRUPTED) from None
    if not quiet:
        print_scorecard(result.scorecard, f"{sc.name}: shocks at month {result.month:g}, {result.gpu_class} "
                                            "against the cheapest alternative")
        console().print(f"wrote {target}/ ({', '.join(files)})", highlight=False)


@app.command()
def calibrate(
    spec: Annotated[Path, typer.Argument(help="Calibration file: base scenario, parameters with bounds, targets.")],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel runs per evaluated point: 1 runs "
                                                                  "serially; more use a process pool.")] = 1,
) -> None:
    """Fit scenario parameters to observed targets (scipy least_squares over replicated means) and print the
    fit report and the fitted values as --set overrides."""
    from .errors import InputError

    try:
        from analysis.calibrate import load_calibration_spec

        sp = load_calibration_spec(spec)
        fit = sp.run(backend="processes" if workers > 1 else "serial", workers=workers)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; nothing was written (a calibration writes nothing).", INTERRUPTED) from None
    out = console()
    out.print(fit.report(), highlight=False)
    out.print("as overrides: " + " ".join(f"--set {o}" for o in fit.overrides()), highlight=False, soft_wrap=True)


@app.command()
def memo(
    inputs: Annotated[list[Path], typer.Argument(help="Run folders (depinsim run) and sweep folders "
                                                      "(depinsim sweep).")],
    out: Annotated[Path, typer.Option("--out", help="Memo folder to create: memo.md, memo.html, figures/.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing memo folder (one depinsim wrote, "
                                                        "holding nothing else).")] = False,
) -> None:
    """Write the investment memo (Markdown and self-contained HTML, figures as PNG and SVG)."""
    from .errors import InputError

    try:
        from analysis.memo import write_memo

        write_memo(inputs, out, force)
    except InputError as exc:
        raise _fail(str(exc), 2) from None
    except KeyboardInterrupt:
        raise _fail(f"interrupted; nothing was written ({out} is as it was before).", INTERRUPTED) from None
    console().print(f"wrote {out}/ (memo.md, memo.html, memo.pdf, figures/)", highlight=False)


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
        console().print(f"wrote {path}", highlight=False)


def main() -> None:
    """Run the command line. Ctrl-C outside a command's own handler (while the command line parses or
    loads) is one line and exit code 130 too: typer turns it into a silent exit 130."""
    try:
        code = app(standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    except typer.TyperException as exc:  # a usage error (an unknown option, a missing argument): exit 2
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            sys.stderr.write(f"Error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    if code == INTERRUPTED:
        if not _reported:
            sys.stderr.write("depinsim: interrupted before anything was written.\n")
        interrupted_exit()
    sys.exit(code if isinstance(code, int) else 0)


def interrupted_exit() -> None:
    """Exit with code 130. Every resource was released by the handlers on the way out; CPython would
    otherwise turn the exit into a death by SIGINT (-2 to a parent process) when the KeyboardInterrupt
    passed through compiled code (pydantic's validators, numba), so the code would depend on where
    Ctrl-C landed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)
