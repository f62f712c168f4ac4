"""Statistics for comparing trials: bootstrap confidence intervals for a mean.

Contract: ``bootstrap_ci(values)`` -> (mean, low, high) for a 95% percentile bootstrap interval,
seeded so that the same scores always give the same interval. NULL scores (failed judge calls) are
never passed in: callers drop them and report how many there were.
"""

from __future__ import annotations

import numpy as np


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
