"""What every stage of a run holds: :class:`RunContext`, and the seeded order of judged questions.

Contract:
- ``judged_order(question_ids, limit, seed)`` is THE seeded order of the judged questions: one
  shuffle, the same for every trial (so trials are compared on the same questions), whose prefix
  of ``judge_limit`` is the judged subset (larger limits nest smaller ones). The answer+judge
  scheduler takes questions in this order. ``judged_subset`` is the same questions in dataset
  order, for wherever an order is shown or records are read back.
- ``judge_config(trials)`` is the run's one judge (refused when a sweep varies it).
- ``RunContext.open(config, dataset, store, run_id, resume, progress, on_progress, stats)`` makes
  the context of one run: the config, dataset, store, run id, statistics, progress reporter, the
  one model cache (shared by the index builder and the judge), the index/pipeline builder, the
  answer and verdict cache the answer+judge stage shares, the judged questions and metrics, the
  held-out split, and what a resumed run already committed (read back once, here). Stages hold it
  (composition); each stage module is a function of it and the trials.
- ``ctx.records`` holds the records the answer+judge stage will complete, in memory (the judged
  questions only); ``ctx.rank_scores`` the scores staged search ranks by. The retrieval stage adds
  to both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ragbench.config.experiment import ExperimentConfig, LLMConfig, Trial, params_hash
from ragbench.data.datasets import Dataset, Question
from ragbench.data.splits import splits_for
from ragbench.experiment.progress import Reporter
from ragbench.experiment.workers import EXECUTORS, Executor
from ragbench.metrics import applies, names
from ragbench.models.cache import ModelCache
from ragbench.pipeline.rag import Builder
from ragbench.records import Progress, Record, RunStats
from ragbench.store.buffered import BufferedCache
from ragbench.store.store import Store


def judged_order(question_ids: list[str], limit: int | None, seed: int) -> list[str]:
    """The judged questions in their seeded order (see the module docstring)."""
    shuffled = list(question_ids)
    random.Random(seed).shuffle(shuffled)
    return shuffled if limit is None else shuffled[:limit]


def judged_subset(question_ids: list[str], limit: int | None, seed: int) -> list[str]:
    """The questions that get answers and judged metrics, in dataset order: the seeded
    :func:`judged_order`'s questions (all of them when ``limit`` is None or covers them)."""
    chosen = set(judged_order(question_ids, limit, seed))
    return [q for q in question_ids if q in chosen]


def judge_config(trials: list[Trial]) -> LLMConfig:
    """One judge per run, so every trial is scored by the same ruler."""
    judges = {params_hash(t.pipeline.judge.model_dump()) for t in trials}
    if len(judges) > 1:
        raise ValueError("the judge must be the same for every trial; do not sweep 'judge.*'")
    return trials[0].pipeline.judge


@dataclass
class RunContext:
    """What the stages of one run share; see the module docstring. Make it with :meth:`open`."""

    config: ExperimentConfig
    dataset: Dataset
    store: Store
    run_id: str
    stats: RunStats
    progress: Reporter
    models: ModelCache
    builder: Builder
    cache: BufferedCache  # answers and verdicts: prefetched in bulk, written with each batch
    questions: dict[str, Question]
    judged_ids: list[str]  # dataset order
    judged_metrics: list[str]  # judged metrics and the answer metrics read without a model
    splits: dict[str, str]  # question_id -> dev | test; {} without `split:`
    # Resume: what is already committed. Error rows are not "done": they are retried.
    has_record: set[tuple[str, str]] = field(default_factory=set)
    scored_ok: set[tuple[str, str, str]] = field(default_factory=set)
    records: dict[tuple[str, str], Record] = field(default_factory=dict)
    rank_scores: list[dict[str, Any]] = field(default_factory=list)  # staged.rank_by's rows
    executor: Callable[[int], Executor] = EXECUTORS["local"]

    @classmethod
    def open(
        cls,
        config: ExperimentConfig,
        dataset: Dataset,
        store: Store,
        run_id: str,
        resume: bool = False,
        progress: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
        stats: RunStats | None = None,
    ) -> RunContext:
        """The context of a new run, or of a resumed one with what it committed read back.

        Args:
            config: the experiment.
            dataset: its corpus and questions.
            store: the results file.
            run_id: the run's id.
            resume: read back what the run committed before (records only for the questions
                the answer+judge stage may still need).
            progress: show progress bars.
            on_progress: called with a :class:`~ragbench.records.Progress` as stages advance.
            stats: the run's statistics, counted into (default: new ones).
        """
        stats = stats if stats is not None else RunStats()
        models = ModelCache()
        answered = names("answered")
        ctx = cls(
            config=config,
            dataset=dataset,
            store=store,
            run_id=run_id,
            stats=stats,
            progress=Reporter(progress, on_progress),
            models=models,
            builder=Builder(dataset, cache=store, stats=stats, models=models),
            cache=BufferedCache(store),
            questions={q.question_id: q for q in dataset.questions},
            judged_ids=judged_subset(
                [q.question_id for q in dataset.questions], config.judge_limit, config.seed
            ),
            judged_metrics=[m for m in config.metrics if m in answered],
            splits=splits_for(config, dataset.questions),
        )
        if resume:
            ctx.has_record, ctx.scored_ok = store.resume_state(run_id)
            ctx.records = {r.key: r for r in store.records(run_id, ctx.judged_ids)}
            if config.staged is not None:
                prior = store.scores(run_id)
                prior = prior[prior.metric == config.staged.rank_by]
                ctx.rank_scores = prior[["trial_id", "question_id", "value"]].to_dict("records")
        return ctx

    def missing_metrics(self, trial_id: str, question_id: str) -> list[str]:
        """The judged metrics one (trial, question) still needs: not yet scored, and applying to
        the question (``abstained`` only to unanswerable ones)."""
        answerable = self.questions[question_id].answerable
        return [
            m
            for m in self.judged_metrics
            if (trial_id, question_id, m) not in self.scored_ok and applies(m, answerable)
        ]
