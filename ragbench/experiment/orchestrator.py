"""``run``: the only orchestrator. The CLI, the notebooks and CI all call it.

Provenance first: load the dataset, expand the sweep, check what can be checked before any work,
record the run (config and data hashes, model identities, package versions) and its trials;
``resume=RUN_ID`` refuses a run whose resolved config or data differ, naming what changed. Then
the named stages, each holding the run's :class:`~ragbench.experiment.context.RunContext`:
``retrieval`` (``retrieval.py``), ``staged search`` (``staged.py``) and ``answer+judge``
(``scheduler.py``, items computed by ``judging.py``); the last two run only when the run judges
something. Each stage hands the next its :class:`~ragbench.records.Record` objects in memory; the
database is read only to resume. A run that raises is stored as failed (with its statistics so
far); one that finishes but could not score what it was asked to has ``problems``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragbench import models
from ragbench.config.components import ExecutorConfig
from ragbench.config.experiment import (
    ConfigError,
    ExperimentConfig,
    LLMConfig,
    Trial,
    expand,
    load_config,
)
from ragbench.config.redact import redact_text
from ragbench.config.secrets import secrets_for
from ragbench.config.validation import format_errors
from ragbench.data.datasets import Dataset, load_dataset
from ragbench.data.splits import splits_for
from ragbench.data.walk import run_files
from ragbench.experiment import ray_executor, ray_stages
from ragbench.experiment.context import RunContext, judge_config
from ragbench.experiment.provenance import changed_keys, config_hash, data_hash, git_sha, versions
from ragbench.experiment.ray_stages import ClusterRun
from ragbench.experiment.retrieval import run_retrieval
from ragbench.experiment.scheduler import run_judging
from ragbench.experiment.staged import select_trials
from ragbench.metrics import names
from ragbench.metrics.text import content_words
from ragbench.records import Progress, RunStats
from ragbench.store import DEFAULT_DB, Store, StoreError

__all__ = ["DEFAULT_DB", "RunResult", "run"]


@dataclass
class RunResult:
    """What ``run`` did. ``ok`` is False when the run finished but could not score what it was
    asked to (e.g. every judged score failed); ``problems`` says why, one line each."""

    run_id: str
    db: Path
    experiment: str
    trials: list[Trial]
    stats: RunStats
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __repr__(self) -> str:
        state = "ok" if self.ok else "PROBLEMS: " + "; ".join(self.problems)
        return (
            f"RunResult(run {self.run_id} of {self.experiment}: {len(self.trials)} trial(s), "
            f"{self.stats.seconds:.0f}s, {state})"
        )

    def stats_line(self) -> str:
        """The work the run did, in one line (as ``ragbench run`` prints it)."""
        stats = self.stats
        return "; ".join(
            [
                f"run {self.run_id}: {len(self.trials)} trials in {stats.seconds:.0f}s",
                f"{stats.chunks_embedded} chunks embedded ({stats.chunks_from_cache} cached)",
                f"{stats.generated} answers generated ({stats.generation_cache_hits} cached)",
                f"{stats.judged} judged scores ({stats.judge_cache_hits} cached, "
                f"{stats.judge_failures} failed)",
            ]
        )


def _check_staged(config: ExperimentConfig, dataset: Dataset) -> None:
    """Staged search ranks by a retrieval metric: fail before any work if no question can have
    that metric (no gold documents, no gold spans for span_coverage, no answerable question
    with a reference answer for reference_recall)."""
    if config.staged is None:
        return
    rank_by = config.staged.rank_by
    if rank_by == "reference_recall":
        if not any(q.answerable and content_words(q.reference) for q in dataset.questions):
            raise ValueError(
                f"staged.rank_by 'reference_recall' needs answerable questions with a reference "
                f"answer, and no question of {dataset.name} has one: rank by another metric or "
                "drop 'staged'"
            )
        return
    needs = "gold_spans" if rank_by == "span_coverage" else "gold_doc_ids"
    if not any(getattr(q, needs) for q in dataset.questions):
        raise ValueError(
            f"staged.rank_by '{rank_by}' needs questions with {needs}, and no question of "
            f"{dataset.name} has any: rank by another metric or drop 'staged'"
        )


def _check_resume(
    store: Store,
    run_id: str,
    config: ExperimentConfig,
    conf: dict[str, Any],
    hashes: tuple[str, str],
) -> None:
    """Refuse to resume a run that does not exist or whose experiment, config or data changed."""
    try:
        info = store.run_info(run_id)
    except KeyError:
        raise ValueError(f"cannot resume: no run {run_id} in {store.path}") from None
    if info.experiment != config.name:
        raise ValueError(f"run {run_id} belongs to experiment '{info.experiment}'")
    old_conf = info.config
    old_hash = info.config_hash  # None: a run from before hashes were stored
    if (old_hash != hashes[0]) if old_hash is not None else (old_conf != conf):
        keys = changed_keys(old_conf, conf) or ["(config)"]
        raise ValueError(
            f"cannot resume run {run_id}: the experiment config changed since it started "
            f"({', '.join(keys[:8])}); start a new run instead"
        )
    old_data = info.data_hash
    if old_data is not None and old_data != hashes[1]:
        what = [
            part.split(":")[0]
            for part, new in zip(old_data.split(), hashes[1].split(), strict=False)
            if part != new
        ]
        raise ValueError(
            f"cannot resume run {run_id}: the {' and '.join(what) or 'data'} changed since it "
            "started (content hash differs); start a new run instead"
        )


def run(
    experiment: ExperimentConfig | str | Path,
    *,
    limit: int | None = None,
    db: str | Path = DEFAULT_DB,
    resume: str | None = None,
    progress: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
    dataset: Dataset | None = None,
    ray: str | None = None,
) -> RunResult:
    """Run an experiment end to end and log every per-question score in DuckDB.

    Args:
        experiment: a loaded config or the path of an experiment YAML.
        limit: questions per trial (overrides the YAML's ``limit``).
        db: the DuckDB results file.
        resume: a run id to finish: committed results are skipped, failed scores retried. Refused
            when the resolved config or the data changed since the run started.
        progress: show progress bars.
        on_progress: called with a :class:`Progress` when each stage starts and after every
            question of every stage.
        dataset: a dataset already in memory (judge checks build theirs from labelled items);
            the config's ``dataset`` block then only documents it, and ``limit`` does not apply.
        ray: run on the Ray cluster at this address (``auto``, ``host:port``,
            ``ray://host:port``): the config's ``executor`` block with ``kind: ray``. The rows
            and the config hash are those of a local run (docs/cluster.md).

    Returns:
        The run id, the db path, the trials, work statistics and any problems (``ok``).
    """
    config = experiment if isinstance(experiment, ExperimentConfig) else load_config(experiment)
    if ray is not None:
        config = _on_ray(config, ray)
    trials = expand(config)
    given, own = dataset, run_files(Path(db), config.name)
    if dataset is None:
        # A results file, report folder or the YAML inside the corpus folder is no document.
        source = config.source_file
        if source is not None:
            own[source] = "the experiment file, not a document"
        dataset = load_dataset(
            config.dataset, limit if limit is not None else config.limit, exclude=own
        )
    if progress:  # said at load time, not only inside the stored statistics
        if dataset.skipped:
            print(f"skipped {len(dataset.skipped)} unreadable input(s):")
            for path, reason in dataset.skipped:
                print(f"  {path}: {reason}")
        for warning in dataset.warnings:
            print(f"warning: {warning}")
    judge = judge_config(trials)
    _check_staged(config, dataset)
    splits = splits_for(config, dataset.questions)  # a split that cannot be made fails here
    conf = config.model_dump(mode="json")
    if conf.get("split") is None:  # runs without a split keep the config hash they always had
        conf.pop("split", None)
    if not conf["dataset"].get("follow_symlinks"):  # the same for runs that follow no link
        conf["dataset"].pop("follow_symlinks", None)
    # Where the work runs changes no row: a run keeps its hash on a cluster (and resumes there).
    conf.pop("executor", None)
    hashes = (config_hash(conf), data_hash(dataset.corpus_hash, dataset.questions))
    if resume:  # checked on a read-only view first: a wrong id must not create a results file
        _check_resume(Store(db, read_only=True), resume, config, conf, hashes)
    run_id = resume or f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    on_cluster = None
    if config.executor.kind == "ray":  # connected, checked and set up before any work
        if progress:  # starting workers takes a while: say what is going on
            print(f"ray: connecting to {config.executor.address} and starting the workers")
        on_cluster = _start_on_cluster(
            config, trials, dataset, run_id, judge, splits, limit, own if given is None else None
        )
        if progress:
            where = on_cluster.cluster.describe()
            print(
                f"ray: {where['workers']} worker(s) on {where['nodes']} node(s) at {where['address']}"
            )
    store = Store(db, redact=_redactor(config))
    llms = {models.llm_id(c) for t in trials for c in (t.pipeline.generation.llm, t.pipeline.judge)}
    embeddings = {models.embedding_id(t.pipeline.embedding) for t in trials}
    fake = any(
        models.is_fake(t.pipeline.generation.llm, t.pipeline.judge, t.pipeline.embedding)
        for t in trials
    )
    where = {"executor": on_cluster.cluster.describe()} if on_cluster is not None else {}
    store.start_run(
        run_id,
        config.name,
        conf,
        versions(llms, embeddings) | where,
        git_sha(),
        fake,
        dataset.name,
        *hashes,
    )
    store.add_trials(run_id, trials)
    stats = RunStats(
        dataset=dataset.summary(),
        skipped_files=list(dataset.skipped),
        warnings=list(dataset.warnings),
    )
    ctx = RunContext.open(
        config, dataset, store, run_id, bool(resume), progress, on_progress, stats
    )
    if on_cluster is not None:
        ctx.executor = on_cluster.bind(stats)
    try:
        run_retrieval(ctx, trials)
        if ctx.judged_ids and ctx.judged_metrics:
            run_judging(ctx, select_trials(ctx, trials))
    except BaseException as exc:
        stats.seconds = ctx.progress.elapsed()
        try:
            store.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}"[:500], stats)
        except StoreError:  # the file takes not even that (a full disk): it stays "running"
            pass
        if isinstance(exc, StoreError):  # the results file failed, not the run: how to finish it
            raise StoreError(
                f"{exc}; run {run_id} stopped: once fixed, --resume {run_id} finishes it"
            ) from None
        raise
    problems = _problems(ctx)
    scored, failed = store.score_counts(run_id)
    if scored == 0:
        problems.append(
            f"nothing could be scored ({failed} failure(s)): the retrieval metrics need questions "
            "with gold_doc_ids (or gold_spans; reference_recall a reference answer), the judged "
            "metrics an answer the judge can score"
        )
    stats.seconds = ctx.progress.elapsed()
    stats.problems = problems
    store.finish_run(run_id, "finished", "; ".join(problems) or None, stats)
    return RunResult(run_id, Path(db), config.name, trials, stats, problems)


def _on_ray(config: ExperimentConfig, address: str) -> ExperimentConfig:
    """``config`` with its executor block set to the Ray cluster at ``address``."""
    try:
        executor = ExecutorConfig(
            **config.executor.model_dump() | {"kind": "ray", "address": address}
        )
    except ValidationError as exc:
        raise ConfigError(f"ray: {format_errors(exc, ExecutorConfig)}") from None
    return config.model_copy(update={"executor": executor})


def _start_on_cluster(
    config: ExperimentConfig,
    trials: list[Trial],
    dataset: Dataset,
    run_id: str,
    judge: LLMConfig,
    splits: dict[str, str],
    limit: int | None,
    own: dict[Path, str] | None,
) -> ClusterRun:
    """Connect to the Ray cluster, check every node, and set the run up on the workers.
    ``own``: the run's own files when the dataset was loaded from ``config`` (None: a dataset
    handed in, which workers cannot read from a path: it is shipped)."""
    read_path = config.executor.data == "path" and own is not None
    judged = [m for m in config.metrics if m in names("answered")]
    cluster = ray_executor.connect(config.executor)
    cluster.check(ray_executor.needs_of(config, trials, judged, read_path))
    limit = limit if limit is not None else config.limit
    # absolute, as the driver resolved them: a worker's working directory is another
    exclude = {Path(p).expanduser().resolve(): why for p, why in (own or {}).items()}
    return ray_stages.start(
        cluster, run_id, config, dataset, limit, exclude, judge, judged, splits, read_path
    )


def _problems(ctx: RunContext) -> list[str]:
    """What makes a finished run unfit to decide on, one line each (empty: fine)."""
    judged, failed = ctx.stats.judged, ctx.stats.judge_failures
    if ctx.judged_metrics and ctx.judged_ids and failed and failed >= judged:
        return [
            f"every judged score failed ({failed} failures): see the error column, e.g. "
            "`ragbench report` or the scores table"
        ]
    return []


def _redactor(config: ExperimentConfig) -> Callable[[str], str]:
    """Replace every secret the config names (API keys, URL passwords) in text written anywhere."""
    secrets = secrets_for(config)
    return lambda text: redact_text(text, secrets)
