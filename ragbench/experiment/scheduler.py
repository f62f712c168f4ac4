"""The answer+judge stage, and its one scheduler for uniform and budgeted judging.

Contract: ``run_judging(ctx, trials)`` answers and judges the judged questions of ``trials`` (the
ones staged search kept), skipping scores that already succeeded (failed ones are retried).

- One scheduler: :class:`~ragbench.experiment.allocation.Allocator` plans the rounds in every
  case, over the questions in the one seeded order (``context.judged_order``). Without a budget
  and with ``allocation: uniform`` the plan is ONE round holding every (trial, question) pair, so
  as many items are in flight as the endpoints allow. With ``judge_budget`` or ``allocation:
  adaptive`` a round is the next question of every trial in contention, and ``stats.allocation``
  holds ``Allocator.summary()`` after every round (a failed run's statistics say how far it
  got); otherwise ``stats.allocation`` stays None.
- A round's pairs become work items (``judging.WorkItem``: the missing metrics of a pair with a
  record); pairs with nothing missing (scored before a resume) are verdicts replayed with their
  stored values and costs, in the same order, so an adaptive run takes the same decisions again
  and continues where it stopped. A verdict's cost is the answer's generation seconds plus the
  judged metrics' seconds; the allocator records verdicts in the round's order.
- The executor (``ctx.executor(workers)``, :class:`~ragbench.experiment.workers.LocalExecutor`)
  runs a round's items: in this thread, or, when the generator's and the judge's ``concurrency``
  both exceed 1 (OpenAI-compatible endpoints), on ``min(...)`` worker threads. Workers only
  compute (``JudgingWork.compute``); this thread commits each item whole (record, score rows and
  the cache entries made so far) through the batch writer as it completes and counts it, so a
  kill loses at most the items in flight and the last unwritten batch, and ``--resume`` redoes
  exactly those (the caches answer what was finished). The local llama.cpp model stays
  sequential (see ``LLMConfig``). On a Ray cluster (``ray_executor``) each worker runs up to
  ``min(...)`` items at once, and items whose answer and verdicts are all cached never leave.
- Progress: the stage is reported before the judge model loads; its total is the budget's
  verdicts (budgeted; replayed verdicts tick) or the pairs with work (one round).
"""

from __future__ import annotations

import contextlib

import pandas as pd

from ragbench.config.experiment import Trial
from ragbench.experiment.allocation import Allocator, Budget
from ragbench.experiment.context import RunContext, judge_config, judged_order
from ragbench.experiment.judging import ItemResult, JudgingWork, WorkItem, make_judge
from ragbench.experiment.progress import StageProgress
from ragbench.records import ANSWER_JUDGE, Record
from ragbench.store.buffered import BatchWriter

#: (trial_id, question_id) -> judged metric -> (value, seconds) of scores that succeeded.
Scored = dict[tuple[str, str], dict[str, tuple[float | None, float | None]]]


def run_judging(ctx: RunContext, trials: list[Trial]) -> None:
    """The answer+judge stage (see the module docstring)."""
    judge_cfg = judge_config(trials)
    scheduler = Scheduler(ctx, trials)
    # Said before the judge model loads: from here on, the time goes to this stage.
    with ctx.progress.stage(ANSWER_JUDGE, scheduler.total()) as progress:
        judge = make_judge(ctx.models, judge_cfg, ctx.judged_metrics, ctx.cache)
        scheduler.run(JudgingWork(ctx.models, judge, ctx.cache), progress)
    # Added to what remote workers counted (a Ray executor adds theirs as results come back).
    ctx.stats.judge_calls += judge.calls
    # Retries of the endpoint LLMs the run built (a retry is a 429, 5xx or lost call).
    ctx.stats.endpoint_retries += sum(int(getattr(llm, "retries", 0)) for llm in ctx.models.llms())


class Scheduler:
    """Plans the rounds of one answer+judge stage and runs them (see the module docstring)."""

    def __init__(self, ctx: RunContext, trials: list[Trial]) -> None:
        cfg = ctx.config
        self.ctx = ctx
        self.trials = {t.trial_id: t for t in trials}
        self.budgeted = cfg.judge_budget is not None or cfg.allocation != "uniform"
        self.order = judged_order(
            [q.question_id for q in ctx.dataset.questions], cfg.judge_limit, cfg.seed
        )

    def allocator(self) -> Allocator:
        cfg = self.ctx.config
        spec = cfg.judge_budget
        return Allocator(
            list(self.trials),
            self.order,
            cfg.allocation_metric or self.ctx.judged_metrics[0],
            cfg.allocation,
            Budget(spec.verdicts, spec.seconds) if spec is not None else Budget(),
            labels={t.trial_id: t.label for t in self.trials.values()},
            seed=cfg.seed,
        )

    def total(self) -> int:
        """What the stage's progress counts to: the verdicts a budget gives at most (every
        judged pair without one), or, in one round, the pairs that have work."""
        if self.budgeted:
            most = len(self.trials) * len(self.order)
            spec = self.ctx.config.judge_budget
            verdicts = spec.verdicts if spec is not None else None
            return min(verdicts or most, most)
        return sum(
            1
            for t in self.trials
            for q in self.order
            if (t, q) in self.ctx.records and self.ctx.missing_metrics(t, q)
        )

    def run(self, work: JudgingWork, progress: StageProgress) -> None:
        """Answer and judge the rounds the allocator plans, committing as items complete."""
        ctx = self.ctx
        alloc = self.allocator()
        # uniform without a budget: one round of every pair; else the next question per trial
        per_round = 1 if self.budgeted else len(self.order)
        prior = self._scored_before()
        with ctx.store.batch() as batch:
            while pairs := alloc.next_round(per_round):
                items = []
                for trial_id, qid in pairs:
                    item = self._item(trial_id, qid)
                    if item is not None:
                        items.append(item)
                        continue
                    # scored before this run resumed (or no record to judge): no work
                    alloc.record(
                        trial_id,
                        qid,
                        *_verdict(alloc.metric, ctx.records.get((trial_id, qid)), prior),
                    )
                    if self.budgeted:  # a replayed verdict counts against the budget's total
                        progress.tick(self.trials[trial_id].label)
                results = self._execute(items, work, batch, progress)
                for item in items:  # verdicts in the round's order: decisions are reproducible
                    result = results[item.key]
                    new = {r.metric: (r.value, r.seconds) for r in result.rows}
                    prior[item.key] = prior.get(item.key, {}) | new
                    verdict = _verdict(alloc.metric, result.record or item.record, prior)
                    alloc.record(*item.key, *verdict)
                if self.budgeted:
                    ctx.stats.allocation = alloc.summary()
            if self.budgeted:  # the allocator knows it is done only once asked for a round
                ctx.stats.allocation = alloc.summary()
            progress.finish()
        # counted after the block: its last batch is written on exit
        ctx.stats.transactions += batch.transactions

    def _item(self, trial_id: str, question_id: str) -> WorkItem | None:
        """The work of one pair: its missing metrics (None: nothing missing, or no record)."""
        record = self.ctx.records.get((trial_id, question_id))
        missing = self.ctx.missing_metrics(trial_id, question_id)
        if not missing or record is None:
            return None
        given = self.ctx.questions[question_id].response
        return WorkItem(self.trials[trial_id], record, missing, given)

    def _execute(
        self, items: list[WorkItem], work: JudgingWork, batch: BatchWriter, progress: StageProgress
    ) -> dict[tuple[str, str], ItemResult]:
        """Run ``items`` on the executor; commit each whole as it completes, tick, count."""
        ctx = self.ctx
        work.prefetch_answers(items)  # the cached answers, in one transaction
        executor = ctx.executor(self._workers(items, work))
        results: dict[tuple[str, str], ItemResult] = {}
        with contextlib.closing(executor.completed(items, work)) as completed:
            for item, result in completed:
                records = [result.record] if result.record is not None else []
                batch.add(records, result.rows, cache=result.cache + ctx.cache.drain())
                ctx.stats.add(result.counts)
                if result.record is not None:
                    ctx.records[item.key] = result.record
                results[item.key] = result
                label = item.trial.label
                progress.tick(label, note=f"trial {label}, {item.record.question_id}")
        return results

    @staticmethod
    def _workers(items: list[WorkItem], work: JudgingWork) -> int:
        """Items at once: ``min(generation concurrency, judge concurrency)``; answers that are
        given or not needed (not generated) leave the generator out."""
        limits = [work.judge.cfg.concurrency]
        limits += [i.trial.pipeline.generation.llm.concurrency for i in items if i.generates]
        return max(1, min(limits)) if len(items) > 1 else 1

    def _scored_before(self) -> Scored:
        """Resume: the judged scores that succeeded before (empty for a new run)."""
        ctx = self.ctx
        if not ctx.scored_ok:
            return {}
        scores = ctx.store.scores(ctx.run_id)
        scores = scores[scores.metric.isin(ctx.judged_metrics) & scores.error.isna()]
        out: Scored = {}
        for row in scores.itertuples():
            seconds = None if pd.isna(row.seconds) else float(row.seconds)
            key = (str(row.trial_id), str(row.question_id))
            out.setdefault(key, {})[str(row.metric)] = (float(row.value), seconds)
        return out


def _verdict(metric: str, record: Record | None, scored: Scored) -> tuple[float | None, float]:
    """The decision metric's value (None: failed or missing) and the verdict's cost."""
    scores = scored.get(record.key, {}) if record is not None else {}
    seconds = sum(s for _, s in scores.values() if s is not None)
    if record is not None and record.generation_s is not None:
        seconds += record.generation_s
    return scores.get(metric, (None, None))[0], float(seconds)
