"""People's labels of judged items, in the ``scores`` table: the SQL of writing and reading them.

Contract: a label is a score row of metric ``human:<metric>`` (``metrics.HUMAN``) on the labelled
item's (run_id, trial_id, question_id), value 1.0 or 0.0, ``details`` a JSON object (who labelled
it, when, the judge's value and verdict then, the reason; ``results.labels`` builds it). No new
table or column: files of every schema version hold labels, and older versions read a labelled
file (they list the label rows as one more metric).

- ``write_labels(store, labels)`` writes one or more labels in ONE transaction (all or none): for
  each, the item's current label row (if any) is read and handed to ``details(previous)`` so the
  caller can keep its history, then the row is replaced. Every string is redacted as any score's.
- ``read_labels(store, run_id)`` returns the run's label rows (trial_id, question_id, metric,
  value, details) with ``metric`` the row's own (``human:faithfulness``), plus the judge check's
  ``human_label`` rows (a person's verdict of faithfulness, from BEGIN or a labelled CSV) as
  ``human:faithfulness`` rows whose details say so, so old files' labels read like new ones.
- ``Store.scores`` and ``Store.score_counts`` leave ``human:`` rows out: a label is not a score of
  a trial (reports, gates and diffs read labels here, on purpose).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ragbench.records import ScoreRow
from ragbench.store import rows
from ragbench.store.store import HUMAN, Store

#: The judge check's rows of a person's faithfulness verdict (``experiment.retrieval``).
JUDGE_CHECK_LABEL = "human_label"
LABEL_COLUMNS = ("trial_id", "question_id", "metric", "value", "details")


@dataclass(frozen=True)
class LabelWrite:
    """One label to write: the item, the labelled metric's row name, the value and a function
    from the item's previous details (a dict, or None for a first label) to the new details."""

    run_id: str
    trial_id: str
    question_id: str
    metric: str  # the row's metric: human:<metric>
    value: float
    details: Callable[[dict[str, Any] | None], dict[str, Any]]


def write_labels(store: Store, labels: Sequence[LabelWrite]) -> None:
    """Write ``labels`` in one transaction (see the module docstring)."""
    if not labels:
        return
    with store.connect() as con:
        new = []
        for label in labels:
            found = con.execute(
                "SELECT details FROM scores WHERE run_id = ? AND trial_id = ? "
                "AND question_id = ? AND metric = ?",
                [label.run_id, label.trial_id, label.question_id, label.metric],
            ).fetchone()
            previous = _parse(found[0]) if found else None
            new.append(
                ScoreRow(
                    run_id=label.run_id,
                    trial_id=label.trial_id,
                    question_id=label.question_id,
                    metric=label.metric,
                    value=label.value,
                    details=rows.dumps(label.details(previous)),
                )
            )
        rows.upsert(con, (), new, (), store.redact)


def read_labels(store: Store, run_id: str) -> pd.DataFrame:
    """The run's labels (``LABEL_COLUMNS``), by trial, question and metric."""
    found = store.query(
        "SELECT trial_id, question_id, metric, value, details FROM scores "
        "WHERE run_id = ? AND value IS NOT NULL AND (starts_with(metric, ?) OR metric = ?) "
        "ORDER BY trial_id, question_id, metric",
        [run_id, HUMAN, JUDGE_CHECK_LABEL],
    )
    old = found.metric == JUDGE_CHECK_LABEL
    if old.any():
        found.loc[old, "details"] = rows.dumps({"source": "judge check (human_label)"})
        found.loc[old, "metric"] = f"{HUMAN}faithfulness"
        # a judge-check item labelled again in the panel: the new row wins
        found = found.drop_duplicates(["trial_id", "question_id", "metric"], keep="first")
    return found.reset_index(drop=True)[list(LABEL_COLUMNS)]


def _parse(details: Any) -> dict[str, Any] | None:
    if not isinstance(details, str) or not details:
        return None
    try:
        parsed = json.loads(details)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
