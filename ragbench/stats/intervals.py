"""Intervals of a mean: Wilson for 0/1 scores, a bound for constant samples, Student t, BCa.

Contract: ``mean_ci(values)`` -> :class:`Interval` (mean, low, high, n, method). The method is
chosen by the data, never by the caller: see :func:`mean_ci`. ``spread_interval`` is the same
choice for non-binary data with known bounds (paired differences of [0, 1] scores use [-1, 1]).
Bootstraps are seeded: the same values in the same order give the same interval.

The BCa interval's memory stays linear in the number of values. Up to ``BCA_SCIPY_MAX_N`` values it is
``scipy.stats.bootstrap(method="BCa")`` itself, as it always was (same seed, same interval). Past
that, scipy's jackknife holds an n x (n - 1) matrix (0.7 / 2.0 / 7.2 GB peaks at 5k / 10k / 20k
values), so :func:`bca_mean` computes the same interval for the mean in O(n) memory: the
jackknife acceleration in closed form (the leave-one-out means are ``(sum - x_i) / (n - 1)``, whose
deviations are ``x_i - mean``, so ``a = sum(d^3) / (6 sum(d^2)^1.5)``), and the resample means
drawn in chunks of at most ``CHUNK_VALUES`` indices, from the same seeded generator in the same
order as scipy (numpy's ``Generator.integers`` gives the same stream in chunks as in one draw),
so its end points equal scipy's to rounding. tests/test_stats.py checks it against scipy where
scipy is affordable: within Monte Carlo error across seeds, and to rounding on the same seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

#: Bootstrap resamples: BCa end points are stable to about 0.005 on [0, 1] scores at 2,000.
BOOTSTRAP_RESAMPLES = 2000
#: Below this many values intervals are Student t, not BCa. Measured (300 samples each, Beta(2, 5)
#: and an MRR-like 5-point distribution): BCa covered 69-77% at n = 3 and 82% at n = 5 where t
#: covered 90-97%; from n = 20 both are within 1-2 points of 95%.
BCA_MIN_N = 20
#: Up to this many values BCa is scipy's own (peak 100 MB at 2,000 values, tracemalloc; quadratic
#: beyond); past it, ``bca_mean`` (16 MB at 2,000 and at 100,000 values; 1.3 s at 100,000).
BCA_SCIPY_MAX_N = 2000
#: Resample indices drawn at once by ``bca_mean``: 16 MB of indices and gathered values.
CHUNK_VALUES = 1_000_000


@dataclass(frozen=True)
class Interval:
    """A mean with its interval: ``low``/``high`` are NaN when none can be given (n <= 1)."""

    mean: float
    low: float
    high: float
    n: int
    method: str  # wilson | t | bca | percentile | single | constant | none


def wilson_interval(p: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` items.

    Also valid (conservative) for the mean of any [0, 1] variable: its variance is at most
    ``p (1 - p)``, the binomial variance the interval assumes.
    """
    z = float(sps.norm.ppf(1 - (1 - confidence) / 2))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact ends at p = 0 and p = 1, where rounding would give 1e-17 or 0.9999999999999999
    return (0.0 if p == 0 else max(0.0, centre - half)), (
        1.0 if p == 1 else min(1.0, centre + half)
    )


def constant_interval(
    c: float, n: int, bounds: tuple[float, float], confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of a mean when all ``n`` observed values equal ``c`` and values lie in ``bounds``.

    Bootstraps cannot help (every resample is ``c``: a fake zero-width interval). Instead: the
    share of the population that differs from ``c`` is at most ``u``, the Wilson upper bound for
    0 differing out of ``n``; in the worst case those all sit at a bound, so the mean lies in
    ``[c - u (c - lo), c + u (hi - c)]``. For 0/1 values this is exactly the Wilson interval of
    0/n or n/n.
    """
    lo, hi = bounds
    u = wilson_interval(0.0, n, confidence)[1]
    return c - u * (c - lo), c + u * (hi - c)


def mean_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    binary: bool | None = None,
    seed: int = 0,
) -> Interval:
    """Mean of ``values`` (NaN dropped) with an interval of coverage ``confidence``.

    Args:
        values: The scores; order matters only through the seeded bootstrap, so sort them.
        confidence: Coverage of the interval.
        binary: Whether the metric is 0/1 (Wilson interval); None: decide from ``values``.
        seed: Seed of the bootstrap generator.

    Returns:
        ``Interval`` with ``method``: ``wilson`` for 0/1 values (Wilson score interval), and for
        equal values within [0, 1] (:func:`constant_interval`; BCa is undefined there and a
        percentile bootstrap would claim a zero-width interval); ``constant`` (NaN ends) for equal
        values outside [0, 1]; ``single`` (NaN ends) for one value; ``none`` for no value; ``t``
        (Student t, clipped to [0, 1] for [0, 1] values) below ``BCA_MIN_N`` values; ``bca``
        from there (``percentile`` in the rare case BCa returns no interval).
    """
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    n = int(data.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "none")
    mean = float(data.mean())
    if binary is None:
        binary = bool(np.isin(data, (0.0, 1.0)).all())
    if binary:
        return Interval(mean, *wilson_interval(mean, n, confidence), n, "wilson")
    low, high, method = spread_interval(data, (0.0, 1.0), confidence, seed)
    return Interval(mean, low, high, n, method)


def spread_interval(
    data: np.ndarray, bounds: tuple[float, float], confidence: float, seed: int
) -> tuple[float, float, str]:
    """Interval of the mean of non-binary ``data``; ``bounds``: the range scores can take."""
    n = data.size
    if n == 1:
        return math.nan, math.nan, "single"
    # equal up to float noise (0.687 - 0.677 and 0.5 - 0.49 differ in the 17th digit)
    if np.allclose(data, data[0], rtol=1e-9, atol=1e-12):
        c = float(data.mean())
        if bounds[0] <= c <= bounds[1]:
            return (*constant_interval(c, n, bounds, confidence), "wilson")
        return math.nan, math.nan, "constant"
    if n < BCA_MIN_N:
        sem = float(data.std(ddof=1)) / math.sqrt(n)
        low, high = sps.t.interval(confidence, n - 1, loc=float(data.mean()), scale=sem)
        inside = bounds[0] <= data.min() and data.max() <= bounds[1]
        # a mean of values within the bounds lies within them: clipping loses no coverage
        return (max(low, bounds[0]), min(high, bounds[1]), "t") if inside else (low, high, "t")
    return _bootstrap(data, confidence, seed)


def _bootstrap(data: np.ndarray, confidence: float, seed: int) -> tuple[float, float, str]:
    """BCa interval of the mean, falling back to the percentile interval when BCa is undefined."""
    if data.size > BCA_SCIPY_MAX_N:
        return bca_mean(data, confidence, seed)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            # BCa on a sample with (nearly) no variation warns and returns NaN: we fall back
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", getattr(sps, "DegenerateDataWarning", RuntimeWarning))
            res = sps.bootstrap(
                (data,),
                np.mean,
                confidence_level=confidence,
                n_resamples=BOOTSTRAP_RESAMPLES,
                method=method,
                vectorized=True,
                rng=np.random.default_rng(seed),
            )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high, method.lower()
    return math.nan, math.nan, "none"


def bca_mean(
    data: np.ndarray, confidence: float, seed: int, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float, str]:
    """BCa interval of the mean of ``data`` in O(n) memory (see the module docstring).

    Follows ``scipy.stats.bootstrap``'s BCa step by step (Efron and Tibshirani 14.3 and 15.4):
    the bias correction from the share of resample means below the mean, the acceleration from
    the jackknife, the percentiles they give; the percentile interval of the same resamples when
    BCa is undefined.

    Returns:
        (low, high, "bca" | "percentile"), or NaN ends and "none".
    """
    n = data.size
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, CHUNK_VALUES // n)
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        means[start : start + k] = data[rng.integers(0, n, (k, n))].mean(axis=1)
    theta = float(data.mean())
    below = (np.count_nonzero(means < theta) + np.count_nonzero(means <= theta)) / (2 * resamples)
    d = data - theta
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = float(sps.norm.ppf(below))
        accel = float((d**3).sum() / (6 * float((d**2).sum()) ** 1.5))
        alpha = (1 - confidence) / 2
        ends = []
        for z in (float(sps.norm.ppf(alpha)), float(sps.norm.ppf(1 - alpha))):
            ends.append(float(sps.norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))))
    for levels, method in ((ends, "bca"), ([alpha, 1 - alpha], "percentile")):
        if all(math.isfinite(x) for x in levels):
            low, high = np.quantile(means, levels)
            return float(low), float(high), method
    return math.nan, math.nan, "none"
