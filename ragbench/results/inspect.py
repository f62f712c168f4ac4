"""Per-question drill-down, computed: what each trial retrieved, answered and why the judge scored
it so.

Contract:
- ``drilldown(store, run_id, question_id=None)`` -> one row per trial (by label) for one question:
  the question, the retrieved passages with their doc ids, the response and cited doc ids, and per
  metric its score, error and the judge's reasons (the ``trace`` list in ``scores.details``; read
  as statements, verdicts and reasons by ``results.reasons``). ``question_id=None`` picks the
  first judged (answered) question of the run.
- ``read_drilldowns(db, run_id=None, question_ids=None, experiment=None, limit=None)`` opens the
  results file read-only and returns one :class:`QuestionDrilldown` (run, question, that frame,
  whether the run used fake models) per question: ``question_ids`` or by default every answered
  question (the first ``limit`` of them). ``run_id=None`` takes the latest run of ``experiment``
  (or of the file).
Reads go through the store's typed reads only. Showing a drill-down (``ragbench.inspect_question``:
HTML and text) is ``render.drilldown``'s; nothing here renders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ragbench.metrics import names as metric_names
from ragbench.store import Store
from ragbench.store.connection import WRITE_IT_FIRST, RunNotFound


def _reasons(details: Any) -> list[Any]:
    """The judge's trace from a ``scores.details`` JSON string ([] when absent or unreadable)."""
    if not isinstance(details, str) or not details:
        return []
    try:
        trace = json.loads(details).get("trace", [])
    except (json.JSONDecodeError, AttributeError):
        return []
    return trace if isinstance(trace, list) else [trace]


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return list(value)


def _store(db: str | Path | Store) -> Store:
    return db if isinstance(db, Store) else Store(db, read_only=True)


def answered_questions(store: Store, run_id: str, scores: pd.DataFrame | None = None) -> list[str]:
    """Question ids of the run that were answered (have a judged score), by id; when none was,
    every question with a record."""
    scores = store.scores(run_id) if scores is None else scores
    judged = scores[scores.metric.isin(metric_names("answered"))].question_id
    ids = sorted(set(judged.astype(str)))
    if not ids:
        ids = sorted(set(store.records_frame(run_id).question_id.astype(str)))
    if not ids:
        raise LookupError(f"run {run_id} has no records")
    return ids


def first_judged_question(store: Store, run_id: str) -> str:
    """The first (by id) question of the run that was answered; else the first with a record."""
    return answered_questions(store, run_id)[0]


def drilldown(
    store: Store | str | Path, run_id: str, question_id: str | None = None
) -> pd.DataFrame:
    """One row per trial for one question: passages, answer, and every metric with its reasons.

    Columns: ``trial_id``, ``label``, ``question_id``, ``user_input``, ``reference``,
    ``retrieved`` (list of ``{"doc_id", "context"}``), ``response``, ``cited_doc_ids``,
    ``latency_s``, then per metric ``<metric>`` (score or NaN), ``<metric>_error`` and
    ``<metric>_reasons`` (the judge's trace list; empty for retrieval metrics).

    Raises:
        LookupError: the run has no records, or no record of ``question_id`` (the message lists
            some valid ids).
    """
    store = _store(store)
    scores = store.scores(run_id)
    question_id = question_id or answered_questions(store, run_id, scores)[0]
    frames = _frames(store, run_id, [question_id], scores)
    return frames[question_id]


def _frames(
    store: Store, run_id: str, question_ids: Sequence[str], scores: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    records = store.records_frame(run_id, list(question_ids))
    missing = [q for q in question_ids if q not in set(records.question_id.astype(str))]
    if missing:
        ids = sorted(set(store.records_frame(run_id).question_id.astype(str)))
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise LookupError(f"no question '{missing[0]}' in run {run_id}; questions: {shown}")
    scores = scores[scores.question_id.astype(str).isin(question_ids)]
    configured = store.run_info(run_id).metrics
    metrics = [
        m for m in dict.fromkeys([*configured, *sorted(scores.metric)]) if m in set(scores.metric)
    ]
    by_key = {
        (str(r.trial_id), str(r.question_id), r.metric): (r.value, r.error, r.details)
        for r in scores.itertuples()
    }
    out: dict[str, list[dict[str, Any]]] = {q: [] for q in question_ids}
    for rec in records.to_dict("records"):
        qid, tid = str(rec["question_id"]), str(rec["trial_id"])
        contexts = _as_list(rec["retrieved_contexts"])
        row: dict[str, Any] = {
            "trial_id": tid,
            "label": rec["label"],
            "question_id": qid,
            "user_input": rec["user_input"],
            "reference": rec["reference"],
            "retrieved": [
                {"doc_id": d, "context": c}
                for d, c in zip(_as_list(rec["retrieved_doc_ids"]), contexts, strict=False)
            ],
            "response": rec["response"],
            "cited_doc_ids": _as_list(rec["cited_doc_ids"]),
            "latency_s": rec["latency_s"],
        }
        for metric in metrics:
            value, error, details = by_key.get((tid, qid, metric), (None, None, None))
            row[metric] = float("nan") if value is None or pd.isna(value) else float(value)
            row[f"{metric}_error"] = None if error is None or pd.isna(error) else str(error)
            row[f"{metric}_reasons"] = _reasons(details)
        out[qid].append(row)
    return {q: pd.DataFrame(rows) for q, rows in out.items()}


def resolve_run(store: Store, run_id: str | None, experiment: str | None) -> str:
    """``run_id``, else the latest run of ``experiment``, else the latest run of the file.

    Raises:
        RunNotFound: the file has no such run (one line saying how to write one).
    """
    if run_id is not None:
        return run_id
    if experiment:
        found = store.latest_run(experiment)
    else:
        runs = store.runs()
        found = None if runs.empty else str(runs.run_id.iloc[-1])
    if found is None:
        what = f"no run of experiment '{experiment}'" if experiment else "no run"
        raise RunNotFound(f"{what} in {store.path}; {WRITE_IT_FIRST}")
    return found


def _fake(store: Store, run_id: str) -> bool:
    try:
        return store.run_info(run_id).fake_models
    except KeyError:
        raise RunNotFound(f"no run {run_id} in {store.path}") from None


@dataclass(eq=False)
class QuestionDrilldown:
    """One question across the trials of a run: ``frame`` is :func:`drilldown`'s."""

    run_id: str
    question_id: str
    frame: pd.DataFrame
    fake_models: bool = False

    @property
    def metrics(self) -> list[str]:
        """The metric columns of ``frame`` (those with a ``<metric>_reasons`` column)."""
        return [c for c in self.frame.columns if f"{c}_reasons" in self.frame.columns]

    def __repr__(self) -> str:
        return f"QuestionDrilldown(run {self.run_id}, question {self.question_id}: {len(self.frame)} trial(s))"


def read_drilldowns(
    db: str | Path | Store,
    run_id: str | None = None,
    question_ids: Sequence[str] | None = None,
    experiment: str | None = None,
    limit: int | None = None,
) -> list[QuestionDrilldown]:
    """Drill-downs of several questions of one run (see the module docstring).

    Raises:
        StoreError: the results file cannot be read (one line naming it).
        LookupError: no such run or question.
    """
    store = _store(db)
    run_id = resolve_run(store, run_id, experiment)
    fake = _fake(store, run_id)
    scores = store.scores(run_id)
    if question_ids is None:
        question_ids = answered_questions(store, run_id, scores)[:limit]
    ids = list(question_ids)
    frames = _frames(store, run_id, ids, scores)
    return [QuestionDrilldown(run_id, q, frames[q], fake) for q in ids]
