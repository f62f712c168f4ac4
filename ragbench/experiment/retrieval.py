"""The retrieval stage: every (trial, question) not yet committed -> a Record and its retrieval scores.

Contract: ``run_retrieval(ctx, trials)`` builds (or reuses) each trial's index and pipeline,
retrieves for every question the run has not committed a record for, and scores the retrieval
metrics; all embedding happens here, before any LLM answers. Each record and its
:class:`~ragbench.records.ScoreRow` s are written through the store's batch writer; in memory it
keeps only what later stages need: the records of the judged questions (``ctx.records``, for the
answer+judge stage) and the scores staged search ranks by (``ctx.rank_scores``). A question set
that comes with its passages (a judge check) is only recorded: the stage is then named
``records``. A question that carries a person's verdict gets a :data:`HUMAN_LABEL` row beside
the judge's.

Index builds come first (``ctx.executor(1).pipelines``): locally in this thread, which embeds
and writes the embedding cache (this thread is the store's one writer); on a Ray cluster the
workers chunk and embed, and this thread writes the new vectors. The work of one item is then
:meth:`RetrievalWork.compute`, a function of the (trial, question) and the built pipelines it is
handed: it only searches and scores, and never touches the store. Results come back through the
executor to this thread, which commits them. Locally the items run in this thread (retrieval is
CPU-bound here); a Ray cluster runs them per trial and shard of questions on workers that hold
the index, and builds their pipelines there.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from ragbench.config.experiment import Trial
from ragbench.data.datasets import Question
from ragbench.experiment.context import RunContext
from ragbench.metrics import retrieval_scores
from ragbench.pipeline.rag import Pipeline, doc_id_of
from ragbench.records import RECORDS, RETRIEVAL, Record, ScoreRow

#: The score row that holds a person's verdict (1.0 = attributable) beside the judge's, in judge
#: checks and any question set that carries ``human_label``.
HUMAN_LABEL = "human_label"

#: One retrieval work item: a trial and one question.
Item = tuple[Trial, Question]


@dataclass(frozen=True)
class RetrievalWork:
    """What a retrieval item needs besides itself: the built pipeline of each trial that searches
    (by trial id), the run id, the run's metrics and the held-out split of each question."""

    pipelines: dict[str, Pipeline]
    run_id: str
    metrics: list[str]
    splits: dict[str, str]

    def compute(self, item: Item) -> tuple[Record, list[ScoreRow]]:
        """Retrieve for one (trial, question) and score it: its record and score rows."""
        trial, q = item
        if q.retrieved_contexts is not None:
            # A ready-made record (a judge check, or answers logged elsewhere): nothing to search.
            contexts, doc_ids, seconds = q.retrieved_contexts, q.retrieved_doc_ids or [], None
        else:
            pipeline = self.pipelines[trial.trial_id]
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
            self.metrics,
            k=trial.pipeline.retrieval.top_k,
            contexts=record.retrieved_contexts,
            gold_spans=q.gold_spans,
            gains=getattr(q, "gold_relevance", None),
            reference=q.reference,
            answerable=q.answerable,
        )
        rows = [ScoreRow.of(record, m, v) for m, v in values.items()]
        if q.human_label is not None:  # a person's verdict, kept beside the judge's for agreement
            rows.append(ScoreRow.of(record, HUMAN_LABEL, float(q.human_label)))
        return record, rows


def run_retrieval(ctx: RunContext, trials: list[Trial]) -> None:
    """The retrieval stage (see the module docstring)."""
    todo: list[Item] = [
        (t, q)
        for t in trials
        for q in ctx.dataset.questions
        if (t.trial_id, q.question_id) not in ctx.has_record
    ]
    keep = set(ctx.judged_ids)
    rank_by = ctx.config.staged.rank_by if ctx.config.staged is not None else None
    # A judge check's questions come with their passages: nothing is searched, only recorded.
    ready = bool(todo) and all(q.retrieved_contexts is not None for _, q in todo)
    searching = {t.trial_id: t for t, q in todo if q.retrieved_contexts is None}
    with (
        ctx.progress.stage(RECORDS if ready else RETRIEVAL, len(todo)) as progress,
        ctx.store.batch() as batch,
    ):
        if ready:
            progress.note("ready-made: nothing retrieved")
        # The index builds: one per (corpus, chunking, embedding, vector store), shared by the
        # trials that differ only in retrieval or generation.
        executor = ctx.executor(1)
        pipelines = executor.pipelines(ctx.builder, searching)
        work = RetrievalWork(pipelines, ctx.run_id, ctx.config.metrics, ctx.splits)
        with contextlib.closing(executor.completed(todo, work)) as results:
            for (trial, q), (record, rows) in results:
                if q.question_id in keep:
                    ctx.records[record.key] = record
                if rank_by is not None:  # what staged search ranks by, kept in memory
                    ctx.rank_scores += [
                        {"trial_id": r.trial_id, "question_id": r.question_id, "value": r.value}
                        for r in rows
                        if r.metric == rank_by
                    ]
                batch.add([record], rows)
                progress.tick(trial.label)
    # counted after the block: its last batch is written on exit
    ctx.stats.transactions += batch.transactions
