"""Statistics for comparing trials: bootstrap intervals, paired comparisons and rankings.

Contract:
- ``bootstrap_ci(values)`` -> (mean, low, high) for a 95% percentile bootstrap interval, seeded so
  that the same scores always give the same interval.
- ``paired_comparison(a, b)`` compares two trials on the questions both of them scored: mean
  difference ``a - b``, a paired bootstrap interval of that difference and a two-sided sign-flip
  permutation p-value (exact up to 16 questions, Monte Carlo above).
- ``rank_trials(scores, metric)`` ranks the trials of a run on one metric and says which of them
  are statistically indistinguishable from the best one.

NULL scores (failed judge calls) are never averaged: callers drop them (``rank_trials`` does so
itself) and report how many there were. Every random draw comes from a seeded numpy generator, so
the same scores always give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Up to this many shared questions the permutation test enumerates all 2**n sign flips.
EXACT_PERMUTATION_MAX_N = 16

RANKING_COLUMNS = [
    "trial_id", "label", "mean", "ci_low", "ci_high", "n", "diff_vs_best", "diff_ci_low",
    "diff_ci_high", "p_value", "tied_with_best", "rank",
]


def bootstrap_ci(
    values: list[float] | np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` with a percentile bootstrap interval.

    Returns (nan, nan, nan) for no values and (x, x, x) for one value: an interval cannot be
    estimated from a single observation, and the report shows n next to it.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"),) * 3
    mean = float(data.mean())
    if data.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    resampled = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(resampled, [alpha, 1 - alpha])
    return mean, float(low), float(high)


@dataclass(frozen=True)
class PairedResult:
    """Outcome of :func:`paired_comparison`.

    Attributes:
        mean_diff: Mean over the shared questions of ``a - b`` (NaN when there are none).
        ci_low: Lower end of the paired bootstrap interval of ``mean_diff``.
        ci_high: Upper end of the paired bootstrap interval of ``mean_diff``.
        p_value: Two-sided sign-flip permutation p-value for "mean difference is 0".
        n: Number of questions both trials scored.
    """

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    @property
    def ci_contains_zero(self) -> bool:
        """True when the interval includes 0 (False when there is no interval: ``n == 0``)."""
        return bool(self.ci_low <= 0.0 <= self.ci_high)


def paired_comparison(
    a: dict[str, float],
    b: dict[str, float],
    n_resamples: int = 5000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedResult:
    """Compare two trials question by question.

    Only questions present in both mappings with a finite score in both are used; the rest are
    ignored, so a trial that failed on a question is compared on the others.

    Args:
        a: Scores of the first trial, keyed by question_id.
        b: Scores of the second trial, keyed by question_id.
        n_resamples: Bootstrap resamples, and Monte Carlo sign flips when there are more than
            ``EXACT_PERMUTATION_MAX_N`` shared questions.
        seed: Seed of the numpy generator behind every random draw.
        confidence: Coverage of the percentile bootstrap interval of the mean difference.

    Returns:
        The mean difference ``a - b``, its paired bootstrap interval, the two-sided permutation
        p-value (exact enumeration of all sign flips up to 16 questions, else Monte Carlo with the
        ``(1 + hits) / (1 + n_resamples)`` correction) and the number of shared questions. With no
        shared question every number is NaN and ``n`` is 0; when all differences are 0 the result
        is ``0, [0, 0], p = 1``.
    """
    shared = sorted(q for q in a.keys() & b.keys() if _finite(a[q]) and _finite(b[q]))
    n = len(shared)
    if n == 0:
        nan = float("nan")
        return PairedResult(nan, nan, nan, nan, 0)
    diffs = np.array([a[q] - b[q] for q in shared], dtype=float)
    if not diffs.any():
        return PairedResult(0.0, 0.0, 0.0, 1.0, n)

    rng = np.random.default_rng(seed)
    mean_diff = float(diffs.mean())
    if n == 1:
        low = high = mean_diff
    else:
        boot = diffs[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
        tail = (1 - confidence) / 2
        low, high = (float(x) for x in np.quantile(boot, [tail, 1 - tail]))
    return PairedResult(mean_diff, low, high, _sign_flip_p_value(diffs, n_resamples, rng), n)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _sign_flip_p_value(diffs: np.ndarray, n_resamples: int, rng: np.random.Generator) -> float:
    """Two-sided p-value of the paired permutation test on ``|sum(diffs)|``."""
    n = diffs.size
    observed = abs(diffs.sum())
    tolerance = 1e-12 * np.abs(diffs).sum()  # sums of the same floats in another order
    if n <= EXACT_PERMUTATION_MAX_N:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        sums = np.abs((1 - 2 * bits) @ diffs)
        return float(np.mean(sums >= observed - tolerance))
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, n))
    hits = int(np.sum(np.abs(signs @ diffs) >= observed - tolerance))
    return (1 + hits) / (1 + n_resamples)


def rank_trials(scores: pd.DataFrame, metric: str, alpha: float = 0.05) -> pd.DataFrame:
    """Rank the trials of a run on one metric and compare each of them to the best.

    Args:
        scores: Long scores with columns trial_id, label, question_id, metric and value (one row
            per trial, question and metric; value NaN/None for a failure, which is dropped).
        metric: The metric to rank on; higher is better.
        alpha: Significance level: intervals have coverage ``1 - alpha`` and a trial differs
            from the best when ``p_value < alpha``.

    Returns:
        One row per trial, best first, with columns ``RANKING_COLUMNS``: the trial's own mean,
        its bootstrap interval and number of scored questions ``n``; ``diff_vs_best`` (trial minus
        best, so <= 0 on the trial's mean) with its paired interval and p-value over the questions
        both trials scored; ``tied_with_best``, True for the best itself and for every trial that
        is statistically indistinguishable from it (difference interval contains 0, or
        ``p_value >= alpha``: with a handful of questions the bootstrap interval is too narrow to
        be trusted on its own); and ``rank`` (1 = best; equal means share a rank). A trial with
        no valid score on the metric comes last with NaN numbers, ``tied_with_best`` False and
        ``rank`` <NA>; a trial that shares no question with the best keeps its place and rank
        but has NaN comparison numbers and ``tied_with_best`` False.

    Raises:
        ValueError: When a column is missing or a (trial, question) pair occurs twice.
    """
    missing = {"trial_id", "label", "question_id", "metric", "value"} - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack column(s): {', '.join(sorted(missing))}")
    part = scores.loc[scores["metric"] == metric, ["trial_id", "label", "question_id", "value"]]
    if part.duplicated(["trial_id", "question_id"]).any():
        raise ValueError(f"metric '{metric}': a (trial_id, question_id) pair occurs twice")
    # sorted by question so that the row order of the input does not change any interval
    part = part.assign(value=pd.to_numeric(part["value"], errors="coerce"),
                       question_id=part["question_id"].astype(str))
    part = part.sort_values("question_id", kind="stable")
    confidence = 1 - alpha

    trials = []
    for trial_id, group in part.groupby("trial_id", sort=False):
        ok = group.dropna(subset=["value"])
        mean, low, high = bootstrap_ci(ok["value"].to_numpy(), confidence=confidence)
        trials.append({
            "trial_id": trial_id, "label": str(group["label"].iloc[0]), "mean": mean,
            "ci_low": low, "ci_high": high, "n": int(len(ok)),
            "values": dict(zip(ok["question_id"], ok["value"], strict=True)),
        })
    if not trials:
        return _empty_ranking()
    # best first; ties on the mean broken by label, then trial_id, so the order is reproducible
    trials.sort(key=lambda t: (math.isnan(t["mean"]), -t["mean"] if t["n"] else 0.0,
                               t["label"], str(t["trial_id"])))

    best = trials[0]
    for trial in trials:
        if not trial["n"] or not best["n"]:
            trial.update(diff_vs_best=np.nan, diff_ci_low=np.nan, diff_ci_high=np.nan,
                         p_value=np.nan, tied_with_best=False)
        elif trial is best:
            trial.update(diff_vs_best=0.0, diff_ci_low=0.0, diff_ci_high=0.0, p_value=1.0,
                         tied_with_best=True)
        else:
            cmp = paired_comparison(trial["values"], best["values"], confidence=confidence)
            trial.update(diff_vs_best=cmp.mean_diff, diff_ci_low=cmp.ci_low,
                         diff_ci_high=cmp.ci_high, p_value=cmp.p_value,
                         tied_with_best=bool(cmp.n and (cmp.ci_contains_zero or cmp.p_value >= alpha)))

    out = pd.DataFrame(trials).drop(columns="values")
    scored = out["n"] > 0
    out["rank"] = out["mean"].where(scored).rank(method="min", ascending=False).astype("Int64")
    out["tied_with_best"] = out["tied_with_best"].astype(bool)
    out["n"] = out["n"].astype(int)
    return out[RANKING_COLUMNS].reset_index(drop=True)


def _empty_ranking() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, float)) for c in RANKING_COLUMNS})


_DTYPES = {"trial_id": object, "label": object, "n": int, "tied_with_best": bool, "rank": "Int64"}
