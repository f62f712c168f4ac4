"""Judged numbers corrected by people's labels: what a report computes and says about them.

Contract:
- ``label_use(scores, labels, judged, trials)`` -> metric -> :class:`MetricLabels` for every
  judged metric people can label (``metrics.names("labelled")``) that the run judged: its
  ``stats.ppi_ranking`` (usable, or the shortfall in words) and the judge's agreement with the
  labels on this run (:class:`Agreement`: balanced accuracy and Cohen's kappa with seeded bootstrap
  intervals, ``judge.check``'s functions; verdict = the judge's current value >= the trial's
  ``judge.verdict_threshold``). ``scores`` are the ones the report ranks on (dev questions).
- ``corrected_rankings(scores, order, uses, judge_rankings)`` -> the report's rankings: the
  judge-only ones when no metric's labels suffice, else ``stats.rank_all`` with the usable PPI
  rankings substituted (one Holm family over every comparison of the report).
- The report's lines and tables about labels: ``labels_lines`` (per judged metric which figures
  rank it: "ranked by the PPI estimate from 40 labels" or "judge only: no labels" and how to add
  them, then the agreement), ``ppi_rows`` (per corrected metric and trial: the judge-only mean,
  the PPI mean and interval, labels, the PPI difference with the best, Holm's p and the verdict),
  ``labels_needed_lines`` (the "How many labels" section: how many questions labelled in both the
  best and the runner-up would separate them, ``stats.labels_needed``, or that no number can) and
  ``ppi_summary`` (the PPI means as ``stats.summarize`` rows, shown beside the judge's in the
  score table under the name ``"<metric> (PPI)"``).
Nothing here draws or writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ragbench import stats
from ragbench.metrics import label_spec, names
from ragbench.results.labels import label_rows, thresholds
from ragbench.results.sections import Section, lines_section

HOW_TO_LABEL = (
    "label a sample in notebooks/06-label-judged.ipynb or `ragbench label import LABELS.csv "
    "--db DB --run RUN` (`ragbench label export` writes the sample to fill in)"
)
LABELS_TITLE = "Human labels: how far to trust the judged numbers"
PPI_TITLE = "Corrected by human labels (PPI): each trial vs the best"
PPI_COLUMNS = (
    "metric",
    "trial",
    "judge only",
    "people (PPI) [95% CI]",
    "labels",
    "vs best (PPI) [95% CI]",
    "p (Holm)",
    "verdict",
)
MORE_LABELS_TITLE = "How many labels"
PPI_SUFFIX = " (PPI)"  # the score table's column of a metric's corrected means


def ppi_column(metric: str) -> str:
    return f"{metric}{PPI_SUFFIX}"


@dataclass(frozen=True)
class Agreement:
    """The judge's verdicts against people's labels on one metric of one run."""

    n: int
    balanced_accuracy: float
    balanced_accuracy_ci: tuple[float, float]
    kappa: float
    kappa_ci: tuple[float, float]

    def line(self, metric: str) -> str:
        def f(x: float) -> str:
            return "nan" if math.isnan(x) else f"{x:.2f}"

        ba, k = self.balanced_accuracy_ci, self.kappa_ci
        return (
            f"{metric}: the judge agrees with {self.n} labels on this run: balanced accuracy "
            f"{f(self.balanced_accuracy)} [{f(ba[0])}, {f(ba[1])}], Cohen's kappa "
            f"{f(self.kappa)} [{f(k[0])}, {f(k[1])}] (95% bootstrap; verdict = score >= the "
            "judge's verdict_threshold)"
        )


@dataclass(frozen=True)
class MetricLabels:
    """What people's labels of one judged metric say on this run (module docstring)."""

    metric: str
    ranking: stats.PPIRanking
    agreement: Agreement | None

    @property
    def used(self) -> bool:
        return self.ranking.used

    def rule_line(self) -> str:
        """Which figures rank this metric, in one line."""
        r = self.ranking
        if r.used:
            per = min(r.labels_per_trial.values())
            return (
                f"{self.metric}: ranked by the PPI estimate from {r.n_labels} labels (at least "
                f"{per} per trial): the best trial and the verdicts use it"
            )
        how = "" if r.shortfall == "no judged scores" else f"; {HOW_TO_LABEL}"
        return f"{self.metric}: judge only: {r.shortfall}{how}"


def agreement(
    labels: pd.DataFrame, scores: pd.DataFrame, limits: Mapping[str, float]
) -> Agreement | None:
    """The judge's current verdicts vs the labels of one metric (None without a labelled item
    the judge scored)."""
    from ragbench.judge.check import agreement_ci, balanced_accuracy, cohen_kappa

    judged = scores.dropna(subset=["value"])[["trial_id", "question_id", "value"]]
    both = labels.merge(
        judged.astype({"trial_id": str, "question_id": str}),
        on=["trial_id", "question_id"],
        suffixes=("_label", "_judge"),
    )
    if both.empty:
        return None
    human = [bool(v == 1.0) for v in both.value_label]
    verdict = [
        bool(v >= limits.get(t, 0.5)) for t, v in zip(both.trial_id, both.value_judge, strict=True)
    ]
    ci = agreement_ci(human, verdict)
    return Agreement(
        len(both),
        balanced_accuracy(human, verdict),
        ci["balanced_accuracy"],
        cohen_kappa(human, verdict),
        ci["kappa"],
    )


def label_use(
    scores: pd.DataFrame, labels: pd.DataFrame, judged: Sequence[str], trials: pd.DataFrame
) -> dict[str, MetricLabels]:
    """Per labellable judged metric of the run, its labels' use (see the module docstring)."""
    long = label_rows(labels)
    limits = thresholds(trials)
    out = {}
    for metric in judged:
        if metric not in names("labelled"):
            continue
        mine = long[long.metric == metric]
        part = scores[scores.metric == metric]
        ranking = stats.ppi_ranking(scores, mine, metric)
        out[metric] = MetricLabels(
            metric, ranking, agreement(mine, part, limits) if len(mine) else None
        )
    return out


def corrected_rankings(
    scores: pd.DataFrame,
    order: Sequence[str],
    uses: Mapping[str, MetricLabels],
    judge_rankings: dict[str, pd.DataFrame],
) -> dict[str, pd.DataFrame]:
    """The report's rankings: PPI-ranked where labels suffice (see the module docstring)."""
    usable = {m: u.ranking for m, u in uses.items() if u.used and m in judge_rankings}
    if not usable:
        return judge_rankings
    return stats.rank_all(scores, list(order), corrected=usable)


# --- what the report says -------------------------------------------------------------------------


def labels_note(uses: Mapping[str, MetricLabels]) -> str:
    """The estimand, in one line under the labels section's title."""
    words = [f"{m}: the share of answers people call {label_spec(m).yes.lower()}" for m in uses]
    return (
        "A corrected (PPI) figure estimates what people would say, on the labels' 0/1 scale ("
        + "; ".join(words)
        + "); the judge's scores on every judged question enter as predictions, and a random "
        f"sample of labels corrects their bias (prediction-powered inference, PPI++). At least "
        f"{stats.MIN_LABELS} labels per judged trial before a metric is ranked by it; in its "
        "(PPI) column, n = labels."
    )


def labels_lines(uses: Mapping[str, MetricLabels], judged: Sequence[str]) -> list[str]:
    """Per judged metric: which figures rank it, then how far the judge agrees with the labels."""
    lines = []
    for use in uses.values():
        lines.append(use.rule_line())
        if use.agreement is not None:
            lines.append(use.agreement.line(use.metric))
    others = [m for m in judged if m not in uses]
    if others:
        lines.append(
            f"{', '.join(others)}: judge only (people label {', '.join(names('labelled'))} in "
            "ragbench; a metric takes labels by declaring `label` in metrics/judged.py)"
        )
    return lines


def _ci(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]" if math.isfinite(low) and math.isfinite(high) else ""


def ppi_rows(
    uses: Mapping[str, MetricLabels],
    rankings: Mapping[str, pd.DataFrame],
    summary: pd.DataFrame,
) -> list[tuple[str, ...]]:
    """One row per corrected metric and trial (``PPI_COLUMNS``), best first."""
    judge = {(str(r.trial_id), r.metric): r for r in summary.itertuples()}
    rows: list[tuple[str, ...]] = []
    for metric, use in uses.items():
        if not use.used or metric not in rankings:
            continue
        for r in rankings[metric].itertuples():
            j = judge.get((str(r.trial_id), metric))
            judge_mean = f"{j.mean:.3f}" if j is not None and j.n else "-"
            diff = (
                ""
                if r.verdict == "best" or math.isnan(r.diff_vs_best)
                else f"{r.diff_vs_best:+.3f} "
            )
            rows.append(
                (
                    metric,
                    str(r.label),
                    judge_mean,
                    f"{r.mean:.3f} {_ci(r.ci_low, r.ci_high)}".strip(),
                    str(int(r.n)),
                    ""
                    if r.verdict == "best"
                    else (diff + _ci(r.diff_ci_low, r.diff_ci_high)).strip(),
                    "" if math.isnan(r.p_adjusted) else f"{r.p_adjusted:.3f}",
                    str(r.verdict).replace("_", " "),
                )
            )
    return rows


def ppi_lines(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """``ppi_rows`` in words, for the text report."""
    return [
        f"{m} '{trial}': judge only {judge}, people (PPI) {ppi}, {n} labels"
        + (f"; vs best {diff}, p (Holm) {p or '-'}, {verdict}" if verdict != "best" else "; best")
        for m, trial, judge, ppi, n, diff, p, verdict in rows
    ]


def labels_needed_lines(
    uses: Mapping[str, MetricLabels], rankings: Mapping[str, pd.DataFrame]
) -> list[str]:
    """The "How many labels" lines (see the module docstring)."""
    lines = []
    for metric, use in uses.items():
        r = use.ranking
        if not r.used:
            if r.shortfall in ("no judged scores",):
                continue
            few = {t: n for t, n in r.judged_per_trial.items() if n < stats.MIN_LABELS}
            if few:
                n_few = min(few.values())
                lines.append(
                    f"{metric}: {len(few)} trial(s) judged on fewer than {stats.MIN_LABELS} "
                    f"questions (as few as {n_few}) cannot get {stats.MIN_LABELS} labels each: "
                    "judge more questions first (judge_limit, judge_budget), then label"
                )
                continue
            short = sum(max(0, stats.MIN_LABELS - n) for n in r.labels_per_trial.values())
            lines.append(
                f"{metric}: {short} more label(s) (at least {stats.MIN_LABELS} per judged trial, "
                "round-robin over the trials as notebook 06 draws them) before the report uses them"
            )
            continue
        ranking = rankings.get(metric)
        if ranking is None or len(ranking) < 2:
            continue
        best, runner = ranking.iloc[0], ranking.iloc[1]
        if runner.verdict == "worse":
            continue  # separated already
        d = r.diffs.get(str(runner.trial_id))
        pairs = r.pairs.get(str(runner.trial_id), 0)
        if d is None:
            lines.append(
                f"{metric}: '{best.label}' and the runner-up '{runner.label}' share only {pairs} "
                f"labelled question(s); label at least {stats.MIN_LABELS} questions in both"
            )
            continue
        tested = max(1, int(ranking.verdict.isin(["tied", "too_few"]).sum()))
        gap = -d.mean
        needed = stats.labels_needed(d, gap, alpha=0.05 / tested)
        if gap == 0 or needed == 0:
            why = (
                "no gap between them to extrapolate from"
                if gap == 0
                else f"the judge's part of the interval alone (se "
                f"{math.sqrt(d.var_unlabelled):.3f}) is too wide for a gap of {gap:+.3f}: judge "
                "more questions first"
            )
            lines.append(
                f"{metric}: no number of labels separates '{best.label}' from the runner-up "
                f"'{runner.label}' ({why})"
            )
            continue
        more = max(0, needed - pairs)
        lines.append(
            f"{metric}: '{best.label}' leads the runner-up '{runner.label}' by {gap:+.3f} (PPI, "
            f"{pairs} questions labelled in both), not significant; if that gap is real, about "
            f"{needed} questions labelled in both would show it (80% power, alpha 0.05/{tested}): "
            f"{more} more per trial, about {more * len(ranking)} more labels over {len(ranking)} "
            "trials (a planning figure: the gap of a small sample is itself uncertain)"
        )
    return lines


def ppi_summary(
    uses: Mapping[str, MetricLabels], rankings: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """The PPI means as ``stats.summarize`` rows (metric ``"<metric> (PPI)"``, n = labels,
    method ``ppi``), for the score table."""
    rows = []
    for metric, use in uses.items():
        if not use.used or metric not in rankings:
            continue
        for r in rankings[metric].itertuples():
            rows.append(
                [
                    str(r.trial_id),
                    r.label,
                    ppi_column(metric),
                    r.mean,
                    r.ci_low,
                    r.ci_high,
                    int(r.n),
                    0,
                    "ppi",
                ]
            )
    return pd.DataFrame(rows, columns=stats.SUMMARY_COLUMNS)


def table_summary(
    summary: pd.DataFrame, uses: Mapping[str, MetricLabels], rankings: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """``summary`` with each corrected metric's PPI rows right after its own, so that the score
    table shows the PPI column beside the judge's."""
    extra = ppi_summary(uses, rankings)
    if extra.empty:
        return summary
    after = {ppi_column(m): m for m in uses}
    place = {m: k for k, m in enumerate(dict.fromkeys(summary.metric))}
    both = pd.concat([summary, extra], ignore_index=True)
    rank = both.metric.map(lambda m: place.get(after.get(m, m), len(place)) * 2 + (m in after))
    return both.assign(_r=rank).sort_values("_r", kind="stable").drop(columns="_r")


def table_verdicts(
    judge_rankings: Mapping[str, pd.DataFrame],
    rankings: Mapping[str, pd.DataFrame],
    uses: Mapping[str, MetricLabels],
) -> dict[str, dict[str, str]]:
    """The score table's marks: the judge's own on each metric's column, the corrected ones on
    each PPI column."""

    def marks(r: pd.DataFrame) -> dict[str, str]:
        return dict(zip(r.trial_id.astype(str), r.verdict, strict=True))

    out = {m: marks(r) for m, r in judge_rankings.items()}
    out |= {ppi_column(m): marks(r) for m, r in rankings.items() if m in uses and uses[m].used}
    return out


def label_sections(
    uses: Mapping[str, MetricLabels],
    rankings: Mapping[str, pd.DataFrame],
    summary: pd.DataFrame,
    judged: Sequence[str],
) -> list[Section]:
    """The report's sections about labels: ``labels`` (which figures rank each judged metric, the
    agreement), ``ppi`` (the corrected comparisons, a table) and ``more_labels``."""
    rows = ppi_rows(uses, rankings, summary)
    lines = labels_lines(uses, judged)
    return [
        Section("labels", LABELS_TITLE, tuple(lines), note=labels_note(uses) if uses else ""),
        Section(
            "ppi",
            PPI_TITLE,
            tuple(ppi_lines(rows)),
            columns=PPI_COLUMNS if rows else (),
            rows=tuple(rows),
        ),
        lines_section("more_labels", MORE_LABELS_TITLE, labels_needed_lines(uses, rankings)),
    ]
