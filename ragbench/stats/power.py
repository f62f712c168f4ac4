"""How many more judged questions a comparison needs: a normal-approximation power estimate.

Contract: ``questions_needed(diffs, comparisons, alpha=0.05, power=0.8)`` -> the number of paired
questions at which a true mean difference equal to the one observed (with the observed spread)
would be found significant with probability ``power``, at a Bonferroni-corrected two-sided
``alpha / comparisons`` (Holm is never stricter, so this errs high); None when the differences
give nothing to extrapolate from (fewer than 2, all equal, or a zero mean). It is a planning
figure for "judge more or stop", not a test: the observed difference of a small sample is itself
uncertain, and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm


def questions_needed(
    diffs: Sequence[float] | np.ndarray,
    comparisons: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int | None:
    """Paired questions needed to detect the observed mean difference (see module docstring)."""
    data = np.asarray(diffs, dtype=float)
    data = data[np.isfinite(data)]
    if data.size < 2:
        return None
    mean, sd = float(data.mean()), float(data.std(ddof=1))
    if mean == 0.0 or sd == 0.0:
        return None
    z = norm.ppf(1 - alpha / (2 * max(1, comparisons))) + norm.ppf(power)
    return max(int(data.size), math.ceil((z * sd / abs(mean)) ** 2))
