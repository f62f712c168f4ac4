"""The trials of one judged metric ranked by prediction-powered estimates (``ppi.py``) when people
labelled enough of its items: the best-trial rule fed the corrected table.

Contract: ``ppi_ranking(scores, labels, metric)`` -> :class:`PPIRanking`.

- Inputs are long frames: ``scores`` (trial_id, label, question_id, metric, value: the judge's
  scores; NaN, None and infinite values are failures and left out) and ``labels`` (trial_id,
  question_id, metric, value: people's 0/1 labels of the same metric). A label counts only on an
  item the judge scored (its score is the label's prediction ``Yhat``).
- It is *usable* (``used``) when every trial the judge scored has at least ``min_labels``
  (:data:`MIN_LABELS`) labelled items; else ``shortfall`` says, in words, what is missing and
  nothing is estimated: the report stays judge only for that metric.
- When usable, each trial's estimate is ``ppi_mean`` over its labelled and unlabelled judged
  items (every judged item labelled: the labels alone, ``lam = 0``); trials are ordered by
  ``ordering.order_key`` on those means (THE best-trial rule: higher mean, then label, then
  trial_id); each other trial is compared with the best by ``ppi_difference`` over the questions
  both judged (labels: the questions labelled in both; the rest of the shared questions enter
  through the judge only). A comparison with fewer than ``stats.MIN_N`` shared questions or fewer
  than ``min_labels`` questions labelled in both is ``too_few`` (not tested). The rows' intervals
  are clipped to the estimand's range ([0, 1] for a mean, [-1, 1] for a difference: the true
  value lies in it, so the coverage is kept); ``estimates`` and ``diffs`` keep them unclipped.
- ``rows`` are ``stats.rank_all``'s per-trial rows (``verdict`` None: tested, Holm decides), so
  the report's family of comparisons holds the corrected ones and the judge-only ones alike.
Arithmetic on frames only: no store, no report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ragbench.stats.ordering import order_key
from ragbench.stats.ppi import (
    BINARY_PSEUDO,
    DIFFERENCE_PSEUDO,
    PPIEstimate,
    ppi_difference,
    ppi_mean,
)

#: Fewest labelled items per judged trial (and per compared pair of trials, labelled in both)
#: before the report uses the labels: below ~10 the labels' variance term is itself too noisy,
#: and the small-sample corrections of ``ppi.py`` dominate the estimate.
MIN_LABELS = 10
#: Fewest shared questions for any comparison (``stats.MIN_N``; kept equal by a test).
MIN_SHARED = 6


@dataclass(frozen=True)
class PPIRanking:
    """One metric's trials ranked by their prediction-powered means (see the module docstring).

    Attributes:
        metric: The judged metric.
        labels_per_trial: trial_id -> labelled items the judge also scored (every scored trial).
        shortfall: Why the labels are not used ("" when they are).
        estimates: trial_id -> the trial's PPI mean (empty when not used).
        diffs: trial_id -> PPI estimate of (trial - best) over shared questions (not the best's).
        pairs: trial_id -> questions labelled in both this trial and the best.
        order: trial_ids, best first (empty when not used).
        rows: ``stats.rank_all`` rows, best first (empty when not used).
        judged_per_trial: trial_id -> items the judge scored.
    """

    metric: str
    labels_per_trial: dict[str, int]
    shortfall: str = ""
    estimates: dict[str, PPIEstimate] = field(default_factory=dict)
    diffs: dict[str, PPIEstimate] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    judged_per_trial: dict[str, int] = field(default_factory=dict)

    @property
    def used(self) -> bool:
        """Whether the labels are enough to rank by (no shortfall)."""
        return not self.shortfall

    @property
    def n_labels(self) -> int:
        """Labelled items over every scored trial."""
        return sum(self.labels_per_trial.values())


def _by_trial(
    frame: pd.DataFrame, metric: str
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """{trial_id: {question_id: value}} of one metric's finite values, and trial_id -> label."""
    part = frame[frame["metric"] == metric]
    values = pd.to_numeric(part["value"], errors="coerce").astype(float)
    part = part.assign(value=values)[np.isfinite(values)]
    labels = part["label"] if "label" in part.columns else part["trial_id"]
    names = dict(zip(part["trial_id"].astype(str), labels.astype(str), strict=True))
    out: dict[str, dict[str, float]] = {}
    for t, q, v in zip(
        part["trial_id"].astype(str), part["question_id"].astype(str), part["value"], strict=True
    ):
        out.setdefault(t, {})[q] = float(v)
    return out, names


def estimate(
    y: list[float], yhat: list[float], yhat_unlabelled: list[float], difference: bool = False
) -> PPIEstimate:
    """``ppi_mean`` (or ``ppi_difference``); with every item labelled, the labels alone."""
    fn = ppi_difference if difference else ppi_mean
    if yhat_unlabelled:
        return fn(y, yhat, yhat_unlabelled)
    # No unlabelled item: lam = 0 (the labels' own mean); ppi_mean needs one, any value will do.
    pseudo = DIFFERENCE_PSEUDO if difference else BINARY_PSEUDO
    found = ppi_mean(y, yhat, yhat[:1], lam=0.0, pseudo=pseudo)
    return replace(found, n_unlabelled=0, judge_mean=float(np.mean(yhat)))


def ppi_ranking(
    scores: pd.DataFrame,
    labels: pd.DataFrame,
    metric: str,
    min_labels: int = MIN_LABELS,
) -> PPIRanking:
    """Rank the trials of ``metric`` by PPI estimates when the labels suffice (module docstring)."""
    judged, names = _by_trial(scores, metric)
    people: dict[str, dict[str, float]] = {}
    if not labels.empty:
        people, _ = _by_trial(labels.assign(label=labels["trial_id"]), metric)
    labelled = {t: {q: y for q, y in people.get(t, {}).items() if q in judged[t]} for t in judged}
    counts = {t: len(labelled[t]) for t in sorted(judged, key=lambda t: (names[t], t))}
    sizes = {t: len(judged[t]) for t in counts}
    short = [t for t, n in counts.items() if n < min_labels]
    if not judged:
        return PPIRanking(metric, counts, "no judged scores")
    if not any(counts.values()):
        return PPIRanking(metric, counts, "no labels", judged_per_trial=sizes)
    if short:
        worst = min(short, key=lambda t: (counts[t], names[t]))
        return PPIRanking(
            metric,
            counts,
            f"{sum(counts.values())} label(s), fewer than {min_labels} on {len(short)} of "
            f"{len(counts)} judged trial(s) (fewest: {counts[worst]} on '{names[worst]}'); at "
            f"least {min_labels} per judged trial are needed",
            judged_per_trial=sizes,
        )
    estimates = {}
    for t, values in judged.items():
        lab = labelled[t]
        estimates[t] = estimate(
            [lab[q] for q in sorted(lab)],
            [values[q] for q in sorted(lab)],
            [values[q] for q in sorted(values) if q not in lab],
        )
    order = sorted(estimates, key=lambda t: order_key(estimates[t].mean, counts[t], names[t], t))
    best = order[0]
    rows, diffs, pairs = [], {}, {}
    for k, t in enumerate(order):
        e = estimates[t]
        row: dict[str, Any] = {
            "trial_id": t,
            "label": names[t],
            "mean": e.mean,
            "ci_low": max(0.0, e.ci_low),  # a share: its interval clipped to [0, 1]
            "ci_high": min(1.0, e.ci_high),
            "n": counts[t],
            "diff_vs_best": 0.0 if k == 0 else math.nan,
            "diff_ci_low": 0.0 if k == 0 else math.nan,
            "diff_ci_high": 0.0 if k == 0 else math.nan,
            "p_value": math.nan,
            "p_adjusted": math.nan,
            "verdict": "best" if k == 0 else "not_compared",
        }
        rows.append(row)
        if k == 0:
            continue
        shared = sorted(set(judged[t]) & set(judged[best]))
        both = [q for q in shared if q in labelled[t] and q in labelled[best]]
        pairs[t] = len(both)
        if len(both) < 2:  # nothing to estimate from: no test either
            row["verdict"] = "too_few" if shared else "not_compared"
            continue
        d = estimate(
            [labelled[t][q] - labelled[best][q] for q in both],
            [judged[t][q] - judged[best][q] for q in both],
            [judged[t][q] - judged[best][q] for q in shared if q not in both],
            difference=True,
        )
        diffs[t] = d
        low, high = max(-1.0, d.ci_low), min(1.0, d.ci_high)  # a difference of shares
        row.update(diff_vs_best=d.mean, diff_ci_low=low, diff_ci_high=high)
        row.update(p_value=d.p_value)
        row["verdict"] = (
            None if len(shared) >= MIN_SHARED and len(both) >= min_labels else "too_few"
        )
    return PPIRanking(metric, counts, "", estimates, diffs, pairs, order, rows, sizes)


def corrected_best(scores: pd.DataFrame, labels: pd.DataFrame | None, metric: str) -> str | None:
    """The best trial by the PPI estimates when the labels of ``metric`` suffice, else None (the
    caller then applies the rule to the judge's means)."""
    if labels is None or labels.empty:
        return None
    ranking = ppi_ranking(scores, labels, metric)
    return ranking.order[0] if ranking.used and ranking.order else None


def usable(rankings: Mapping[str, PPIRanking]) -> dict[str, PPIRanking]:
    """The rankings whose labels suffice (what ``rank_all`` substitutes for the judge's)."""
    return {m: r for m, r in rankings.items() if r.used}
