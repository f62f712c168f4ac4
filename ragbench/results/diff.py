"""Run-to-run comparison: per metric, the questions that improved or regressed, with a paired test.

Contract: ``compare_runs(db, run_a, run_b, metric=None, trial="best")`` -> :class:`RunDiff`, the
comparison computed (the gate uses it as it is; ``ragbench.diff_runs`` returns it shown:
``render.diff``).

- Trials: run B's trial ``trial`` (``"best"``: ``stats.best_trial`` on the rank metric, over the
  dev questions of a run with a held-out split, fed the run's human labels: the report's best)
  against the same trial_id in run A when A has it, else A's best. The rank metric is ``metric``
  when given, else the first metric of run B's config that both runs scored.
- Metrics: ``metric`` alone, or every metric both trials scored (run B's order).
- Per metric: ``stats.paired_comparison`` of B against A over the questions both scored (delta =
  B - A), Holm's correction across the metrics compared, and a verdict: ``improved`` or
  ``regressed`` (``p_adjusted < alpha``), ``not significant`` (tested), ``too_few``
  (fewer than ``stats.MIN_N`` shared questions: not tested) or ``not_compared`` (none shared).
- Per question: every pair whose score changed, with both answers (``Store.records``), regressions
  first.

- Data: runs whose stored data hashes differ (``RunInfo.data_hash``: the corpus or the questions,
  gold labels included, changed; another ``--limit`` is other questions too) scored different
  data, and a change in score says nothing about the pipeline: ``compare_runs`` refuses them
  (:class:`DiffError`) unless ``allow_different_data``, and then says so in ``warnings``. Runs of
  different experiments over the same data are compared, with a note in ``warnings``.

Reads only (``Store(read_only=True)``); bad input raises :class:`DiffError` with a one-line message.
No HTML and no text table here: ``render.diff`` shows a ``RunDiff``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ragbench import stats
from ragbench.config.validation import one_line
from ragbench.data.splits import dev_scores
from ragbench.records import Record
from ragbench.results.labels import label_rows, read_labels
from ragbench.store import Store

TEST_COLUMNS = [
    "metric",
    "n",
    "mean_a",
    "mean_b",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "p_value",
    "p_adjusted",
    "verdict",
    "improved",
    "regressed",
]
QUESTION_COLUMNS = [
    "metric",
    "question_id",
    "user_input",
    "a",
    "b",
    "delta",
    "response_a",
    "response_b",
]


class DiffError(ValueError):
    """The runs cannot be compared as asked (unknown run, trial or metric, nothing in common)."""

    _render_traceback_ = one_line  # a notebook shows the message, not a traceback


@dataclass
class RunDiff:
    """Run B against run A: ``tests`` (one row per metric) and ``questions`` (changed pairs).

    Attributes:
        run_a: The reference run (e.g. the baseline).
        run_b: The run compared with it (e.g. the latest).
        trial_a: Trial of run A compared; ``label_a`` is its label.
        trial_b: Trial of run B compared; ``label_b`` is its label.
        alpha: Family-wise error rate of the metrics' tests (Holm).
        fake_models: True when either run used test doubles.
        tests: ``TEST_COLUMNS``; delta and its interval are B - A.
        questions: ``QUESTION_COLUMNS``: every question whose score changed, by metric, most
            regressed first.
        max_rows: Changed questions shown per metric by the views (``render.diff``).
    """

    run_a: str
    run_b: str
    trial_a: str
    label_a: str
    trial_b: str
    label_b: str
    alpha: float
    fake_models: bool
    tests: pd.DataFrame
    questions: pd.DataFrame
    max_rows: int = 10
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what makes the comparison doubtful

    def regressed(self, metric: str | None = None) -> pd.DataFrame:
        """Questions whose score went down (all metrics, or one)."""
        return self._changed(metric, self.questions["delta"] < 0)

    def improved(self, metric: str | None = None) -> pd.DataFrame:
        """Questions whose score went up (all metrics, or one)."""
        return self._changed(metric, self.questions["delta"] > 0)

    def _changed(self, metric: str | None, mask: pd.Series) -> pd.DataFrame:
        if metric is not None:
            mask &= self.questions["metric"] == metric
        return self.questions[mask].reset_index(drop=True)

    def header(self, names: tuple[str, str] = ("A", "B")) -> list[str]:
        """Which run and trial each side is, the FAKE MODELS warning and notes."""
        lines = [
            f"{names[0]}: run {self.run_a}  trial {self.trial_a} ({self.label_a})",
            f"{names[1]}: run {self.run_b}  trial {self.trial_b} ({self.label_b})",
        ]
        if self.fake_models:
            lines.append(
                "WARNING: FAKE MODELS (test doubles) in at least one run; scores mean nothing."
            )
        return lines + self.warnings + self.notes

    def __repr__(self) -> str:
        return (
            f"RunDiff(run {self.run_b} trial {self.trial_b} vs run {self.run_a} trial "
            f"{self.trial_a}: {len(self.tests)} metric(s), {len(self.questions)} changed score(s))"
        )


def compare_runs(
    db: str | Path | Store,
    run_a: str,
    run_b: str,
    metric: str | None = None,
    trial: str = "best",
    alpha: float = 0.05,
    max_rows: int = 10,
    allow_different_data: bool = False,
) -> RunDiff:
    """Compare run B with run A question by question (see the module docstring); shown by
    ``render.diff.diff_runs``.

    Args:
        db: The results file, or an open :class:`Store`.
        run_a: The reference run id.
        run_b: The run id compared with it.
        metric: Compare this metric only (and pick the best trial by it).
        trial: Run B's trial id, or ``"best"``.
        alpha: Family-wise error rate of the per-metric tests (Holm).
        max_rows: Changed questions shown per metric by the text and HTML views.
        allow_different_data: Compare runs that scored different data (with a warning).

    Raises:
        DiffError: Unknown run, trial or metric, no metric scored by both trials, or runs that
            scored different data (unless ``allow_different_data``).
    """
    store = db if isinstance(db, Store) else Store(db, read_only=True)
    scores_a, scores_b = _scores(store, run_a), _scores(store, run_b)
    warnings = data_warnings(store, run_a, run_b, allow_different_data)
    common = [m for m in _metric_order(store, run_b, scores_b) if m in set(scores_a["metric"])]
    if metric is not None and metric not in common:
        raise DiffError(
            f"metric '{metric}' is not scored by both runs; common metrics: "
            f"{', '.join(common) or 'none'}"
        )
    if not common:
        raise DiffError(f"runs {run_a} and {run_b} have no metric in common")
    rank_metric = metric or common[0]
    # "best" is chosen on the dev questions of a run with a held-out split, as in its report.
    dev_a, dev_b = (
        dev_scores(s, store.question_splits(r)) for s, r in ((scores_a, run_a), (scores_b, run_b))
    )
    labels = tuple(label_rows(read_labels(store, r)) for r in (run_a, run_b))
    trial_b, trial_a = pick_trials(dev_a, dev_b, rank_metric, trial, (run_a, run_b), labels)
    notes = []
    if trial_a != trial_b:
        notes.append(f"run {run_a} has no trial {trial_b}: compared with its best on {rank_metric}")
    a = scores_a[scores_a["trial_id"] == trial_a]
    b = scores_b[scores_b["trial_id"] == trial_b]
    metrics = [metric] if metric else [m for m in common if m in set(a.metric) & set(b.metric)]
    tests, questions = compare_scores(a, b, metrics, alpha)
    questions = _with_answers(store, questions, run_a, trial_a, run_b, trial_b)
    fake = any(store.run_info(r).fake_models for r in (run_a, run_b))
    return RunDiff(
        run_a,
        run_b,
        trial_a,
        _label(a, trial_a),
        trial_b,
        _label(b, trial_b),
        alpha,
        fake,
        tests,
        questions,
        max_rows,
        notes,
        warnings,
    )


def data_warnings(store: Store, run_a: str, run_b: str, allow: bool = False) -> list[str]:
    """The lines that make comparing two runs doubtful (see the module docstring).

    Raises:
        DiffError: the runs scored different data and ``allow`` is False.
    """
    info_a, info_b = store.run_info(run_a), store.run_info(run_b)
    lines = []
    if info_a.experiment != info_b.experiment:
        lines.append(
            f"note: the runs are of different experiments ({run_a}: '{info_a.experiment}', "
            f"{run_b}: '{info_b.experiment}')"
        )
    hash_a, hash_b = info_a.data_hash, info_b.data_hash
    if hash_a is None or hash_b is None or hash_a == hash_b:
        return lines  # the same data, or a run from before data hashes (version 1): unknown
    parts = [
        old.split(":")[0]
        for old, new in zip(hash_a.split(), hash_b.split(), strict=False)
        if old != new
    ]
    what = f"runs {run_a} and {run_b} scored different data (the {' and '.join(parts) or 'data'} changed)"
    if not allow:
        raise DiffError(
            f"{what}: their scores cannot be compared; pass --allow-different-data "
            "(allow_different_data=True in Python) to compare anyway"
        )
    return [f"WARNING: {what}: a change in score may come from the data, not the pipeline", *lines]


def pick_trials(
    scores_a: pd.DataFrame,
    scores_b: pd.DataFrame,
    metric: str,
    trial: str = "best",
    names: tuple[str, str] = ("A", "B"),
    labels: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None),
) -> tuple[str, str]:
    """(trial of B, trial of A): B's ``trial`` or best, A's same trial_id or else A's best.

    Args:
        scores_a: Long scores of run A; ``scores_b`` those of run B.
        metric: The metric ``stats.best_trial`` ranks on.
        trial: A trial id of run B, or ``"best"``.
        names: How error messages name the runs (their ids).
        labels: People's labels of runs A and B (``results.labels``): with enough of them on
            ``metric``, "best" is the best by the prediction-powered means, as in the report.

    Raises:
        DiffError: ``trial`` is not a trial of run B, or a run has no valid score of ``metric``.
    """
    ids_b = list(dict.fromkeys(scores_b["trial_id"]))
    if trial == "best":
        trial_b = stats.best_trial(scores_b, metric, labels[1])
    elif trial in ids_b:
        trial_b = trial
    else:
        raise DiffError(f"run {names[1]} has no trial '{trial}'; valid: best, {', '.join(ids_b)}")
    trial_a = (
        trial_b
        if trial_b in set(scores_a["trial_id"])
        else stats.best_trial(scores_a, metric, labels[0])
    )
    for name, picked in zip(names, (trial_a, trial_b), strict=True):
        if picked is None:
            raise DiffError(f"run {name} has no valid score of {metric} to pick its best trial")
    return trial_b, trial_a  # type: ignore[return-value]


def compare_scores(
    a: pd.DataFrame, b: pd.DataFrame, metrics: list[str], alpha: float = 0.05
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paired tests (B - A) per metric with Holm across them, and the changed questions.

    Args:
        a: Long scores of one trial (question_id, metric, value).
        b: Long scores of the other trial.
        metrics: Metrics to compare, in output order.
        alpha: Family-wise error rate.

    Returns:
        (``TEST_COLUMNS`` frame, frame of changed questions with metric, question_id, a, b, delta).
    """
    rows, changed = [], []
    for metric in metrics:
        va, vb = _values(a, metric), _values(b, metric)
        cmp = stats.paired_comparison(vb, va, confidence=1 - alpha)
        pairs = pd.DataFrame({"a": pd.Series(va, dtype=float), "b": pd.Series(vb, dtype=float)})
        pairs = pairs.dropna().rename_axis("question_id").reset_index()
        pairs["delta"] = pairs["b"] - pairs["a"]
        moved = pairs[pairs["delta"] != 0].assign(metric=metric)
        # regressions first, then improvements, each largest change first
        order = moved.assign(up=moved["delta"] > 0, size=-moved["delta"].abs())
        changed.append(order.sort_values(["up", "size", "question_id"], kind="stable"))
        rows.append(
            {
                "metric": metric,
                "n": cmp.n,
                "mean_a": _mean(pairs["a"]),
                "mean_b": _mean(pairs["b"]),
                "delta": cmp.mean_diff,
                "delta_ci_low": cmp.ci_low,
                "delta_ci_high": cmp.ci_high,
                "p_value": cmp.p_value,
                "p_adjusted": np.nan,
                "verdict": "not_compared"
                if cmp.n == 0
                else "too_few"
                if cmp.n < stats.MIN_N
                else "",
                "improved": int((moved["delta"] > 0).sum()),
                "regressed": int((moved["delta"] < 0).sum()),
            }
        )
    tests = pd.DataFrame(rows, columns=TEST_COLUMNS)
    tested = tests["verdict"] == ""
    tests.loc[tested, "p_adjusted"] = stats.holm(tests.loc[tested, "p_value"].to_numpy())
    significant = tests["p_adjusted"] < alpha
    tests.loc[tested, "verdict"] = "not significant"
    tests.loc[tested & significant & (tests["delta"] > 0), "verdict"] = "improved"
    tests.loc[tested & significant & (tests["delta"] < 0), "verdict"] = "regressed"
    columns = ["metric", "question_id", "a", "b", "delta"]
    frames = [c[columns] for c in changed if not c.empty]
    questions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return tests, questions


def _scores(store: Store, run_id: str) -> pd.DataFrame:
    try:
        store.run_info(run_id)
    except KeyError:
        raise DiffError(f"no run {run_id} in {store.path}") from None
    return store.scores(run_id)


def _metric_order(store: Store, run_id: str, scores: pd.DataFrame) -> list[str]:
    configured = store.run_info(run_id).metrics
    scored = set(scores["metric"])
    return [m for m in dict.fromkeys([*configured, *scores["metric"]]) if m in scored]


def _values(scores: pd.DataFrame, metric: str) -> dict[str, float | None]:
    part = scores[scores["metric"] == metric]
    return dict(zip(part["question_id"].astype(str), pd.to_numeric(part["value"]), strict=True))


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _label(scores: pd.DataFrame, trial_id: str) -> str:
    labels = scores.loc[scores["trial_id"] == trial_id, "label"]
    return str(labels.iloc[0]) if len(labels) else trial_id


def _with_answers(
    store: Store, questions: pd.DataFrame, run_a: str, trial_a: str, run_b: str, trial_b: str
) -> pd.DataFrame:
    """Add the question text and both trials' answers (or what they retrieved, if unanswered)."""
    ids = sorted(set(questions["question_id"]))
    rec_a = {r.question_id: r for r in store.records(run_a, ids) if r.trial_id == trial_a}
    rec_b = {r.question_id: r for r in store.records(run_b, ids) if r.trial_id == trial_b}
    out = questions.copy()
    out["user_input"] = [
        (rec_b.get(q) or rec_a.get(q) or _NO_RECORD).user_input for q in out["question_id"]
    ]
    out["response_a"] = [_answer(rec_a.get(q)) for q in out["question_id"]]
    out["response_b"] = [_answer(rec_b.get(q)) for q in out["question_id"]]
    return out[QUESTION_COLUMNS].reset_index(drop=True)


_NO_RECORD = Record("", "", "", "", [], [])


def _answer(record: Record | None) -> str:
    if record is None:
        return "(no record)"
    if record.response is not None:
        cited = f" [cites {', '.join(record.cited_doc_ids)}]" if record.cited_doc_ids else ""
        return record.response + cited
    return f"(not answered; retrieved {', '.join(record.retrieved_doc_ids) or 'nothing'})"
