"""Held-out split: the dev questions choose the best trial, the test questions check it.

Contract:
- ``assign_splits(questions, test, seed)`` -> ``{question_id: "dev" | "test"}``: a seeded shuffle
  of the question ids, stratified by ``kind`` (questions without one form their own stratum), so
  each kind is held out in proportion. Deterministic: the same ids, kinds, fraction and seed give
  the same split whatever the file order. ``round(n * test)`` questions (at least 1, at most
  n - 1) go to test, spread over the strata by largest remainder.
- ``splits_for(config, questions)``: the split an experiment asks for (``split: {test, seed}``,
  the seed defaulting to the experiment's), or ``{}`` without ``split:``. ``run`` stores each
  question's split on its records, so a report of the run reads the same split back
  (``Store.question_splits``).
- ``dev_scores(scores, splits)``: the score rows of dev questions (every row when ``splits`` is
  empty). Every best-trial choice of a split run goes through it: the report's table and
  verdicts, ``ragbench gate``'s and ``diff``'s "best", and staged search's stage-1 ranking.
- ``held_out_frame(scores, splits, best)``: per metric, the trial chosen on the dev questions and
  its mean [CI] and n on the dev and on the test questions (``HELD_OUT_COLUMNS``);
  ``held_out_lines(frame, splits, info)`` says the same in lines for the report's
  "Held-out check" section. Every question is run and scored either way: nothing is dropped.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ragbench import stats
from ragbench.config import ExperimentConfig
from ragbench.questions import Question

SPLITS = ("dev", "test")
HELD_OUT_TITLE = "Held-out check"
HELD_OUT_COLUMNS = [
    "metric",
    "trial_id",
    "label",
    "dev_mean",
    "dev_ci_low",
    "dev_ci_high",
    "dev_n",
    "test_mean",
    "test_ci_low",
    "test_ci_high",
    "test_n",
]


def assign_splits(questions: Sequence[Question], test: float, seed: int) -> dict[str, str]:
    """Each question's split; see the module docstring.

    Raises:
        ValueError: ``test`` is not in (0, 1), or there are fewer than 2 questions.
    """
    if not 0 < test < 1:
        raise ValueError(f"split.test must be a fraction between 0 and 1, got {test!r}")
    if len(questions) < 2:
        raise ValueError(
            f"split: {len(questions)} question(s) cannot be split into dev and test; "
            "drop 'split' or add questions"
        )
    strata: dict[str, list[str]] = {}
    for q in questions:
        strata.setdefault(q.kind or "", []).append(q.question_id)
    n = len(questions)
    n_test = min(max(math.floor(n * test + 0.5), 1), n - 1)  # round half up, then 1..n-1
    quota = {kind: len(ids) * n_test / n for kind, ids in strata.items()}
    take = {kind: math.floor(share) for kind, share in quota.items()}
    by_remainder = sorted(strata, key=lambda kind: (take[kind] - quota[kind], kind))
    for kind in by_remainder[: n_test - sum(take.values())]:
        take[kind] += 1
    held_out: set[str] = set()
    for kind in sorted(strata):
        ids = sorted(strata[kind])  # file order must not matter
        random.Random(f"{seed}:{kind}").shuffle(ids)  # str seeds hash the same in every process
        held_out.update(ids[: take[kind]])
    return {q.question_id: "test" if q.question_id in held_out else "dev" for q in questions}


def splits_for(config: ExperimentConfig, questions: Sequence[Question]) -> dict[str, str]:
    """The experiment's split of these questions, or ``{}`` when it has no ``split:``."""
    if config.split is None:
        return {}
    seed = config.seed if config.split.seed is None else config.split.seed
    return assign_splits(questions, config.split.test, seed)


def dev_scores(scores: pd.DataFrame, splits: dict[str, str]) -> pd.DataFrame:
    """The rows of dev questions; all rows when there is no split."""
    if not splits:
        return scores
    dev = {qid for qid, split in splits.items() if split == "dev"}
    return scores[scores["question_id"].astype(str).isin(dev)].reset_index(drop=True)


def held_out_frame(
    scores: pd.DataFrame, splits: dict[str, str], best: dict[str, str]
) -> pd.DataFrame:
    """Per metric (in ``best``'s order): its dev-chosen trial's dev and test scores.

    Args:
        scores: long scores of every question (trial_id, label, question_id, metric, value).
        splits: question_id -> "dev" | "test".
        best: metric -> the trial chosen on the dev questions (``Report.best``).

    Returns:
        ``HELD_OUT_COLUMNS``; empty without a split. Means and intervals are
        ``stats.summarize``'s; a split with no valid score has n 0 and NaN mean.
    """
    if not splits or not best:
        return pd.DataFrame(columns=HELD_OUT_COLUMNS)
    side = scores["question_id"].astype(str).map(splits)
    rows = []
    for metric, trial_id in best.items():
        mine = (scores["metric"] == metric) & (scores["trial_id"].astype(str) == trial_id)
        labels = scores.loc[mine, "label"] if "label" in scores else pd.Series(dtype=object)
        row: dict[str, Any] = {
            "metric": metric,
            "trial_id": trial_id,
            "label": str(labels.iloc[0]) if len(labels) else trial_id,
        }
        for split in SPLITS:
            part = scores[mine & (side == split)]
            summary = stats.summarize(part) if not part.empty else pd.DataFrame()
            first = summary.iloc[0] if not summary.empty else None
            row[f"{split}_mean"] = math.nan if first is None else float(first["mean"])
            row[f"{split}_ci_low"] = math.nan if first is None else float(first["ci_low"])
            row[f"{split}_ci_high"] = math.nan if first is None else float(first["ci_high"])
            row[f"{split}_n"] = 0 if first is None else int(first["n"])
        rows.append(row)
    return pd.DataFrame(rows, columns=HELD_OUT_COLUMNS)


def _score(mean: float, low: float, high: float, n: int) -> str:
    if n == 0 or not math.isfinite(mean):
        return "no scores"
    interval = f" [{low:.3f}, {high:.3f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{mean:.3f}{interval} n={n}"


def held_out_lines(frame: pd.DataFrame, splits: dict[str, str], info: dict[str, Any]) -> list[str]:
    """The report's "Held-out check" section: the split, then one line per metric."""
    if not splits:
        return []
    n_test = sum(split == "test" for split in splits.values())
    try:
        spec = json.loads(info.get("config_json") or "{}").get("split") or {}
    except (ValueError, AttributeError):
        spec = {}
    how = f"split test {spec['test']}, " if isinstance(spec, dict) and "test" in spec else ""
    lines = [
        f"{len(splits) - n_test} dev / {n_test} test questions ({how}seeded, stratified by "
        "kind): the table above and its best trials use the dev questions only; below, each "
        "metric's best trial scored on the test questions it was not chosen on"
    ]
    for r in frame.itertuples():
        dev = _score(r.dev_mean, r.dev_ci_low, r.dev_ci_high, r.dev_n)
        test = _score(r.test_mean, r.test_ci_low, r.test_ci_high, r.test_n)
        lines.append(f"{r.metric}: {r.label}: test {test} (dev {dev})")
    return lines
