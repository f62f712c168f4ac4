"""The report's "Held-out check": the trial chosen on dev questions, scored on test questions.

Contract:
- ``held_out_frame(scores, splits, best)``: per metric, the trial chosen on the dev questions and
  its mean [CI] and n on the dev and on the test questions (``HELD_OUT_COLUMNS``);
  ``held_out_lines(frame, splits, info)`` says the same in lines for the report's
  "Held-out check" section. Every question is run and scored either way: nothing is dropped.
The split itself (which question is dev, which is test) is ``data.splits``'.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ragbench import stats
from ragbench.data.splits import SPLITS
from ragbench.records import RunInfo

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


def held_out_frame(
    scores: pd.DataFrame, splits: dict[str, str], best: dict[str, str]
) -> pd.DataFrame:
    """Per metric (in ``best``'s order): its dev-chosen trial's dev and test scores.

    Args:
        scores: long scores of every question (trial_id, label, question_id, metric, value).
        splits: question_id -> "dev" | "test".
        best: metric -> the trial chosen on the dev questions (``RunReport.best``).

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


def held_out_lines(frame: pd.DataFrame, splits: dict[str, str], info: RunInfo) -> list[str]:
    """The report's "Held-out check" section: the split, then one line per metric."""
    if not splits:
        return []
    n_test = sum(split == "test" for split in splits.values())
    spec = info.config.get("split") or {}
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
