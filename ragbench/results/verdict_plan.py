"""The report's "How many more verdicts": for a judged metric whose trials could not be separated,
how many judged questions per trial would separate the best from the runner-up.

Contract: ``verdict_plans(rankings, scores, judged, labels)`` -> one :class:`VerdictPlan` per
judged metric where no trial is significantly worse than the best (and there is a runner-up): the
questions both judged so far, the gap between the two and its spread, and ``stats.questions_needed``
for 80% power at alpha 0.05 over the Holm family of the comparisons made (None when there is no
gap to extrapolate from). ``VerdictPlan.line()`` says it in one sentence. A planning figure: the
gap of a small sample is itself uncertain. Nothing here draws or writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ragbench import stats


@dataclass(frozen=True)
class VerdictPlan:
    """What separating one judged metric's best trial from its runner-up would take.

    Attributes:
        metric: The judged metric.
        best_label: The best trial's label.
        judged: Questions judged for both the best and the runner-up (pairs compared so far).
        trials: Trials ranked on the metric (each needs the extra questions judged).
        comparisons: Tests Holm corrects over (the power analysis uses alpha / comparisons).
        gap: Mean paired difference, best - runner-up.
        sd: Standard deviation of the paired differences (NaN from a single pair).
        needed: Questions per trial for 80% power; None: no gap to extrapolate from.
    """

    metric: str
    best_label: str
    judged: int
    trials: int
    comparisons: int
    gap: float
    sd: float
    needed: int | None

    @property
    def more_questions(self) -> int:
        """Questions per trial still to judge (0 without a figure)."""
        return 0 if self.needed is None else max(0, self.needed - self.judged)

    @property
    def more_verdicts(self) -> int:
        """Verdicts over every trial still to spend."""
        return self.more_questions * self.trials

    def line(self) -> str:
        """The plan in one sentence (the report's "How many more verdicts" line)."""
        if self.needed is None:
            return (
                f"{self.metric}: no significant difference after {self.judged} judged questions "
                f"per trial, and no difference between '{self.best_label}' and the runner-up to "
                "extrapolate from: judge more questions or accept a tie"
            )
        return (
            f"{self.metric}: no significant difference after {self.judged} judged questions per "
            f"trial; if the gap between '{self.best_label}' and the runner-up "
            f"({self.gap:+.3f}, sd {self.sd:.2f}) is real, about {self.needed} per "
            f"trial would show it (80% power, alpha 0.05/{self.comparisons}): "
            f"{self.more_questions} more questions, {self.more_verdicts} more verdicts over "
            f"{self.trials} trials (a planning figure: the gap of a small sample is itself "
            "uncertain)"
        )


def verdict_plans(
    rankings: Mapping[str, pd.DataFrame],
    scores: pd.DataFrame,
    judged: Sequence[str],
    labels: Mapping[str, str],
) -> list[VerdictPlan]:
    """One plan per judged metric that ended in a tie (see the module docstring).

    Args:
        rankings: metric -> ``stats.rank_all`` ranking (what the report's verdicts are).
        scores: the long scores the rankings used (dev questions of a run with a split).
        judged: the run's judged metrics, in order.
        labels: trial_id -> label.
    """
    plans = []
    for metric in judged:
        ranking = rankings.get(metric)
        if ranking is None or len(ranking) < 2 or (ranking.verdict == "worse").any():
            continue
        best, runner = ranking.trial_id.iloc[0], ranking.trial_id.iloc[1]
        wide = scores[scores.metric == metric].pivot_table(
            index="question_id", columns="trial_id", values="value"
        )
        if best not in wide or runner not in wide:
            continue
        diffs = (wide[best] - wide[runner]).dropna()
        tested = max(1, int(ranking.verdict.isin(["tied", "too_few"]).sum()))
        needed = stats.questions_needed(diffs.to_numpy(), comparisons=tested)
        plans.append(
            VerdictPlan(
                metric=metric,
                best_label=labels.get(best, best),
                judged=len(diffs),
                trials=len(ranking),
                comparisons=tested,
                gap=float(diffs.mean()) if len(diffs) else math.nan,
                sd=float(diffs.std(ddof=1)) if len(diffs) else math.nan,
                needed=needed,
            )
        )
    return plans
