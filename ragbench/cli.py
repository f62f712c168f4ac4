"""Command line: a thin wrapper over ``experiment.run``, ``report.report`` and ``models``.

Every command exits 0 on success. Bad input (a bad config, a missing, unreadable or wrong file, an
invalid option value such as ``--limit 0``) ends in exactly one line ``error: ...`` on stderr and
exit code 2. A command that ran but failed (a run that could not score what it should, a failing
gate, missing models, a report that could not be written) explains itself and exits 1. An
unexpected exception is also one ``error:`` line (exit 3) unless ``RAGBENCH_DEBUG=1`` asks for
the traceback. Every line printed passes through ``redact.redact`` first: no configured API key or
URL password reaches the terminal or a CI log. An error line is cut at ``MAX_MESSAGE``
characters (``... (N more characters)``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer
from typer.core import TyperGroup

from ragbench.config.experiment import ConfigError, ExperimentConfig, expand, load_config
from ragbench.config.redact import redact
from ragbench.config.secrets import secrets_for

if TYPE_CHECKING:  # imported where used: the CLI starts without loading the models
    from ragbench.experiment.orchestrator import RunResult

DEFAULT_DB = Path("results") / "ragbench.duckdb"
EXIT_BAD_INPUT = 2  # click's own code for usage errors: one code for every kind of bad input
EXIT_FAILED = 1  # the command ran and its answer is "no"
EXIT_BUG = 3
MAX_MESSAGE = 2000  # characters of an error line: a value echoed whole could be megabytes
_secrets: list[str] = []  # secrets of the config the current command loaded (see _load)


def _one_line(text: str) -> str:
    """A message as one line, redacted, then cut to MAX_MESSAGE (after redaction, so no secret
    is cut in half and half shown)."""
    line = redact(" ".join(str(text).split()), _secrets)
    if len(line) > MAX_MESSAGE:
        line = f"{line[:MAX_MESSAGE]}... ({len(line) - MAX_MESSAGE:,} more characters)"
    return line


def _say(text: str, err: bool = False) -> None:
    typer.echo(redact(text, _secrets), err=err)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


def _error_message(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code for an exception no command handled."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    ours = type(exc).__module__.split(".")[0] == "ragbench"
    if ours or isinstance(exc, ValueError | LookupError | OSError):
        return text or type(exc).__name__, EXIT_BAD_INPUT
    return (
        f"unexpected {type(exc).__name__}: {text} (a bug: please report it; "
        "RAGBENCH_DEBUG=1 shows the traceback)",
        EXIT_BUG,
    )


class _Group(TyperGroup):
    """Runs every command so that it ends in exit 0 or one ``error: ...`` line, never a
    traceback: click's usage errors (``--limit 0``, an unknown option) included."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def call() -> Any:
            return super(_Group, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:  # embedded in another click program: its rules apply
            return call()
        _secrets.clear()
        try:
            rv = call()
        except typer.TyperException as exc:  # typer's (vendored click's) usage errors
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ragbench`: the help text
                exc.show()  # type: ignore[attr-defined]
            else:
                typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
            sys.exit(getattr(exc, "exit_code", EXIT_BAD_INPUT))
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("error: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence, see the docstring
            if os.environ.get("RAGBENCH_DEBUG"):
                raise
            message, code = _error_message(exc)
            typer.echo(f"error: {_one_line(message)}", err=True)
            sys.exit(code)
        if rv == 130:  # typer turns Ctrl-C into Exit(130) before we see it
            typer.echo("error: interrupted", err=True)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group, add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0]
)

DbOption = Annotated[Path, typer.Option("--db", help="DuckDB results file")]
FollowOption = Annotated[
    bool, typer.Option(help="read files that links in the folder point to outside it")
]
LimitOption = Annotated[
    int | None, typer.Option(min=1, help="questions per trial (at least 1; default: the YAML's)")
]


def _load(experiment: Path) -> ExperimentConfig:
    """Load a config and remember its secrets, so that nothing printed afterwards shows them."""
    config = load_config(experiment)
    _secrets[:] = secrets_for(config)
    return config


def _results_file(db: Path) -> Path:
    """An existing results file, or exit with the reason (reading never creates one)."""
    if db.is_dir():
        _fail(f"results file is a folder: {db}")
    if not db.is_file():
        _fail(f"results file not found: {db}")
    return db


@app.command()
def validate(experiment: Path) -> None:
    """Check an experiment file and print its trials."""
    try:
        config = _load(experiment)
        trials = expand(config)
    except ConfigError as exc:
        _fail(str(exc))
    _say(f"{config.name}: {len(trials)} trial(s)")
    for trial in trials:
        _say(f"  {trial.trial_id}  {trial.label}")


def _stats_line(result: RunResult) -> str:
    """The work summary of a run, as ``ragbench run`` prints it."""
    stats = result.stats
    return "; ".join(
        [
            f"run {result.run_id}: {len(result.trials)} trials in {stats.seconds:.0f}s",
            f"{stats.chunks_embedded} chunks embedded ({stats.chunks_from_cache} cached)",
            f"{stats.generated} answers generated ({stats.generation_cache_hits} cached)",
            f"{stats.judged} judged scores ({stats.judge_cache_hits} cached, "
            f"{stats.judge_failures} failed)",
        ]
    )


@app.command()
def run(
    experiment: Path,
    limit: LimitOption = None,
    db: DbOption = DEFAULT_DB,
    resume: Annotated[str | None, typer.Option(help="run id to finish")] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Run an experiment and log every score in DuckDB, then print the comparison table.

    Exit 1 when the run finished but could not score what it should (its problems are printed) or
    when its report could not be written (the run id is printed: ``ragbench report`` redoes it).
    """
    from ragbench.experiment.orchestrator import run as run_experiment
    from ragbench.render.report import report as make_report

    config = _load(experiment)  # a bad file fails here, before any work
    result = run_experiment(experiment, limit=limit, db=db, resume=resume, progress=progress)
    try:
        rep = make_report(result.experiment, db, run_id=result.run_id)
    except (OSError, ValueError, LookupError) as exc:
        # The run is committed; only its report failed (e.g. a read-only chart folder).
        _say(_stats_line(result))
        _fail(
            f"run {result.run_id} is saved in {db}, but its report failed: {exc}; once fixed, "
            f"`ragbench report {config.name} --db {db} --run {result.run_id}` writes it",
            code=EXIT_FAILED,
        )
    _say(rep.table)
    _say("\n" + _stats_line(result))
    _say(f"charts: {', '.join(str(c) for c in rep.charts)}")
    unwritten = rep.problems[len(result.problems) :]  # the report's own: files it could not write
    if unwritten:
        _fail(
            f"run {result.run_id} is saved in {db}, but its report failed: {unwritten[0]}; once "
            f"fixed, `ragbench report {config.name} --db {db} --run {result.run_id}` writes it",
            code=EXIT_FAILED,
        )
    if not result.ok:
        for problem in result.problems:
            _say(f"problem: {problem}", err=True)
        _fail(
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

    _results_file(db)
    try:
        rep = make_report(experiment, db, run_id=run_id)
    except (LookupError, KeyError, StoreError) as exc:  # StoreError: corrupt or unusable file
        _fail(str(exc.args[0]) if exc.args else str(exc))
    except OSError as exc:
        _fail(f"cannot write the report of '{experiment}' beside {db}: {exc}", code=EXIT_FAILED)
    _say(rep.table)
    _say(f"charts: {', '.join(str(c) for c in rep.charts)}")


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
        _fail(str(exc))
    for line in result.lines():
        _say(line)


@app.command()
def models() -> None:
    """Prepare the local models (assemble and verify the GGUF) and say what is missing."""
    from ragbench.models import check_models

    rows = check_models()
    width = max(len(r[0]) for r in rows)
    for name, status, detail in rows:
        _say(f"{name:<{width}}  {status:<7}  {detail}")
    if any(status != "ok" for _, status, _ in rows):
        _fail("some local models are missing (see above)", code=EXIT_FAILED)


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
        _fail("give at least one minimum (e.g. --min faithfulness=0.6) or --baseline RUN_ID")
    try:
        store = Store(db, read_only=True)
        results: list[GateResult | RegressionResult] = []
        if minimum:
            results.append(check_gate(store, experiment, parse_minimums(minimum), trial=trial))
        if baseline is not None:
            results.append(
                check_regression(store, experiment, baseline, trial=trial, min_effect=min_effect)
            )
    except (GateError, StoreError) as exc:
        _fail(str(exc))
    _say("\n\n".join(r.table() for r in results))
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
) -> None:
    """Per metric, the questions that improved or regressed from RUN_A to RUN_B, with a paired test."""
    from ragbench.render.diff import diff_runs
    from ragbench.results.diff import DiffError
    from ragbench.store import StoreError

    try:
        result = diff_runs(db, run_a, run_b, metric=metric, trial=trial, max_rows=rows)
    except (DiffError, StoreError) as exc:
        _fail(str(exc))
    _say(result.text())


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
        float, typer.Option(min=0.0, max=1.0, help="faithful when score >= this (0..1)")
    ] = 0.5,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Measure how well the faithfulness judge agrees with human labels (stored as a run)."""
    from ragbench.config.components import JudgeConfig
    from ragbench.render.judge_check import run_judge_check

    if judge not in ("local", "fake"):
        _fail(f"unknown judge '{judge}'; valid: local, fake")
    result = run_judge_check(
        dataset,
        split=split,
        limit=limit,
        judge=JudgeConfig(provider=judge, prompts=prompts),
        db=db,
        threshold=threshold,
        progress=progress,
    )
    _say(result.summary())


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
        _fail(str(exc))
    except SynthLLMError as exc:
        _fail(
            f"{exc}; the rows done so far are kept in {out}: rerun the same command to resume",
            code=EXIT_FAILED,
        )
    for line in result.lines():
        _say(line)
    _say(
        "next: review the questions in notebooks/05-review-questions.ipynb (accept, reject, "
        "edit), then `ragbench run` an experiment whose dataset uses this file as its questions"
    )
    if result.accepted == 0:
        _fail("no question was accepted (see the rejection counts above)", code=EXIT_FAILED)


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

    _load(experiment)
    try:
        out = run_notebook(experiment, limit=limit, db=db, notebook=notebook)
    except (ConfigError, NotebookError) as exc:
        _fail(str(exc))
    _say(f"executed notebook: {out}")


if __name__ == "__main__":
    app()
