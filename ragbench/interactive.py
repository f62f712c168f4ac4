"""Interactive tuning (notebooks/03-tune-interactively.ipynb): widgets that run one trial per click.

Contract:
- ``build_controls(defaults)`` returns :class:`Controls`: ipywidgets for chunker, chunk size,
  overlap, embedding provider, retriever, top-k and prompt name (options from the name tables in
  ``ragbench.config`` and ``ragbench.prompts``), a run button and an output area.
- ``run_trial(values, dataset_cfg, db, ...)`` turns the chosen values into the ``base`` of an
  :class:`~ragbench.config.ExperimentConfig` (validated by ``parse_config``, no sweep, so exactly one
  trial) and calls ``ragbench.experiment.run`` — the same run as the CLI and CI — on the first
  ``n_questions`` questions. Each click is a new run of the experiment ``experiment_name`` in the
  same DuckDB, so interactive exploration and batch runs share one history.
- ``history(db, experiment_name)`` summarizes every trial of every run of the experiment (oldest
  first) and ``history_chart`` draws it with ``plots.metric_chart``.
- ``Session`` wires the button: its ``on_click`` handler runs the trial, then re-renders the run's
  report (``report.report``) and the history chart into the output area. Errors are shown as one
  ``error: ...`` line and kept in ``Session.error``, so a headless (papermill) run can fail on them.

``fake=True`` replaces the generator and judge by the fake LLM and the embedder by the hashing
embedder (test doubles: fast, offline, and flagged ``fake_models`` in DuckDB and every report).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ragbench.config import (
    CHUNKERS,
    DATASET_LOADERS,
    EMBEDDING_PROVIDERS,
    RETRIEVERS,
    ConfigError,
    DatasetConfig,
    PipelineConfig,
    parse_config,
    suggest,
)
from ragbench.report import Report, summarize_scores
from ragbench.store import Store

VALUE_KEYS = ("chunker", "chunk_size", "chunk_overlap", "embedding", "retriever", "top_k", "prompt")
FAKE_LLM = {"provider": "fake"}
FAKE_EMBEDDING = {"provider": "hashing"}
# Two retrieval and the two core judged metrics: a click should take seconds to a minute, and
# every further judged metric is another LLM call per question with the local model.
DEFAULT_METRICS = ("hit_rate", "mrr", "faithfulness", "answer_relevancy")


@dataclass
class Controls:
    """The widgets of the tuning panel; ``values()`` reads the current choice."""

    chunker: Any
    chunk_size: Any
    chunk_overlap: Any
    embedding: Any
    retriever: Any
    top_k: Any
    prompt: Any
    button: Any
    output: Any

    def values(self) -> dict[str, Any]:
        """The chosen values, keyed like :data:`VALUE_KEYS` (the input of ``run_trial``)."""
        return {key: getattr(self, key).value for key in VALUE_KEYS}

    def box(self) -> Any:
        """The whole panel as one widget (display it in a notebook cell)."""
        import ipywidgets as w

        return w.VBox(
            [
                w.HBox([self.chunker, self.chunk_size, self.chunk_overlap]),
                w.HBox([self.embedding, self.retriever, self.top_k]),
                w.HBox([self.prompt, self.button]),
                self.output,
            ]
        )


def build_controls(defaults: PipelineConfig | None = None) -> Controls:
    """Widgets for one pipeline, initialised from ``defaults`` (the config defaults when None).

    Option lists come from the name tables (``CHUNKERS``, ``EMBEDDING_PROVIDERS``, ``RETRIEVERS``,
    ``prompts.PROMPTS``), so a component added there appears here without an edit.
    """
    import ipywidgets as w

    from ragbench.prompts import PROMPTS

    d = defaults or PipelineConfig()
    style = {"description_width": "initial"}
    prompts = list(PROMPTS)
    return Controls(
        chunker=w.Dropdown(
            options=CHUNKERS, value=d.chunking.method, description="chunker", style=style
        ),
        chunk_size=w.IntSlider(
            value=d.chunking.chunk_size,
            min=64,
            max=1024,
            step=32,
            description="chunk size",
            style=style,
        ),
        chunk_overlap=w.IntSlider(
            value=d.chunking.chunk_overlap,
            min=0,
            max=256,
            step=8,
            description="overlap",
            style=style,
        ),
        embedding=w.Dropdown(
            options=EMBEDDING_PROVIDERS,
            value=d.embedding.provider,
            description="embedding",
            style=style,
        ),
        retriever=w.Dropdown(
            options=RETRIEVERS, value=d.retrieval.method, description="retriever", style=style
        ),
        top_k=w.IntSlider(value=d.retrieval.top_k, min=1, max=10, description="top-k", style=style),
        prompt=w.Dropdown(
            options=prompts,
            value=d.generation.prompt if d.generation.prompt in prompts else prompts[0],
            description="prompt",
            style=style,
        ),
        button=w.Button(description="Run trial", button_style="primary", icon="play"),
        output=w.Output(),
    )


def dataset_config(dataset: str | dict[str, Any] | DatasetConfig) -> DatasetConfig:
    """A dataset choice as a config: a loader name ("demo"), ``"LOADER:PATH"``
    ("pg-essays:../shared/datasets/pg-essays"), a folder with corpus/ + questions.jsonl, or a
    mapping / ``DatasetConfig`` as in an experiment YAML. Relative paths resolve against the cwd."""
    if isinstance(dataset, DatasetConfig):
        return dataset
    if isinstance(dataset, dict):
        return DatasetConfig.model_validate(dataset)
    loader, sep, path = dataset.partition(":")
    if sep and loader in DATASET_LOADERS:
        return DatasetConfig(loader=loader, path=str(Path(path).expanduser().resolve()))
    if dataset in DATASET_LOADERS:
        return DatasetConfig(loader=dataset)
    folder = Path(dataset).expanduser()
    if folder.is_dir():
        return DatasetConfig(loader="qa-folder", path=str(folder.resolve()))
    raise ConfigError(
        f"dataset '{dataset}': not a loader name ({', '.join(DATASET_LOADERS)}), "
        "'LOADER:PATH' or a folder"
    )


def trial_config(
    values: dict[str, Any],
    dataset_cfg: str | dict[str, Any] | DatasetConfig,
    n_questions: int,
    experiment_name: str,
    llm: dict[str, Any] | None = None,
    judge: dict[str, Any] | None = None,
    fake: bool = False,
    metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS,
) -> Any:
    """The one-trial :class:`ExperimentConfig` of a choice, validated by ``parse_config``.

    ``llm`` / ``judge`` are LLM config mappings (as under ``generation.llm`` / ``judge`` in a YAML)
    that replace the defaults; ``fake`` replaces both, and the embedder, by test doubles.
    """
    for key in values:
        if key not in VALUE_KEYS:
            raise ConfigError(
                f"unknown control value '{key}'{suggest(key, VALUE_KEYS)}; "
                f"valid: {', '.join(VALUE_KEYS)}"
            )
    generation: dict[str, Any] = {"prompt": values.get("prompt", "default")}
    if fake or llm:
        generation["llm"] = FAKE_LLM if fake else llm
    base: dict[str, Any] = {
        "chunking": {
            "method": values.get("chunker", "sentence"),
            "chunk_size": values.get("chunk_size", 256),
            "chunk_overlap": values.get("chunk_overlap", 32),
        },
        "embedding": FAKE_EMBEDDING if fake else {"provider": values.get("embedding", "local")},
        "retrieval": {"method": values.get("retriever", "dense"), "top_k": values.get("top_k", 3)},
        "generation": generation,
    }
    if fake or judge:
        base["judge"] = FAKE_LLM if fake else judge
    data = {
        "name": experiment_name,
        "description": "one interactive trial (notebooks/03-tune-interactively.ipynb)",
        "dataset": dataset_config(dataset_cfg).model_dump(exclude_none=True),
        "base": base,
        "metrics": list(metrics),
        "limit": n_questions,
        "judge_limit": n_questions,
    }
    return parse_config(data, source="interactive", root=Path.cwd())


def run_trial(
    values: dict[str, Any],
    dataset_cfg: str | dict[str, Any] | DatasetConfig,
    db: str | Path,
    n_questions: int = 3,
    experiment_name: str = "interactive",
    llm: dict[str, Any] | None = None,
    judge: dict[str, Any] | None = None,
    fake: bool = False,
    metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS,
    progress: bool = False,
) -> tuple[str, Report]:
    """Run ONE trial of the chosen values on the first ``n_questions`` questions.

    Args:
        values: the control values (``Controls.values()``): chunker, chunk_size, chunk_overlap,
            embedding, retriever, top_k, prompt. Missing keys take the config defaults.
        dataset_cfg: see :func:`dataset_config`.
        db: the DuckDB results file (shared with batch runs).
        n_questions: questions retrieved, answered and judged.
        experiment_name: the experiment the run is recorded under; every click adds a run to it.
        llm, judge: LLM config mappings replacing the local defaults (e.g. an OpenAI-compatible
            endpoint).
        fake: test doubles for generator, judge and embedder.
        metrics: names from ``config.METRICS``.
        progress: show progress bars.

    Returns:
        The run id and its report (table, summary, charts under ``<db folder>/<experiment>/``).
    """
    from ragbench.experiment import run
    from ragbench.report import report

    config = trial_config(
        values, dataset_cfg, n_questions, experiment_name, llm, judge, fake, metrics
    )
    result = run(config, db=db, progress=progress)
    return result.run_id, report(result.experiment, db, run_id=result.run_id)


def describe(params: dict[str, Any]) -> str:
    """A short label of a resolved pipeline: "sentence 256/32, hashing, dense k=3, default"."""
    c, r = params["chunking"], params["retrieval"]
    return (
        f"{c['method']} {c['chunk_size']}/{c['chunk_overlap']}, {params['embedding']['provider']}, "
        f"{r['method']} k={r['top_k']}, {params['generation']['prompt']}"
    )


def history(db: str | Path, experiment_name: str) -> pd.DataFrame:
    """``report.summarize`` over every trial of every run of an experiment, oldest run first.

    Labels are ``"#N <pipeline>"`` (N: the run's position in the history), so the same pipeline
    tried twice appears twice.
    """
    store = Store(db)
    runs = store.query(
        "SELECT run_id FROM runs WHERE experiment = ? ORDER BY started_at", [experiment_name]
    )
    frames = []
    for n, run_id in enumerate(runs.run_id, start=1):
        scores = store.scores(run_id)
        if scores.empty:
            continue
        trials = store.query("SELECT trial_id, params_json FROM trials WHERE run_id = ?", [run_id])
        names = {t.trial_id: describe(json.loads(t.params_json)) for t in trials.itertuples()}
        scores["label"] = [f"#{n} {names[t]}" for t in scores.trial_id]
        scores["trial_id"] = run_id + "/" + scores.trial_id
        frames.append(scores)
    if not frames:
        return summarize_scores(
            pd.DataFrame(columns=["trial_id", "label", "metric", "value", "error"])
        )
    return summarize_scores(pd.concat(frames, ignore_index=True))


def history_chart(
    db: str | Path, experiment_name: str, path: str | Path | None = None
) -> Path | None:
    """Every trial of the experiment's history in one metrics chart; None when nothing is scored.

    Default path: ``<db folder>/<experiment>/history.png`` (beside the report's charts).
    """
    from ragbench.plots import metric_chart

    summary = history(db, experiment_name)
    if summary.empty:
        return None
    out = Path(path) if path else Path(db).parent / experiment_name / "history.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fake = bool(
        Store(db)
        .query("SELECT bool_or(fake_models) AS f FROM runs WHERE experiment = ?", [experiment_name])
        .f.iloc[0]
    )
    title = f"{experiment_name}: every trial so far" + ("  [FAKE MODELS]" if fake else "")
    return metric_chart(summary, out, title)


@dataclass
class Session:
    """The tuning panel wired to one dataset, results file and experiment history."""

    controls: Controls
    dataset: str | dict[str, Any] | DatasetConfig
    db: str | Path
    n_questions: int = 3
    experiment_name: str = "interactive"
    llm: dict[str, Any] | None = None
    judge: dict[str, Any] | None = None
    fake: bool = False
    metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS
    runs: list[str] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    error: str | None = None
    show: Callable[[Any], None] | None = None  # how to render; default IPython.display.display
    # False: render into the cell instead of the panel's Output widget. Headless runs (papermill)
    # want that: the executed copy then shows the results, and no output capture is involved.
    use_output: bool = True

    def __post_init__(self) -> None:
        self.controls.button.on_click(self.on_click)

    def on_click(self, _button: Any = None) -> Report | None:
        """Run one trial with the current control values, then re-render table and charts."""
        from ragbench.data import DataError
        from ragbench.models import ModelError

        show = self.show or _display
        out = self.controls.output
        if self.use_output:
            out.clear_output()
        self.error = None
        with out if self.use_output else contextlib.nullcontext():
            print(f"running one trial on {self.n_questions} question(s)...")
            try:
                run_id, rep = run_trial(
                    self.controls.values(),
                    self.dataset,
                    self.db,
                    self.n_questions,
                    self.experiment_name,
                    self.llm,
                    self.judge,
                    self.fake,
                    self.metrics,
                )
            except (ConfigError, DataError, ModelError, LookupError, ValueError) as exc:
                self.error = str(exc)
                print(f"error: {exc}")
                return None
            self.runs.append(run_id)
            self.reports.append(rep)
            print(rep.table)
            for chart in [c for c in rep.charts if c.name == "metrics.png"]:
                show(_image(chart))
            chart = history_chart(self.db, self.experiment_name)
            if chart is not None:
                show(_image(chart))
        return rep


def _image(path: Path) -> Any:
    from IPython.display import Image

    return Image(filename=str(path))


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)
