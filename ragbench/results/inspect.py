"""Per-question drill-down: what each trial retrieved, answered and why the judge scored it so.

Contract:
- ``drilldown(store, run_id, question_id=None)`` -> one row per trial (by label) for one question:
  the question, the retrieved passages with their doc ids, the response and cited doc ids, and per
  metric its score, error and the judge's reasons (the ``trace`` list in ``scores.details``; shown
  as statements, verdicts and reasons by ``results.reasons``).
  ``question_id=None`` picks the first judged (answered) question of the run.
- ``inspect_question(db, run_id=None, question_id=None, experiment=None)`` opens the results file read-only
  and returns a :class:`Drilldown` that shows itself in a notebook (``_repr_html_``: answer, cited
  sources, retrieved passages and score chips per trial) and as text (``__repr__``).
  ``inspect_questions(db, run_id, question_ids=None)`` does the same for several questions at once
  (default: every answered question), e.g. the few questions of one interactive trial.
Reads go through the store's typed reads only; HTML comes from ``display``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ragbench.metrics import names as metric_names
from ragbench.render import html as display
from ragbench.render.question import question_html
from ragbench.results.reasons import read_trace, step_lines
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


# --- showing it -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Drilldown:
    """One question across the trials of a run; displays itself in a notebook."""

    run_id: str
    question_id: str
    frame: pd.DataFrame
    fake_models: bool = False

    @property
    def metrics(self) -> list[str]:
        return [c for c in self.frame.columns if f"{c}_reasons" in self.frame.columns]

    def _repr_html_(self) -> str:
        banner = display.banner("FAKE MODELS: answers and scores come from test doubles.", "fake")
        return (banner if self.fake_models else "") + question_html(self.frame, self.metrics)

    def __repr__(self) -> str:
        return format_drilldown(self.frame)


class Drilldowns(list[Drilldown]):
    """Several questions of one run, shown one after the other."""

    def _repr_html_(self) -> str:
        if not self:
            return "<p>(no questions)</p>"
        parts = [d._repr_html_() for d in self]
        return '<hr style="margin:10px 0">'.join(parts)

    def __repr__(self) -> str:
        return "\n\n".join(repr(d) for d in self) or "(no questions)"


def inspect_question(
    db: str | Path | Store,
    run_id: str | None = None,
    question_id: str | None = None,
    experiment: str | None = None,
) -> Drilldown:
    """One question (default: the first answered one) across the trials of a run.

    ``run_id=None`` takes the latest run of ``experiment`` (or of the file).

    Raises:
        StoreError: the results file cannot be read (one line naming it).
        LookupError: no such run or question.
    """
    store = _store(db)
    run_id = _run(store, run_id, experiment)
    fake = _fake(store, run_id)
    scores = store.scores(run_id)
    question_id = question_id or answered_questions(store, run_id, scores)[0]
    frame = _frames(store, run_id, [question_id], scores)[question_id]
    return Drilldown(run_id, question_id, frame, fake)


def inspect_questions(
    db: str | Path | Store,
    run_id: str | None = None,
    question_ids: Sequence[str] | None = None,
    experiment: str | None = None,
) -> Drilldowns:
    """Like ``inspect_question`` for several questions (default: every answered question, by id)."""
    store = _store(db)
    run_id = _run(store, run_id, experiment)
    fake = _fake(store, run_id)
    scores = store.scores(run_id)
    ids = (
        list(question_ids)
        if question_ids is not None
        else answered_questions(store, run_id, scores)
    )
    frames = _frames(store, run_id, ids, scores)
    return Drilldowns(Drilldown(run_id, q, frames[q], fake) for q in ids)


def _run(store: Store, run_id: str | None, experiment: str | None) -> str:
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


def format_drilldown(frame: pd.DataFrame, width: int = 100, context_chars: int = 300) -> str:
    """The drill-down as readable text: the question once, then each trial's evidence and scores."""
    if frame.empty:
        return "(no records)"
    first = frame.iloc[0]
    lines = [f"DRILL-DOWN question {first.question_id}: {first.user_input}"]
    if isinstance(first.reference, str):
        lines.append(f"reference: {first.reference}")
    metrics = [c for c in frame.columns if f"{c}_reasons" in frame.columns]
    wrap = textwrap.TextWrapper(width=width, initial_indent="      ", subsequent_indent="      ")
    for r in frame.to_dict("records"):
        lines += ["", "=" * width, f"trial {r['label']}  ({r['trial_id']})", "-" * width]
        lines.append("retrieved:")
        for k, item in enumerate(r["retrieved"], 1):
            text = " ".join(str(item["context"]).split())
            if len(text) > context_chars:
                text = text[:context_chars] + " ..."
            lines.append(f"  [{k}] {item['doc_id']}")
            lines.append(wrap.fill(text))
        answer = r["response"] if isinstance(r["response"], str) else "(not answered)"
        lines += ["response:", wrap.fill(answer)]
        lines.append(f"cited: {', '.join(r['cited_doc_ids']) or '-'}")
        lines.append("scores:")
        for m in metrics:
            value = r[m]
            shown = "-" if pd.isna(value) else f"{value:.3f}"
            error = r[f"{m}_error"]
            lines.append(f"  {m}: {shown}" + (f"  error: {error}" if error else ""))
            for line in step_lines(read_trace(r[f"{m}_reasons"])):
                lines.append(textwrap.fill(line, width=width, subsequent_indent="          "))
    return "\n".join(lines)
