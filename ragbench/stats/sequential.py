"""Sequential elimination: when to look at growing paired data, at what alpha, and one look's test.

Contract:
- ``look_plan(n_trials, n_questions, alpha, min_n, max_verdicts)`` -> ``{n: alpha_n}``: the
  numbers of questions at which to compare trials while judging goes on, and the share of the
  run's ``alpha`` each look spends. It depends only on those arguments, never on the data.
- ``compare_with_best(values, alpha)`` -> :class:`LookResult`: one look. The current best is the
  best-trial rule (``order_by_mean``); every other trial is compared with it on the questions both
  scored (``sign_flip_p_value``), Holm's correction (``holm``) runs over every pair of the trials
  compared, and a trial is ``worse`` when its adjusted p-value is below ``alpha`` and its paired
  difference is negative.

Why the plan looks the way it does. Testing after every question would test the same, growing
data dozens of times, and each test at ``alpha`` would add its own chance of stopping a trial that
is not worse. The plan is group-sequential with Bonferroni alpha spending, valid for any
dependence between looks (the union bound):

1. Looks at planned numbers of questions: ``min_n``, then each ~``LOOK_GROWTH`` times the last, up
   to the last question at which a stop still saves a verdict: the questions, and for a verdict
   budget the most one trial can reach when every other trial stops at the first look. Later
   looks add little new data, so they are spaced out.
2. ``alpha`` is spent over the looks by the Lan-DeMets Pocock-type function
   ``alpha * ln(1 + (e - 1) t)`` (``t`` = n / last look's horizon): early looks, where a stop saves
   most, get larger shares than an equal split would give them. A look on ``n`` pairs where no
   p-value can pass Holm (``2 / 2**n`` times the number of pairs is not below its share) gets no
   look; its share goes to the next.
3. Holm's family at a look is every pair of the trials compared, not only the comparisons with the
   best: the best is chosen by the same data, so "worst vs best" is the largest of all pairwise
   differences and a family of the comparisons with the best alone would be liberal (measured:
   5.5% false stops at alpha 5%, 4 equal trials). Comparisons that are not made count as p = 1,
   which Holm's monotonicity makes valid. Each look then holds its family-wise error at its share,
   and the whole run at ``alpha``.

A full sign-flip test costs up to ~0.1 s (scipy's permutation test on 14-200 pairs), so
``compare_with_best`` screens first: ``SCREEN_FLIPS`` random flips that already show the p-value
far above the loosest threshold it could meet count the comparison as p = 1. That can only keep a
trial in contention (Holm is monotone), never stop one wrongly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ragbench.stats.ordering import order_by_mean
from ragbench.stats.paired import holm, sign_flip_p_value

#: Each planned look is at ~1.25 times the questions of the one before (at least one more).
LOOK_GROWTH = 1.25
#: Random sign flips of the cheap screen before a full test (see the module docstring).
SCREEN_FLIPS = 1000
#: The screen skips a test only when its flips exceed this upper quantile of what a p-value at
#: the threshold would give: a one-in-a-billion chance of skipping a test that would pass.
SCREEN_QUANTILE = 1 - 1e-9


@dataclass(frozen=True)
class Comparison:
    """One trial vs the best at a look: paired mean difference (trial - best), pairs, p (Holm)."""

    trial_id: str
    mean_diff: float
    n: int
    p_adjusted: float


@dataclass(frozen=True)
class LookResult:
    """One look: the best, each other trial's comparison, the number of pairs in Holm's family,
    and the trials significantly worse than the best."""

    best: str
    comparisons: tuple[Comparison, ...]
    pairs: int
    worse: tuple[str, ...]


def look_plan(
    n_trials: int,
    n_questions: int,
    alpha: float = 0.05,
    min_n: int = 6,
    max_verdicts: int | None = None,
    growth: float = LOOK_GROWTH,
) -> dict[int, float]:
    """The planned looks, number of questions -> alpha spent there (see the module docstring).

    Args:
        n_trials: trials compared at the first look.
        n_questions: questions each trial can get at most.
        alpha: family-wise error rate of every stop over the whole run.
        min_n: fewest paired questions for a comparison.
        max_verdicts: a verdict budget over all trials, if any.
        growth: ratio of successive looks.

    Returns:
        Looks in increasing order with their alphas (summing to ``alpha``); empty when no look
        can stop a trial (one trial, too few questions or too small a budget).
    """
    pairs = n_trials * (n_trials - 1) // 2
    first = min_n
    while pairs:
        horizon = n_questions - 1  # a stop after the last question saves nothing
        if max_verdicts is not None:  # the most one trial reaches if the others stop at `first`
            horizon = min(horizon, max_verdicts - (n_trials - 1) * first - 1)
        if horizon < first:
            break
        looks = [first]
        while (nxt := max(looks[-1] + 1, math.ceil(looks[-1] * growth))) <= horizon:
            looks.append(nxt)
        spent = [alpha * math.log(1 + (math.e - 1) * n / horizon) for n in looks[:-1]] + [alpha]
        plan: dict[int, float] = {}
        for n, total in zip(looks, spent, strict=True):
            share = total - sum(plan.values())  # a look that cannot reject leaves its share
            if pairs * 2.0 ** (1 - n) < share:  # below: no p-value on n pairs passes Holm
                plan[n] = share
        if not plan or min(plan) == first:
            return plan
        first = min(plan)  # a later first look: a larger horizon, so plan again from there
    return {}


def compare_with_best(
    values: Mapping[str, Mapping[str, float | None]],
    alpha: float,
    labels: Mapping[str, str] | None = None,
    min_n: int = 6,
    seed: int = 0,
) -> LookResult:
    """One look: every trial vs the current best, Holm over every pair of ``values``' trials.

    Args:
        values: trial_id -> question_id -> score (None: failed) of the trials still compared.
        alpha: this look's alpha (its share from :func:`look_plan`).
        labels: trial_id -> label, for the best-trial rule's tie-break.
        min_n: fewer shared questions: not tested (counts as p = 1).
        seed: seed of the sign-flip draws.
    """
    order = order_by_mean(values, labels)
    best, others = order[0], order[1:]
    pairs = len(order) * (len(order) - 1) // 2
    loosest = alpha / max(1, pairs - len(others) + 1)  # Holm's largest threshold for our tests
    ref = values[best]
    raw = []
    for trial in others:
        mine = values[trial]
        both = [(mine[q], ref.get(q)) for q in sorted(mine)]
        diffs = np.array([a - b for a, b in both if a is not None and b is not None], dtype=float)
        p = 1.0  # not tested: too few pairs, or the screen shows it cannot pass
        if diffs.size >= min_n and _may_pass(diffs, loosest, seed):
            p = sign_flip_p_value(diffs, seed)
        raw.append((trial, float(diffs.mean()) if diffs.size else math.nan, diffs.size, p))
    adjusted = holm([p for *_, p in raw] + [1.0] * (pairs - len(raw)))
    comparisons = tuple(
        Comparison(trial, diff, n, float(p_adj))
        for (trial, diff, n, _), p_adj in zip(raw, adjusted, strict=False)
    )
    worse = tuple(c.trial_id for c in comparisons if c.p_adjusted < alpha and c.mean_diff < 0)
    return LookResult(best, comparisons, pairs, worse)


def _may_pass(diffs: np.ndarray, threshold: float, seed: int) -> bool:
    """False when ``SCREEN_FLIPS`` random sign flips show the p-value is far above ``threshold``."""
    data = diffs[diffs != 0]
    if data.size == 0:
        return False
    signs = np.random.default_rng(seed).integers(0, 2, size=(SCREEN_FLIPS, data.size)) * 2 - 1
    hits = int((np.abs(signs @ data) >= abs(float(data.sum())) * (1 - 1e-12)).sum())
    return bool(hits <= sps.binom.ppf(SCREEN_QUANTILE, SCREEN_FLIPS, threshold))
