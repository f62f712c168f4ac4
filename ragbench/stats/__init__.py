"""Every statistical rule of ragbench: intervals, paired comparisons, rankings, the best trial.

Contract:
- ``summarize(scores)`` -> one row per (trial, metric): ``SUMMARY_COLUMNS``. ``method`` names the
  interval: ``"wilson"`` (Wilson score interval) for a metric whose values are all 0/1, and for a
  sample whose values are all equal (:func:`constant_interval`, never a zero-width interval);
  ``"t"`` (Student t) below ``BCA_MIN_N`` values, where bootstraps under-cover; ``"bca"``
  (``scipy.stats.bootstrap``, seeded) from there, computed in linear memory past
  ``intervals.BCA_SCIPY_MAX_N`` values (the same interval, see ``intervals.py``); ``"single"`` (n == 1: NaN ends) and ``"none"``
  (n == 0). NaN/None values are failures: never averaged, counted in ``n_failed``.
- ``paired_comparison(a, b)`` compares two trials on the questions both scored: mean difference
  ``a - b``, its paired interval and a two-sided sign-flip permutation p-value
  (``scipy.stats.permutation_test``; exact when small, and for 0/1 metrics at any n).
- ``rank_trials(scores, metric)`` / ``rank_all(scores, metrics)`` compare every trial with the best
  one; ``rank_all`` applies Holm's correction across every comparison of the report at once, so
  each ``"worse"`` verdict has ``p_adjusted < alpha`` under the correction for all of them.
- ``best_trial(scores, metric)`` is THE best-trial rule: the highest mean among trials with at least
  one valid score; ties go to the smaller label, then the smaller trial_id. Staged search, the gate,
  ``diff`` and the report all call it (``order_trials``: the same order for every trial, cheap).
  Given people's ``labels`` of a judged metric, enough of them (``ppi_rank.MIN_LABELS`` per
  trial), the same rule ranks the prediction-powered means instead (``ppi_rank.ppi_ranking``), and
  ``rank_all(..., corrected=...)`` compares each trial with that best by ``ppi_difference``, in
  the same Holm family as every other comparison.
- ``order_by_mean(values)`` is the same rule on in-memory ``{trial: {question: value}}`` (no
  pandas, for loops that apply it many times, such as the judge allocator).
- ``look_plan`` / ``compare_with_best`` (``sequential.py``): sequential elimination for budgeted
  judging: planned looks with alpha spending, and one look's "each trial vs the current best" with
  Holm over every pair (the judge allocator's rule).
- ``MIN_N``: a comparison on fewer shared questions is marked ``"too_few"`` and not tested.

Layout: ``intervals.py`` (one mean's interval), ``paired.py`` (two trials: test, interval, Holm),
``ordering.py`` (the best-trial rule's sort key and ``order_by_mean``), ``sequential.py`` (looks
at growing data while judging goes on), ``ppi.py`` and ``ppi_rank.py`` (judged means corrected by
human labels, and the ranking on them), this module (long scores -> summaries, rankings, the best
trial); import everything from here.

Every random draw comes from a generator seeded per call and values are sorted by question first,
so the same scores always give the same numbers, whatever their row order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ragbench.stats.intervals import (
    BCA_MIN_N,
    BOOTSTRAP_RESAMPLES,
    Interval,
    constant_interval,
    mean_ci,
    wilson_interval,
)
from ragbench.stats.ordering import order_by_mean, order_key
from ragbench.stats.paired import (
    PERMUTATION_RESAMPLES,
    SCIPY_MAX_N,
    PairedResult,
    holm,
    paired_comparison,
    sign_flip_p_value,
)
from ragbench.stats.power import questions_needed
from ragbench.stats.ppi import PPIEstimate, labels_needed, ppi_difference, ppi_mean
from ragbench.stats.ppi_rank import MIN_LABELS, PPIRanking, corrected_best, ppi_ranking
from ragbench.stats.sequential import (
    LOOK_GROWTH,
    Comparison,
    LookResult,
    compare_with_best,
    look_plan,
)

#: Fewest shared questions for a comparison. With an exact two-sided sign-flip test the smallest
#: attainable p-value on n pairs is 2 / 2**n: 0.0625 at n = 5, so below 6 pairs no difference can
#: ever reach alpha = 0.05 (before any correction); such pairs are "too_few", never "tied".
MIN_N = 6

SUMMARY_COLUMNS = [
    "trial_id",
    "label",
    "metric",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "n_failed",
    "method",
]
RANKING_COLUMNS = [
    "trial_id",
    "label",
    "mean",
    "ci_low",
    "ci_high",
    "n",
    "diff_vs_best",
    "diff_ci_low",
    "diff_ci_high",
    "p_value",
    "p_adjusted",
    "verdict",
    "tied_with_best",
    "rank",
]
VERDICTS = ("best", "tied", "worse", "too_few", "not_compared")

__all__ = [
    "BCA_MIN_N",
    "BOOTSTRAP_RESAMPLES",
    "LOOK_GROWTH",
    "MIN_LABELS",
    "MIN_N",
    "questions_needed",
    "PERMUTATION_RESAMPLES",
    "RANKING_COLUMNS",
    "SCIPY_MAX_N",
    "SUMMARY_COLUMNS",
    "VERDICTS",
    "Comparison",
    "Interval",
    "LookResult",
    "PairedResult",
    "PPIEstimate",
    "PPIRanking",
    "best_trial",
    "compare_with_best",
    "constant_interval",
    "holm",
    "labels_needed",
    "look_plan",
    "mean_ci",
    "order_by_mean",
    "order_trials",
    "paired_comparison",
    "ppi_difference",
    "ppi_mean",
    "ppi_ranking",
    "rank_all",
    "rank_trials",
    "sign_flip_p_value",
    "summarize",
    "wilson_interval",
]


# --- long scores -> summaries, rankings, best trial ------------------------------------------------


def _prepare(scores: pd.DataFrame, need_question: bool = True) -> pd.DataFrame:
    """Check the columns; add ``label`` if absent; numeric values; sorted by question."""
    required = {"trial_id", "metric", "value"} | ({"question_id"} if need_question else set())
    missing = required - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack column(s): {', '.join(sorted(missing))}")
    df = scores.copy()
    if "label" not in df.columns:
        df["label"] = df["trial_id"]
    df["trial_id"] = df["trial_id"].astype(str)
    df["label"] = df["label"].astype(str)
    value = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df["value"] = value.where(np.isfinite(value))  # an infinite score is a failure too
    if "question_id" in df.columns:
        df["question_id"] = df["question_id"].astype(str)
        if df.duplicated(["trial_id", "question_id", "metric"]).any():
            raise ValueError("scores: a (trial_id, question_id, metric) row occurs twice")
        # sorted so that the row order of the input changes no bootstrap draw
        df = df.sort_values(["question_id"], kind="stable")
    return df


def _is_binary(values: pd.Series) -> bool:
    ok = values.dropna()
    return bool(len(ok)) and bool(ok.isin((0.0, 1.0)).all())


def summarize(scores: pd.DataFrame, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per trial and metric: mean, interval, n scored, n failed and the interval's method.

    Args:
        scores: Long scores as ``Store.scores`` returns them (trial_id, label, question_id,
            metric, value; ``label`` and ``question_id`` optional).
        confidence: Coverage of the intervals.
        seed: Seed of the bootstrap draws.

    Returns:
        ``SUMMARY_COLUMNS``; trials by label then trial_id, metrics in order of first appearance.
        A metric is binary (Wilson) when all its values in the frame, over all trials, are 0/1.

    Raises:
        ValueError: When a column is missing or a (trial, question, metric) row occurs twice.
    """
    df = _prepare(scores, need_question=False)
    metrics = list(dict.fromkeys(scores["metric"]))
    binary = {m: _is_binary(df.loc[df["metric"] == m, "value"]) for m in metrics}
    rows = []
    for (label, trial_id), trial in df.groupby(["label", "trial_id"], sort=True):
        for metric in metrics:
            group = trial.loc[trial["metric"] == metric, "value"]
            if group.empty:
                continue
            ci = mean_ci(group.to_numpy(), confidence, binary=binary[metric], seed=seed)
            rows.append(
                [
                    trial_id,
                    label,
                    metric,
                    ci.mean,
                    ci.low,
                    ci.high,
                    ci.n,
                    int(group.isna().sum()),
                    ci.method,
                ]
            )
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return out.astype({"n": int, "n_failed": int})


def best_trial(scores: pd.DataFrame, metric: str, labels: pd.DataFrame | None = None) -> str | None:
    """THE best-trial rule: highest mean ``metric`` among trials with >= 1 valid score.

    Ties on the mean go to the smaller label, then the smaller trial_id. None when no trial has
    a valid score of ``metric``. With people's ``labels`` (trial_id, question_id, metric, value)
    enough for ``metric`` (``ppi_rank``), the means are the prediction-powered ones.
    """
    corrected = corrected_best(scores, labels, metric)
    if corrected is not None:
        return corrected
    order = order_trials(scores, metric)
    return None if order.empty else str(order["trial_id"].iloc[0])


def order_trials(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Trials with >= 1 valid score of ``metric`` in best-trial order: trial_id, label, mean, n.

    The cheap form of the rule (no resampling) for staged search, which needs the order only.
    """
    df = _prepare(scores, need_question=False)
    part = df.loc[(df["metric"] == metric) & df["value"].notna()]
    rows = [
        (order_key(_mean(group["value"]), len(group), label, trial_id), len(group))
        for (trial_id, label), group in part.groupby(["trial_id", "label"], sort=False)
    ]
    rows.sort()
    return pd.DataFrame(
        [(key[3], key[2], -key[1], n) for key, n in rows],
        columns=["trial_id", "label", "mean", "n"],
    )


def _mean(values: pd.Series) -> float:
    """The mean every rule uses (values in question order), so near-ties resolve the same way."""
    return float(values.to_numpy(dtype=float).mean())


def rank_trials(scores: pd.DataFrame, metric: str, alpha: float = 0.05) -> pd.DataFrame:
    """Rank the trials on one metric; Holm's correction over this metric's comparisons only.

    See :func:`rank_all`, which corrects over every metric of a report and is what a report
    that states several metrics' verdicts must use.
    """
    return rank_all(scores, [metric], alpha)[metric]


def rank_all(
    scores: pd.DataFrame,
    metrics: Sequence[str],
    alpha: float = 0.05,
    seed: int = 0,
    corrected: Mapping[str, PPIRanking] | None = None,
) -> dict[str, pd.DataFrame]:
    """Rank the trials on each metric, comparing each trial with the best one.

    Args:
        scores: Long scores (trial_id, label, question_id, metric, value); NaN/None values are
            failures and are dropped.
        metrics: The metrics to rank on; higher is better. A metric without scores gets an empty
            frame.
        alpha: Family-wise error rate of the whole report; intervals have coverage ``1 - alpha``.
        seed: Seed of every random draw.
        corrected: metric -> its :class:`PPIRanking` where people's labels suffice: that
            metric's trials are ordered and compared by the prediction-powered figures (``n``:
            labelled items), in the same Holm family as the rest.

    Returns:
        Per metric, one row per trial with ``RANKING_COLUMNS``, best first (then by mean, label,
        trial_id; unscored trials last): the trial's mean and interval (as in ``summarize``) and n;
        ``diff_vs_best`` (trial minus best over the questions both scored) with its paired
        interval (unadjusted, descriptive), raw sign-flip ``p_value`` and Holm ``p_adjusted``
        over every tested comparison of every metric; ``verdict``:

        - ``best``: the trial ``best_trial`` picks (diff 0, p NaN);
        - ``worse``: ``p_adjusted < alpha`` and a negative difference;
        - ``tied``: tested, but not shown to be worse (``p_adjusted >= alpha``);
        - ``too_few``: fewer than ``MIN_N`` shared questions: not tested, not in the correction;
        - ``not_compared``: no valid score, or no question shared with the best.

        ``tied_with_best`` is verdict in (best, tied, too_few); ``rank`` is 1 for the best, equal
        means share a rank, <NA> for unscored trials.

    Raises:
        ValueError: When a column is missing or a (trial, question, metric) row occurs twice.
    """
    df = _prepare(scores)
    binary = {m: _is_binary(df.loc[df["metric"] == m, "value"]) for m in metrics}
    ppi = {m: r for m, r in (corrected or {}).items() if r.used}
    rows = {
        m: [dict(r) for r in ppi[m].rows]
        if m in ppi
        else _compare_with_best(df[df["metric"] == m], binary[m], alpha, seed)
        for m in metrics
    }
    tested = [(m, i) for m in metrics for i, r in enumerate(rows[m]) if r["verdict"] is None]
    adjusted = holm([rows[m][i]["p_value"] for m, i in tested])
    for (m, i), p_adj in zip(tested, adjusted, strict=True):
        row = rows[m][i]
        row["p_adjusted"] = float(p_adj)
        row["verdict"] = "worse" if p_adj < alpha and row["diff_vs_best"] < 0 else "tied"
    return {m: _ranking_frame(rows[m]) for m in metrics}


def _compare_with_best(part: pd.DataFrame, binary: bool, alpha: float, seed: int) -> list[dict]:
    """Rows of one metric, best first; ``verdict`` None marks a comparison still to be tested."""
    trials = []
    for (trial_id, label), group in part.groupby(["trial_id", "label"], sort=False):
        ok = group.dropna(subset=["value"])
        ci = mean_ci(ok["value"].to_numpy(), 1 - alpha, binary=binary, seed=seed)
        trials.append(
            {
                "trial_id": trial_id,
                "label": label,
                "mean": ci.mean,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "n": ci.n,
                "values": dict(zip(ok["question_id"], ok["value"], strict=True)),
            }
        )
    trials.sort(key=lambda t: order_key(t["mean"], t["n"], t["label"], t["trial_id"]))
    nan = math.nan
    for k, trial in enumerate(trials):
        trial.update(
            diff_vs_best=nan,
            diff_ci_low=nan,
            diff_ci_high=nan,
            p_value=nan,
            p_adjusted=nan,
            verdict="not_compared",
        )
        if trial["n"] == 0:
            continue
        if k == 0:
            trial.update(diff_vs_best=0.0, diff_ci_low=0.0, diff_ci_high=0.0, verdict="best")
            continue
        cmp = paired_comparison(trial["values"], trials[0]["values"], seed, 1 - alpha)
        if cmp.n == 0:
            continue
        trial.update(
            diff_vs_best=cmp.mean_diff,
            diff_ci_low=cmp.ci_low,
            diff_ci_high=cmp.ci_high,
            p_value=cmp.p_value,
            verdict="too_few" if cmp.n < MIN_N else None,
        )
    return trials


def _ranking_frame(trials: list[dict]) -> pd.DataFrame:
    if not trials:
        dtypes = {
            "n": int,
            "tied_with_best": bool,
            "rank": "Int64",
            "trial_id": object,
            "label": object,
            "verdict": object,
        }
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, float)) for c in RANKING_COLUMNS})
    out = pd.DataFrame(trials).drop(columns="values", errors="ignore")  # PPI rows have none
    out["tied_with_best"] = out["verdict"].isin(("best", "tied", "too_few"))
    scored = out["n"] > 0
    out["rank"] = out["mean"].where(scored).rank(method="min", ascending=False).astype("Int64")
    out["n"] = out["n"].astype(int)
    return out[RANKING_COLUMNS].reset_index(drop=True)
