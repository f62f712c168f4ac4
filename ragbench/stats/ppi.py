"""Prediction-powered inference: a judge's verdicts on every item, corrected by people's labels on a few.

Contract:
- ``ppi_mean(labels, judged_labelled, judged_unlabelled)`` estimates the mean a person would give
  (the share of answers people call supported) from ``n`` human labels ``Y``, the judge's scores
  ``Yhat`` on those same items, and the judge's scores on the ``N`` items nobody labelled. It is
  PPI++ (Angelopoulos, Duchi and Zrnic 2023, "PPI++: Efficient Prediction-Powered Inference"):
  ``theta = lam * mean(Yhat_unlabelled) + mean(Y - lam * Yhat)``, unbiased for every ``lam``;
  ``lam`` (power tuning, clipped to [0, 1]) is the one that minimises the variance, estimated from
  the data: near 1 when the judge tracks the labels, 0 when it does not (then it is the labels'
  own mean). The standard error is ``sqrt(var(lam * Yhat_unlabelled) / N + var(Y - lam * Yhat) / n)``.
- ``small_sample=False`` is exactly ``ppi_py.ppi_mean_ci`` / ``ppi_mean_pointestimate`` /
  ``ppi_mean_pval`` (normal quantile, ``ddof=0`` standard deviations; the tests check it against
  the library on fixed arrays). The default ``small_sample=True`` is what reports use: at 20-40
  labels the normal interval under-covers, most where labels are nearly all one value (at a true
  share of 0.85 and 20 labels, 87-88 % for a nominal 95 %; measured by
  ``benchmarks/ppi_coverage.py``). It makes two small-sample corrections: pseudo-labels join the
  labelled items (two 0s and two 1s for 0/1 labels, Agresti and Coull's "add two successes and
  two failures"; one +1 and one -1 for paired differences, shrinking them towards no difference),
  each with the labelled items' mean judge score so they move only the labels' part; and a
  Student t quantile with ``n - 1`` degrees of freedom.
- ``ppi_difference(...)`` is the same estimator for paired differences (trial A minus trial B on
  the same questions), with a two-sided p-value for "no difference".
- ``labels_needed(...)`` plans how many labels would make a difference of a given size
  significant, from the variances seen so far (a planning figure, like ``stats.power``).
Everything here is arithmetic on arrays: no store, no models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

#: Pseudo-labels added to the labelled items in small-sample mode.
BINARY_PSEUDO = (0.0, 0.0, 1.0, 1.0)
DIFFERENCE_PSEUDO = (-1.0, 1.0)


@dataclass(frozen=True)
class PPIEstimate:
    """A prediction-powered mean (or paired difference) with its interval."""

    mean: float
    ci_low: float
    ci_high: float
    se: float  # sqrt(var_unlabelled + var_rectifier)
    var_unlabelled: float  # the judge's part: var(lam * Yhat_unlabelled) / N
    var_rectifier: float  # the labels' part: var(Y - lam * Yhat) / n
    lam: float  # power tuning: 0 = the labels alone, 1 = plain PPI
    n_labels: int
    n_unlabelled: int
    p_value: float  # two-sided, against a mean of 0 (meaningful for differences)
    judge_mean: float  # the judge's mean over every item (labelled and not)
    label_mean: float  # the labels' own mean

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def _as_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError("PPI needs finite values (failed scores are left out before)")
    return array


def power_tuning(y: np.ndarray, yhat: np.ndarray, yhat_unlabelled: np.ndarray) -> float:
    """PPI++'s variance-minimising ``lam`` for a mean, clipped to [0, 1] (``ppi_py``'s rule:
    ``cov(Y, Yhat) / ((1 + n / N) * var(Yhat over all items))``)."""
    n, big_n = len(y), len(yhat_unlabelled)
    every = np.concatenate([yhat, yhat_unlabelled])
    var = float(np.var(every, ddof=1)) if len(every) > 1 else 0.0
    if n < 2 or var == 0.0:
        return 0.0  # the judge says nothing that varies: the labels alone
    cov = float(np.mean((y - y.mean()) * (yhat - yhat.mean())))
    return float(np.clip(cov / ((1 + n / big_n) * var), 0.0, 1.0))


def ppi_mean(
    labels: Sequence[float] | np.ndarray,
    judged_labelled: Sequence[float] | np.ndarray,
    judged_unlabelled: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    small_sample: bool = True,
    pseudo: Sequence[float] = BINARY_PSEUDO,
    lam: float | None = None,
) -> PPIEstimate:
    """The prediction-powered mean of ``labels``; see the module docstring.

    Args:
        labels: the people's labels ``Y`` (0/1 for a verdict) of the ``n`` labelled items.
        judged_labelled: the judge's scores ``Yhat`` of the same items, in the same order.
        judged_unlabelled: the judge's scores of the ``N`` items nobody labelled.
        confidence: the interval's coverage.
        small_sample: pseudo-labels and a t quantile (reports); False: ``ppi_py``'s interval.
        pseudo: the pseudo-labels small-sample mode adds.
        lam: a fixed power-tuning value (None: estimated, as ``ppi_py`` does).

    Raises:
        ValueError: fewer than 2 labels, no unlabelled item, lengths that differ, or a value that
            is not finite.
    """
    y, yhat = _as_array(labels), _as_array(judged_labelled)
    unl = _as_array(judged_unlabelled)
    if len(y) != len(yhat):
        raise ValueError(f"{len(y)} labels but {len(yhat)} judge scores of the labelled items")
    if len(y) < 2 or len(unl) < 1:
        raise ValueError(
            f"PPI needs at least 2 labelled and 1 unlabelled item (got {len(y)} and {len(unl)})"
        )
    n, big_n = len(y), len(unl)
    if lam is None:
        lam = power_tuning(y, yhat, unl)
    if small_sample and pseudo:
        extra = np.asarray(pseudo, dtype=float)
        y_fit = np.concatenate([y, extra])
        yhat_fit = np.concatenate([yhat, np.full(len(extra), yhat.mean())])
        ddof = 1
    else:
        y_fit, yhat_fit, ddof = y, yhat, 0
    rectifier = y_fit - lam * yhat_fit
    mean = float(lam * unl.mean() + rectifier.mean())
    var_unl = float(np.var(lam * unl, ddof=ddof)) / big_n if big_n > ddof else 0.0
    var_rect = float(np.var(rectifier, ddof=ddof)) / len(rectifier)
    se = math.sqrt(var_unl + var_rect)
    tail = (1 - confidence) / 2
    quantile = sps.t.ppf(1 - tail, n - 1) if small_sample else sps.norm.ppf(1 - tail)
    if se > 0:
        statistic = mean / se
        p = 2 * (sps.t.sf(abs(statistic), n - 1) if small_sample else sps.norm.sf(abs(statistic)))
    else:
        p = 1.0 if mean == 0 else 0.0
    return PPIEstimate(
        mean=mean,
        ci_low=mean - quantile * se,
        ci_high=mean + quantile * se,
        se=se,
        var_unlabelled=var_unl,
        var_rectifier=var_rect,
        lam=float(lam),
        n_labels=n,
        n_unlabelled=big_n,
        p_value=float(min(1.0, p)),
        judge_mean=float(np.concatenate([yhat, unl]).mean()),
        label_mean=float(y.mean()),
    )


def ppi_difference(
    label_diffs: Sequence[float] | np.ndarray,
    judged_diffs_labelled: Sequence[float] | np.ndarray,
    judged_diffs_unlabelled: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    small_sample: bool = True,
) -> PPIEstimate:
    """A paired difference (trial A minus trial B, question by question): ``label_diffs`` are the
    people's label differences on questions labelled in both trials, the judged ones the judge's
    differences on the same questions and on the questions judged in both but labelled in
    neither. ``p_value`` tests "no difference" (two-sided)."""
    return ppi_mean(
        label_diffs,
        judged_diffs_labelled,
        judged_diffs_unlabelled,
        confidence=confidence,
        small_sample=small_sample,
        pseudo=DIFFERENCE_PSEUDO,
    )


def labels_needed(
    estimate: PPIEstimate, gap: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Labels (per compared pair) at which a true difference ``gap`` would be found significant
    with ``power`` (normal approximation), keeping the judged items and the per-item variances of
    ``estimate``: the labels' part of the variance shrinks as 1 / labels, the judge's does not.

    Returns 0 when no number of labels is enough (the judge's part alone is too wide for the gap:
    judge more items first) or when there is no gap to separate.
    """
    if gap == 0 or not math.isfinite(gap) or estimate.var_rectifier <= 0:
        return 0
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    room = (abs(gap) / z) ** 2 - estimate.var_unlabelled
    if room <= 0:
        return 0
    per_label = estimate.var_rectifier * estimate.n_labels
    return max(estimate.n_labels, math.ceil(per_label / room))
