"""Interactive tuning (notebooks/03-tune-interactively.ipynb): a panel that runs one trial per click.

Contract:
- ``build_controls(defaults)`` returns :class:`Controls`: ipywidgets for chunker, chunk size,
  overlap, embedding provider, retriever, top-k and prompt (options from the name tables in
  ``ragbench.config.experiment`` and ``ragbench.pipeline.prompts``), a run button, a progress line and an output area.
- ``trial_config(values, ...)`` turns the chosen values into the ``base`` of an
  :class:`~ragbench.config.experiment.ExperimentConfig` (validated by ``parse_config``, no sweep, so exactly one
  trial) labelled by what was chosen ("sentence 256/32, local, dense k=3, default").
- ``run_trial(values, dataset_cfg, db, ...)`` runs that config through ``ragbench.experiment.orchestrator.run``
  — the same run as the CLI and CI — on the first ``n_questions`` questions and returns the
  :class:`~ragbench.notebook.trial_view.TrialResult` read back from the store. Each click is a new run of
  the experiment ``experiment_name`` in the same DuckDB, so exploration and batch runs share one
  history (``history``, re-exported from ``ragbench.notebook.trial_view``).
- ``Session`` wires the button: it is disabled while a trial runs and re-enabled afterwards, also
  after an error (a double click runs one trial); the progress line shows the stage, question n of N and the elapsed time; then
  the output area shows the trial (answers, cited sources, retrieved passages, scores) and the
  history. An error is one red line in the progress line, kept in ``Session.error`` so a headless
  (papermill) run can fail on it. Nothing is printed to stderr and no warning is raised.

``fake=True`` replaces the generator and judge by the fake LLM and the embedder by the hashing
embedder (test doubles: fast, offline, and flagged ``fake_models`` in DuckDB and every view).
"""

from __future__ import annotations

import contextlib
import html
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragbench.config.experiment import (
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
from ragbench.notebook.trial_view import History, TrialResult, describe, history, trial_result

__all__ = [
    "DEFAULT_METRICS",
    "VALUE_KEYS",
    "Controls",
    "History",
    "Session",
    "TrialResult",
    "build_controls",
    "dataset_config",
    "describe",
    "history",
    "run_trial",
    "trial_config",
]

VALUE_KEYS = ("chunker", "chunk_size", "chunk_overlap", "embedding", "retriever", "top_k", "prompt")
FAKE_LLM = {"provider": "fake"}
FAKE_EMBEDDING = {"provider": "hashing"}
# Two retrieval and the two core judged metrics: a click should take seconds to a minute, and
# every further judged metric is another LLM call per question with the local model.
DEFAULT_METRICS = ("hit_rate", "mrr", "faithfulness", "answer_relevancy")
BUTTON_TEXT = "Run trial"
TICK_S = 1.0  # the elapsed time moves even while one slow answer is being generated
# A second click of a double click can reach the kernel before the browser learnt that the button
# is disabled; the kernel then handles it right after the first trial. No person asks for another
# trial this soon after a result appears, so such a click is dropped.
QUEUED_CLICK_S = 0.5


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
    status: Any  # HTML line: stage, question n of N, elapsed time; or the error
    bar: Any  # IntProgress: questions done in the current stage
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
                w.HBox([self.bar, self.status]),
                self.output,
            ]
        )


def build_controls(defaults: PipelineConfig | None = None) -> Controls:
    """Widgets for one pipeline, initialised from ``defaults`` (the config defaults when None).

    Option lists come from the name tables (``CHUNKERS``, ``EMBEDDING_PROVIDERS``, ``RETRIEVERS``,
    ``prompts.PROMPTS``), so a component added there appears here without an edit.
    """
    import ipywidgets as w

    from ragbench.pipeline.prompts import PROMPTS

    d = defaults or PipelineConfig()
    style = {"description_width": "initial"}
    prompts = list(PROMPTS)

    def slider(value: int, low: int, high: int, step: int, name: str) -> Any:
        return w.IntSlider(value=value, min=low, max=high, step=step, description=name, style=style)

    return Controls(
        chunker=w.Dropdown(
            options=CHUNKERS, value=d.chunking.method, description="chunker", style=style
        ),
        chunk_size=slider(d.chunking.chunk_size, 64, 1024, 32, "chunk size"),
        chunk_overlap=slider(d.chunking.chunk_overlap, 0, 256, 8, "overlap"),
        embedding=w.Dropdown(
            options=EMBEDDING_PROVIDERS,
            value=d.embedding.provider,
            description="embedding",
            style=style,
        ),
        retriever=w.Dropdown(
            options=RETRIEVERS, value=d.retrieval.method, description="retriever", style=style
        ),
        top_k=slider(d.retrieval.top_k, 1, 10, 1, "top-k"),
        prompt=w.Dropdown(
            options=prompts,
            value=d.generation.prompt if d.generation.prompt in prompts else prompts[0],
            description="prompt",
            style=style,
        ),
        button=w.Button(description=BUTTON_TEXT, button_style="primary", icon="play"),
        status=w.HTML(value=""),
        bar=w.IntProgress(value=0, min=0, max=1, layout=w.Layout(visibility="hidden")),
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
    that replace the defaults; ``fake`` replaces both, and the embedder, by test doubles. The
    trial is labelled by :func:`describe` of the choice.
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
        "label": describe(base),
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
    on_progress: Callable[[Any], None] | None = None,
) -> TrialResult:
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
        on_progress: called with a :class:`ragbench.records.Progress` as the run advances.

    Returns:
        The trial as stored: answers, citations, retrieved passages and scores.
    """
    from ragbench.experiment.orchestrator import run

    config = trial_config(
        values, dataset_cfg, n_questions, experiment_name, llm, judge, fake, metrics
    )
    result = run(config, db=db, progress=False, on_progress=on_progress)
    return trial_result(db, result.run_id)


def progress_text(stage: str, done: int, total: int, elapsed_s: float) -> str:
    """The progress line: "answer+judge: question 2 of 3 · 4.1 s"."""
    where = f"{stage}: question {done} of {total}" if total else stage
    return f"{where} \u00b7 {elapsed_s:.1f} s"


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
    results: list[TrialResult] = field(default_factory=list)
    error: str | None = None
    show: Callable[[Any], None] | None = None  # how to render; default IPython.display.display
    # False: render into the cell instead of the panel's Output widget. Headless runs (papermill)
    # want that: the executed copy then shows the results, and no output capture is involved.
    use_output: bool = True
    _where: tuple[str, int, int] = ("starting", 0, 0)
    _started: float = 0.0
    _finished: float = -math.inf
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.controls.button.on_click(self.on_click)
        if self.fake:  # the hashing embedder replaces whatever is chosen: say so
            self.controls.embedding.disabled = True
            self.controls.embedding.description = "embedding (fake: hashing)"

    @property
    def runs(self) -> list[str]:
        """Run ids of the trials this session ran, oldest first."""
        return [r.run_id for r in self.results]

    def on_click(self, _button: Any = None) -> TrialResult | None:
        """Run one trial with the current control values, then show it and the history."""
        from ragbench.data.datasets import DataError
        from ragbench.models import ModelError

        button = self.controls.button
        if button.disabled or time.monotonic() - self._finished < QUEUED_CLICK_S:
            return None  # a click made while a trial ran
        button.disabled, button.description, button.icon = True, "Running\u2026", "hourglass"
        self.error = None
        show = self.show or _display
        out = self.controls.output
        if self.use_output:
            out.clear_output()
        self._where, self._started = ("starting", 0, 0), time.monotonic()
        self.controls.bar.layout.visibility = "visible"
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True)
        ticker.start()
        try:
            try:
                result = run_trial(
                    self.controls.values(),
                    self.dataset,
                    self.db,
                    self.n_questions,
                    self.experiment_name,
                    self.llm,
                    self.judge,
                    self.fake,
                    self.metrics,
                    on_progress=self.on_progress,
                )
            except (ConfigError, DataError, ModelError, LookupError, ValueError) as exc:
                self.error = " ".join(str(exc).split())
                return None
            self.results.append(result)
            with out if self.use_output else contextlib.nullcontext():
                show(result)
                show(history(self.db, self.experiment_name))
            return result
        finally:
            stop.set()
            ticker.join(timeout=5)
            self._finish()
            button.disabled, button.description, button.icon = False, BUTTON_TEXT, "play"
            self._finished = time.monotonic()

    def on_progress(self, progress: Any) -> None:
        """Show a :class:`ragbench.records.Progress` in the progress line and bar."""
        self._where = (progress.stage, progress.done, progress.total)
        self._render()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(TICK_S):
            self._render()

    def _render(self) -> None:
        stage, done, total = self._where
        with self._lock:  # the ticker thread and the run both write the same widgets
            bar = self.controls.bar
            bar.max, bar.value = max(total, 1), min(done, max(total, 1))
            elapsed = time.monotonic() - self._started
            self.controls.status.value = html.escape(progress_text(stage, done, total, elapsed))

    def _finish(self) -> None:
        elapsed = time.monotonic() - self._started
        with self._lock:
            self.controls.bar.layout.visibility = "hidden"
            if self.error:
                self.controls.status.value = (
                    f'<span style="color:#d1242f">error: {html.escape(self.error)}</span>'
                )
            else:
                n = len(self.results[-1].questions) if self.results else 0
                self.controls.status.value = f"done: {n} question(s) in {elapsed:.1f} s"


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)
