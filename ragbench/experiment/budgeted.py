"""Budgeted judging: the answer+judge stage driven round by round by ``allocation.Allocator``.

Contract: :class:`BudgetedJudging` is the part of ``stages.Stages`` that runs when an experiment
sets ``judge_budget`` or ``allocation: adaptive``. ``_allocate(trials, judge)`` asks the
allocator for a round, answers and judges its pairs through ``Stages._run_items`` (the same
executor as unbudgeted judging), reports each verdict (the decision metric's value and its cost:
the answer's generation seconds plus the judged metrics' seconds) and repeats until the allocator
is done. ``stats.allocation`` holds ``Allocator.summary()`` after every round, so a failed
run's statistics say how far it got. Resume: (trial, question) pairs already scored count as
verdicts with their stored values and seconds, replayed in the same order, so an adaptive run takes
the same decisions again and continues where it stopped; failed scores are judged again.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import pandas as pd

from ragbench.experiment.allocation import Allocator, Budget
from ragbench.records import Record, RunStats, ScoreRow

if TYPE_CHECKING:
    from ragbench.config.experiment import ExperimentConfig, Trial
    from ragbench.data.datasets import Question
    from ragbench.judge.scoring import Judge
    from ragbench.store import BatchWriter, Store

#: (trial_id, question_id) -> judged metric -> (value, seconds) of scores that succeeded.
Scored = dict[tuple[str, str], dict[str, tuple[float | None, float | None]]]


def judged_order(question_ids: list[str], limit: int | None, seed: int) -> list[str]:
    """The judged questions in the seeded order budgeted judging takes them, the same for every
    trial: the shuffle whose prefix ``stages.judged_subset`` picks (so the same questions)."""
    shuffled = list(question_ids)
    random.Random(seed).shuffle(shuffled)
    return shuffled if limit is None else shuffled[:limit]


class BudgetedJudging:
    """Mixin of ``stages.Stages``: its attributes and executor, judged within a budget."""

    config: ExperimentConfig
    store: Store
    run_id: str
    questions: dict[str, Question]
    judged_metrics: list[str]
    records: dict[tuple[str, str], Record]
    scored_ok: set[tuple[str, str, str]]
    stats: RunStats
    judge_done: int
    judge_total: int

    def _run_items(
        self,
        items: list[tuple[Trial, Record, list[str]]],
        judge: Judge,
        batch: BatchWriter,
        bar: Any,
    ) -> dict[tuple[str, str], list[ScoreRow]]:
        raise NotImplementedError  # Stages' executor

    def _bar(self, total: int, desc: str) -> Any:
        raise NotImplementedError

    def missing_metrics(self, trial_id: str, question_id: str) -> list[str]:
        raise NotImplementedError

    def _tick(self, bar: Any, stage: str, done: int, total: int, trial: str) -> None:
        raise NotImplementedError

    def budget_total(self, trials: list[Trial]) -> int:
        """The verdicts budgeted judging gives at most: the budget's, else every judged pair."""
        cfg = self.config
        most = len(trials) * len(judged_order(list(self.questions), cfg.judge_limit, cfg.seed))
        verdicts = cfg.judge_budget.verdicts if cfg.judge_budget is not None else None
        return min(verdicts or most, most)

    def _allocate(self, trials: list[Trial], judge: Judge) -> None:
        """Answer and judge the rounds the allocator plans; see the module docstring."""
        cfg = self.config
        spec = cfg.judge_budget
        budget = Budget(spec.verdicts, spec.seconds) if spec is not None else Budget()
        order = judged_order(list(self.questions), cfg.judge_limit, cfg.seed)
        alloc = Allocator(
            [t.trial_id for t in trials],
            order,
            cfg.allocation_metric or self.judged_metrics[0],
            cfg.allocation,
            budget,
            labels={t.trial_id: t.label for t in trials},
            seed=cfg.seed,
        )
        by_id = {t.trial_id: t for t in trials}
        prior = self._scored_before()
        self.judge_done, self.judge_total = 0, self.budget_total(trials)
        with self._bar(self.judge_total, "answer+judge") as bar, self.store.batch() as batch:
            while pairs := alloc.next_round():
                items = []
                for trial_id, qid in pairs:
                    record = self.records.get((trial_id, qid))
                    missing = self.missing_metrics(trial_id, qid)
                    if missing and record is not None:
                        items.append((by_id[trial_id], record, missing))
                        continue
                    # scored before this run resumed (or no record to judge): no work
                    alloc.record(trial_id, qid, *self._verdict(alloc.metric, record, prior))
                    self.judge_done += 1
                    label = by_id[trial_id].label
                    self._tick(bar, "answer+judge", self.judge_done, self.judge_total, label)
                rows = self._run_items(items, judge, batch, bar)
                for trial, record, _ in items:
                    new = {r.metric: (r.value, r.seconds) for r in rows[record.key]}
                    prior[record.key] = prior.get(record.key, {}) | new
                    verdict = self._verdict(alloc.metric, record, prior)
                    alloc.record(trial.trial_id, record.question_id, *verdict)
                self.stats.allocation = alloc.summary()
            self.stats.allocation = alloc.summary()
            bar.total = self.judge_done  # the bar ends full when adaptive stopped trials early
            self.stats.transactions += batch.transactions

    def _scored_before(self) -> Scored:
        """Resume: the judged scores that succeeded before (empty for a new run)."""
        if not self.scored_ok:
            return {}
        scores = self.store.scores(self.run_id)
        scores = scores[scores.metric.isin(self.judged_metrics) & scores.error.isna()]
        out: Scored = {}
        for row in scores.itertuples():
            seconds = None if pd.isna(row.seconds) else float(row.seconds)
            key = (str(row.trial_id), str(row.question_id))
            out.setdefault(key, {})[str(row.metric)] = (float(row.value), seconds)
        return out

    def _verdict(
        self, metric: str, record: Record | None, scored: Scored
    ) -> tuple[float | None, float]:
        """The decision metric's value (None: failed or missing) and the verdict's cost."""
        scores = scored.get(record.key, {}) if record is not None else {}
        seconds = sum(s for _, s in scores.values() if s is not None)
        if record is not None and record.generation_s is not None:
            seconds += record.generation_s
        return scores.get(metric, (None, None))[0], float(seconds)
