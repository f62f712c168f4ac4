"""Command line: a thin wrapper over ``experiment.run``, ``report.report`` and ``models``.

Every command exits 0 on success and non-zero with a one-line ``error: ...`` reason on failure
(bad config, missing file, missing model, unreachable endpoint); tracebacks are for bugs only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragbench.config import ConfigError, expand, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB results file")]
DEFAULT_DB = Path("results") / "ragbench.duckdb"


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def validate(experiment: Path) -> None:
    """Check an experiment file and print its trials."""
    try:
        config = load_config(experiment)
        trials = expand(config)
    except ConfigError as exc:
        _fail(str(exc))
    typer.echo(f"{config.name}: {len(trials)} trial(s)")
    for trial in trials:
        typer.echo(f"  {trial.trial_id}  {trial.label}")


@app.command()
def run(
    experiment: Path,
    limit: Annotated[int | None, typer.Option(help="questions per trial")] = None,
    db: DbOption = DEFAULT_DB,
    resume: Annotated[str | None, typer.Option(help="run id to finish")] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Run an experiment and log every score in DuckDB, then print the comparison table."""
    from ragbench.data import DataError
    from ragbench.experiment import run as run_experiment
    from ragbench.models import ModelError
    from ragbench.report import report as make_report

    try:
        result = run_experiment(experiment, limit=limit, db=db, resume=resume, progress=progress)
        rep = make_report(result.experiment, db, run_id=result.run_id)
    except (ConfigError, DataError, ModelError, LookupError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(rep.table)
    stats = result.stats
    typer.echo(
        f"\nrun {result.run_id}: {len(result.trials)} trials in {stats['seconds']:.0f}s; "
        f"{stats['chunks_embedded']} chunks embedded ({stats['chunks_from_cache']} cached), "
        f"{stats['generated']} answers generated "
        f"({stats['generation_cache_hits']} cached), {stats['judged']} judged scores "
        f"({stats['judge_cache_hits']} cached, {stats['judge_failures']} failed)"
    )
    typer.echo(f"charts: {', '.join(str(c) for c in rep.charts)}")


@app.command()
def report(
    experiment: str,
    db: DbOption = DEFAULT_DB,
    run_id: Annotated[str | None, typer.Option("--run", help="run id (default: latest)")] = None,
) -> None:
    """Print the comparison table of an experiment's latest run and write its charts."""
    from ragbench.report import report as make_report

    if not db.is_file():
        _fail(f"results file not found: {db}")
    try:
        rep = make_report(experiment, db, run_id=run_id)
    except (LookupError, KeyError, ValueError) as exc:  # ValueError: StoreError, unusable file
        _fail(str(exc).strip("'\""))
    typer.echo(rep.table)
    typer.echo(f"charts: {', '.join(str(c) for c in rep.charts)}")


@app.command()
def models() -> None:
    """Prepare the local models (assemble and verify the GGUF) and say what is missing."""
    from ragbench.models import check_models

    rows = check_models()
    width = max(len(r[0]) for r in rows)
    for name, status, detail in rows:
        typer.echo(f"{name:<{width}}  {status:<7}  {detail}")
    if any(status != "ok" for _, status, _ in rows):
        _fail("some local models are missing (see above)", code=1)


@app.command()
def gate(
    experiment: str,
    minimum: Annotated[
        list[str] | None,
        typer.Option(
            "--min",
            metavar="METRIC=VALUE",
            help="minimum mean of a metric, e.g. faithfulness=0.6 (repeatable)",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            metavar="RUN_ID",
            help="fail on a significant regression against this run (paired test, Holm)",
        ),
    ] = None,
    min_effect: Annotated[
        float, typer.Option(help="with --baseline: smallest drop of a mean that fails")
    ] = 0.02,
    trial: Annotated[
        str,
        typer.Option(help="trial id, or 'best': highest mean of the first --min (or run) metric"),
    ] = "best",
    db: DbOption = DEFAULT_DB,
) -> None:
    """Fail (exit 1) below a minimum, or on a significant regression vs --baseline; for CI."""
    from ragbench.gate import GateError, check_gate, check_regression, parse_minimums
    from ragbench.store import Store, StoreError

    if not minimum and baseline is None:
        _fail("give at least one minimum (e.g. --min faithfulness=0.6) or --baseline RUN_ID")
    try:
        store = Store(db, read_only=True)
        results = []
        if minimum:
            results.append(check_gate(store, experiment, parse_minimums(minimum), trial=trial))
        if baseline is not None:
            results.append(
                check_regression(store, experiment, baseline, trial=trial, min_effect=min_effect)
            )
    except (GateError, StoreError) as exc:
        _fail(str(exc))
    typer.echo("\n\n".join(r.table() for r in results))
    if not all(r.passed for r in results):
        raise typer.Exit(1)


@app.command()
def diff(
    run_a: Annotated[str, typer.Argument(help="reference run id (e.g. the baseline)")],
    run_b: Annotated[str, typer.Argument(help="run id compared with it")],
    db: DbOption = DEFAULT_DB,
    metric: Annotated[str | None, typer.Option(help="compare this metric only")] = None,
    trial: Annotated[str, typer.Option(help="trial id of RUN_B, or 'best'")] = "best",
    rows: Annotated[int, typer.Option(help="questions shown per metric and direction")] = 10,
) -> None:
    """Per metric, the questions that improved or regressed from RUN_A to RUN_B, with a paired test."""
    from ragbench.diff import DiffError, diff_runs
    from ragbench.store import StoreError

    try:
        result = diff_runs(db, run_a, run_b, metric=metric, trial=trial, max_rows=rows)
    except (DiffError, StoreError) as exc:
        _fail(str(exc))
    typer.echo(result.text())


@app.command("judge-check")
def judge_check(
    dataset: Annotated[str, typer.Argument(help="'begin-wow' or a CSV with context,answer,label")],
    split: Annotated[str, typer.Option(help="begin-wow split: dev | test")] = "dev",
    limit: Annotated[int | None, typer.Option(help="label-stratified sample size")] = None,
    judge: Annotated[str, typer.Option(help="judge provider: local | fake")] = "local",
    db: DbOption = DEFAULT_DB,
    threshold: Annotated[float, typer.Option(help="faithful when score >= this")] = 0.5,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Measure how well the faithfulness judge agrees with human labels (stored as a run)."""
    from ragbench.data import DataError
    from ragbench.judge_check import run_judge_check
    from ragbench.models import ModelError

    if judge not in ("local", "fake"):
        _fail(f"unknown judge '{judge}'; valid: local, fake")
    try:
        result = run_judge_check(
            dataset, split=split, limit=limit, judge=judge, db=db, threshold=threshold,
            progress=progress,
        )
    except (DataError, ModelError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(result.summary())


notebook_app = typer.Typer(no_args_is_help=True, help="Execute the notebooks headlessly (papermill).")
app.add_typer(notebook_app, name="notebook")


@notebook_app.command("run")
def notebook_run(
    experiment: Path,
    limit: Annotated[int | None, typer.Option(help="questions per trial")] = None,
    db: DbOption = DEFAULT_DB,
    notebook: Annotated[
        Path | None,
        typer.Option(help="notebook to execute (default: notebooks/01-run-experiment.ipynb)"),
    ] = None,
) -> None:
    """Execute the run notebook for an experiment; the executed copy goes to results/<name>/."""
    from ragbench.notebooks import NotebookError, run_notebook

    try:
        out = run_notebook(experiment, limit=limit, db=db, notebook=notebook)
    except (ConfigError, NotebookError) as exc:
        _fail(str(exc))
    typer.echo(f"executed notebook: {out}")


if __name__ == "__main__":
    app()
