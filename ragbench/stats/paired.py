"""Paired comparison of two trials: sign-flip permutation test, interval of the difference, Holm.

Contract: ``paired_comparison(a, b)`` -> :class:`PairedResult` over the questions both trials
scored; ``sign_flip_p_value(diffs)`` is its test (``scipy.stats.permutation_test``, exact when
small, and exact at any n for 0/1 metrics via ``scipy.stats.binomtest``; above ``SCIPY_MAX_N``
pairs the same flips drawn directly, for speed); ``holm(p_values)`` is
the multiple-comparison correction every report applies across all of its comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from ragbench.stats.intervals import spread_interval

#: Monte Carlo sign flips (the smallest p-value is then 2 / 10,000). Up to 13 non-zero differences
#: (2**13 = 8,192 <= this) scipy enumerates every flip instead: the p-value is exact.
PERMUTATION_RESAMPLES = 9999
#: Above this many non-zero differences the same flips are drawn directly (``signs @ diffs``):
#: scipy's generic pairing machinery took 0.8-1.5 s per comparison at 1,000 pairs (2 busy cores),
#: ten times the direct draw, and a report makes one comparison per trial and metric. Tests check
#: that both give the same p-value within Monte Carlo error.
SCIPY_MAX_N = 200


@dataclass(frozen=True)
class PairedResult:
    """Outcome of :func:`paired_comparison`.

    Attributes:
        mean_diff: Mean over the shared questions of ``a - b`` (NaN when there are none).
        ci_low: Lower end of the interval of ``mean_diff`` (NaN when none can be given).
        ci_high: Upper end of that interval.
        p_value: Two-sided sign-flip permutation p-value for "mean difference is 0".
        n: Number of questions both trials scored.
        ci_method: How the interval was made (see :func:`paired_comparison`).
    """

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    ci_method: str = "none"

    @property
    def ci_contains_zero(self) -> bool:
        """True when the interval includes 0 (False when there is no interval)."""
        return bool(self.ci_low <= 0.0 <= self.ci_high)


def paired_comparison(
    a: Mapping[str, float | None],
    b: Mapping[str, float | None],
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedResult:
    """Compare two trials question by question.

    Only questions present in both mappings with a finite score in both are used, so a trial that
    failed on a question is compared on the others.

    Args:
        a: Scores of the first trial, keyed by question_id.
        b: Scores of the second trial, keyed by question_id.
        seed: Seed of every random draw (bootstrap and Monte Carlo sign flips).
        confidence: Coverage of the interval of the mean difference.

    Returns:
        The mean difference ``a - b``; its interval, made from the differences as
        :func:`mean_ci` makes one from values, with bounds [-1, 1] (``ci_method``: ``t`` below
        ``BCA_MIN_N`` pairs, ``bca`` from there, ``wilson`` via :func:`constant_interval` when
        every difference is equal, ``single`` for one pair); the two-sided sign-flip p-value
        (:func:`sign_flip_p_value`); and the number of pairs. No shared question gives NaNs and
        ``n = 0``. The interval is descriptive; verdicts come from the p-value.
    """
    shared = sorted(q for q in a.keys() & b.keys() if _finite(a[q]) and _finite(b[q]))
    n = len(shared)
    if n == 0:
        return PairedResult(math.nan, math.nan, math.nan, math.nan, 0)
    diffs = np.array([float(a[q]) - float(b[q]) for q in shared])  # type: ignore[arg-type]
    # differences of [0, 1] scores lie in [-1, 1]
    low, high, method = spread_interval(diffs, (-1.0, 1.0), confidence, seed)
    return PairedResult(float(diffs.mean()), low, high, sign_flip_p_value(diffs, seed), n, method)


def sign_flip_p_value(diffs: Sequence[float] | np.ndarray, seed: int = 0) -> float:
    """Two-sided paired permutation p-value of ``mean(diffs) == 0``, flipping signs.

    ``scipy.stats.permutation_test`` with one sample and ``permutation_type="samples"`` flips the
    sign of each difference. Zero differences are dropped first (flipping them changes nothing,
    so the p-value is the same and more cases are exact). Exact (every flip enumerated) up to 13
    non-zero differences, Monte Carlo with ``PERMUTATION_RESAMPLES`` flips above (drawn by numpy
    directly above ``SCIPY_MAX_N``, with scipy's p-value convention). When every
    non-zero difference has the same size (any 0/1 metric), the flip distribution is binomial and
    ``scipy.stats.binomtest`` gives the exact p-value at any n (the exact sign test).
    """
    data = np.asarray(diffs, dtype=float)
    if data.size == 0:
        return math.nan
    data = data[data != 0]
    if data.size == 0:
        return 1.0
    size = np.abs(data)
    if np.allclose(size, size[0], rtol=1e-9, atol=0.0):
        return float(sps.binomtest(int((data > 0).sum()), data.size, 0.5).pvalue)
    if data.size > SCIPY_MAX_N:
        return _drawn_sign_flips(data, seed)
    res = sps.permutation_test(
        (data,),
        _mean_last_axis,
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=PERMUTATION_RESAMPLES,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.pvalue)


def _drawn_sign_flips(data: np.ndarray, seed: int) -> float:
    """Monte Carlo sign-flip p-value with scipy's conventions (two-sided = twice the smaller
    one-sided p, each counting the observed statistic once: ``(hits + 1) / (N + 1)``)."""
    rng = np.random.default_rng(seed)
    observed = float(data.sum())
    tolerance = 1e-12 * float(np.abs(data).sum())  # the same sum in another order
    greater = less = 0
    batch = max(1, 2_000_000 // data.size)  # bounds memory to ~16 MB of float signs
    for start in range(0, PERMUTATION_RESAMPLES, batch):
        k = min(batch, PERMUTATION_RESAMPLES - start)
        # one random bit per sign: sum(sign * d) = 2 * sum(bit * d) - sum(d)
        bytes_ = rng.integers(0, 256, size=(k, -(-data.size // 8)), dtype=np.uint8)
        bits = np.unpackbits(bytes_, axis=1, count=data.size)
        sums = bits.astype(np.float64) @ (2 * data) - observed
        greater += int(np.sum(sums >= observed - tolerance))
        less += int(np.sum(sums <= observed + tolerance))
    one_sided = (min(greater, less) + 1) / (PERMUTATION_RESAMPLES + 1)
    return min(1.0, 2 * one_sided)


def _mean_last_axis(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment: controls the family-wise error rate at any dependence.

    The i-th smallest of m p-values becomes ``max over j <= i of min(1, (m - j + 1) p_(j))``;
    NaN stays NaN and is not counted in m.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def _finite(value: float | None) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))
