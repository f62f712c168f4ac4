"""People's labels of judged items: what can be labelled, the seeded sample, and the rules of a
label (who, when, why), written to and read from the results file.

Contract:
- A judged item is one (trial, question) of a run with a valid judge score of a labellable metric
  (``metrics.label_spec``: faithfulness, answer_correctness). :class:`JudgedItem` holds its judge
  value and the trial's verdict threshold (``judge.verdict_threshold`` of the trial's own config,
  0.5 for files from before it): the judge's verdict is ``value >= threshold``.
- ``judged_items(store, run_id, metric)``: every such item (the dev questions only when the run
  held some out, as the report ranks on them). ``sample_items(items, n, seed)``: THE seeded
  sample, stratified by trial and paired: the questions in one seeded order, and item k is
  question ``k // trials`` of trial ``k % trials`` (question 1 in every trial, then question 2,
  ...; a trial that did not judge a question is skipped), so paired trial differences have labels
  on both sides and a larger ``n`` extends a smaller one.
- ``record_labels(store, run_id, [NewLabel])`` checks and writes labels in one transaction: the
  value is 0/1, the labeller is named, the item was judged, and a label that disagrees with the
  judge's verdict carries a reason (else :class:`LabelError`, one line, nothing written).
  Relabelling an item replaces its row and keeps the earlier labels in ``details["history"]``
  (newest last), so nothing a person said is lost and the report reads the latest.
- ``read_labels(store, run_id)`` -> one row per label (``LABEL_COLUMNS``): the labelled metric,
  the value, who, when, why, the judge's value then; old judge-check ``human_label`` rows read as
  faithfulness labels (labeller ``judge check``).
Labels must be a random sample of the judged items for the report's estimates to be unbiased:
the panel (notebook 06) and ``ragbench label export`` draw this one.
"""

from __future__ import annotations

import getpass
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ragbench.config.components import JudgeConfig
from ragbench.config.validation import one_line
from ragbench.data.splits import dev_scores
from ragbench.metrics import label_metric, label_spec, labelled_metric
from ragbench.store import Store
from ragbench.store.labels import LabelWrite, write_labels
from ragbench.store.labels import read_labels as read_label_rows

# judge.verdict_threshold's default, for files from before it (their verdicts read as today's)
DEFAULT_THRESHOLD: float = JudgeConfig.model_fields["verdict_threshold"].default
LABEL_COLUMNS = (
    "trial_id",
    "question_id",
    "metric",
    "value",
    "labeller",
    "labelled_at",
    "reason",
    "judge_value",
    "judge_verdict",
)


class LabelError(ValueError):
    """A label that cannot be recorded as asked; the message is one line for a person."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


@dataclass(frozen=True)
class JudgedItem:
    """One judged (trial, question) of a metric: what a person labels."""

    trial_id: str
    trial_label: str
    question_id: str
    metric: str
    judge_value: float
    threshold: float = DEFAULT_THRESHOLD

    @property
    def key(self) -> tuple[str, str]:
        return self.trial_id, self.question_id

    @property
    def verdict(self) -> bool:
        """The judge's verdict: its value is at least the trial's threshold."""
        return self.judge_value >= self.threshold


@dataclass(frozen=True)
class NewLabel:
    """A person's label of one item: ``value`` True = the spec's yes (supported, correct)."""

    item: JudgedItem
    value: bool
    labeller: str
    reason: str = ""


def default_labeller() -> str:
    """The login name: who labels when nobody says."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return ""


def thresholds(trials: pd.DataFrame) -> dict[str, float]:
    """trial_id -> the judge's verdict threshold in that trial's config (``Store.trials``)."""
    out = {}
    for row in trials.itertuples():
        params = json.loads(row.params_json or "{}")
        judge = params.get("judge") or {}
        out[str(row.trial_id)] = float(judge.get("verdict_threshold", DEFAULT_THRESHOLD))
    return out


def judged_items(store: Store, run_id: str, metric: str) -> list[JudgedItem]:
    """Every judged item of ``metric`` in the run (module docstring), by trial label, question."""
    label_spec(metric)  # a metric people cannot label: ValueError naming those they can
    trials = store.trials(run_id)
    names = dict(zip(trials.trial_id.astype(str), trials.label.astype(str), strict=True))
    limits = thresholds(trials)
    scores = dev_scores(store.scores(run_id), store.question_splits(run_id))
    part = scores[(scores.metric == metric) & scores.value.notna()]
    items = [
        JudgedItem(
            str(t), names.get(str(t), str(t)), str(q), metric, float(v), limits.get(str(t), 0.5)
        )
        for t, q, v in zip(part.trial_id, part.question_id, part.value, strict=True)
        if math.isfinite(float(v))
    ]
    return sorted(items, key=lambda i: (i.trial_label, i.trial_id, i.question_id))


def sample_items(items: Sequence[JudgedItem], n: int | None, seed: int = 0) -> list[JudgedItem]:
    """THE seeded, trial-stratified, paired sample of ``n`` items (module docstring)."""
    if n is not None and n < 1:
        raise LabelError(f"n must be at least 1, got {n}")
    trials = list(dict.fromkeys(i.trial_id for i in items))  # in trial-label order
    questions = sorted({i.question_id for i in items})
    random.Random(seed).shuffle(questions)
    by_key = {i.key: i for i in items}
    order = [by_key[(t, q)] for q in questions for t in trials if (t, q) in by_key]
    return order if n is None else order[:n]


def read_labels(store: Store, run_id: str) -> pd.DataFrame:
    """The run's labels, one row each (``LABEL_COLUMNS``; ``metric`` is the labelled metric)."""
    rows = []
    for r in read_label_rows(store, run_id).itertuples():
        details = _details(r.details)
        rows.append(
            (
                str(r.trial_id),
                str(r.question_id),
                labelled_metric(str(r.metric)),
                float(r.value),
                str(details.get("labeller") or "judge check"),
                details.get("labelled_at"),
                details.get("reason") or "",
                details.get("judge_value"),
                details.get("judge_verdict"),
            )
        )
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


def label_rows(labels: pd.DataFrame) -> pd.DataFrame:
    """Labels as the long frame ``stats`` reads: trial_id, question_id, metric, value."""
    return labels[["trial_id", "question_id", "metric", "value"]]


def check_label(label: NewLabel) -> None:
    """Raise :class:`LabelError` when ``label`` breaks a rule of the module docstring."""
    item = label.item
    where = f"{item.metric} of question {item.question_id} in trial '{item.trial_label}'"
    if not label.labeller.strip():
        raise LabelError(f"label of {where}: say who labels (labeller)")
    if not math.isfinite(item.judge_value):
        raise LabelError(f"label of {where}: the judge gave no score, so there is nothing to check")
    if label.value != item.verdict and not label.reason.strip():
        spec = label_spec(item.metric)
        judge = spec.yes if item.verdict else spec.no
        mine = spec.yes if label.value else spec.no
        raise LabelError(
            f"label of {where}: '{mine}' disagrees with the judge ('{judge}', score "
            f"{item.judge_value:.3f} vs threshold {item.threshold:g}); type why in the reason"
        )


def record_labels(store: Store, run_id: str, labels: Sequence[NewLabel]) -> None:
    """Check every label, then write them all in one transaction (see the module docstring).

    Raises:
        LabelError: a label breaks a rule; nothing is written.
    """
    for label in labels:
        check_label(label)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    write_labels(store, [_write(run_id, label, at) for label in labels])


def _write(run_id: str, label: NewLabel, at: str) -> LabelWrite:
    item = label.item

    def details(previous: dict[str, Any] | None) -> dict[str, Any]:
        history = []
        if previous:
            history = list(previous.pop("history", []) or [])
            history.append(previous)  # the label this one replaces, with its own details
        return {
            "labeller": label.labeller.strip(),
            "labelled_at": at,
            "label": int(label.value),
            "judge_value": item.judge_value,
            "judge_verdict": int(item.verdict),
            "threshold": item.threshold,
            "reason": label.reason.strip(),
            "history": history,
        }

    return LabelWrite(
        run_id,
        item.trial_id,
        item.question_id,
        label_metric(item.metric),
        float(label.value),
        details,
    )


def _details(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
