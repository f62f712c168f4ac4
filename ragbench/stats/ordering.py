"""THE best-trial rule as an ordering: scored trials first, higher mean, then label, then trial_id.

Contract: ``order_key(mean, n, label, trial_id)`` is the sort key every best-trial decision uses
(``stats.best_trial``, ``stats.order_trials``, the rankings and the judge allocator's looks);
``order_by_mean(values, labels)`` applies it to in-memory ``{trial: {question: value}}`` scores
without pandas, for loops that apply it many times. This module imports no other part of
``stats``, so the package root and ``sequential`` both use it without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def order_key(mean: float, n: int, label: str, trial_id: str) -> tuple[bool, float, str, str]:
    """Sort key of THE best-trial rule: scored first, higher mean, then label, then trial_id."""
    scored = n > 0 and math.isfinite(mean)
    return (not scored, -mean if scored else 0.0, label, trial_id)


def order_by_mean(
    values: Mapping[str, Mapping[str, float | None]], labels: Mapping[str, str] | None = None
) -> list[str]:
    """Trials in best-trial order from in-memory scores ``{trial_id: {question_id: value}}``.

    The rule of ``stats.best_trial`` without a DataFrame: None/NaN/infinite values are failures
    and dropped; trials with a valid value first, by higher mean (values in question order, as
    ``stats.order_trials`` sums them), then label (``labels``, default the trial_id), then
    trial_id; trials without one last, in the same label order.
    """
    keys = []
    for trial_id, by_question in values.items():
        ok = [
            float(v)
            for _, v in sorted(by_question.items())
            if v is not None and math.isfinite(float(v))
        ]
        mean = float(np.array(ok).mean()) if ok else math.nan
        label = (labels or {}).get(trial_id, trial_id)
        keys.append(order_key(mean, len(ok), str(label), str(trial_id)))
    return [key[3] for key in sorted(keys)]
