"""Per-question drill-down: what each trial retrieved, answered and why the judge scored it so.

Contract: ``drilldown(store, run_id, question_id=None)`` -> one row per trial (ordered by label) with
the question, the retrieved contexts and their doc ids, the response and cited doc ids, and per metric
its score, error and the judge's reasons (the ``trace`` list in ``scores.details``).
``question_id=None`` picks the first judged (answered) question of the run. ``format_drilldown``
renders the frame as text for a notebook or terminal.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pandas as pd

from ragbench.store import Store


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
    return [] if value is None or (isinstance(value, float) and pd.isna(value)) else list(value)


def first_judged_question(store: Store, run_id: str) -> str:
    """The first (by id) question of the run that was answered; else the first with a record."""
    df = store.query(
        "SELECT question_id, bool_or(response IS NOT NULL) AS answered FROM records "
        "WHERE run_id = ? GROUP BY question_id ORDER BY answered DESC, question_id LIMIT 1",
        [run_id],
    )
    if df.empty:
        raise LookupError(f"run {run_id} has no records")
    return str(df.question_id.iloc[0])


def drilldown(store: Store, run_id: str, question_id: str | None = None) -> pd.DataFrame:
    """One row per trial for one question: contexts, answer, and every metric with its reasons.

    Columns: ``trial_id``, ``label``, ``question_id``, ``user_input``, ``reference``,
    ``retrieved`` (list of ``{"doc_id", "context"}``), ``response``, ``cited_doc_ids``,
    ``latency_s``, then per metric ``<metric>`` (score or NaN), ``<metric>_error`` and
    ``<metric>_reasons`` (the judge's trace list; empty for retrieval metrics).

    Raises:
        LookupError: the run has no records, or no record of ``question_id`` (the message lists
            some valid ids).
    """
    question_id = question_id or first_judged_question(store, run_id)
    records = store.query(
        "SELECT r.*, t.label FROM records r JOIN trials t USING (run_id, trial_id) "
        "WHERE r.run_id = ? AND r.question_id = ? ORDER BY t.label",
        [run_id, question_id],
    )
    if records.empty:
        ids = store.query(
            "SELECT DISTINCT question_id FROM records WHERE run_id = ? ORDER BY 1", [run_id]
        ).question_id.tolist()
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise LookupError(f"no question '{question_id}' in run {run_id}; questions: {shown}")
    scores = store.query(
        "SELECT trial_id, metric, value, error, details FROM scores "
        "WHERE run_id = ? AND question_id = ? ORDER BY metric",
        [run_id, question_id],
    )
    metrics = list(dict.fromkeys(scores.metric))
    rows = []
    for rec in records.to_dict("records"):
        contexts = _as_list(rec["retrieved_contexts"])
        doc_ids = _as_list(rec["retrieved_doc_ids"])
        row: dict[str, Any] = {
            "trial_id": rec["trial_id"],
            "label": rec["label"],
            "question_id": question_id,
            "user_input": rec["user_input"],
            "reference": rec["reference"],
            "retrieved": [
                {"doc_id": d, "context": c} for d, c in zip(doc_ids, contexts, strict=False)
            ],
            "response": rec["response"],
            "cited_doc_ids": _as_list(rec["cited_doc_ids"]),
            "latency_s": rec["latency_s"],
        }
        mine = scores[scores.trial_id == rec["trial_id"]].set_index("metric")
        for metric in metrics:
            found = metric in mine.index
            row[metric] = float(mine.at[metric, "value"]) if found else float("nan")
            error = mine.at[metric, "error"] if found else None
            row[f"{metric}_error"] = None if error is None or pd.isna(error) else str(error)
            row[f"{metric}_reasons"] = _reasons(mine.at[metric, "details"]) if found else []
        rows.append(row)
    return pd.DataFrame(rows)


def _step(step: Any) -> str:
    """One judge step, e.g. ``{"StatementGeneratorOutput": {...}}``, as ``name: json``."""
    if isinstance(step, dict) and len(step) == 1:
        ((name, body),) = step.items()
        return f"{name}: {json.dumps(body, ensure_ascii=False)}"
    return json.dumps(step, ensure_ascii=False, default=str)


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
    for row in frame.itertuples(index=False):
        r = row._asdict()
        lines += ["", "=" * width, f"trial {r['label']}  ({r['trial_id']})", "-" * width]
        lines.append("retrieved:")
        for k, item in enumerate(r["retrieved"], 1):
            text = " ".join(str(item["context"]).split())
            if len(text) > context_chars:
                text = text[:context_chars] + " ..."
            lines.append(f"  [{k}] {item['doc_id']}")
            lines.append(wrap.fill(text))
        answer = r["response"] if isinstance(r["response"], str) else "(not answered)"
        lines.append("response:")
        lines.append(wrap.fill(answer))
        lines.append(f"cited: {', '.join(r['cited_doc_ids']) or '-'}")
        lines.append("scores:")
        for m in metrics:
            value = r[m]
            shown = "-" if pd.isna(value) else f"{value:.3f}"
            error = r[f"{m}_error"]
            lines.append(f"  {m}: {shown}" + (f"  error: {error}" if error else ""))
            for step in r[f"{m}_reasons"]:
                lines.append(
                    textwrap.fill(
                        _step(step),
                        width=width,
                        initial_indent="      ",
                        subsequent_indent="        ",
                    )
                )
    return "\n".join(lines)
