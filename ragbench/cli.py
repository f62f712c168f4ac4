"""Command line: a thin wrapper over ``experiment.run``, ``report.report`` and ``models``.

Every command exits 0 on success. Bad input (a bad config, a missing, unreadable or wrong file, an
invalid option value such as ``--limit 0``) ends in exactly one line ``error: ...`` on stderr and
exit code 2. A command that ran but failed (a run that could not score what it should, a failing
gate, missing models, a report that could not be written) explains itself and exits 1. An
unexpected exception is also one ``error:`` line (exit 3) unless ``RAGBENCH_DEBUG=1`` asks for
the traceback. Every line printed passes through ``redact.redact`` first: no configured API key or
URL password reaches the terminal or a CI log. Those rules live in ``config/exits.py`` (an error
line is cut at ``MAX_MESSAGE`` characters there); the commands here parse options, call the library
and print. A command loads its config once and hands the loaded object on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ragbench.config.exits import EXIT_FAILED, OneLineGroup, fail, remember, say
from ragbench.config.experiment import ConfigError, ExperimentConfig, expand, load_config
from ragbench.results.label_cli import label_app
from ragbench.store import DEFAULT_DB  # the store's models load where used, not at start

app = typer.Typer(
    cls=OneLineGroup, add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0]
)

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB results file")]
FollowOption = Annotated[
    bool, typer.Option(help="read files that links in the folder point to outside it")
]
AllowOption = Annotated[bool, typer.Option(help="compare runs that scored different data")]
LimitOption = Annotated[
    int | None, typer.Option(min=1, help="questions per trial (at least 1; default: the YAML's)")
]


def _load(experiment: Path) -> ExperimentConfig:
    """Load a config and remember its secrets, so that nothing printed afterwards shows them."""
    config = load_config(experiment)
    remember(config)
    return config


@app.command()
def validate(experiment: Path) -> None:
    """Check an experiment file and print its trials."""
    try:
        config = _load(experiment)
        trials = expand(config)
    except ConfigError as exc:
        fail(str(exc))
    say(f"{config.name}: {len(trials)} trial(s)")
    for trial in trials:
        say(f"  {trial.trial_id}  {trial.label}")


@app.command()
def run(
    experiment: Path,
    limit: LimitOption = None,
    db: DbOption = DEFAULT_DB,
    resume: Annotated[str | None, typer.Option(help="run id to finish")] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    ray: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="run on a Ray cluster: auto, host:port, ray://..."),
    ] = None,
) -> None:
    """Run an experiment and log every score in DuckDB, then print the comparison table.

    Exit 1 when the run finished but could not score what it should (its problems are printed) or
    when its report could not be written (the run id is printed: ``ragbench report`` redoes it).
    """
    from ragbench.experiment import orchestrator
    from ragbench.render.report import report as make_report

    config = _load(experiment)  # a bad file fails here, before any work
    result = orchestrator.run(config, limit=limit, db=db, resume=resume, progress=progress, ray=ray)
    try:
        rep = make_report(result.experiment, db, run_id=result.run_id)
    except (OSError, ValueError, LookupError) as exc:
        # The run is committed; only its report failed (e.g. a read-only chart folder).
        say(result.stats_line())
        fail(
            f"run {result.run_id} is saved in {db}, but its report failed: {exc}; once fixed, "
            f"`ragbench report {config.name} --db {db} --run {result.run_id}` writes it",
            code=EXIT_FAILED,
        )
    say(rep.table)
    say("\n" + result.stats_line())
    say(f"charts: {', '.join(str(c) for c in rep.charts)}")
    unwritten = rep.problems[len(result.problems) :]  # the report's own: files it could not write
    if unwritten:
        fail(
            f"run {result.run_id} is saved in {db}, but its report failed: {unwritten[0]}; once "
            f"fixed, `ragbench report {config.name} --db {db} --run {result.run_id}` writes it",
            code=EXIT_FAILED,
        )
    if not result.ok:
        for problem in result.problems:
            say(f"problem: {problem}", err=True)
        fail(
            f"run {result.run_id} finished with {len(result.problems)} problem(s); "
            "its scores are not to be trusted",
            code=EXIT_FAILED,
        )


@app.command()
def report(
    experiment: str,
    db: DbOption = DEFAULT_DB,
    run_id: Annotated[str | None, typer.Option("--run", help="run id (default: latest)")] = None,
) -> None:
    """Print the comparison table of an experiment's latest run and write its charts."""
    from ragbench.render.report import report as make_report
    from ragbench.store import StoreError

    try:
        rep = make_report(experiment, db, run_id=run_id)
    except (LookupError, KeyError, StoreError) as exc:  # StoreError: corrupt or unusable file
        fail(str(exc.args[0]) if exc.args else str(exc))
    except OSError as exc:
        fail(f"cannot write the report of '{experiment}' beside {db}: {exc}", code=EXIT_FAILED)
    say(rep.table)
    say(f"charts: {', '.join(str(c) for c in rep.charts)}")


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="a folder of documents (any formats ragbench reads)")
    ],
    questions: Annotated[
        Path | None, typer.Option(help="a question file to use (validated now)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="the YAML to write (default: experiments/<name>.yaml)")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="experiment name (default: the folder's name)")
    ] = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing YAML")] = False,
    follow_symlinks: FollowOption = False,
) -> None:
    """Look at a folder of documents and write a ready-to-run experiment YAML for it."""
    from ragbench.data.scaffold import InitError, init_experiment

    try:
        result = init_experiment(
            folder,
            questions=questions,
            out=out,
            name=name,
            force=force,
            follow_symlinks=follow_symlinks,
        )
    except InitError as exc:
        fail(str(exc))
    for line in result.lines():
        say(line)


@app.command()
def models() -> None:
    """Prepare the local models (assemble and verify the GGUF) and say what is missing."""
    from ragbench.models import check_models

    rows = check_models()
    width = max(len(r[0]) for r in rows)
    for name, status, detail in rows:
        say(f"{name:<{width}}  {status:<7}  {detail}")
    if any(status != "ok" for _, status, _ in rows):
        fail("some local models are missing (see above)", code=EXIT_FAILED)


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
    allow_different_data: AllowOption = False,
) -> None:
    """Fail (exit 1) below a minimum, or on a significant regression vs --baseline; for CI."""
    from ragbench.results.gate import (
        GateError,
        GateResult,
        RegressionResult,
        check_gate,
        check_regression,
        parse_minimums,
    )
    from ragbench.store import Store, StoreError

    if not minimum and baseline is None:
        fail("give at least one minimum (e.g. --min faithfulness=0.6) or --baseline RUN_ID")
    try:
        store = Store(db, read_only=True)
        results: list[GateResult | RegressionResult] = []
        if minimum:
            results.append(check_gate(store, experiment, parse_minimums(minimum), trial=trial))
        if baseline is not None:
            results.append(
                check_regression(
                    store, experiment, baseline, trial, min_effect, 0.05, allow_different_data
                )
            )
    except (GateError, StoreError) as exc:
        fail(str(exc))
    say("\n\n".join(r.table() for r in results))
    if not all(r.passed for r in results):
        raise typer.Exit(1)


@app.command()
def diff(
    run_a: Annotated[str, typer.Argument(help="reference run id (e.g. the baseline)")],
    run_b: Annotated[str, typer.Argument(help="run id compared with it")],
    db: DbOption = DEFAULT_DB,
    metric: Annotated[str | None, typer.Option(help="compare this metric only")] = None,
    trial: Annotated[str, typer.Option(help="trial id of RUN_B, or 'best'")] = "best",
    rows: Annotated[int, typer.Option(min=1, help="questions shown per metric and direction")] = 10,
    allow_different_data: AllowOption = False,
) -> None:
    """Per metric, the questions that improved or regressed from RUN_A to RUN_B, with a paired test."""
    from ragbench.render.diff import diff_runs
    from ragbench.results.diff import DiffError
    from ragbench.store import StoreError

    try:
        result = diff_runs(db, run_a, run_b, metric, trial, 0.05, rows, allow_different_data)
    except (DiffError, StoreError) as exc:
        fail(str(exc))
    say(result.text())


@app.command("judge-check")
def judge_check(
    dataset: Annotated[str, typer.Argument(help="'begin-wow' or a CSV with context,answer,label")],
    split: Annotated[Literal["dev", "test"], typer.Option(help="begin-wow split")] = "dev",
    limit: Annotated[
        int | None, typer.Option(min=1, help="label-stratified sample size (at least 1)")
    ] = None,
    judge: Annotated[str, typer.Option(help="judge provider: local | fake")] = "local",
    prompts: Annotated[
        Literal["ragas", "compact"], typer.Option(help="judge prompts, as judge.prompts")
    ] = "compact",
    db: DbOption = DEFAULT_DB,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="faithful when score >= this (default: the judge's)"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Measure how well the faithfulness judge agrees with human labels (stored as a run)."""
    from ragbench.config.components import JudgeConfig
    from ragbench.render.judge_check import run_judge_check

    if judge not in ("local", "fake"):
        fail(f"unknown judge '{judge}'; valid: local, fake")
    result = run_judge_check(
        dataset,
        split=split,
        limit=limit,
        judge=JudgeConfig(provider=judge, prompts=prompts),
        db=db,
        threshold=threshold,
        progress=progress,
    )
    say(result.summary())


@app.command()
def synth(
    corpus: Annotated[Path, typer.Argument(help="folder of documents to make questions from")],
    n: Annotated[int, typer.Option("--n", min=1, help="accepted questions wanted (at least 1)")],
    out: Annotated[Path, typer.Option("--out", help="JSONL file the rows are appended to")],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="experiment YAML: its base.generation.llm and base.embedding are used "
            "(default: the local models)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="source order and question ids")] = 0,
    multi: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of questions that need two documents")
    ] = 0.15,
    unanswerable: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of questions the corpus cannot answer")
    ] = 0.10,
    db: DbOption = DEFAULT_DB,
    force: Annotated[
        bool, typer.Option("--force", help="start --out afresh (another model or seed)")
    ] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    follow_symlinks: FollowOption = False,
) -> None:
    """Generate a question set from a folder of documents; rerun the same command to resume.

    Every candidate becomes a row of --out, accepted or rejected with its reason; exit 1 when the
    LLM fails or no question is accepted.
    """
    from ragbench.synth import SynthError, SynthLLMError, synthesize

    llm_cfg = embedding_cfg = None
    if config is not None:
        loaded = _load(config)
        llm_cfg, embedding_cfg = loaded.base.generation.llm, loaded.base.embedding
    try:
        result = synthesize(
            corpus,
            n,
            out,
            llm=llm_cfg,
            embedding=embedding_cfg,
            seed=seed,
            multi=multi,
            unanswerable=unanswerable,
            db=db,
            force=force,
            progress=progress,
            follow_symlinks=follow_symlinks,
            exclude={config: "the experiment file, not a document"} if config else None,
        )
    except SynthError as exc:
        fail(str(exc))
    except SynthLLMError as exc:
        fail(
            f"{exc}; the rows done so far are kept in {out}: rerun the same command to resume",
            code=EXIT_FAILED,
        )
    for line in result.lines():
        say(line)
    say(
        "next: review the questions in notebooks/05-review-questions.ipynb (accept, reject, "
        "edit), then `ragbench run` an experiment whose dataset uses this file as its questions"
    )
    if result.accepted == 0:
        fail("no question was accepted (see the rejection counts above)", code=EXIT_FAILED)


app.add_typer(label_app, name="label")  # ragbench label export | import (results/label_cli.py)

notebook_app = typer.Typer(
    no_args_is_help=True, help="Execute the notebooks headlessly (papermill)."
)
app.add_typer(notebook_app, name="notebook")


@notebook_app.command("run")
def notebook_run(
    experiment: Path,
    limit: LimitOption = None,
    db: DbOption = DEFAULT_DB,
    notebook: Annotated[
        Path | None,
        typer.Option(help="notebook to execute (default: notebooks/01-run-experiment.ipynb)"),
    ] = None,
) -> None:
    """Execute the run notebook for an experiment; the executed copy goes to results/<name>/."""
    from ragbench.notebook.papermill import NotebookError, run_notebook

    config = _load(experiment)
    try:
        out = run_notebook(experiment, limit=limit, db=db, notebook=notebook, config=config)
    except (ConfigError, NotebookError) as exc:
        fail(str(exc))
    say(f"executed notebook: {out}")


if __name__ == "__main__":
    app()
