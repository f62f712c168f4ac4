"""The stages of a run: retrieve, then answer and judge; each hands the next its records in memory.

Contract: ``Stages(config, dataset, store, run_id, resume, progress, on_progress)``;
``retrieve_all(trials)`` builds a :class:`~ragbench.records.Record` and its retrieval
:class:`~ragbench.records.ScoreRow` s for every (trial, question) not yet committed;
``answer_and_judge(trials)`` keeps the trials staged search selects, then answers and judges the
seeded ``judge_limit`` subset, skipping scores that already succeeded (failed ones are retried);
with ``judge_budget`` or ``allocation: adaptive`` it does so in the rounds ``allocation.Allocator``
plans (``budgeted.py``). ``_run_items`` is the one executor of answer+judge work items. Both write through the store's batch writer. ``stats`` (the run's :class:`~ragbench.records.RunStats`) counts the work; ``problems()`` says what
makes a finished run unfit to decide on. ``experiment.run`` is the only caller.

Stage 3 work items are ``(trial, record, missing metrics)``; ``_run_items`` runs a list of them:
in order in this thread, or, when the generator's and the judge's ``concurrency`` both exceed 1
(OpenAI-compatible endpoints), on ``min(...)`` worker threads. Workers only compute (answer, judge:
``_compute_item``) and return the item's record and score rows; this thread commits each item
whole through the batch writer as it completes and counts it, so a kill loses at most the items
in flight and the last unwritten batch, and ``--resume`` redoes exactly those (the caches answer
what was finished). The local llama.cpp model stays sequential (see ``LLMConfig``).
An item whose missing metrics read no answer (context precision and recall) is judged without
generating one.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ragbench import models
from ragbench.config.experiment import (
    ExperimentConfig,
    LLMConfig,
    Trial,
    params_hash,
)
from ragbench.data.datasets import Dataset, Question
from ragbench.data.splits import dev_scores, splits_for
from ragbench.experiment.budgeted import BudgetedJudging
from ragbench.experiment.workers import KeyedLocks, completed
from ragbench.judge.scoring import Judge, judge_details
from ragbench.metrics import ANSWER, applies, names, reads_answer, retrieval_scores, uses_embedding
from ragbench.pipeline.rag import Builder, doc_id_of
from ragbench.records import Progress, Record, RunStats, ScoreRow
from ragbench.stats import order_trials
from ragbench.store import BatchWriter, Store
from ragbench.store.buffered import BufferedCache

#: The score row that holds a person's verdict (1.0 = attributable) beside the judge's, in judge
#: checks and any question set that carries ``human_label``.
HUMAN_LABEL = "human_label"

#: One stage-3 work item: a trial, one of its records, and the judged metrics it still lacks.
Item = tuple[Trial, Record, list[str]]


@dataclass
class ItemResult:
    """What a worker hands back for one item; the main thread commits it and adds the counts."""

    record: Record | None  # None: the answer failed, and only failure rows are written
    rows: list[ScoreRow]
    counts: Counter[str] = field(default_factory=Counter)


def judged_subset(question_ids: list[str], limit: int | None, seed: int) -> list[str]:
    """The questions that get answers and LLM-judged metrics: a seeded sample, the same for every
    trial (so trials are compared on the same questions), in dataset order."""
    if limit is None or limit >= len(question_ids):
        return list(question_ids)
    shuffled = list(question_ids)
    random.Random(seed).shuffle(shuffled)  # a prefix of one shuffle: larger limits nest smaller
    chosen = set(shuffled[:limit])
    return [q for q in question_ids if q in chosen]


def judge_config(trials: list[Trial]) -> LLMConfig:
    """One judge per run, so every trial is scored by the same ruler."""
    judges = {params_hash(t.pipeline.judge.model_dump()) for t in trials}
    if len(judges) > 1:
        raise ValueError("the judge must be the same for every trial; do not sweep 'judge.*'")
    return trials[0].pipeline.judge


class Stages(BudgetedJudging):
    def __init__(
        self,
        config: ExperimentConfig,
        dataset: Dataset,
        store: Store,
        run_id: str,
        resume: bool,
        progress: bool,
        on_progress: Callable[[Progress], None] | None,
        stats: RunStats | None = None,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.store = store
        self.run_id = run_id
        self.progress = progress
        self.on_progress = on_progress
        self.start = time.perf_counter()
        self.builder = Builder(dataset, cache=store, stats=stats)
        self.questions = {q.question_id: q for q in dataset.questions}
        self.judged_ids = judged_subset(list(self.questions), config.judge_limit, config.seed)
        # Judged metrics and the answer metrics read without a model (abstained).
        answered = names("answered")
        self.judged_metrics = [m for m in config.metrics if m in answered]
        self.splits = splits_for(config, dataset.questions)  # {} without `split:`
        self.stats = stats if stats is not None else RunStats()
        self.judge_done = 0  # stage-3 items done, for progress across rounds of items
        self.judge_total = 0
        self._inflight = KeyedLocks()  # one generation per prompt at a time (see workers.py)
        # Stage 3's answer and verdict caches: prefetched in bulk, written with each batch.
        self.cache = BufferedCache(store)
        # Resume: what is already committed. Records are read back only for the questions that
        # stage 3 may still need; error rows are not "done" and are retried.
        self.has_record: set[tuple[str, str]] = set()
        self.scored_ok: set[tuple[str, str, str]] = set()
        self.records: dict[tuple[str, str], Record] = {}
        self.stage1_scores: list[dict[str, Any]] = []  # staged.rank_by's rows only
        if resume:
            self.has_record, self.scored_ok = store.resume_state(run_id)
            self.records = {r.key: r for r in store.records(run_id, self.judged_ids)}
            if config.staged is not None:
                prior = store.scores(run_id)
                prior = prior[prior.metric == config.staged.rank_by]
                self.stage1_scores = prior[["trial_id", "question_id", "value"]].to_dict("records")

    def _tick(self, bar: Any, stage: str, done: int, total: int, trial: str) -> None:
        bar.update()
        self._report(stage, done, total, trial)

    def _report(self, stage: str, done: int, total: int, trial: str = "") -> None:
        """Tell ``on_progress`` where the run is; ``done`` 0 says a stage has started, so a display
        names the stage doing the work, not the last one that ticked."""
        if self.on_progress is not None:
            elapsed = time.perf_counter() - self.start
            self.on_progress(Progress(stage, done, total, trial, elapsed))

    def _bar(self, total: int, desc: str) -> Any:
        return tqdm(total=total, desc=desc, disable=not self.progress, unit="q", leave=True)

    # stage 2: retrieval ---------------------------------------------------------------------------
    def retrieve_all(self, trials: list[Trial]) -> None:
        todo = [
            (t, q)
            for t in trials
            for q in self.dataset.questions
            if (t.trial_id, q.question_id) not in self.has_record
        ]
        keep = set(self.judged_ids)
        # A judge check's questions come with their passages: nothing is searched, only recorded.
        ready = bool(todo) and all(q.retrieved_contexts is not None for _, q in todo)
        stage = "records" if ready else "retrieval"
        self._report(stage, 0, len(todo))
        with self._bar(len(todo), stage) as bar, self.store.batch() as batch:
            if ready:
                bar.set_postfix_str("ready-made: nothing retrieved")
            for done, (trial, q) in enumerate(todo, start=1):
                record, rows = self._retrieve_one(trial, q)
                if q.question_id in keep:
                    self.records[record.key] = record
                batch.add([record], rows)
                self._tick(bar, stage, done, len(todo), trial.label)
            self.stats.transactions += batch.transactions

    def _retrieve_one(self, trial: Trial, q: Question) -> tuple[Record, list[ScoreRow]]:
        if q.retrieved_contexts is not None:
            # A ready-made record (a judge check, or answers logged elsewhere): nothing to search.
            contexts, doc_ids, seconds = q.retrieved_contexts, q.retrieved_doc_ids or [], None
        else:
            pipeline = self.builder.build(trial.pipeline)  # cached per pipeline config
            start = time.perf_counter()
            chunks = pipeline.retrieve(q.user_input, q.user_groups)
            seconds = time.perf_counter() - start
            contexts = [c.node.get_content() for c in chunks]
            doc_ids = [doc_id_of(c) for c in chunks]
        record = Record(
            run_id=self.run_id,
            trial_id=trial.trial_id,
            question_id=q.question_id,
            user_input=q.user_input,
            retrieved_contexts=list(contexts),
            retrieved_doc_ids=list(doc_ids),
            reference=q.reference,
            retrieval_s=seconds,
            latency_s=seconds,
            split=self.splits.get(q.question_id),
        )
        values = retrieval_scores(
            record.retrieved_doc_ids,
            q.gold_doc_ids,
            self.config.metrics,
            k=trial.pipeline.retrieval.top_k,
            contexts=record.retrieved_contexts,
            gold_spans=q.gold_spans,
            gains=getattr(q, "gold_relevance", None),
            reference=q.reference,
            answerable=q.answerable,
        )
        rows = [self._row(record, m, v) for m, v in values.items()]
        if q.human_label is not None:  # a person's verdict, kept beside the judge's for agreement
            rows.append(self._row(record, HUMAN_LABEL, float(q.human_label)))
        if self.config.staged is not None:  # what staged search ranks by, kept in memory
            self.stage1_scores += [
                {"trial_id": r.trial_id, "question_id": r.question_id, "value": r.value}
                for r in rows
                if r.metric == self.config.staged.rank_by
            ]
        return record, rows

    # staged search --------------------------------------------------------------------------------
    def select_stage3(self, trials: list[Trial]) -> list[Trial]:
        """Keep the best ``top_n`` trials by a retrieval metric, plus pinned ones.

        The order is ``stats.order_trials``' (the one best-trial rule the gate and the report use).
        Each decision and its reason are stored on the trial row for the report.
        """
        staged = self.config.staged
        if staged is None or len(trials) <= staged.top_n:
            return trials
        labels = {t.trial_id: t.label for t in trials}
        frame = pd.DataFrame(self.stage1_scores, columns=["trial_id", "question_id", "value"])
        frame = dev_scores(frame[frame.trial_id.isin(labels)], self.splits)  # chosen on dev
        frame = frame.assign(metric=staged.rank_by, label=frame.trial_id.map(labels))
        ranking = order_trials(frame, staged.rank_by)
        order = [str(t) for t in ranking.trial_id]
        means = dict(zip(order, ranking["mean"], strict=True))
        order += [t.trial_id for t in trials if t.trial_id not in order]  # never scored: last
        keep_ids = set(order[: staged.top_n])
        pinned = {t.trial_id for t in trials if t.label in staged.pin or t.trial_id in staged.pin}
        decisions = {}
        for rank, trial_id in enumerate(order, start=1):
            mean = means.get(trial_id)
            value = "no score" if mean is None or mean != mean else f"{mean:.3f}"
            where = f"{staged.rank_by} {value}, rank {rank} of {len(trials)}"
            if trial_id in keep_ids:
                decisions[trial_id] = (2, f"kept: {where} (top {staged.top_n})")
            elif trial_id in pinned:
                decisions[trial_id] = (2, f"kept: pinned ({where})")
            else:
                decisions[trial_id] = (1, f"pruned: {where}; top {staged.top_n} go on")
        self.store.set_stage(self.run_id, decisions)
        return [t for t in trials if decisions[t.trial_id][0] == 2]

    # stage 3: answer and judge --------------------------------------------------------------------
    def answer_and_judge(self, trials: list[Trial]) -> None:
        if not self.judged_ids or not self.judged_metrics:
            return
        trials = self.select_stage3(trials)
        judge_cfg = judge_config(trials)
        budgeted = self.config.judge_budget is not None or self.config.allocation != "uniform"
        todo: list[Item] = []
        if not budgeted:
            for t in trials:
                for qid in self.judged_ids:
                    missing = self.missing_metrics(t.trial_id, qid)
                    if missing and (t.trial_id, qid) in self.records:
                        todo.append((t, self.records[(t.trial_id, qid)], missing))
        # Said before the judge model loads: from here on, the time goes to this stage.
        self._report("answer+judge", 0, self.budget_total(trials) if budgeted else len(todo))
        embed_cfg = self._judge_embedding(judge_cfg)
        needs_embedding = any(map(uses_embedding, self.judged_metrics))
        judge = Judge(
            judge_cfg,
            self.builder.llm(judge_cfg),
            self.builder.embedding(embed_cfg) if needs_embedding else None,
            cache=self.cache,
            embed_id=models.embedding_id(embed_cfg),
        )
        if budgeted:
            self._allocate(trials, judge)
        else:
            self.judge_done, self.judge_total = 0, len(todo)
            with self._bar(len(todo), "answer+judge") as bar, self.store.batch() as batch:
                self._run_items(todo, judge, batch, bar)
                self.stats.transactions += batch.transactions
        self.stats.judge_calls = judge.calls
        retries = self._endpoint_retries(trials, judge_cfg)
        if retries:
            self.stats.endpoint_retries = retries

    def _workers(self, items: list[Item], judge: Judge) -> int:
        """Threads for these items: ``min(generation concurrency, judge concurrency)``; answers
        that are given or not needed (not generated) leave the generator out."""
        limits = [judge.cfg.concurrency]
        for trial, record, metrics in items:
            if self._generates(record, metrics):
                limits.append(trial.pipeline.generation.llm.concurrency)
        return max(1, min(limits)) if len(items) > 1 else 1

    def missing_metrics(self, trial_id: str, question_id: str) -> list[str]:
        """The judged metrics one (trial, question) still needs: not yet scored, and applying to
        the question (``abstained`` only to unanswerable ones)."""
        answerable = self.questions[question_id].answerable
        return [
            m
            for m in self.judged_metrics
            if (trial_id, question_id, m) not in self.scored_ok and applies(m, answerable)
        ]

    def _run_items(
        self, items: list[Item], judge: Judge, batch: BatchWriter, bar: Any
    ) -> dict[tuple[str, str], list[ScoreRow]]:
        """Answer and judge ``items``, committing each item's record and score rows through
        ``batch`` as it completes (see the module docstring); the bar ticks once per item, and
        progress counts on across calls (rounds of a budget). Returns each item's score rows by
        (trial_id, question_id)."""
        workers = self._workers(items, judge)
        # Pipelines are built here (the builder's caches are not thread-safe) and the cached
        # answers read in one transaction.
        keys = []
        for trial, record, metrics in items:
            if self._generates(record, metrics):
                try:
                    keys.append(self._generation_key(trial, record))
                except Exception:  # noqa: BLE001, S112 - the item records why, in _compute_item
                    continue
        self.cache.prefetch("generation", keys)
        rows: dict[tuple[str, str], list[ScoreRow]] = {}

        def compute(item: Item) -> ItemResult:
            return self._compute_item(*item, judge)

        with contextlib.closing(completed(items, compute, workers)) as results:
            for (trial, record, _), result in results:
                self._commit(result, batch)
                rows[record.key] = result.rows
                self.judge_done += 1
                bar.set_postfix_str(f"trial {trial.label}, {record.question_id}")
                self._tick(bar, "answer+judge", self.judge_done, self.judge_total, trial.label)
        return rows

    def _endpoint_retries(self, trials: list[Trial], judge_cfg: LLMConfig) -> int:
        """Retries the endpoint LLMs of this stage made (a retry is a 429, 5xx or lost call)."""
        cfgs = [judge_cfg, *(t.pipeline.generation.llm for t in trials)]
        llms = {
            id(llm): llm for llm in (self.builder.llm(c) for c in cfgs if c.provider == "openai")
        }
        return sum(int(getattr(llm, "retries", 0)) for llm in llms.values())

    def _prompt(self, trial: Trial, record: Record) -> str:
        pipeline = self.builder.build(trial.pipeline)
        return pipeline.prompt_for(
            record.user_input, record.retrieved_contexts, record.retrieved_doc_ids
        )

    def _generation_key(self, trial: Trial, record: Record) -> str:
        llm_cfg = trial.pipeline.generation.llm
        settings = llm_cfg.model_dump(
            include={"temperature", "seed", "max_tokens", "context_window"}
        )
        return params_hash(
            {
                "llm": models.llm_id(llm_cfg),
                "prompt": self._prompt(trial, record),
                "settings": settings,
            },
            length=32,
        )

    def _generates(self, record: Record, metrics: list[str]) -> bool:
        """Whether this item needs an answer generated: the question has no ready-made answer and
        some metric reads it (not when only context precision / recall are missing)."""
        given = self.questions[record.question_id].response is not None
        return not given and any(map(reads_answer, metrics))

    def _answer(self, trial: Trial, record: Record, counts: Counter[str]) -> dict[str, Any]:
        """The record's answer: ready-made, from the generation cache, or generated (may raise).

        ``counts`` gets ``generated`` or ``generation_cache_hits``. Safe in worker threads: one
        prompt is generated by one thread at a time, so a twin waits and hits the cache."""
        given = self.questions[record.question_id].response
        if given is not None:  # a ready-made answer is judged as it is
            return {"response": given, "cited": [], "seconds": 0.0, "usage": {}}
        key = self._generation_key(trial, record)
        with self._inflight.hold(key):
            cached = self.cache.cache_get("generation", key)
            if cached is not None:
                counts["generation_cache_hits"] += 1
                return dict(cached)
            pipeline = self.builder.build(trial.pipeline)
            out = pipeline.answer(self._prompt(trial, record), record.retrieved_doc_ids)
            answer = {
                "response": out.response,
                "cited": out.cited_doc_ids,
                "seconds": out.seconds,
                "usage": out.usage,
            }
            self.cache.cache_put("generation", key, answer)
        counts["generated"] += 1
        return answer

    def _compute_item(
        self, trial: Trial, record: Record, metrics: list[str], judge: Judge
    ) -> ItemResult:
        """Answer and judge one item; touches no shared state but the caches and ``record``."""
        counts: Counter[str] = Counter()
        # a ready-made answer is always loaded (it is the record's); one is generated only when
        # a metric reads it
        given = self.questions[record.question_id].response is not None
        if given or any(map(reads_answer, metrics)):
            try:
                answer = self._answer(trial, record, counts)
            except Exception as exc:  # noqa: BLE001 - a down endpoint is a recorded failure
                reason = f"generation failed: {type(exc).__name__}: {exc}"[:500]
                counts["judge_failures"] += len(metrics)
                return ItemResult(
                    None, [self._row(record, m, None, error=reason) for m in metrics], counts
                )
            record.response = answer["response"]
            record.cited_doc_ids = answer["cited"]
            record.generation_s = answer["seconds"]
            record.latency_s = (record.retrieval_s or 0.0) + answer["seconds"]
            record.prompt_tokens = answer["usage"].get("prompt_tokens")
            record.completion_tokens = answer["usage"].get("completion_tokens")
        self._prefetch_verdicts(record, metrics, judge)
        rows = []
        for metric in metrics:
            if metric in ANSWER:  # read from the answer, no judge call
                rows.append(self._row(record, metric, ANSWER[metric].score(record.response or "")))
                continue
            score = judge.score(
                metric,
                record.user_input,
                record.response or "",
                record.retrieved_contexts,
                reference=record.reference or "",
            )
            counts["judged"] += 1
            counts["judge_cache_hits"] += score.cached
            counts["judge_failures"] += score.error is not None
            rows.append(
                self._row(
                    record,
                    metric,
                    score.value,
                    error=score.error,
                    seconds=score.seconds,
                    details=judge_details(score),
                )
            )
        return ItemResult(record, rows, counts)

    def _prefetch_verdicts(self, record: Record, metrics: list[str], judge: Judge) -> None:
        """Read the cached verdicts of one answered record in one transaction."""
        keys = []
        for metric in metrics:
            inputs = judge.inputs(
                metric,
                record.user_input,
                record.response or "",
                record.retrieved_contexts,
                reference=record.reference or "",
            )
            if inputs is not None:
                keys.append(judge.cache_key(metric, inputs))
        self.cache.prefetch("judge", keys)

    def _commit(self, result: ItemResult, batch: BatchWriter) -> None:
        """Write one item's record and rows (one batch entry: never half an item), with the cache
        entries computed so far, and count it."""
        records = [result.record] if result.record is not None else []
        batch.add(records, result.rows, cache=self.cache.drain())
        self.stats.add(result.counts)

    def _answer_one(
        self, trial: Trial, record: Record, metrics: list[str], judge: Judge, batch: BatchWriter
    ) -> list[ScoreRow]:
        """Answer, judge and commit one item in this thread; returns its score rows."""
        result = self._compute_item(trial, record, metrics, judge)
        self._commit(result, batch)
        return result.rows

    def _judge_embedding(self, judge_cfg: LLMConfig) -> models.EmbeddingConfig:
        # Answer relevancy compares questions in one fixed embedding space for every trial, so a
        # sweep over embedding models does not change the ruler. Fakes keep fake runs fast.
        return models.EmbeddingConfig(
            provider="hashing" if judge_cfg.provider == "fake" else "local"
        )

    def _row(
        self,
        record: Record,
        metric: str,
        value: float | None,
        error: str | None = None,
        seconds: float | None = None,
        details: str | None = None,
    ) -> ScoreRow:
        return ScoreRow(
            self.run_id, record.trial_id, record.question_id, metric, value, error, seconds, details
        )

    def problems(self) -> list[str]:
        """What makes a finished run unfit to decide on, one line each (empty: fine)."""
        found = []
        judged, failed = self.stats.judged, self.stats.judge_failures
        if self.judged_metrics and self.judged_ids and failed and failed >= judged:
            found.append(
                f"every judged score failed ({failed} failures): see the error column, e.g. "
                "`ragbench report` or the scores table"
            )
        return found
