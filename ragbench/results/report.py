"""A run read from the store and computed once: the numbers of its report, never their rendering.

Contract:
- ``read_run(db, run_id=None, experiment=None)`` opens the results file read-only (it works on a
  read-only file), reads the run with the store's typed reads, computes the summary and the
  rankings once (``stats.summarize`` and ``stats.rank_all``: Holm across every comparison of the
  report) and returns a :class:`RunReport`. It writes nothing.
- A :class:`RunReport` holds the run's facts and numbers: ``summary`` (trial x metric: mean,
  interval, n, failures), ``rankings`` and ``verdicts`` (each trial vs the best), ``best``, the
  significance ``sentences()`` and ``method_note()``, the ``banners()`` (fake models, a run not
  finished), the held-out check (a run with ``split:``: summary and verdicts use the dev
  questions; ``held_out`` scores each metric's best trial on the test questions), the "How many
  more verdicts" plans (``verdict_plans``) and the named :class:`~ragbench.results.sections.Section`
  list under the table (``sections()``: judging budget, staged search, how many more verdicts,
  held-out check, problems, input files skipped).
- People's labels of judged items (``results.labels``) correct the judged means
  (``results.corrected``): a metric with enough labels is ranked by its prediction-powered
  estimates (``rankings``, ``best``, ``verdicts`` and the sentences; ``judge_rankings`` keep the
  judge-only ones, which the charts and the judge's own column of the table show), the score table
  shows the PPI means beside the judge's (``table_summary``), and the sections say which figures
  rank each judged metric, how far the judge agrees with the labels, the corrected comparisons
  and how many labels would separate the best from the runner-up; without labels, one line says
  how to add them.
- It imports no view: no HTML, no matplotlib, no file written. ``render.report.Report`` extends it
  with the HTML and text table, the charts, ``show()`` and ``write(folder)``; ``ragbench.load`` and
  ``ragbench.report`` return that view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ragbench import stats
from ragbench.data.splits import dev_scores
from ragbench.metrics import names as metric_names
from ragbench.records import STAGES, RunInfo
from ragbench.results import corrected, heldout
from ragbench.results.labels import read_labels
from ragbench.results.sections import (
    MORE_VERDICTS_TITLE,
    PROBLEMS_TITLE,
    STAGED_TITLE,
    Section,
    budget_section,
    lines_section,
    skipped_section,
)
from ragbench.results.verdict_plan import VerdictPlan, verdict_plans
from ragbench.store import Store
from ragbench.store.connection import WRITE_IT_FIRST, RunNotFound

FAKE_WARNING = (
    "FAKE MODELS: this run used test doubles (fake LLM, fake judge or hashing embedder); "
    "its scores mean nothing."
)
# How each ``stats.summarize`` interval method is named under the table.
INTERVAL_METHODS = {
    "wilson": "Wilson for 0/1 metrics (and a Wilson bound where every value is equal)",
    "constant": "none for equal values outside the metric's range",
    "t": "Student t below 20 values",
    "bca": "BCa bootstrap from 20 values",
    "percentile": "percentile bootstrap where BCa failed",
    "single": "none for a single value",
}


@dataclass(eq=False, repr=False)
class RunReport:
    """A run read and computed once; see the module docstring for what it holds."""

    run_id: str
    experiment: str
    info: RunInfo
    summary: pd.DataFrame
    rankings: dict[str, pd.DataFrame]
    trials: pd.DataFrame
    scores: pd.DataFrame
    latencies: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    """The run's own problems, then any file a report could not write."""
    splits: dict[str, str] = field(default_factory=dict)
    """question_id -> "dev" | "test" for a run with a held-out split; {} without one. Then
    ``summary``, ``rankings`` and the charts use the dev questions only (``scores`` keeps all)."""
    human_labels: pd.DataFrame = field(default_factory=pd.DataFrame)
    """People's labels of judged items (``results.labels.LABEL_COLUMNS``)."""
    judge_rankings: dict[str, pd.DataFrame] = field(default_factory=dict)
    """The rankings on the judge's scores alone (``rankings`` where no metric has enough labels)."""
    label_use: dict[str, corrected.MetricLabels] = field(default_factory=dict)
    """Per labellable judged metric: its PPI ranking (or why not) and the judge's agreement."""

    # --- facts ------------------------------------------------------------------------------------

    @property
    def fake_models(self) -> bool:
        return self.info.fake_models

    @property
    def status(self) -> str:
        return self.info.status

    @property
    def metrics(self) -> list[str]:
        return list(self.rankings)

    @property
    def judged_metrics(self) -> list[str]:
        """The run's judged metrics, in the experiment's order."""
        return [m for m in self.info.metrics if m in metric_names("judged")]

    @property
    def labels(self) -> dict[str, str]:
        """trial_id -> label, in display order (by label)."""
        return dict(zip(self.trials.trial_id.astype(str), self.trials.label, strict=True))

    @property
    def verdicts(self) -> dict[str, dict[str, str]]:
        """metric -> trial_id -> verdict (best, tied, worse, too_few, not_compared)."""
        return {
            m: dict(zip(r.trial_id.astype(str), r.verdict, strict=True))
            for m, r in self.rankings.items()
        }

    @property
    def best(self) -> dict[str, str]:
        """metric -> trial_id of the best trial (``stats.best_trial``'s rule), scored metrics only."""
        return {
            m: t for m, v in self.verdicts.items() for t, verdict in v.items() if verdict == "best"
        }

    @property
    def skipped_files(self) -> list[tuple[str, str]]:
        """Input files (or records) the run could not read, with the reason."""
        return list(self.info.stats.skipped_files)

    @property
    def stage_notes(self) -> list[str]:
        """Staged search: which trials went on to the judged stage and which were pruned, why."""
        staged = self.trials[self.trials.stage.notna()]
        reached = staged.stage.map({name: n for n, name in enumerate(STAGES)})  # went on first
        staged = staged.assign(reached=reached).sort_values(
            ["reached", "label"], ascending=[False, True]
        )
        return [f"{r.label}: {r.stage_note}" for r in staged.itertuples()]

    @property
    def missing_notes(self) -> dict[str, str]:
        """trial_id -> why its cells of a metric are empty (a pruned trial's staged-search note)."""
        return {
            str(r.trial_id): f"{r.label}: {r.stage_note}"
            for r in self.trials.itertuples()
            if isinstance(r.stage_note, str)
        }

    @property
    def allocation(self) -> dict[str, Any]:
        """What budgeted judging did (``Allocator.summary``), or {} when it was not used."""
        return self.info.stats.allocation or {}

    @property
    def title(self) -> str:
        return f"{self.experiment} ({self.run_id})" + (
            "  [FAKE MODELS]" if self.fake_models else ""
        )

    @property
    def n_failed(self) -> int:
        """Failed scores in the table (counted, never averaged)."""
        return int(self.summary.n_failed.sum()) if not self.summary.empty else 0

    @property
    def table_summary(self) -> pd.DataFrame:
        """``summary`` with each corrected metric's PPI means beside its judge-only means."""
        return corrected.table_summary(self.summary, self.label_use, self.rankings)

    @property
    def table_verdicts(self) -> dict[str, dict[str, str]]:
        """The score table's marks: the judge's own on each judged column, the corrected ones on
        each PPI column."""
        return corrected.table_verdicts(self.judge_rankings, self.rankings, self.label_use)

    def sentences(self) -> list[str]:
        """One line per metric: the best trial and how every other trial compares with it."""
        return [_sentence(self._ranked_by(m), ranking) for m, ranking in self.rankings.items()]

    def _ranked_by(self, metric: str) -> str:
        if not self._corrected(metric):
            return metric
        return f"{metric} (people, PPI from {self.label_use[metric].ranking.n_labels} labels)"

    def method_note(self) -> str:
        tested = sum(int(r.verdict.isin(["tied", "worse"]).sum()) for r in self.rankings.values())
        return (
            f"Each trial vs the best, paired over the questions both scored: sign-flip permutation "
            f"test, p-values Holm-adjusted across all {tested} comparisons in this report "
            f"(alpha 0.05); fewer than {stats.MIN_N} shared questions: too few to compare. "
            f"Intervals: {self._interval_methods()}."
            + (
                " Metrics ranked by human labels: PPI means with t intervals, each trial vs the "
                "best by the PPI paired difference, in the same Holm family."
                if any(u.used for u in self.label_use.values())
                else ""
            )
        )

    def _interval_methods(self) -> str:
        """The interval methods this table actually used, in words."""
        used = set(self.summary["method"]) if "method" in self.summary else set()
        words = [text for method, text in INTERVAL_METHODS.items() if method in used]
        return "; ".join(words) or "none (no scores)"

    def banners(self) -> list[tuple[str, str]]:
        """(text, level) of the warnings above the table: fake models, a run not finished."""
        out = []
        if self.fake_models:
            out.append((FAKE_WARNING, "fake"))
        if self.status != "finished":
            why = self.info.message if self.status == "failed" else None
            text = f"run status: {self.status}" + (f": {why}" if why else "")
            out.append((text, "error" if self.status == "failed" else "warning"))
        return out

    # --- what the sections under the table say -----------------------------------------------------

    @cached_property
    def held_out(self) -> pd.DataFrame:
        """Per metric, the trial chosen on the dev questions and its dev and test scores
        (``heldout.HELD_OUT_COLUMNS``); empty for a run without a split."""
        return heldout.held_out_frame(self.scores, self.splits, self.best)

    @cached_property
    def verdict_plans(self) -> list[VerdictPlan]:
        """For each judged metric where no trial is significantly worse than the best: how many
        judged questions per trial the best vs the runner-up would need (``verdict_plan``; a
        metric ranked by people's labels has the "How many labels" section instead)."""
        scores = dev_scores(self.scores, self.splits)  # what the verdicts used
        # a metric ranked by people's labels has "How many labels" instead
        judge_only = [m for m in self.judged_metrics if not self._corrected(m)]
        return verdict_plans(self.judge_rankings, scores, judge_only, self.labels)

    def _corrected(self, metric: str) -> bool:
        use = self.label_use.get(metric)
        return use is not None and use.used

    def more_verdicts(self) -> list[str]:
        """The "How many more verdicts" lines, one per plan."""
        return [plan.line() for plan in self.verdict_plans]

    def sections(self) -> list[Section]:
        """The named sections under the table, in order; an empty one is not shown, and problems
        (level "error") go above the table in HTML."""
        held_out = heldout.held_out_lines(self.held_out, self.splits, self.info)
        return [
            budget_section(self.allocation, self.labels, self.judged_metrics),
            lines_section("staged", STAGED_TITLE, self.stage_notes),
            lines_section("more_verdicts", MORE_VERDICTS_TITLE, self.more_verdicts()),
            *corrected.label_sections(
                self.label_use, self.rankings, self.summary, self.judged_metrics
            ),
            lines_section("held_out", heldout.HELD_OUT_TITLE, held_out),
            lines_section("problems", PROBLEMS_TITLE, self.problems, level="error"),
            skipped_section(self.skipped_files),
        ]

    def section(self, key: str) -> Section:
        """The section named ``key`` (``Section.key``).

        Raises:
            KeyError: no section of that name.
        """
        found = {s.key: s for s in self.sections()}
        if key not in found:
            raise KeyError(f"no report section '{key}'; sections: {', '.join(found)}")
        return found[key]

    def __repr__(self) -> str:
        return (
            f"RunReport({self.experiment}, run {self.run_id}: {len(self.trials)} trials, "
            f"{len(self.metrics)} metrics, status {self.status})"
        )


# --- reading and computing ---------------------------------------------------------------------------


def read_run(db: str | Path, run_id: str | None = None, experiment: str | None = None) -> RunReport:
    """Read one run (default: the latest of ``experiment``, else of the file) and compute it.

    Raises:
        StoreError: the file is missing, a folder, corrupt or not a DuckDB database (one line).
        RunNotFound: (a LookupError) no such run, or no run of ``experiment`` (or none at all) in
            the file.
    """
    store = Store(db, read_only=True)
    if run_id is None:
        run_id = store.latest_run(experiment) if experiment else _last(store.runs())
        if run_id is None:
            what = f"no run of experiment '{experiment}'" if experiment else "no run"
            raise RunNotFound(f"{what} in {db}; {WRITE_IT_FIRST}")
    try:
        info = store.run_info(run_id)
    except KeyError:
        raise RunNotFound(f"no run {run_id} in {db}") from None
    if experiment and info.experiment != experiment:
        raise LookupError(
            f"run {run_id} belongs to experiment '{info.experiment}', not '{experiment}'"
        )
    scores = store.scores(run_id)
    splits = store.question_splits(run_id)
    trials = store.trials(run_id)
    dev = dev_scores(scores, splits)
    summary, judge_rankings = compute(dev, info.metrics)
    labels = read_labels(store, run_id)
    judged = [m for m in info.metrics if m in metric_names("judged")]
    uses = corrected.label_use(dev, labels, judged, trials)
    rankings = corrected.corrected_rankings(dev, list(judge_rankings), uses, judge_rankings)
    return RunReport(
        run_id=run_id,
        experiment=info.experiment,
        info=info,
        summary=summary,
        rankings=rankings,
        trials=trials,
        scores=scores,
        latencies=store.latencies(run_id),
        problems=list(info.stats.problems),
        splits=splits,
        human_labels=labels,
        judge_rankings=judge_rankings,
        label_use=uses,
    )


def compute(
    scores: pd.DataFrame, metrics: list[str] | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Summary and rankings of long scores, metrics in the experiment's order then as they come."""
    order = [
        m for m in dict.fromkeys([*(metrics or []), *scores.metric]) if m in set(scores.metric)
    ]
    summary = stats.summarize(scores)
    if not summary.empty:
        summary = summary.assign(_m=summary.metric.map({m: i for i, m in enumerate(order)}))
        summary = summary.sort_values(["_m", "label", "trial_id"], kind="stable").drop(columns="_m")
        summary = summary.reset_index(drop=True)
    return summary, stats.rank_all(scores, order) if order else {}


def rankings_frame(rankings: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All rankings in one long frame with a leading ``metric`` column (for rankings.csv)."""
    frames = [r.assign(metric=m) for m, r in rankings.items() if not r.empty]
    if not frames:
        return pd.DataFrame(columns=["metric", *stats.RANKING_COLUMNS])
    return pd.concat(frames, ignore_index=True)[["metric", *stats.RANKING_COLUMNS]]


def _last(runs: pd.DataFrame) -> str | None:
    return None if runs.empty else str(runs.run_id.iloc[-1])


# --- the significance sentences ------------------------------------------------------------------------


def _sentence(metric: str, ranking: pd.DataFrame) -> str:
    if ranking.empty or ranking.n.iloc[0] == 0:
        return f"{metric}: no scores"
    best, others = ranking.iloc[0], ranking.iloc[1:]
    line = f"{metric}: best = {_name(best.label)} ({best['mean']:.3f})"
    by = {v: [_name(x) for x in others[others.verdict == v].label] for v in stats.VERDICTS}
    if others.empty:
        return line + "; no other trial"
    if len(by["worse"]) == len(others):
        return line + "; all others significantly worse"
    for verdict, words in (
        ("tied", "not significantly different"),
        ("worse", "significantly worse"),
        ("too_few", f"too few shared questions to compare (< {stats.MIN_N})"),
        ("not_compared", "not compared (no scores shared with the best)"),
    ):
        if by[verdict]:
            line += f"; {words}: {', '.join(by[verdict])}"
    return line


def _name(label: str) -> str:
    """A label inside a sentence: quoted when its own commas would blur a list of labels."""
    return f"'{label}'" if "," in label or ";" in label else label
